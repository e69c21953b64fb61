"""Where a web process's CPU goes per accepted webhook, measured in process: the whole request through the
WSGI app (fast path on and off, 8 caller threads, Postgres and Redis as in production), and each part of it
timed alone over the same signed bodies. CPU time, not wall time, so other load on the machine matters less.

    .venv/bin/python bench/intake_cpu.py [--requests 4000] [--rounds 3] [--out bench/results/intake-cpu.json]

HTTP parsing by the web server (granian, in Rust, in the same process) is not in these figures:
bench/load.py's web_cpu_ms_per_request is the whole process under real HTTP load.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import statistics
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from intake import PG_ADMIN, REDIS_URL, SECRET, ensure_model  # noqa: E402
from werkzeug.test import EnvironBuilder  # noqa: E402

from service import create_app  # noqa: E402
from service.core.domain import InboundEvent  # noqa: E402
from service.core.settings import Secret, Settings  # noqa: E402
from service.core.signing import signed_delivery, verify  # noqa: E402
from service.infra.migrate import upgrade  # noqa: E402
from service.infra.window_limits import WindowLimiter  # noqa: E402
from service.intake import flow as intake_flow  # noqa: E402
from service.ops.intake_stats import RedisIntakeStats  # noqa: E402
from service.web import intake as web_intake  # noqa: E402
from service.web.webhooks import log_delivery  # noqa: E402


def bodies(n: int) -> list[tuple[bytes, dict[str, str]]]:
    with (ROOT / "data/banking77/test.csv").open(newline="") as fh:
        texts = [r["text"] for r in csv.DictReader(fh)]
    return [signed_delivery(SECRET, {"id": f"cpu-{uuid.uuid4().hex}", "body": texts[i % len(texts)]}) for i in range(n)]


def environ(body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    return EnvironBuilder(
        path="/webhooks/generic", method="POST", data=body, headers=headers, environ_base={"REMOTE_ADDR": "127.0.0.1"}
    ).get_environ()


def whole_requests(app: Any, deliveries: list[tuple[bytes, dict[str, str]]], threads: int = 8) -> float:
    """Process CPU ms per request through the WSGI app, background threads (group commit, dispatch) included."""
    envs = [environ(b, h) for b, h in deliveries]
    statuses: list[str] = []

    def call(env: dict[str, Any]) -> None:
        list(app(env, lambda status, headers, *_: statuses.append(status)))

    before = time.process_time()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(call, envs))
    time.sleep(0.2)  # the last group commit and dispatch
    spent = time.process_time() - before
    bad = [s for s in statuses if not s.startswith("202")]
    assert not bad, f"not accepted: {bad[:3]}"
    return spent * 1000 / len(envs)


def part(fn: Any, items: list[Any]) -> float:
    """CPU µs per call of fn over items, on this thread."""
    before = time.thread_time()
    for item in items:
        fn(item)
    return (time.thread_time() - before) * 1e6 / len(items)


def parts(app: Any, deliveries: list[tuple[bytes, dict[str, str]]]) -> dict[str, float]:
    """Each step of the fast path alone, over the same deliveries (µs per request)."""
    rt = app.extensions["triage"]
    secrets = rt.settings.webhook_secrets
    payloads = [json.loads(b) for b, _ in deliveries]
    limiter = WindowLimiter.parse("1000000/second", redis_url=REDIS_URL, prefix=f"bench:{uuid.uuid4().hex}")
    stats = RedisIntakeStats(REDIS_URL)
    tickets = [web_intake.parse_ticket(p, source="generic") for p in payloads]
    logging.getLogger("service.web.webhooks").setLevel(logging.INFO)  # as a service runs: the line is built
    sink = logging.getLogger("service.web.webhooks")
    sink.handlers, sink.propagate = [logging.NullHandler()], False
    result = intake_flow.Intake(ticket_id=1, queued=True, outcome="created", status="received", event_id=1)
    out = {
        "hmac_verify": part(
            lambda d: verify(
                secrets,
                timestamp=d[1]["X-Triage-Timestamp"],
                signature=d[1]["X-Triage-Signature"],
                body=d[0],
                tolerance_s=300,
            ),
            deliveries,
        ),
        "json_parse_checked": part(lambda d: web_intake.parse_json(d[0]), deliveries),
        "json_parse_plain": part(lambda d: json.loads(d[0]), deliveries),
        "schema_full_validator": part(lambda p: list(web_intake._VALIDATOR.iter_errors(p)), payloads[:500]),
        "schema_fast_check": part(web_intake.plainly_valid, payloads),
        "rate_limit_local_hit": part(lambda _: limiter.hit("generic|127.0.0.1"), deliveries),
        "intake_counts_record": part(
            lambda _: stats.record(source="generic", status=202, outcome="created", seconds=0.001), deliveries
        ),
        "log_line": part(
            lambda t: log_delivery("generic", InboundEvent(ticket=t, reason="created"), result, time.perf_counter()),
            tickets,
        ),
        "sha256_digests": part(
            lambda d: (intake_flow.body_digest(d[0]), intake_flow.body_digest(d[0][:64])), deliveries
        ),
    }
    return {k: round(v, 1) for k, v in out.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/intake-cpu.json")
    args = parser.parse_args()
    models = ROOT / "var/models"
    ensure_model(models)
    db = f"triage_cpu_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{db}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{db}"
    apps = {}
    try:
        upgrade(url)
        base = Settings.from_env({}).replace(
            database_url=url,
            broker_url=REDIS_URL,
            models_dir=models,
            webhook_secret=Secret(SECRET),
            api_tokens=Secret("bench"),
            log_level="WARNING",
            routing_file=ROOT / "data/routing/banking77.yaml",
            drafting_model="none",
            # Counted as in production; high enough that a fast in-process client is never refused.
            intake_rate_limit="1000000/second",
        )
        apps = {
            name: create_app(base.replace(intake_fast_path=fast)) for name, fast in (("view", False), ("fast", True))
        }
        for app in apps.values():  # warm: connections, first group commit, first dispatch
            whole_requests(app, bodies(100))
        rounds: dict[str, list[float]] = {name: [] for name in apps}
        for _ in range(args.rounds):
            for name, app in apps.items():  # alternating, so drift in the machine's load hits both
                rounds[name].append(round(whole_requests(app, bodies(args.requests)), 3))
        medians = {name: statistics.median(v) for name, v in rounds.items()}
        pieces = parts(apps["fast"], bodies(2000))
        fast_steps = [k for k in pieces if k not in ("json_parse_plain", "schema_full_validator")]
        report = {
            "requests_per_round": args.requests,
            "cpu_ms_per_request": {name: {"rounds": v, "median": medians[name]} for name, v in rounds.items()},
            "fast_over_view": round(medians["fast"] / medians["view"], 3),
            "parts_us_per_request": pieces,
            "derived_us_per_request": {
                # What Flask's request machinery (context, hooks, proxies, response object) adds to the same work.
                "flask_machinery": round((medians["view"] - medians["fast"]) * 1000, 1),
                # The fast path less its measured steps: the SQLAlchemy session and group commit (Postgres
                # round trip amortised over a batch), the Celery publish of ticket ids, and the threads.
                "store_dispatch_and_threads": round(medians["fast"] * 1000 - sum(pieces[k] for k in fast_steps), 1),
            },
        }
    finally:
        for app in apps.values():
            app.extensions["triage"].db.dispose()
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{db}" WITH (FORCE)')
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
