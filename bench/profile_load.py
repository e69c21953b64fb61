"""Where the web processes' CPU goes under load: py-spy samples them (GIL holder only) during bench/load.py's
open-loop client, with the worker paused so that only intake runs; prints JSON shares by function.

    .venv/bin/python bench/profile_load.py [--rate 500] [--seconds 10] [--top 40]

Shares are inclusive (a function with everything it calls) and count samples where the sampled thread held
the GIL, so they approximate Python CPU time; py-spy itself costs some CPU, so latencies here are not figures.
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import os
import signal
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import uvloop

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from intake import Stack, ensure_model  # noqa: E402
from load import GRANIAN, open_loop, requests_for  # noqa: E402


def _short(frame: str) -> str:
    """ "function (path:line)" as "function (file" from the package on, so every line of it counts as one."""
    name, _, where = frame.split(":")[0].partition(" (")
    return f"{name} ({where.split('site-packages/')[-1].removeprefix(str(ROOT) + '/')}"


def shares(paths: list[Path], top: int) -> tuple[int, list[tuple[str, float]]]:
    """Inclusive share of samples per function ("name (file)"), from py-spy's raw collapsed stacks."""
    total, counts = 0, collections.Counter[str]()
    for path in paths:
        for line in path.read_text().splitlines():
            stack, _, n = line.rpartition(" ")
            total += int(n)
            # A frame reads "function (path:line)"; keep the function and its file, from the package on.
            names = {_short(frame) for frame in stack.split(";")}
            for name in names:
                counts[name] += int(n)
    return total, [(name + ")", round(100 * n / total, 1)) for name, n in counts.most_common(top)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    with (ROOT / "data/banking77/test.csv").open(newline="") as fh:
        texts = [r["text"] for r in csv.DictReader(fh)]
    n = int(args.rate * args.seconds)
    texts = (texts * (n // len(texts) + 1))[:n]
    models_dir = ROOT / "var/models"
    ensure_model(models_dir)
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack("production", models_dir, Path(tmp), server=GRANIAN)
        try:
            web = subprocess.run(
                ["pgrep", "-P", str(stack.web.pid)], capture_output=True, text=True, check=True
            ).stdout.split()
            requests = requests_for(f"profile-{uuid.uuid4().hex[:6]}", texts, stack.port)
            os.killpg(stack.worker.pid, signal.SIGSTOP)  # intake alone: the backlog waits
            spies = [
                subprocess.Popen(
                    [
                        str(Path(sys.executable).parent / "py-spy"),
                        "record",
                        "--gil",
                        "-p",
                        pid,
                        "-d",
                        str(args.seconds),
                        "-r",
                        "200",
                        "-f",
                        "raw",
                        "-o",
                        f"{tmp}/web-{pid}.txt",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                for pid in web
            ]
            sent = uvloop.run(open_loop(stack.port, requests, args.rate, 64))
            for spy in spies:
                spy.wait()
            os.killpg(stack.worker.pid, signal.SIGCONT)
            total, top = shares(sorted(Path(tmp).glob("web-*.txt")), args.top)
        finally:
            stack.stop()
    print(
        json.dumps(
            {
                "benchmark": "profile_load",
                "command": "python bench/profile_load.py " + " ".join(sys.argv[1:]),
                "offered_rate": args.rate,
                "seconds": args.seconds,
                "statuses": sent["statuses"],
                "gil_samples": total,
                "inclusive_share_pct": dict(top),
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
