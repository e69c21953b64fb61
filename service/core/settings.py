"""Typed, frozen settings: defaults, then TRIAGE_* environment variables, then *_FILE secrets."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from service.core.secret import Secret, secret_list
from service.core.settings_read import PREFIX, ConfigError, check, values_from_env

__all__ = ["PREFIX", "ConfigError", "Secret", "Settings", "describe"]


@dataclass(frozen=True)
class Settings:
    """Every knob of the service; the README's configuration table is generated from these docs."""

    database_url: str = field(
        default="sqlite:///var/triage.db",
        metadata={"doc": "SQLAlchemy URL; SQLite embedded by default, postgresql+psycopg:// in production."},
    )
    broker_url: str = field(
        default="memory://",
        metadata={
            "doc": "Celery broker. memory:// runs an in-process worker thread (embedded mode); "
            "redis://host:6379/0 in production."
        },
    )
    models_dir: Path = field(
        default=Path("var/models"),
        metadata={"doc": "Directory of versioned model directories (<name>/<version>/model_card.json)."},
    )
    model_name: str = field(
        default="baseline",
        metadata={"doc": "Which model family serves predictions (baseline, or encoder once trained)."},
    )
    priority_model: str = field(
        default="priority",
        metadata={
            "doc": "Model family that predicts each ticket's priority (trained with `triage train --target "
            "priority`); rules may only raise its answer. Until one is promoted, or with none, rules alone decide."
        },
    )
    model_threads: int = field(default=2, metadata={"doc": "onnxruntime intra-op threads per worker process."})
    batch_size: int = field(
        default=16,
        metadata={"doc": "Most tickets a worker classifies in one model call (those waiting when a task starts)."},
    )
    intake_linger_ms: float = field(
        default=10.0,
        metadata={
            "doc": "How long a new ticket waits for others to share its database transaction (the web's group "
            "commit). 10 ms cut web CPU per webhook by a quarter at 500 a second (p95 9 -> 16 ms); 0 commits each "
            "alone."
        },
    )
    routing_file: Path = field(
        default=Path("data/routing/banking77.yaml"),
        metadata={"doc": "Routing rules (YAML): label to queue and priority, overrides, thresholds."},
    )
    languages: str = field(
        default="en,de,fr,es,it,pt,nl,pl,ru,tr,ja,zh,ko,ar",
        metadata={
            "doc": "Languages told apart in short tickets (ISO 639-1, comma-separated; longer ones are told among "
            "all 75 lingua knows); `none` turns detection off. Each Latin-script language adds ~20 MB to a "
            "worker; a ticket in a language its model was not trained on is never auto-routed."
        },
    )
    webhook_secret: Secret = field(
        default=Secret(""),
        metadata={
            "doc": "HMAC-SHA256 key for POST /webhooks/generic (or TRIAGE_WEBHOOK_SECRET_FILE). Several, comma-"
            "separated or one per line in the file, are each accepted: old and new while a key is rotated.",
            "secret": True,
        },
    )
    api_tokens: Secret = field(
        default=Secret(""),
        metadata={
            "doc": "Bearer tokens for /api/v1, comma-separated (or TRIAGE_API_TOKENS_FILE, one per line).",
            "secret": True,
        },
    )
    secret_key: Secret = field(
        default=Secret(""),
        metadata={
            "doc": "Signs review-page session cookies and CSRF tokens (or TRIAGE_SECRET_KEY_FILE). Empty: a "
            "random key per process, so sign-ins end on restart; set it when running several web processes.",
            "secret": True,
        },
    )
    session_cookie_secure: bool = field(
        default=False,
        metadata={"doc": "Send the review-page session cookie over HTTPS only (true/false); set true in production."},
    )
    session_lifetime_s: int = field(
        default=2 * 3600,
        metadata={"doc": "Seconds a review-page sign-in lasts without a request (idle); each request renews it."},
    )
    session_absolute_s: int = field(
        default=12 * 3600,
        metadata={"doc": "Seconds a review-page sign-in lasts at most, however busy (absolute); then sign in again."},
    )
    login_rate_limit: str = field(
        default="20/minute;200/hour",
        metadata={"doc": "Sign-in attempts per client address (POST /login), e.g. 20/minute; past it 429."},
    )
    login_user_rate_limit: str = field(
        default="20/minute;100/hour",
        metadata={"doc": "Sign-in attempts per username, from any address; past it 429."},
    )
    metrics_token: Secret = field(
        default=Secret(""),
        metadata={
            "doc": "Bearer token(s) for /metrics and /readyz on the web app, comma-separated (or "
            "TRIAGE_METRICS_TOKEN_FILE). Unset with a Redis broker: both answer 404 there; scrape the ops app "
            "(service.wsgi_ops:app) on an address of its own instead.",
            "secret": True,
        },
    )
    metrics_cache_s: float = field(default=15.0, metadata={"doc": "Seconds /metrics reuses its aggregates; 0: none."})
    ops_rate_limit: str = field(default="10/second", metadata={"doc": "Requests per address to /metrics and /readyz."})
    signature_tolerance_s: int = field(default=300, metadata={"doc": "Largest age in s of a signed webhook timestamp."})
    max_body_bytes: int = field(default=256 * 1024, metadata={"doc": "Largest accepted request body."})
    intake_rate_limit: str = field(
        default="1200/second",
        metadata={
            "doc": "Intake limit per source (each integration, generic, api) and sender address, e.g. 100/second "
            "or 100/second;3000/minute, or off; past it 429 with Retry-After. Shared through Redis within 0.1 s."
        },
    )
    helpdesk: str = field(
        default="",
        metadata={
            "doc": "Helpdesk that receives write-backs for generic/API tickets (an enabled integration's name). "
            "Empty: those tickets are decided but not written back, and the ticket view and /metrics say so."
        },
    )
    allow_fake_helpdesk: bool = field(
        default=False,
        metadata={
            "doc": "Allow the fake helpdesk (TRIAGE_HELPDESK=fake), which the demo and the tests use (true/false); "
            "refused otherwise, since it keeps write-backs in memory and reports them done."
        },
    )
    integrations: str = field(
        default="",
        metadata={
            "doc": "Comma-separated helpdesk integrations to enable: their webhooks "
            "and write-backs. Each reads its own TRIAGE_<NAME>_* settings, checked at start."
        },
    )
    intake_fast_path: bool = field(
        default=True, metadata={"doc": "Answer plain signed tickets on /webhooks/generic without Flask (true/false)."}
    )
    reroute_on_update: bool = field(
        default=False,
        metadata={"doc": "Re-classify and re-route a known ticket when an update changes its text (true/false)."},
    )
    http_timeout_s: float = field(default=10.0, metadata={"doc": "Timeout of every outbound HTTP call."})
    writeback_max_attempts: int = field(
        default=8,
        metadata={
            "doc": "Attempts before a write-back is marked failed (then `triage writebacks "
            "retry`); a 429 with Retry-After is not counted."
        },
    )
    writeback_backoff_s: float = field(
        default=2.0, metadata={"doc": "First retry delay of a write-back; doubles each attempt (capped 10 min)."}
    )
    claim_lease_s: int = field(
        default=300,
        metadata={
            "doc": "After this many seconds a claimed but unfinished ticket or write-back is taken "
            "up again by the sweep."
        },
    )
    sweep_interval_s: int = field(
        default=60, metadata={"doc": "How often celery beat (or the embedded worker) re-enqueues stragglers."}
    )
    process_give_up_s: int = field(
        default=24 * 3600,
        metadata={
            "doc": "A ticket that still cannot be decided this many seconds after it arrived (its text cannot be "
            "fetched, the model fails) is marked failed with the reason; `triage tickets retry` takes it up again."
        },
    )
    fetch_backoff_s: float = field(
        default=5.0,
        metadata={
            "doc": "First delay before fetching a ticket's text again after a 5xx or timeout; doubles each time "
            "(capped 10 min). A 429 waits as long as its Retry-After says."
        },
    )
    replay_window_s: int = field(
        default=24 * 3600,
        metadata={
            "doc": "How long a signed request is remembered: the same signed request sent again under another "
            "delivery id is a duplicate. Deliveries whose signed body carries the event time (and no signed "
            "header does) are refused when older."
        },
    )
    worker_concurrency: int = field(default=2, metadata={"doc": "Threads of the embedded worker."})
    drafts_file: Path = field(
        default=Path("data/drafts/banking77.yaml"),
        metadata={"doc": "Reply templates (YAML, Jinja2 sandboxed) per queue and intent."},
    )
    drafting_model: str = field(
        default="qwen2.5-coder-1.5b",
        metadata={
            "doc": "Local model that writes the acknowledgement in drafts: qwen2.5-coder-1.5b (default, chosen "
            "by bench/drafting.py), smollm2-135m, or none (templates only). If it is not installed, drafts "
            "use templates only."
        },
    )
    drafting_timeout_s: float = field(
        default=20.0, metadata={"doc": "Longest a draft may generate; past it the template's own sentence is used."}
    )
    drafting_concurrency: int = field(default=1, metadata={"doc": "Drafts generated at once per worker process."})
    cache_dir: Path = field(default=Path("var/cache"), metadata={"doc": "Where the joined Qwen model file is cached."})
    similar_tickets: bool = field(
        default=True,
        metadata={"doc": "Keep decided tickets' embeddings (frozen, encoder), show similar ones, flag duplicates."},
    )
    similar_dir: Path = field(default=Path("var/similar"), metadata={"doc": "Where the similar-ticket index lives."})
    similar_index_interval_s: int = field(
        default=300, metadata={"doc": "How often celery beat adds newly decided tickets to the similar-ticket index."}
    )
    duplicate_threshold: float = field(
        default=0.8, metadata={"doc": "Cosine similarity from which a similar earlier ticket may be a duplicate."}
    )
    duplicate_open_days: float = field(
        default=7.0, metadata={"doc": "Days after Triage received it that an earlier ticket counts as still open."}
    )
    auto_send_queues: str = field(
        default="",
        metadata={"doc": "Comma-separated queues whose drafts are sent without an agent's approval (off by default)."},
    )
    llm_max_calls_per_hour: int = field(
        default=600, metadata={"doc": "LLM budget: calls per rolling hour; past it unsure tickets go to review."}
    )
    llm_max_spend_per_day: float = field(
        default=20.0, metadata={"doc": "LLM budget: spend per UTC day (price units of TRIAGE_LLM_PRICE_*)."}
    )
    llm_confident: float = field(
        default=0.8,
        metadata={
            "doc": "LLM confidence at which it may choose one of the classifier's top labels other than its "
            "first two, when the classifier is not confident (TRIAGE_LLM_CLASSIFIER_CONFIDENT)."
        },
    )
    llm_classifier_confident: float = field(
        default=0.5,
        metadata={
            "doc": "Classifier probability at or above which the LLM may only agree with it: a different LLM "
            "label sends the ticket to a person."
        },
    )
    llm_top_k: int = field(
        default=3,
        metadata={
            "doc": "The LLM chooses among the classifier's k best labels or answers none of these (at most the "
            "3 the classifier keeps)."
        },
    )
    llm_max_chars: int = field(
        default=8000,
        metadata={"doc": "Characters of the redacted ticket sent to the LLM at most; the rest is cut off."},
    )
    drift_psi_threshold: float = field(
        default=0.2,
        metadata={
            "doc": "Drift alarm: PSI of live labels or confidences vs the model's training data "
            "above which the dashboard flags drift (< 0.1 stable, > 0.2 a large shift)."
        },
    )
    drift_window_days: int = field(default=7, metadata={"doc": "Drift alarm: days of live predictions compared."})
    drift_min_predictions: int = field(
        default=30, metadata={"doc": "Drift alarm: fewest live predictions in the window before a PSI is reported."}
    )
    retrain_interval_s: int = field(
        default=0,
        metadata={
            "doc": "Scheduled retraining with celery beat every this many seconds; 0 = off. Trains "
            "on review feedback plus TRIAGE_RETRAIN_DATA, gates against TRIAGE_RETRAIN_HOLDOUT."
        },
    )
    retrain_data: str = field(
        default="",
        metadata={
            "doc": "Scheduled retraining: labelled CSV (text, category) "
            "added to the review feedback; empty = feedback only."
        },
    )
    retrain_holdout: str = field(
        default="",
        metadata={
            "doc": "Scheduled retraining: the fixed held-out CSV of the "
            "gate; required when TRIAGE_RETRAIN_INTERVAL_S is set."
        },
    )
    retrain_priority_holdout: str = field(
        default="",
        metadata={
            "doc": "Scheduled retraining of the priority model in service (TRIAGE_PRIORITY_MODEL) on the agents' "
            "priorities plus TRIAGE_RETRAIN_DATA's priority column: its gate's held-out CSV (text, category = a "
            "priority); empty = the priority model is retrained by hand only."
        },
    )
    intents_interval_s: int = field(
        default=0,
        metadata={
            "doc": "New intents: cluster recent unsure and out-of-scope tickets with celery beat every this many "
            "seconds (86400 = daily); 0 = off (`triage intents find` runs it by hand)."
        },
    )
    intents_window_days: int = field(
        default=14, metadata={"doc": "New intents: days of unreviewed guesses clustered (and of the trend shown)."}
    )
    intents_min_cluster_size: int = field(
        default=10, metadata={"doc": "New intents: fewest tickets that make a cluster (HDBSCAN min_cluster_size)."}
    )
    intents_max_tickets: int = field(
        default=20000, metadata={"doc": "New intents: most tickets clustered in one run (the newest are kept)."}
    )
    log_level: str = field(default="INFO", metadata={"doc": "Python log level."})
    log_format: str = field(
        default="auto",
        metadata={
            "doc": "json (one object per line), text, or auto: json for the services (serve, worker, "
            "the web server, celery), text for interactive commands such as demo."
        },
    )

    def __post_init__(self) -> None:
        check(self)

    @property
    def embedded(self) -> bool:
        """True when the broker lives in this process and a worker thread must run beside the web app."""
        return self.broker_url.startswith("memory://")

    @property
    def intake_rate_limit_enabled(self) -> bool:
        return self.intake_rate_limit.strip().lower() not in ("", "off")

    @property
    def auto_send_queue_names(self) -> set[str]:
        return {n.strip() for n in self.auto_send_queues.split(",") if n.strip()}

    @property
    def integration_names(self) -> list[str]:
        return [n.strip() for n in self.integrations.split(",") if n.strip()]

    @property
    def api_token_list(self) -> list[str]:
        return secret_list(self.api_tokens)

    @property
    def webhook_secrets(self) -> list[str]:
        """Every accepted generic webhook key: the new one and, while senders move over, the old ones."""
        return secret_list(self.webhook_secret)

    @property
    def metrics_tokens(self) -> list[str]:
        return secret_list(self.metrics_token)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from TRIAGE_* variables (and *_FILE for secrets), then explicit overrides."""
        return cls(**values_from_env(fields(cls), os.environ if environ is None else environ, overrides))

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def describe() -> list[tuple[str, str, str]]:
    """Return (variable, default, meaning) for every setting, for the README and `triage config`."""
    rows = []
    for f in fields(Settings):
        default = f.default
        shown = "(empty)" if isinstance(default, Secret) or default == "" else str(default)
        rows.append((PREFIX + f.name.upper(), shown, f.metadata.get("doc", "")))
    return rows
