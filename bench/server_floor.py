"""The web server's own CPU per webhook: granian serving an app that does nothing (bench/floor_app.py); prints JSON.

The same open-loop client and signed requests as bench/load.py, at the same rate, against granian in the
production shape (2 processes, 8 blocking threads) and in variants, alternating round by round. What this
measures is the floor under Triage's intake CPU per webhook in bench/load.py: no work of ours can go below it.

    .venv/bin/python bench/server_floor.py [--rate 500] [--seconds 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import uvloop

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from load import open_loop, requests_for, session_cpu  # noqa: E402

from bench.report import machine, publish  # noqa: E402


def granian(port: int, *, workers: int, threads: int, app: str = "bench.floor_app:app") -> list[str]:
    return [
        sys.executable, "-m", "granian", "--interface", "wsgi", "--workers", str(workers),
        "--blocking-threads", str(threads), "--host", "127.0.0.1", "--port", str(port),
        "--log-level", "warning", "--no-ws", app,
    ]  # fmt: skip


CONFIGS = {
    "granian-2x8 (production shape)": {"workers": 2, "threads": 8},
    "granian-2x2": {"workers": 2, "threads": 2},
    "granian-2x1": {"workers": 2, "threads": 1},
    "granian-1x8": {"workers": 1, "threads": 8},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"granian did not listen on {port} within {timeout} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/server-floor.json")
    args = parser.parse_args()
    texts = ["My card has not arrived yet and it has been two weeks, what should I do?"] * int(args.rate * args.seconds)
    rows: dict[str, list[dict]] = {name: [] for name in CONFIGS}
    for round_no in range(args.rounds):
        for name, shape in CONFIGS.items():
            port = free_port()
            server = subprocess.Popen(granian(port, **shape), cwd=ROOT, start_new_session=True)
            try:
                wait_listening(port)
                requests = requests_for(f"floor-{round_no}", texts, port)
                before = session_cpu(server.pid)
                sent = uvloop.run(open_loop(port, requests, args.rate, args.connections))
                cpu = session_cpu(server.pid) - before
                answered = sum(sent["statuses"].values())
                rows[name].append(
                    {
                        "answered": answered,
                        "statuses": sent["statuses"],
                        "p50_ms": round(statistics.median(sent["latencies"]), 2),
                        "p95_ms": round(statistics.quantiles(sent["latencies"], n=20)[18], 2),
                        "web_cpu_ms_per_request": round(cpu / max(answered, 1) * 1000, 3),
                    }
                )
                print(f"round {round_no} {name}: {rows[name][-1]}", file=sys.stderr)
            finally:
                server.terminate()
                server.wait(timeout=30)
    keys = ("p50_ms", "p95_ms", "web_cpu_ms_per_request")
    median = {name: {k: round(statistics.median(r[k] for r in rs), 3) for k in keys} for name, rs in rows.items()}
    first = next(iter(CONFIGS))
    publish(
        {
            "benchmark": "server-floor",
            "command": "python bench/server_floor.py " + " ".join(sys.argv[1:]),
            "machine": machine(),
            "app": "bench/floor_app.py (reads the body, answers 202)",
            "offered_rate": args.rate,
            "seconds": args.seconds,
            "rounds": args.rounds,
            "median": median,
            "ratio_to_production_shape": {
                name: round(m["web_cpu_ms_per_request"] / median[first]["web_cpu_ms_per_request"], 2)
                for name, m in median.items()
            },
            "rounds_detail": rows,
        },
        args.out,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
