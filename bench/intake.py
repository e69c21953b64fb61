"""Intake and end-to-end throughput: embedded (SQLite + in-process worker) vs production (granian +
Postgres + Redis + a Celery worker), side by side in one run, alternating rounds; prints JSON.

    .venv/bin/python bench/intake.py [--tickets 2000] [--rounds 3] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import csv
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import redis
import requests
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import machine, publish  # noqa: E402
from integrations.fake.webhook import signed_delivery  # noqa: E402
from service.infra.migrate import upgrade  # noqa: E402

SECRET = "bench-secret"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/12"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_model(models_dir: Path) -> None:
    if not (models_dir / "baseline" / "CURRENT").is_file():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "training.baseline",
                "--data",
                str(ROOT / "data/banking77/train.csv"),
                "--out",
                str(models_dir),
            ],
            check=True,
            cwd=ROOT,
        )


# /readyz and /metrics on the web app answer only to this bearer (TRIAGE_METRICS_TOKEN), as in production.
METRICS_TOKEN = "bench-metrics-token"
OPS_AUTH = {"Authorization": f"Bearer {METRICS_TOKEN}"}


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
        try:
            if requests.get(url + "/readyz", headers=OPS_AUTH, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} not ready")


def load(url: str, texts: list[str], run: str, concurrency: int) -> dict:
    """Send every text as a signed webhook; return answer times and status counts."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    local = threading.local()

    def send(item: tuple[int, str]) -> None:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        i, body_text = item
        body, headers = signed_delivery(SECRET, {"id": f"{run}-{i}", "body": body_text})
        started = time.perf_counter()
        status = local.session.post(url + "/webhooks/generic", data=body, headers=headers, timeout=30).status_code
        elapsed = (time.perf_counter() - started) * 1000
        with lock:
            latencies.append(elapsed)
            statuses[status] = statuses.get(status, 0) + 1

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(send, enumerate(texts)))
    return {"seconds": time.perf_counter() - started, "latencies": latencies, "statuses": statuses, "started": started}


