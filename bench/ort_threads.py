"""Whether one onnxruntime thread beats two on a short ticket: one run's time by its size (batch x tokens), for
the served int8 and fp32 graphs, each with a one-thread and a two-thread session (threads sleep after a run, as
served). Rounds are interleaved; medians and the ratio two/one per size. Prints JSON.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/ort_threads.py [--model-dir var/models/encoder/<version>]
"""

from __future__ import annotations

import argparse
import csv
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import machine, publish  # noqa: E402
from service.core.modelcard import current_version_dir  # noqa: E402
from service.decide.classify import OnnxClassifier, load_model, session_options  # noqa: E402
from service.decide.normalize import normalize  # noqa: E402

SIZES = [(1, 8), (1, 16), (1, 24), (1, 32), (1, 48), (1, 64), (1, 96), (1, 128), (2, 16), (4, 16), (2, 48), (4, 32)]


def feeds_for(model: OnnxClassifier, texts: list[str], batch: int, width: int, rng: random.Random) -> dict:
    """Real word pieces cut to `width` (several tickets joined where one is shorter), `batch` rows."""
    rows = []
    for _ in range(batch):
        ids: list[int] = []
        while len(ids) < width:
            ids += model.tokenizer.encode(normalize(rng.choice(texts))).ids
        rows.append(ids[:width])
    input_ids = np.array(rows, dtype=np.int64)
    feeds = {"input_ids": input_ids, "attention_mask": np.ones_like(input_ids)}
    if "token_type_ids" in model.input_names:
        feeds["token_type_ids"] = np.zeros_like(input_ids)
    return feeds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument(
        "--busy-core", action="store_true", help="keep one core busy meanwhile, as another worker process would"
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    out = args.out or ROOT / f"bench/results/ort-threads{'-busy' if args.busy_core else ''}.json"
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.busy_core else None
    try:
        result = measure(args.model_dir, args.rounds)
    finally:
        if busy is not None:
            busy.kill()
    result["command"] = "python bench/ort_threads.py " + " ".join(sys.argv[1:])
    result["busy_core"] = args.busy_core
    publish(result, out)
    return 0


def measure(model_dir: Path | None, rounds: int) -> dict:
    import onnxruntime as ort

    model = load_model(model_dir or current_version_dir(ROOT / "var/models", "encoder"))
    assert isinstance(model, OnnxClassifier), "an encoder model is needed"
    with (ROOT / "data/banking77/test.csv").open(newline="") as fh:
        texts = [row["text"] for row in csv.DictReader(fh)]
    rng = random.Random(0)
    graphs = [model.card.artefact] + ([model.card.serving["exact"]["graph"]] if model.exact else [])
    sessions = {
        (graph, threads): ort.InferenceSession(
            str(model.directory / graph), session_options(threads), providers=["CPUExecutionProvider"]
        )
        for graph in graphs
        for threads in (1, 2)
    }
    inputs = {size: [feeds_for(model, texts, *size, rng) for _ in range(8)] for size in SIZES}
    times: dict[tuple, list[float]] = {(key, size): [] for key in sessions for size in SIZES}
    for round_ in range(rounds):
        keys = list(times)
        random.Random(round_).shuffle(keys)  # interleaved, in a new order each round
        for key, size in keys:
            feeds = inputs[size][round_ % len(inputs[size])]
            started = time.perf_counter()
            sessions[key].run(None, feeds)
            times[(key, size)].append((time.perf_counter() - started) * 1000)
    rows = []
    for graph in graphs:
        for size in SIZES:
            one = statistics.median(times[((graph, 1), size)][2:])  # the first rounds warm the sessions up
            two = statistics.median(times[((graph, 2), size)][2:])
            rows.append(
                {
                    "graph": graph,
                    "batch": size[0],
                    "tokens_per_ticket": size[1],
                    "run_tokens": size[0] * size[1],
                    "one_thread_ms": round(one, 3),
                    "two_threads_ms": round(two, 3),
                    "two_over_one": round(two / one, 3),
                }
            )
    return {
        "benchmark": "ort-threads",
        "model": f"{model.name}@{model.version}",
        "rounds": rounds,
        "machine": machine(),
        "rows": rows,
    }


if __name__ == "__main__":
    raise SystemExit(main())
