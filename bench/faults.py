"""Fault scenarios on real processes, one JSON object of counts each: a worker SIGKILLed mid-batch, Redis and
Postgres restarted under load, and the helpdesk answering 429/500 storms.

    .venv/bin/python bench/faults.py [--tickets 400] [--scenario NAME]...

NAME is worker_kill, redis_restart, postgres_restart, helpdesk_storm, fetch_outage, deleted_tickets,
hostile_bodies or reroute_storm (default: all eight, in that order).

The last four send Zendesk triggers (only the ticket's id: the worker fetches its text from a loopback server that
speaks Zendesk's API) or hostile bodies: fetch_outage (the ticket API answers 503, then 429 with Retry-After),
deleted_tickets (10 % of the tickets are gone when fetched), hostile_bodies (5 % of the tickets are adversarial
texts of the largest size the schema takes, sent after a round without them) and reroute_storm (a fifth of the
tickets are updated while they are being decided).

Each scenario runs granian, a `celery worker` (prefork, -c 2), `celery beat` (the sweep) and the fake helpdesk's
HTTP server, against a fresh database (on the shared Postgres, or on a private cluster where Postgres is
restarted) and a private redis-server (so no other stack on the shared Redis can take our tasks). A sender posts
signed Banking77 tickets at a steady pace and, as Zendesk or Jira would, retries a 503/429 or a refused
connection with the same delivery id until it is acknowledged. The fault is injected mid-load; afterwards the
scenario waits until every acknowledged ticket is decided and every write-back settled, then counts.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import csv
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests
from sqlalchemy import Engine, create_engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.intake import OPS_AUTH, SECRET, Stack, ensure_model, free_port  # noqa: E402
from bench.servers import PrivatePostgres, PrivateRedis  # noqa: E402
from integrations.fake.server import FakeHelpdeskServer  # noqa: E402
from integrations.fake.webhook import signed_delivery  # noqa: E402
from tests.support.adversarial import catalogue  # noqa: E402
from tests.support.vendors import ZENDESK_GROUPS, ZendeskServer, zendesk_env, zendesk_headers  # noqa: E402

MAX_BODY_CHARS = 100_000  # the generic ticket schema's limit on `body`

SCENARIOS = (
    "worker_kill",
    "redis_restart",
    "postgres_restart",
    "helpdesk_storm",
    "fetch_outage",
    "deleted_tickets",
    "hostile_bodies",
    "reroute_storm",
)
# Scenarios whose tickets arrive as Zendesk triggers and are fetched.
ZENDESK_SCENARIOS = ("fetch_outage", "deleted_tickets", "reroute_storm")
# Recovery in seconds rather than the production defaults' minutes (lease 300 s, sweep 60 s). The claim lease
# bounds how long a dead worker's claimed tickets wait, and it must outlast the slowest batch: here that is a
# worker process's first one, which loads the model inside its claim (3-7 s on these 2 shared cores; with a
# 5 s lease the sweep handed such tickets to the other process, harmless but noisy). The sweep (celery beat)
# re-enqueues stale claims, and tickets or write-backs still unfinished after its interval; it cannot tell
# "queued" from "lost", so under a backlog each sweep adds no-op duplicates (a 2 s interval made ~950 deliver
# tasks for 90 write-backs after a worker kill), hence 5 s.
# Drafts come from templates only: a 1.5B model generating on 2 shared cores would measure the model.
SCENARIO_ENV = {
    "TRIAGE_CLAIM_LEASE_S": "10",
    "TRIAGE_SWEEP_INTERVAL_S": "5",
    "TRIAGE_DRAFTING_MODEL": "none",
    "TRIAGE_HELPDESK": "fake",
    "TRIAGE_ALLOW_FAKE_HELPDESK": "true",
}
RETRYABLE = {429, 502, 503, 504}


@dataclass
class Answer:
    at: float
    status: int | str  # an HTTP status, or "connection_error"
    retry_after: str | None = None
    problem_json: bool = False
    error: str = ""  # the exception's type, for a connection error
    ms: float = 0.0  # how long the answer took


class Sender:
    """Posts tickets at a steady pace from a few threads; retries 503/429 and refused connections until acked."""

    def __init__(
        self,
        url: str,
        run: str,
        texts: list[str],
        rate: float,
        threads: int = 8,
        give_up_s: float = 120,
        zendesk_ids: list[int] | None = None,
    ) -> None:
        self.url, self.run, self.texts, self.rate = url, run, texts, rate
        # With Zendesk ids, ticket i is announced by a trigger carrying only zendesk_ids[i]: its text is fetched.
        self.zendesk_ids = zendesk_ids
        self.threads, self.give_up_s = threads, give_up_s
        self.answers: list[Answer] = []
        self.acknowledged: dict[str, int] = {}  # external id -> the status that acknowledged it (202 or 200)
        self.rejected: dict[str, int | str] = {}  # external id -> the last answer, for those never acknowledged
        self._lock = threading.Lock()
        self._local = threading.local()
        self._thread = threading.Thread(target=self._send_all, daemon=True)

    def start(self) -> Sender:
        self.started = time.monotonic()
        self._thread.start()
        return self

    def join(self) -> None:
        self._thread.join()

    def wait_acknowledged(self, count: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while len(self.acknowledged) < count:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"only {len(self.acknowledged)}/{count} tickets acknowledged")
            time.sleep(0.02)

    def _send_all(self) -> None:
        with ThreadPoolExecutor(self.threads) as pool:
            list(pool.map(self._send, range(len(self.texts))))
        self.finished = time.monotonic()

    def _send(self, i: int) -> None:
        time.sleep(max(0.0, self.started + i / self.rate - time.monotonic()))
        if not hasattr(self._local, "http"):
            self._local.http = requests.Session()
        external_id = f"{self.run}-{i}" if self.zendesk_ids is None else str(self.zendesk_ids[i])
        give_up = time.monotonic() + self.give_up_s
        while True:
            path, body, headers = self.delivery(i, external_id)
            sent = time.monotonic()
            try:
                response = self._local.http.post(self.url + path, data=body, headers=headers, timeout=15)
                answer = Answer(
                    time.monotonic(),
                    response.status_code,
                    response.headers.get("Retry-After"),
                    response.headers.get("Content-Type", "").startswith("application/problem+json"),
                )
            except requests.RequestException as exc:
                self._local.http = requests.Session()
                answer = Answer(time.monotonic(), "connection_error", error=type(exc).__name__)
            answer.ms = (answer.at - sent) * 1000
            with self._lock:
                self.answers.append(answer)
            if answer.status in (200, 202):
                with self._lock:
                    self.acknowledged[external_id] = answer.status
                return
            if (answer.status not in RETRYABLE and answer.status != "connection_error") or time.monotonic() > give_up:
                with self._lock:
                    self.rejected[external_id] = answer.status
                return
            time.sleep(min(float(answer.retry_after or 0.5), 10.0))

    def delivery(self, i: int, external_id: str, event: str = "ticket.created") -> tuple[str, bytes, dict[str, str]]:
        """Path, body and headers of ticket i's delivery; re-signed on each try (a fresh timestamp), same body
        and delivery id, so it is stored at most once."""
        if self.zendesk_ids is None:
            body, headers = signed_delivery(
                SECRET, {"id": external_id, "body": self.texts[i]}, delivery_id=f"delivery-{external_id}"
            )
            return "/webhooks/generic", body, headers
        body = json.dumps({"event": event, "ticket": {"id": external_id}}).encode()
        return "/webhooks/zendesk", body, zendesk_headers(body, invocation=f"{event}-{external_id}")

    def answers_in(self, start: float = 0.0, end: float = float("inf")) -> list[Answer]:
        with self._lock:
            return [a for a in self.answers if start <= a.at <= end]

    def answers_between(self, start: float, end: float) -> dict[str, int]:
        return dict(collections.Counter(str(a.status) for a in self.answers_in(start, end)))

    def answer_ms(self, start: float = 0.0, end: float = float("inf")) -> dict[str, float]:
        """Median and slowest answer time (ms) of the answers that came back between start and end."""
        times = sorted(a.ms for a in self.answers_in(start, end))
        return {"p50": round(times[len(times) // 2], 1), "max": round(times[-1], 1)} if times else {}


@dataclass
class Context:
    """What a scenario's fault acts on."""

    tickets: int
    stack: Stack
    fake: FakeHelpdeskServer
    sender: Sender
    broker: PrivateRedis
    postgres: PrivatePostgres | None
    engine: Engine
    zendesk: ZendeskServer | None = None
    # fetch_outage: seconds of 503, then of 429 with Retry-After.
    outage_s: tuple[float, float] = (120.0, 20.0)
    evidence: dict = field(default_factory=dict)

    def scalar(self, sql: str) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(text(sql)).scalar() or 0)

    def readyz(self) -> dict:
        response = requests.get(self.stack.url + "/readyz", headers=OPS_AUTH, timeout=15)
        return {"status": response.status_code, "checks": response.json().get("checks")}