def wait_processed(database_url: str, run: str, expected: int, timeout: float = 600) -> float:
    engine = create_engine(database_url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                done = conn.execute(
                    text("SELECT count(*) FROM tickets WHERE external_id LIKE :p AND status = 'decided'"),
                    {"p": f"{run}-%"},
                ).scalar()
            if done >= expected:
                return time.perf_counter()
            time.sleep(0.1)
        raise RuntimeError(f"{run}: only {done}/{expected} processed")
    finally:
        engine.dispose()


def pct(values: list[float], q: int) -> float:
    return round(statistics.quantiles(values, n=100, method="inclusive")[q - 1], 2)


# The production configuration creates (and later drops) its own Postgres database unless given one;
# bench/faults.py passes private servers, extra settings and beat=True for the sweep.
class Stack:
    """One configuration of Triage running as separate processes on loopback."""

    def __init__(
        self,
        name: str,
        models_dir: Path,
        workdir: Path,
        *,
        database_url: str | None = None,
        broker_url: str = REDIS_URL,
        env: dict[str, str] | None = None,
        web_workers: int = 2,
        beat: bool = False,
        server: list[str] | None = None,
        worker_nice: int = 0,
        ops_app: bool = False,
    ) -> None:
        self.name = name
        self.workdir = workdir
        self.server = server  # a web server's command line ({port} filled in), for bench/load.py's configurations
        self.worker_nice = worker_nice  # CPU priority of the workers below the web server's (os.nice increment)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # The ops app (service.asgi_ops) on a port of its own, as compose's `ops` service runs it; None without.
        self.ops_port: int | None = free_port() if ops_app else None
        self.procs: list[subprocess.Popen] = []
        self.logs: list = []
        self.db_name: str | None = None
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
        self.env.update(
            TRIAGE_WEBHOOK_SECRET=SECRET,
            TRIAGE_API_TOKENS="bench",
            TRIAGE_MODELS_DIR=str(models_dir),
            TRIAGE_ROUTING_FILE=str(ROOT / "data/routing/banking77.yaml"),
            TRIAGE_LOG_LEVEL="WARNING",
            # Write-backs go to the in-memory fake, as they did before TRIAGE_HELPDESK had to be set.
            TRIAGE_HELPDESK="fake",
            TRIAGE_ALLOW_FAKE_HELPDESK="true",
            TRIAGE_METRICS_TOKEN=METRICS_TOKEN,
        )
        self.env.update(env or {})  # a configuration's own settings win over these defaults
        try:
            self._start_all(database_url, broker_url, web_workers, beat)
        except BaseException:
            self.stop()  # no process or database outlives a failed start
            raise

    def _start_all(self, database_url: str | None, broker_url: str, web_workers: int, beat: bool) -> None:
        workdir, name = self.workdir, self.name
        if name == "embedded":
            self.database_url = f"sqlite:///{workdir / 'bench.db'}"
            self.env.update(TRIAGE_DATABASE_URL=self.database_url)
            self.start([sys.executable, "-m", "service.cli", "serve", "--port", str(self.port)])
        else:
            if database_url is None:
                self.db_name = f"triage_bench_{uuid.uuid4().hex[:8]}"
                with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                    admin.execute(f'CREATE DATABASE "{self.db_name}"')
                database_url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{self.db_name}"
            self.database_url = database_url
            upgrade(self.database_url)
            redis.Redis.from_url(broker_url).flushdb()
            self.env.update(TRIAGE_DATABASE_URL=self.database_url, TRIAGE_BROKER_URL=broker_url)
            self.worker = self.start_worker()
            if beat:
                self.start(
                    [
                        sys.executable,
                        "-m",
                        "celery",
                        "-A",
                        "service.worker.app:celery",
                        "beat",
                        "--loglevel",
                        "WARNING",
                        "-s",
                        str(workdir / "celerybeat-schedule"),
                    ]
                )
            server = self.server or [
                "granian",
                "--interface",
                "wsgi",
                "--workers",
                str(web_workers),
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
            self.start([sys.executable, "-m", *(arg.format(port=self.port) for arg in server)])
        self.web = self.procs[-1]
        wait_ready(self.url, self.web)
        self.ops = self.start_ops_app() if self.ops_port is not None else None

    def start_ops_app(self) -> subprocess.Popen:
        """compose's `ops` service: granian with one process, at the CPU weight compose gives it (cpu_shares 64,
        a sixteenth of web's), which on these shared cores means the idle scheduling class, like the worker."""
        ops = self.lowered(
            self.start(
                [
                    *self.IDLE,
                    sys.executable,
                    "-m",
                    "granian",
                    "--interface",
                    "asgi",
                    "--workers",
                    "1",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.ops_port),
                    "--log-level",
                    "warning",
                    "--no-ws",
                    "service.asgi_ops:app",
                ]
            ),
            19,
        )
        wait_ready(f"http://127.0.0.1:{self.ops_port}", ops)
        return ops

    # SCHED_IDLE: a waking web thread preempts the process at once rather than after its slice.
    IDLE = ["chrt", "--idle", "0"]

    @staticmethod
    def lowered(proc: subprocess.Popen, nice: int) -> subprocess.Popen:
        """The process's session group ranked `nice` below the web server's."""
        autogroup = Path(f"/proc/{proc.pid}/autogroup")
        if nice and autogroup.exists():
            # Linux schedules each session as one group, so a niced process in a session of its own gets an
            # equal share anyway; the group's own nice value is what ranks it below the web server.
            autogroup.write_text(str(nice))
        return proc

    def start_worker(self) -> subprocess.Popen:
        """A `celery worker -c 2` (prefork), as the README runs it; another call adds another worker."""
        self.worker_name = f"bench-{len(self.procs)}@{socket.gethostname()}"
        nice = [*self.IDLE, "nice", "-n", str(self.worker_nice)] if self.worker_nice else []
        self.worker = self.start(
            [
                *nice,
                sys.executable,
                "-m",
                "celery",
                "-A",
                "service.worker.app:celery",
                "worker",
                "-Q",
                "triage",
                "-c",
                "2",
                "--loglevel",
                "WARNING",
                "--without-mingle",
                "--without-gossip",
                "-n",
                self.worker_name,
            ]
        )
        return self.lowered(self.worker, self.worker_nice)

    def wait_worker(self, timeout: float = 60) -> None:
        """Block until the newest worker answers a ping over the broker, i.e. it consumes tasks."""
        from celery import Celery

        control = Celery(broker=self.env["TRIAGE_BROKER_URL"])
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.worker.poll() is not None:
                    raise RuntimeError(f"worker exited with {self.worker.returncode}")
                if control.control.ping(destination=[self.worker_name], timeout=0.5):
                    return
            raise RuntimeError(f"worker {self.worker_name} not ready after {timeout} s")
        finally:
            control.close()

    def start(self, argv: list[str]) -> subprocess.Popen:
        log = (self.workdir / f"{self.name}-{len(self.procs)}.log").open("w")
        self.logs.append(log)
        # Its own process group, so a fault scenario can SIGKILL a worker together with its pool children.
        proc = subprocess.Popen(
            argv, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.procs.append(proc)
        return proc

    def stop(self, grace_s: float = 20) -> None:
        """SIGTERM every process, SIGKILL (with its group) whatever still runs after grace_s; drop our database."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for log in self.logs:
            log.close()
        if self.db_name is not None:
            with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/intake.json")
    args = parser.parse_args()

    with (ROOT / "data/banking77/test.csv").open(newline="") as fh:
        texts = [r["text"] for r in csv.DictReader(fh)]
    texts = (texts * (args.tickets // len(texts) + 1))[: args.tickets]
    results: dict[str, list[dict]] = {"embedded": [], "production": []}
    with tempfile.TemporaryDirectory() as tmp:
        models_dir = ROOT / "var/models"
        ensure_model(models_dir)
        for round_no in range(args.rounds):
            for name in ("embedded", "production"):  # alternate so drift on a noisy machine hits both
                workdir = Path(tmp) / f"{name}-{round_no}"
                workdir.mkdir()
                stack = Stack(name, models_dir, workdir)
                try:
                    run = f"bench-{name}-{round_no}-{uuid.uuid4().hex[:6]}"
                    sent = load(stack.url, texts, run, args.concurrency)
                    accepted = sent["statuses"].get(202, 0)
                    finished = wait_processed(stack.database_url, run, accepted)
                    results[name].append(
                        {
                            "accepted": accepted,
                            "statuses": sent["statuses"],
                            "accepted_per_s": round(accepted / sent["seconds"], 1),
                            "processed_per_s": round(accepted / (finished - sent["started"]), 1),
                            "p50_ms": pct(sent["latencies"], 50),
                            "p95_ms": pct(sent["latencies"], 95),
                            "p99_ms": pct(sent["latencies"], 99),
                            "lost": args.tickets - accepted,
                        }
                    )
                    print(f"round {round_no} {name}: {results[name][-1]}", file=sys.stderr)
                finally:
                    stack.stop()

    def median(name: str, key: str) -> float:
        return statistics.median(r[key] for r in results[name])

    keys = ("accepted_per_s", "processed_per_s", "p50_ms", "p95_ms", "p99_ms")
    summary = {
        "benchmark": "intake",
        "command": "python bench/intake.py " + " ".join(sys.argv[1:]),
        "machine": machine(),
        "tickets_per_round": args.tickets,
        "rounds": args.rounds,
        "client_concurrency": args.concurrency,
        "median": {name: {k: median(name, k) for k in keys} for name in results},
        "ratio_production_over_embedded": {k: round(median("production", k) / median("embedded", k), 2) for k in keys},
        "lost": {name: sum(r["lost"] for r in results[name]) for name in results},
        "rounds_detail": results,
    }
    publish(summary, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
