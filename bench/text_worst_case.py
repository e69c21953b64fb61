"""The slowest each text function of the service is on hostile 256 KiB texts: one JSON object.

    .venv/bin/python bench/text_worst_case.py [--size-kib 256] [--out bench/results/text_worst_case.json]

Every function that reads ticket or generated text (tests/support/adversarial.py lists them, with the texts) runs
once per text; the report gives each function's worst text and time, and its median over the texts.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import machine, publish  # noqa: E402
from tests.support.adversarial import catalogue, text_functions  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-kib", type=int, default=256)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "text_worst_case.json")
    args = parser.parse_args()
    texts = catalogue(args.size_kib * 1024)
    functions = text_functions()
    for function in functions.values():  # warm: compile patterns, build engines, load data files
        function("warm up")
    report: dict[str, object] = {}
    for name, function in functions.items():
        times = {}
        for text_name, text in texts.items():
            started = time.perf_counter()
            function(text)
            times[text_name] = time.perf_counter() - started
        worst = max(times, key=times.__getitem__)
        report[name] = {
            "worst_text": worst,
            "worst_ms": round(times[worst] * 1000, 1),
            "median_ms": round(statistics.median(times.values()) * 1000, 1),
        }
        print(f"{name:18} worst {times[worst] * 1000:8.1f} ms ({worst})", file=sys.stderr)
    result = {
        "benchmark": "text_worst_case",
        "machine": machine(),
        "size_kib": args.size_kib,
        "texts": sorted(texts),
        "functions": report,
    }
    publish(result, args.out)


if __name__ == "__main__":
    main()
