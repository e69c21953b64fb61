"""Whether onnxruntime's threads should spin after a run: one graph's time per ticket, and the time of the
scope distance (numpy) computed right after it, for 1 and 2 threads with spinning on and off. Prints JSON.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/ort_spinning.py [--model-dir var/models/encoder/<version>]
"""

from __future__ import annotations

import argparse
import csv
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import machine, publish  # noqa: E402
from service.core.modelcard import current_version_dir  # noqa: E402
from service.decide.classify import OnnxClassifier, load_model, run_encoder_outputs  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/ort-spinning.json")
    args = parser.parse_args()
    import onnxruntime as ort

    model = load_model(args.model_dir or current_version_dir(ROOT / "var/models", "encoder"))
    assert isinstance(model, OnnxClassifier) and model.scope is not None, "an encoder with a scope is needed"
    with (ROOT / "data/banking77/test.csv").open(newline="") as fh:
        texts = [r["text"] for r in csv.DictReader(fh)]
    rng = random.Random(0)
    sets = {"short": rng.sample(texts, 100), "long": [" ".join(rng.sample(texts, 14)) for _ in range(20)]}
    graphs = [model.card.artefact] + ([model.card.serving["exact"]["graph"]] if model.exact else [])
    rows = []
    for graph in graphs:
        for threads in (1, 2):
            for spin in ("1", "0"):
                options = ort.SessionOptions()
                options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
                options.add_session_config_entry("session.intra_op.allow_spinning", spin)
                session = ort.InferenceSession(
                    str(model.directory / graph), options, providers=["CPUExecutionProvider"]
                )
                outputs = [model.logits_output, "embedding"]
                for text in sets["short"][:5]:  # warm-up
                    run_encoder_outputs(session, model.tokenizer, model.pad_id, [text], outputs)
                row = {"graph": graph, "threads": threads, "spinning": spin == "1"}
                for name, tickets in sets.items():
                    encode, scope = [], []
                    for text in tickets:
                        started = time.perf_counter()
                        _, embedding = run_encoder_outputs(session, model.tokenizer, model.pad_id, [text], outputs)
                        between = time.perf_counter()
                        model.scope.distance(embedding)
                        encode.append((between - started) * 1000)
                        scope.append((time.perf_counter() - between) * 1000)
                    row[f"{name}_graph_ms"] = round(statistics.median(encode), 2)
                    row[f"{name}_scope_after_ms"] = round(statistics.median(scope), 2)
                print(row, file=sys.stderr)
                rows.append(row)
    publish(
        {
            "benchmark": "ort-spinning",
            "command": "python bench/ort_spinning.py " + " ".join(sys.argv[1:]),
            "model": f"{model.name}@{model.version}",
            "machine": machine(),
            "rows": rows,
        },
        args.out,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
