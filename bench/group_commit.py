"""What the intake's group commit saves: CPU per stored ticket for batches of 1, 4, 16 and 64, on Postgres; prints JSON.

Batch sizes alternate round by round on one fresh database (dropped afterwards). CPU is this process's (the web
process's share), and Postgres backend CPU is read from /proc for the connection the batches used.

    .venv/bin/python bench/group_commit.py [--tickets 4000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

import psycopg
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import machine, publish  # noqa: E402
from service.core.domain import InboundTicket  # noqa: E402
from service.infra.db import Database  # noqa: E402
from service.infra.migrate import upgrade  # noqa: E402
from service.intake import flow as intake_flow  # noqa: E402

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
SIZES = (1, 4, 16, 64)


def backend_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_round(db: Database, size: int, tickets: int, run: str) -> dict:
    rows = [
        intake_flow.new_ticket_row(
            InboundTicket(
                source="generic",
                external_id=f"{run}-{size}-{i}",
                subject="",
                body="I lost my card yesterday, please block it",
            ),
            delivery_id=f"{run}-{size}-d{i}",
            body_sha256="0" * 64,
        )
        for i in range(tickets)
    ]
    with db.engine.connect() as conn:  # the pool's single connection, which the batches reuse
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
    backend_before, cpu_before, wall_before = backend_cpu(pid), time.process_time(), time.perf_counter()
    for start in range(0, tickets, size):
        results = intake_flow.store_new_tickets(db, rows[start : start + size])
        assert all(isinstance(r, tuple) for r in results), results
    wall, cpu = time.perf_counter() - wall_before, time.process_time() - cpu_before
    return {
        "batch": size,
        "client_cpu_ms_per_ticket": round(cpu / tickets * 1000, 3),
        "postgres_cpu_ms_per_ticket": round((backend_cpu(pid) - backend_before) / tickets * 1000, 3),
        "tickets_per_s": round(tickets / wall),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/group_commit.json")
    args = parser.parse_args()
    name = f"triage_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    rounds: dict[int, list[dict]] = {size: [] for size in SIZES}
    try:
        upgrade(url)
        db = Database(url)
        db.engine.pool.dispose()
        try:
            for round_no in range(args.rounds):
                for size in SIZES:
                    rounds[size].append(one_round(db, size, args.tickets, f"r{round_no}"))
                    print(f"round {round_no}: {rounds[size][-1]}", file=sys.stderr)
        finally:
            db.dispose()
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    keys = ("client_cpu_ms_per_ticket", "postgres_cpu_ms_per_ticket", "tickets_per_s")
    median = {size: {k: round(statistics.median(r[k] for r in rows), 3) for k in keys} for size, rows in rounds.items()}
    summary = {
        "benchmark": "group_commit",
        "command": "python bench/group_commit.py " + " ".join(sys.argv[1:]),
        "machine": machine(),
        "tickets_per_round": args.tickets,
        "rounds": args.rounds,
        "median_by_batch": median,
        "ratio_to_batch_1": {size: {k: round(median[size][k] / median[1][k], 2) for k in keys} for size in SIZES[1:]},
        "rounds_detail": rounds,
    }
    publish(summary, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
