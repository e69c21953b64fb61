"""Paths, secrets and settings every test shares; tiny Banking77 subsets."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from service.core.settings import Secret, Settings

ROOT = Path(__file__).resolve().parents[2]


BANKING77 = ROOT / "data" / "banking77"


PG_ADMIN_URL = os.environ.get("TRIAGE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _redis_url() -> str:
    """This test process's Redis database: the next one up for each pytest-xdist worker (gw0 11, gw1 12, ...)."""
    base = os.environ.get("TRIAGE_TEST_REDIS", "redis://127.0.0.1:6379/11")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        return base
    # Two workers on one database would take each other's Celery tasks and rate-limit counters.
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path=f"/{int(parts.path.strip('/') or 0) + int(worker[2:])}"))


REDIS_URL = _redis_url()


SECRET = "test-webhook-secret"


TOKEN = "test-api-token"


# /metrics and /readyz on an app with a Redis broker need this bearer (TRIAGE_METRICS_TOKEN).
METRICS_TOKEN = "test-metrics-token"
OPS_AUTH = {"Authorization": f"Bearer {METRICS_TOKEN}"}


# A few labels spread over several queues: enough to route for real, small enough to train in seconds.
TINY_LABELS = (
    "card_arrival",
    "lost_or_stolen_card",
    "exchange_rate",
    "pending_transfer",
    "top_up_failed",
    "edit_personal_details",
    "declined_card_payment",
    "atm_support",
)


def write_subset(path: Path, source: Path, labels: tuple[str, ...], per_label: int) -> Path:
    counts = dict.fromkeys(labels, 0)
    with source.open(newline="") as fh, path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["text", "category"])
        for row in csv.DictReader(fh):
            if row["category"] in counts and counts[row["category"]] < per_label:
                counts[row["category"]] += 1
                writer.writerow([row["text"], row["category"]])
    return path


def make_settings(database_url: str, models_dir: Path, **overrides: object) -> Settings:
    return Settings(
        database_url=database_url,
        models_dir=models_dir,
        routing_file=ROOT / "data" / "routing" / "banking77.yaml",
        webhook_secret=Secret(SECRET),
        api_tokens=Secret(TOKEN),
        helpdesk="fake",
        allow_fake_helpdesk=True,
        # Tests read /metrics right after changing what it counts, and call the ops endpoints in loops.
        metrics_cache_s=0.0,
        ops_rate_limit="1000/second",
    ).replace(**overrides)


FIXTURES = ROOT / "tests" / "fixtures"


# ../shared beside the checkout; TRIAGE_SHARED_DIR points elsewhere (e.g. from a git worktree).
SHARED = Path(os.environ.get("TRIAGE_SHARED_DIR") or ROOT.parent / "shared")


APACHE = SHARED / "datasets" / "apache_jira_changelog" / "apache_jira_issues_sample10k.csv"


ENDAVA = SHARED / "datasets" / "endava_it_tickets_subset" / "endava_all_tickets_first5431.csv"