def kill_worker_mid_batch(ctx: Context) -> float:
    """SIGKILL the worker (and its pool) while it holds claimed, undecided tickets; then start a new one."""
    ctx.sender.wait_acknowledged(ctx.tickets // 3)
    worker = ctx.stack.worker
    group = os.getpgid(worker.pid)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        # Only once some tickets are decided, so the kill lands in a working worker's ordinary batch.
        if not ctx.scalar(
            "SELECT count(*) FROM tickets WHERE status = 'processing' AND EXISTS "
            "(SELECT 1 FROM tickets WHERE status = 'decided')"
        ):
            time.sleep(0.002)
            continue
        # Freeze first, so the count we check is the state the kill leaves (a commit already on the wire may
        # still land, hence the short pause); if the batch finished meanwhile, thaw and try the next one.
        os.killpg(group, signal.SIGSTOP)
        time.sleep(0.2)
        claimed = ctx.scalar("SELECT count(*) FROM tickets WHERE status = 'processing'")
        if claimed:
            break
        os.killpg(group, signal.SIGCONT)
    else:
        raise RuntimeError("the worker never held a claimed ticket")
    os.killpg(group, signal.SIGKILL)
    ctx.evidence.update(
        worker_exit_status=worker.wait(),
        worker_killed_by_sigkill=worker.returncode == -9,
        claimed_not_decided_at_kill=ctx.scalar("SELECT count(*) FROM tickets WHERE status = 'processing'"),
        decided_at_kill=ctx.scalar("SELECT count(*) FROM tickets WHERE status = 'decided'"),
        acknowledged_at_kill=len(ctx.sender.acknowledged),
    )
    ctx.stack.start_worker()  # as a supervisor would; it takes seconds to boot, so tickets wait with no worker
    return time.monotonic()


def restart_redis(ctx: Context) -> float:
    """SIGKILL the broker mid-load (its queue is gone: no persistence), keep it down, restart on the same port."""
    ctx.sender.wait_acknowledged(ctx.tickets // 3)
    down = time.monotonic()
    ctx.evidence["redis_exit_status"] = ctx.broker.kill()
    time.sleep(1.5)
    ctx.evidence["readyz_while_down"] = ctx.readyz()
    time.sleep(1.5)
    ctx.broker.start()
    up = time.monotonic()
    ctx.evidence.update(
        down_s=round(up - down, 2),
        answers_while_down=ctx.sender.answers_between(down, up),
        answer_ms_while_down=ctx.sender.answer_ms(down, up),
    )
    return up


def restart_postgres(ctx: Context) -> float:
    """Stop Postgres with `pg_ctl stop -m immediate` (a crash: WAL replay on start) mid-load, then start it."""
    assert ctx.postgres is not None
    ctx.sender.wait_acknowledged(ctx.tickets // 3)
    down = time.monotonic()
    ctx.postgres.stop("immediate")
    time.sleep(1.5)
    ctx.evidence["readyz_while_down"] = ctx.readyz()
    time.sleep(2.5)
    ctx.postgres.start()
    up = time.monotonic()
    refused = [a for a in ctx.sender.answers_in(down, up) if a.status == 503]
    ctx.evidence.update(
        down_s=round(up - down, 2),
        answers_while_down=ctx.sender.answers_between(down, up),
        answer_ms_while_down=ctx.sender.answer_ms(down, up),
        refusals_with_retry_after=sum(1 for a in refused if a.retry_after),
        refusals_as_problem_json=sum(1 for a in refused if a.problem_json),
    )
    return up


def helpdesk_storm(ctx: Context) -> float:
    """Make the helpdesk answer every call 429 (Retry-After: 1) for 6 s, then 500 for 3 s, while write-backs flow."""
    deadline = time.monotonic() + 60
    while ctx.scalar("SELECT count(*) FROM writebacks WHERE status = 'done'") < ctx.tickets // 5:
        if time.monotonic() > deadline:
            raise RuntimeError("write-backs never started")
        time.sleep(0.05)
    start = time.monotonic()
    ctx.fake.storm(429, 6, {"Retry-After": "1"})
    ctx.fake.storm(500, 3)
    cli = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "writebacks", "list", "--status", "retrying"],
        env=ctx.stack.env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    most_retrying = 0
    while time.monotonic() < start + 9:
        most_retrying = max(most_retrying, ctx.scalar("SELECT count(*) FROM writebacks WHERE status = 'retrying'"))
        time.sleep(0.25)
    listed = (cli.communicate(timeout=60)[0].strip().splitlines() or [""])[-1]
    ctx.evidence.update(storm_s=9, most_writebacks_retrying_at_once=most_retrying, cli_writebacks_list_retrying=listed)
    return time.monotonic()


def fetch_outage(ctx: Context) -> float:
    """The helpdesk's API answers 503 to everything, then 429 with Retry-After, while tickets keep arriving."""
    assert ctx.zendesk is not None
    ctx.sender.wait_acknowledged(ctx.tickets // 5)
    start = time.monotonic()
    unavailable, limited = ctx.outage_s
    ctx.zendesk.storm(503, unavailable)
    ctx.zendesk.storm(429, limited, {"Retry-After": "3"})
    time.sleep(unavailable + limited)
    ctx.evidence.update(
        unavailable_s=unavailable,
        rate_limited_s=limited,
        waiting_at_end_of_outage=ctx.scalar("SELECT count(*) FROM tickets WHERE status = 'received'"),
        failed_during_outage=ctx.scalar("SELECT count(*) FROM tickets WHERE status = 'failed'"),
    )
    ctx.evidence["outage_over_s"] = round(time.monotonic() - start, 1)
    return time.monotonic()


def deleted_tickets(ctx: Context) -> float:
    """Nothing to inject: a tenth of the tickets were never in the helpdesk (deleted before the fetch)."""
    ctx.sender.wait_acknowledged(ctx.tickets)
    return time.monotonic()


def hostile_bodies(ctx: Context) -> float:
    """Nothing to inject: a twentieth of the tickets carry hostile texts (see run_scenario)."""
    ctx.sender.wait_acknowledged(ctx.tickets)
    return time.monotonic()


def reroute_storm(ctx: Context) -> float:
    """Update a fifth of the tickets (new text in the helpdesk, then a ticket.updated trigger) while they are
    being decided."""
    assert ctx.zendesk is not None and ctx.sender.zendesk_ids is not None
    ctx.sender.wait_acknowledged(ctx.tickets // 3)
    updated = 0
    http = requests.Session()
    for i, ticket_id in enumerate(ctx.sender.zendesk_ids):
        if i % 5 or str(ticket_id) not in ctx.sender.acknowledged:
            continue
        ctx.zendesk.tickets[ticket_id]["description"] = "Update: " + ctx.sender.texts[(i + 7) % len(ctx.sender.texts)]
        path, body, headers = ctx.sender.delivery(i, str(ticket_id), event="ticket.updated")
        for _ in range(20):  # as Zendesk would, until acknowledged
            answer = http.post(ctx.stack.url + path, data=body, headers=headers, timeout=15)
            if answer.status_code in (200, 202):
                break
            time.sleep(0.5)
        updated += answer.json().get("outcome") == "rerouted"
    ctx.evidence.update(updates_sent=updated)
    return time.monotonic()


FAULTS: dict[str, Callable[[Context], float]] = {
    "worker_kill": kill_worker_mid_batch,
    "redis_restart": restart_redis,
    "postgres_restart": restart_postgres,
    "helpdesk_storm": helpdesk_storm,
    "fetch_outage": fetch_outage,
    "deleted_tickets": deleted_tickets,
    "hostile_bodies": hostile_bodies,
    "reroute_storm": reroute_storm,
}


def settle(ctx: Context, deadline_s: float) -> bool:
    """Wait until every stored ticket is decided and no write-back is still pending, retrying or sending."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if ctx.stack.worker.poll() is not None:
            # As a supervisor (docker's restart policy, systemd) would: a worker can die on a broker outage, when
            # kombu's connection-loss handling raises (RELIABILITY.md, "Limits seen"). Counted, never hidden.
            ctx.evidence.setdefault("worker_exits_restarted", []).append(ctx.stack.worker.returncode)
            ctx.stack.start_worker()
        try:
            undecided = ctx.scalar("SELECT count(*) FROM tickets WHERE status NOT IN ('decided', 'failed')")
            stored = ctx.scalar("SELECT count(*) FROM tickets")
            open_writebacks = ctx.scalar(
                "SELECT count(*) FROM writebacks WHERE status NOT IN ('done', 'failed', 'superseded')"
            )
            writebacks = ctx.scalar("SELECT count(*) FROM writebacks")
            failed = ctx.scalar("SELECT count(*) FROM tickets WHERE status = 'failed'")
        except Exception:  # the database may still be coming back
            time.sleep(0.5)
            continue
        if (
            stored >= len(ctx.sender.acknowledged)
            and not undecided
            and not open_writebacks
            and writebacks >= stored - failed
        ):
            return True
        time.sleep(0.25)
    return False


def count(ctx: Context) -> dict:
    """Count tickets sent, acknowledged, refused, processed, written back, lost and duplicated."""
    sender, acked = ctx.sender, set(ctx.sender.acknowledged)
    with ctx.engine.connect() as conn:
        decided = set(conn.execute(text("SELECT external_id FROM tickets WHERE status = 'decided'")).scalars())
        duplicate_decisions = conn.execute(
            text(
                "SELECT count(*) FROM (SELECT ticket_id, revision FROM decisions GROUP BY ticket_id, revision "
                "HAVING count(*) > 1) d"
            )
        ).scalar()
        writebacks = dict(conn.execute(text("SELECT status, count(*) FROM writebacks GROUP BY status")).all())
        retried = conn.execute(
            text("SELECT count(*), coalesce(max(attempts), 0) FROM writebacks WHERE attempts > 1")
        ).one()
        reclaimed = conn.execute(text("SELECT count(*) FROM tickets WHERE attempts > 1")).scalar()
        failed = dict(conn.execute(text("SELECT external_id, last_error FROM tickets WHERE status = 'failed'")).all())
        done_per_ticket = dict(
            conn.execute(
                text(
                    "SELECT t.external_id, count(*) FROM writebacks w JOIN decisions d ON d.id = w.decision_id "
                    "JOIN tickets t ON t.id = d.ticket_id WHERE w.status = 'done' GROUP BY t.external_id"
                )
            ).all()
        )
        decision_s = dict(
            conn.execute(
                text(
                    "SELECT external_id, EXTRACT(EPOCH FROM processed_at - received_at) FROM tickets "
                    "WHERE status = 'decided'"
                )
            ).all()
        )
    calls = list(ctx.fake.requests)  # settled: nothing is appended any more
    delivered = [r for r in calls if r.status < 300]
    per_key = collections.Counter(r.headers.get("Idempotency-Key") for r in delivered)
    per_ticket = collections.Counter(requests.utils.unquote(r.path.split("/")[3]) for r in delivered)
    if ctx.zendesk is not None:  # write-backs went to Zendesk's API, one PUT per delivered write-back
        calls = [r for r in ctx.zendesk.requests if r.method == "PUT"]
        per_ticket = collections.Counter(r.path.split("/")[4].removesuffix(".json") for r in calls if r.status < 300)
        # A ticket updated meanwhile may rightly get one write-back per revision: more than its done rows is a repeat.
        per_key = collections.Counter({t: max(1, n - done_per_ticket.get(t, 0) + 1) for t, n in per_ticket.items()})
    answers = collections.Counter(str(a.status) for a in sender.answers)
    return {
        "tickets": {
            "sent": len(sender.texts),
            "acknowledged": len(acked),
            "acknowledged_202": sum(1 for s in sender.acknowledged.values() if s == 202),
            "acknowledged_200_on_retry": sum(1 for s in sender.acknowledged.values() if s == 200),
            "never_acknowledged": len(sender.texts) - len(acked),
            "never_acknowledged_last_answers": dict(collections.Counter(str(v) for v in sender.rejected.values())),
            "processed": len(acked & decided),
            "written_back": len(acked & set(per_ticket)),
            # Lost: acknowledged, yet neither decided nor visibly failed with a reason.
            "lost": len(acked - decided - set(failed)),
            "lost_writebacks": len(acked - set(failed) - set(per_ticket)),
            "failed": len(failed),
            "failed_reasons": dict(collections.Counter(reason_of(r) for r in failed.values())),
            "failed_ids": sorted(failed),
        },
        "decision_ms": percentiles_ms([decision_s[e] for e in acked if e in decision_s]),
        "answers_to_sender": dict(sorted(answers.items())),
        "connection_errors": dict(collections.Counter(a.error for a in sender.answers if a.error)),
        "answer_ms": sender.answer_ms(),
        "refused": sum(n for status, n in answers.items() if status not in ("200", "202")),
        "duplicates": {
            "decisions_per_revision": int(duplicate_decisions or 0),
            "writebacks_received_more_than_once": sum(n - 1 for n in per_key.values() if n > 1),
            "tickets_written_back_more_than_once": sum(1 for n in per_ticket.values() if n > 1),
        },
        "writebacks": {"by_status": writebacks, "retried": int(retried[0]), "most_attempts": int(retried[1])},
        "tickets_claimed_more_than_once": int(reclaimed or 0),
        "helpdesk_answers": dict(sorted(collections.Counter(str(r.status) for r in calls).items())),
    }


def reason_of(error: str | None) -> str:
    """The kind of a failed ticket's reason, e.g. "fetch: HTTP 404 RecordNotFound" (no URL, no ids)."""
    error = error or ""
    status = re.search(r"HTTP (\d{3})", error)
    return f"{error.split(':')[0]} HTTP {status[1]}" if status else error[:40] or "none given"


def percentiles_ms(seconds: list[float]) -> dict[str, float]:
    values = sorted(float(s) * 1000 for s in seconds)
    if not values:
        return {}
    return {q: round(values[min(len(values) - 1, int(len(values) * f))], 1) for q, f in (("p50", 0.5), ("p99", 0.99))}


def run_scenario(
    name: str,
    *,
    tickets: int,
    models_dir: Path,
    workdir: Path,
    rate: float | None = None,
    deadline_s: float = 240,
    outage_s: tuple[float, float] = (120.0, 20.0),
) -> dict:
    """Run one scenario end to end on fresh servers and return its counts."""
    texts = banking77_texts(tickets)
    rate = rate or max(20.0, tickets / 10)  # about ten seconds of load, so the fault lands mid-way
    hostile = list(catalogue(MAX_BODY_CHARS).values())
    hostile_at = {i for i in range(tickets) if i % 20 == 7} if name == "hostile_bodies" else set()
    load = [hostile[i % len(hostile)] if i in hostile_at else text for i, text in enumerate(texts)]
    workdir.mkdir(parents=True, exist_ok=True)
    booted = time.monotonic()
    with contextlib.ExitStack() as cleanup:
        fake = FakeHelpdeskServer().start()
        cleanup.callback(fake.stop)
        broker = PrivateRedis(free_port(), workdir)
        cleanup.callback(broker.stop)
        zendesk = None
        extra_env: dict[str, str] = {}
        zendesk_ids: list[int] | None = None
        if name in ZENDESK_SCENARIOS:
            zendesk = ZendeskServer(groups=set(ZENDESK_GROUPS.values())).start()
            cleanup.callback(zendesk.stop)
            first = int(time.time()) % 100_000 * 10_000
            zendesk_ids = [first + i for i in range(tickets)]
            for i, ticket_id in enumerate(zendesk_ids):
                if name == "deleted_tickets" and i % 10 == 3:
                    continue  # deleted in Zendesk before the worker fetched it
                zendesk.add_ticket(ticket_id, f"Ticket {i}", texts[i])
            extra_env = {
                "TRIAGE_INTEGRATIONS": "zendesk",
                **zendesk_env(zendesk.url),
                "TRIAGE_FETCH_BACKOFF_S": "1",
                "TRIAGE_REROUTE_ON_UPDATE": "true" if name == "reroute_storm" else "false",
            }
        postgres = database_url = None
        if name == "postgres_restart":
            postgres = PrivatePostgres(free_port())
            cleanup.callback(postgres.destroy)
            database_url = postgres.create_database("triage")
        stack = Stack(
            f"faults-{name}",
            models_dir,
            workdir,
            database_url=database_url,
            broker_url=broker.url,
            env={**SCENARIO_ENV, "TRIAGE_FAKE_HELPDESK_URL": fake.url, **extra_env},
            web_workers=1,
            beat=True,
        )
        # Everything has settled by then; a prefork worker's warm shutdown after a broker outage was seen to take
        # 30 s (billiard waiting on its pool), so after 10 s it is SIGKILLed, which acks_late makes safe.
        cleanup.callback(stack.stop, grace_s=10)
        stack.wait_worker()
        engine = create_engine(stack.database_url, pool_pre_ping=True)
        cleanup.callback(engine.dispose)
        baseline = None
        if hostile_at:  # the same load without hostile texts first, on the same warm servers, for comparison
            warm = Sender(stack.url, f"{name}-warm-{uuid.uuid4().hex[:6]}", texts[:10], rate).start()
            warm.join()
            settle(Context(10, stack, fake, warm, broker, postgres, engine), deadline_s)
            first_round = Sender(stack.url, f"{name}-baseline-{uuid.uuid4().hex[:6]}", texts, rate).start()
            first_round.join()
            settle(Context(tickets, stack, fake, first_round, broker, postgres, engine), deadline_s)
            baseline = count(Context(tickets, stack, fake, first_round, broker, postgres, engine))["decision_ms"]
        sender = Sender(stack.url, f"{name}-{uuid.uuid4().hex[:6]}", load, rate, zendesk_ids=zendesk_ids)
        ctx = Context(tickets, stack, fake, sender, broker, postgres, engine, zendesk, outage_s)
        started = sender.start().started
        recovered_from = FAULTS[name](ctx)
        sender.join()
        settled = settle(ctx, deadline_s)
        done = time.monotonic()
        counts = count(ctx)
        if hostile_at:
            with engine.connect() as conn:
                normal = [
                    s
                    for e, s in conn.execute(
                        text(
                            "SELECT external_id, EXTRACT(EPOCH FROM processed_at - received_at) FROM tickets "
                            "WHERE status = 'decided'"
                        )
                    ).all()
                    if e.startswith(sender.run) and int(e.rsplit("-", 1)[1]) not in hostile_at
                ]
            ctx.evidence.update(
                hostile_tickets=len(hostile_at),
                baseline_decision_ms=baseline,
                others_decision_ms=percentiles_ms(normal),
            )
            if baseline and ctx.evidence["others_decision_ms"]:
                ctx.evidence["others_p99_vs_baseline"] = round(
                    ctx.evidence["others_decision_ms"]["p99"] / max(baseline["p99"], 1.0), 2
                )
        result = {
            "scenario": name,
            "settled": settled,
            **counts,
            "fault": ctx.evidence,
            # Since the first ticket was sent, apart from the servers' start.
            "seconds": {
                "start_servers": round(started - booted, 1),
                "load": round(sender.finished - started, 1),
                "fault_over": round(recovered_from - started, 1),
                "settled": round(done - started, 1),
                "fault_over_to_settled": round(done - recovered_from, 1),
            },
            "settings": {
                **SCENARIO_ENV,
                "send_rate_per_s": rate,
                "web": "granian, 1 process x 8 threads",
                "celery_worker": "prefork -c 2",
                "beat": True,
            },
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        }
        if not settled:
            result["logs"] = {p.name: p.read_text(errors="replace")[-3000:] for p in sorted(workdir.glob("*.log"))}
        return result


def banking77_texts(n: int) -> list[str]:
    with (ROOT / "data/banking77/test.csv").open(newline="") as fh:
        texts = [row["text"] for row in csv.DictReader(fh)]
    return (texts * (n // len(texts) + 1))[:n]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=400)
    parser.add_argument(
        "--scenario", choices=SCENARIOS, action="append", help="run only this scenario (repeatable); default: all eight"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/faults.json")
    parser.add_argument(
        "--outage-s", type=float, nargs=2, default=[120.0, 20.0], help="fetch_outage: seconds of 503, then of 429"
    )
    args = parser.parse_args()
    models_dir = ROOT / "var/models"
    ensure_model(models_dir)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.scenario or SCENARIOS:
            # After a long outage a ticket's fetch backs off up to twice the outage: give it that long to settle.
            deadline = 240 + (2 * sum(args.outage_s) if name == "fetch_outage" else 0)
            result = run_scenario(
                name,
                tickets=args.tickets,
                models_dir=models_dir,
                workdir=Path(tmp) / name,
                deadline_s=deadline,
                outage_s=tuple(args.outage_s),
            )
            result["command"] = "python bench/faults.py " + " ".join(sys.argv[1:])
            print(json.dumps(result), flush=True)
            results.append(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    return (
        0
        if all(r["settled"] and not r["tickets"]["lost"] and not r["tickets"]["lost_writebacks"] for r in results)
        else 1
    )


if __name__ == "__main__":
    raise SystemExit(main())
