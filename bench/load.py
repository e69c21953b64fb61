"""Sustained load on the production stack (web server + Postgres + Redis + a Celery worker) on loopback; prints JSON.

An open-loop client sends signed generic webhooks at a fixed rate (latency is measured from each request's
scheduled time, so a stalled server cannot hide its queue), then waits until every accepted ticket is
processed and counts lost and duplicated work in the database. Configurations (web server, worker CPU priority)
alternate round by round so drift on a noisy machine hits each the same.

`granian-flood` is `granian` with a second client, in a process of its own, sending GET /metrics and GET /readyz
over --flood-connections keep-alive connections as fast as the answers come back, for as long as the intake runs:
what a scraper gone wild or an attacker on the public port does. `granian-flood-1k` and `-5k` pace the same flood
at 1,000 and 5,000 requests a second. `granian-ops-flood` floods the ops app instead, on the port of its own
where compose serves /metrics and /readyz, at compose's CPU weight for it; `granian-ops-flood-remote` runs that
flood's client at idle priority, as if it ran on another machine (what is left is what answering costs us).
Compare their p95 with `granian`'s.

    .venv/bin/python bench/load.py [--rate 500] [--seconds 20] [--rounds 3] [--configs granian,gthread]
    .venv/bin/python bench/load.py --configs granian,granian-flood --rounds 4 --out bench/results/load-flood.json
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import uvloop
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from intake import METRICS_TOKEN, SECRET, Stack, ensure_model, pct  # noqa: E402

from bench.report import machine, publish  # noqa: E402
from service.core.signing import signed_delivery  # noqa: E402

GRANIAN = [
    "granian",
    "--interface",
    "wsgi",
    "--workers",
    "2",
    "--blocking-threads",
    "8",
    "--host",
    "127.0.0.1",
    "--port",
    "{port}",
    "--log-level",
    "warning",
    "--no-ws",
    "service.wsgi:app",
]
GTHREAD = [
    "gunicorn",
    "-w",
    "2",
    "-k",
    "gthread",
    "--threads",
    "8",
    "-b",
    "127.0.0.1:{port}",
    "--log-level",
    "warning",
    "service.wsgi:app",
]
# Compared side by side: the web server (run as `python -m ...`, 2 processes for the 2 cores) and the Celery
# workers' CPU priority. "idle" is how a box shared by web and workers should run them (README, "Sharing cores"):
# a burst is acknowledged first and classified as soon as the web leaves a core free.
CONFIGS: dict[str, tuple[list[str], int]] = {
    "granian": (GRANIAN, 19),
    "granian-worker-normal": (GRANIAN, 0),
    # The web's group commit waiting 2 ms (the default before issue 21) or 25 ms for company, not 10.
    "granian-linger2": (GRANIAN, 19),
    "granian-linger25": (GRANIAN, 19),
    "gthread": (GTHREAD, 19),
    "granian-flood": (GRANIAN, 19),
    "granian-flood-1k": (GRANIAN, 19),
    "granian-flood-5k": (GRANIAN, 19),
    # The flood on the ops app's own port, where compose serves /metrics and /readyz (cpu_shares 64); `-remote`
    # runs the flood client itself at idle priority, a stand-in for a client on another machine.
    "granian-ops-flood": (GRANIAN, 19),
    "granian-ops-flood-remote": (GRANIAN, 19),
}
# Flood rate per configuration: 0 = as many as the answers allow (closed loop on every connection).
FLOODED = {
    "granian-flood": 0,
    "granian-flood-1k": 1000,
    "granian-flood-5k": 5000,
    "granian-ops-flood": 0,
    "granian-ops-flood-remote": 0,
}
# Every configuration runs with a metrics token (bench/intake.py's Stack sets it), as docker-compose does; the flood
# sends it, the worst case: answered from the cache up to the throttle, refused past it (without it every request
# would be refused at once).


def requests_for(run: str, texts: list[str], port: int) -> list[bytes]:
    """Every request, signed up front (the signature's 300 s window outlasts a run), as raw HTTP/1.1 bytes."""
    out = []
    for i, body_text in enumerate(texts):
        body, headers = signed_delivery(SECRET, {"id": f"{run}-{i}", "body": body_text})
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        out.append(
            (
                f"POST /webhooks/generic HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{head}"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body
        )
    return out


class Http(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection with a minimal answer parser (status, Content-Length, Connection).

    A protocol rather than asyncio streams: the client shares the 2 cores with the server it measures, and
    this costs it a fraction of the CPU per request.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.answer: asyncio.Future[int] | None = None

    def request(self, data: bytes) -> asyncio.Future[int]:
        assert self.transport is not None
        self.answer = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return self.answer

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buffer[:end].lower()
        length, close = 0, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name == b"content-length":
                length = int(value)
            elif name == b"connection":
                close = value.strip() == b"close"
        if len(self.buffer) < end + 4 + length:
            return
        self.buffer = self.buffer[end + 4 + length :]
        if close and self.transport is not None:  # sync workers close after each answer
            self.transport.close()
            self.transport = None
        if self.answer is not None and not self.answer.done():
            self.answer.set_result(int(head[9:12]))

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.answer is not None and not self.answer.done():
            self.answer.set_exception(exc or ConnectionResetError("server closed the connection"))


class Connection:
    """A client slot: its keep-alive connection, reopened when the server closes it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.http: Http | None = None

    async def send(self, request: bytes) -> int:
        if self.http is None or self.http.transport is None:
            _, self.http = await asyncio.get_running_loop().create_connection(Http, "127.0.0.1", self.port)
        return await self.http.request(request)

    def drop(self) -> None:
        if self.http is not None and self.http.transport is not None:
            self.http.transport.close()
        self.http = None


async def open_loop(port: int, requests: list[bytes], rate: float, connections: int) -> dict:
    """Send request i at t0 + i/rate on the next free connection; latency counts from the scheduled time."""
    free: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(connections):
        free.put_nowait(Connection(port))
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors: dict[str, int] = {}

    async def one(request: bytes, scheduled: float) -> None:
        conn = await free.get()
        try:
            status = await conn.send(request)
            statuses[status] = statuses.get(status, 0) + 1
            latencies.append((time.perf_counter() - scheduled) * 1000)
        except (OSError, ValueError) as exc:
            errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            conn.drop()
        finally:
            free.put_nowait(conn)

    t0 = time.perf_counter() + 0.2
    tasks = []
    for i, request in enumerate(requests):
        scheduled = t0 + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(request, scheduled)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - t0
    return {"seconds": elapsed, "latencies": latencies, "statuses": statuses, "errors": errors, "started": t0}


async def flood_loop(port: int, connections: int, seconds: float, token: str, rate: float = 0) -> dict:
    """GET /metrics, then /readyz, then again on each connection: as fast as answers come back (rate 0), or paced
    so that all connections together send `rate` a second."""
    paths = [
        f"GET {p} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
        for p in ("/metrics", "/readyz")
    ]
    statuses: dict[int, int] = {}
    errors: dict[str, int] = {}
    deadline = time.perf_counter() + seconds

    async def one_connection(offset: int) -> None:
        conn, i = Connection(port), offset
        interval = connections / rate if rate else 0.0
        next_at = time.perf_counter() + offset * interval / connections
        while time.perf_counter() < deadline:
            if interval:
                next_at += interval
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            try:
                status = await conn.send(paths[i % 2])
                statuses[status] = statuses.get(status, 0) + 1
            except (OSError, ValueError) as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                conn.drop()
                await asyncio.sleep(0.01)
            i += 1
        conn.drop()

    started = time.perf_counter()
    await asyncio.gather(*(one_connection(i) for i in range(connections)))
    return {"seconds": time.perf_counter() - started, "statuses": statuses, "errors": errors}


def flood_process(
    port: int, connections: int, seconds: float, rate: float, results: multiprocessing.Queue, remote: bool
) -> None:
    """The flood client in a process of its own, so it never delays the intake client's sends; `remote`: at idle
    priority in a session of its own, so it spends only CPU that nothing of ours wants, as if it ran elsewhere."""
    if remote:
        os.setsid()
        Path("/proc/self/autogroup").write_text("19")
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    before = cpu_seconds()
    outcome = uvloop.run(flood_loop(port, connections, seconds, METRICS_TOKEN, rate))
    outcome["cpu_s"] = round(cpu_seconds() - before, 1)
    results.put(outcome)


def settle(database_url: str, run: str, accepted: int, timeout: float = 900) -> dict:
    """Wait until every accepted ticket is decided; then count tickets, decisions and duplicates."""
    engine = create_engine(database_url)
    deadline = time.monotonic() + timeout
    pattern = {"p": f"{run}-%"}
    try:
        while True:
            with engine.connect() as conn:
                decided = (
                    conn.execute(
                        text("SELECT count(*) FROM tickets WHERE external_id LIKE :p AND status = 'decided'"), pattern
                    ).scalar()
                    or 0
                )
            if decided >= accepted or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        finished = time.perf_counter()
        with engine.connect() as conn:
            stored = conn.execute(text("SELECT count(*) FROM tickets WHERE external_id LIKE :p"), pattern).scalar()
            waits = [
                float(ms)
                for (ms,) in conn.execute(
                    text(
                        "SELECT EXTRACT(EPOCH FROM (d.created_at - t.received_at)) * 1000 FROM decisions d "
                        "JOIN tickets t ON t.id = d.ticket_id WHERE t.external_id LIKE :p"
                    ),
                    pattern,
                )
            ]
            twice = conn.execute(
                text(
                    "SELECT count(*) FROM (SELECT d.ticket_id FROM decisions d JOIN tickets t ON t.id = d.ticket_id "
                    "WHERE t.external_id LIKE :p GROUP BY d.ticket_id, d.revision HAVING count(*) > 1) x"
                ),
                pattern,
            ).scalar()
        return {
            "stored": stored,
            "decided": decided,
            "duplicate_decisions": twice,
            "finished": finished,
            "received_to_decided_ms": {"p50": pct(waits, 50), "p95": pct(waits, 95)} if waits else None,
        }
    finally:
        engine.dispose()


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def session_cpu(sid: int) -> float:
    """CPU seconds used so far by the live processes of a session (a server or worker with its children)."""
    total = 0
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[3] == str(sid):  # fields[3] is the session id; utime and stime follow at 11 and 12
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=500, help="webhooks per second to offer")
    parser.add_argument("--seconds", type=float, default=20, help="how long to offer them")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--flood-connections", type=int, default=32, help="connections of the /metrics flood")
    parser.add_argument("--configs", default=",".join(CONFIGS), help=f"of {', '.join(CONFIGS)}")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/load.json")
    parser.add_argument("--model", help="model family to serve from var/models (default: the service's default)")
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="TRIAGE_NAME=VALUE",
        help="a setting for every process of the stack (repeatable), e.g. TRIAGE_SIMILAR_TICKETS=false",
    )
    args = parser.parse_args()
    if any("=" not in s or not s.startswith("TRIAGE_") for s in args.setting):
        parser.error("--setting takes TRIAGE_NAME=VALUE")
    settings = dict(s.split("=", 1) for s in args.setting)
    configs = args.configs.split(",")

    with (ROOT / "data/banking77/test.csv").open(newline="") as fh:
        texts = [r["text"] for r in csv.DictReader(fh)]
    n = int(args.rate * args.seconds)
    texts = (texts * (n // len(texts) + 1))[:n]
    results: dict[str, list[dict]] = {name: [] for name in configs}
    with tempfile.TemporaryDirectory() as tmp:
        models_dir = ROOT / "var/models"
        ensure_model(models_dir)
        for round_no in range(args.rounds):
            for name in configs:
                workdir = Path(tmp) / f"{name}-{round_no}"
                workdir.mkdir()
                server, nice = CONFIGS[name]
                stack = Stack(
                    "production",
                    models_dir,
                    workdir,
                    server=server,
                    worker_nice=nice,
                    ops_app="ops-flood" in name,
                    env={
                        **({"TRIAGE_MODEL_NAME": args.model} if args.model else {}),
                        **({"TRIAGE_INTAKE_LINGER_MS": name.rsplit("linger", 1)[1]} if "linger" in name else {}),
                        **settings,
                    }
                    or None,
                )
                flooder, flood_results = None, multiprocessing.get_context("spawn").Queue()
                try:
                    run = f"load-{name}-{round_no}-{uuid.uuid4().hex[:6]}"
                    requests = requests_for(run, texts, stack.port)
                    web, worker = stack.web.pid, stack.worker.pid
                    ops = stack.ops.pid if stack.ops else None
                    if name in FLOODED:
                        flooder = multiprocessing.get_context("spawn").Process(
                            target=flood_process,
                            args=(
                                stack.ops_port or stack.port,
                                args.flood_connections,
                                args.seconds + 0.2,
                                FLOODED[name],
                                flood_results,
                                name.endswith("-remote"),
                            ),
                        )
                        flooder.start()
                    cpu_before = cpu_seconds(), session_cpu(web), session_cpu(worker), ops and session_cpu(ops)
                    sent = uvloop.run(open_loop(stack.port, requests, args.rate, args.connections))
                    loaded = time.perf_counter()
                    flood = flood_results.get(timeout=60) if flooder is not None else None
                    client_cpu, web_cpu, worker_cpu, ops_cpu = (
                        after - before if before is not None else None
                        for after, before in zip(
                            (cpu_seconds(), session_cpu(web), session_cpu(worker), ops and session_cpu(ops)),
                            cpu_before,
                            strict=True,
                        )
                    )
                    accepted = sent["statuses"].get(202, 0)
                    counts = settle(stack.database_url, run, accepted)
                    results[name].append(
                        {
                            "offered": n,
                            "accepted": accepted,
                            "statuses": sent["statuses"],
                            "errors": sent["errors"],
                            "accepted_per_s": round(accepted / sent["seconds"], 1),
                            "p50_ms": pct(sent["latencies"], 50),
                            "p95_ms": pct(sent["latencies"], 95),
                            "p99_ms": pct(sent["latencies"], 99),
                            "processed_per_s": round(counts["decided"] / (counts["finished"] - sent["started"]), 1),
                            "stored": counts["stored"],
                            "decided": counts["decided"],
                            "lost": accepted - counts["decided"],
                            "received_to_decided_ms": counts["received_to_decided_ms"],
                            "duplicate_decisions": counts["duplicate_decisions"],
                            "drained_s": round(counts["finished"] - loaded, 1),
                            "web_cpu_ms_per_request": round(web_cpu / max(1, sum(sent["statuses"].values())) * 1000, 2),
                            "cpu_s_during_load": {
                                "web": round(web_cpu, 1),
                                "worker": round(worker_cpu, 1),
                                "client": round(client_cpu, 1),
                                **({"flood_client": flood["cpu_s"]} if flood else {}),
                                **({"ops_app": round(ops_cpu, 1)} if ops_cpu is not None else {}),
                            },
                            **(
                                {
                                    "flood": {
                                        "requests_per_s": round(sum(flood["statuses"].values()) / flood["seconds"]),
                                        "statuses": flood["statuses"],
                                        "errors": flood["errors"],
                                    }
                                }
                                if flood
                                else {}
                            ),
                        }
                    )
                    print(f"round {round_no} {name}: {results[name][-1]}", file=sys.stderr)
                finally:
                    if flooder is not None:
                        flooder.join(timeout=60)
                    stack.stop()

    keys = ("accepted_per_s", "p50_ms", "p95_ms", "p99_ms", "processed_per_s", "drained_s", "web_cpu_ms_per_request")
    median = {
        name: {k: round(statistics.median(r[k] for r in rows), 2) for k in keys} for name, rows in results.items()
    }
    summary = {
        "benchmark": "load",
        "command": "python bench/load.py " + " ".join(sys.argv[1:]),
        "machine": machine(),
        "offered_rate": args.rate,
        "seconds": args.seconds,
        "rounds": args.rounds,
        "connections": args.connections,
        "configs": {
            name: {
                "server": " ".join(server),
                "worker_cpu_priority": "idle (SCHED_IDLE, autogroup nice 19)" if nice else "normal",
                **(
                    {
                        "flood": f"GET /metrics and /readyz with the token over {args.flood_connections} connections, "
                        + (f"{FLOODED[name]} a second" if FLOODED[name] else "as fast as answered")
                    }
                    if name in FLOODED
                    else {}
                ),
            }
            for name, (server, nice) in ((name, CONFIGS[name]) for name in configs)
        },
        "median": median,
        "target": {"accepted_per_s": 500, "p95_ms": 50, "lost": 0},
        "lost": {name: sum(r["lost"] for r in rows) for name, rows in results.items()},
        "duplicate_decisions": {name: sum(r["duplicate_decisions"] for r in rows) for name, rows in results.items()},
        "rounds_detail": results,
    }
    first = configs[0]
    summary["ratio_to_" + first] = {
        name: {k: round(median[name][k] / median[first][k], 2) for k in keys if median[first][k]}
        for name in configs[1:]
    }
    publish(summary, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
