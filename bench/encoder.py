"""Serving latency and throughput of one fine-tuned encoder: transformers pipeline, torch eager, ORT fp32,
ORT int8 (and the TF-IDF baseline, and the served int8 + baseline ensemble). Interleaved, one run, same
tickets; prints JSON with medians and ratios.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/encoder.py [--model-dir var/models/encoder/<version>] [--rounds 5]
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from transformers import pipeline  # noqa: E402

from bench.report import publish  # noqa: E402
from service.core.modelcard import ModelCard, current_version_dir  # noqa: E402
from service.decide.classify import OnnxClassifier, load_model, session_options  # noqa: E402
from service.decide.normalize import normalize  # noqa: E402
from service.decide.sparse_tfidf import fast  # noqa: E402
from training.encoder import EncoderClassifier, EncoderConfig  # noqa: E402


def tickets(n_short: int, n_long: int, seed: int) -> tuple[list[str], list[str]]:
    with (ROOT / "data/banking77/test.csv").open(newline="") as fh:
        texts = [r["text"] for r in csv.DictReader(fh)]
    rng = random.Random(seed)
    short = rng.sample(texts, n_short)
    # Long tickets: several customer messages run together, about 200-250 word pieces, as e-mails are.
    long = [" ".join(rng.sample(texts, 14)) for _ in range(n_long)]
    return short, long


class Backends:
    """Each backend maps a list of texts to probabilities over the same labels."""

    def __init__(self, model_dir: Path, threads: int) -> None:
        torch.set_num_threads(threads)
        card = ModelCard.read(model_dir)
        self.card = card
        self.labels = card.labels
        self.enc = EncoderClassifier.load_torch(model_dir / "torch", EncoderConfig(threads=threads))
        head = self.enc.model.head
        self.head_w = head.weight.detach().numpy().T
        self.head_b = head.bias.detach().numpy()
        self.pipe = pipeline(
            "feature-extraction",
            model=self.enc.model.encoder,
            tokenizer=self.enc.tokenizer,
            device=-1,
            truncation=True,
            max_length=card.serving["max_length"],
        )
        self.int8 = load_model(model_dir, threads=threads)
        self.fp32 = encoder_alone(model_dir, card, "model.onnx", threads)
        int8 = model_dir / "model.int8.onnx"
        if not int8.is_file():
            # Not published (it failed its gate); quantize the same way here to measure what it would cost.
            from training.quantize import quantize_graph

            int8 = Path(tempfile.mkdtemp()) / "model.int8.onnx"
            quantize_graph(model_dir / "model.onnx", int8)
        self.int8_published = card.artefact == "model.int8.onnx"
        self.int8_alone = encoder_alone(model_dir, card, str(int8.resolve()), threads)  # a relative --model-dir too
        self.baseline = None
        members = card.serving.get("members", {})
        if members:
            import joblib

            self.baseline = joblib.load(model_dir / next(iter(members)))
            self.baseline_fast = fast(self.baseline)

    def transformers_pipeline(self, texts: list[str]) -> np.ndarray:
        out = []
        for features in self.pipe([normalize(t) for t in texts], batch_size=min(32, len(texts))):
            pooled = np.asarray(features[0]).mean(0)  # one text per call: no padding, plain mean is masked mean
            pooled /= np.linalg.norm(pooled)
            out.append(pooled @ self.head_w + self.head_b)
        return np.stack(out)

    def torch_eager(self, texts: list[str]) -> np.ndarray:
        return self.enc.logits(texts)

    def ort_fp32(self, texts: list[str]) -> np.ndarray:
        return self.fp32.logits(texts)

    def ort_int8(self, texts: list[str]) -> np.ndarray:
        return self.int8_alone.logits(texts)

    def served_model(self, texts: list[str]) -> np.ndarray:
        return self.int8.predict_proba(texts)

    def tfidf_baseline(self, texts: list[str]) -> np.ndarray:
        assert self.baseline is not None
        return np.asarray(self.baseline.predict_proba(texts))

    def tfidf_fast(self, texts: list[str]) -> np.ndarray:
        """The same member as the service answers it (service/decide/sparse_tfidf.py)."""
        return np.asarray(self.baseline_fast.predict_proba(texts))


def encoder_alone(model_dir: Path, card: ModelCard, graph: str, threads: int) -> OnnxClassifier:
    """The served classifier on one ONNX graph, without ensemble members or calibration."""
    import onnxruntime as ort

    clf = OnnxClassifier(model_dir, card, threads=threads)
    clf.session = ort.InferenceSession(
        str(model_dir / graph), session_options(threads), providers=["CPUExecutionProvider"]
    )  # graph may be absolute
    clf.members, clf.encoder_weight, clf.temperature, clf.exact = [], 1.0, 1.0, None
    return clf


def time_per_ticket(fn, texts: list[str]) -> list[float]:
    times = []
    for text in texts:
        started = time.perf_counter()
        fn([text])
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--short", type=int, default=60)
    parser.add_argument("--long", type=int, default=20)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/encoder.json")
    args = parser.parse_args()
    model_dir = args.model_dir or current_version_dir(ROOT / "var/models", "encoder")
    b = Backends(model_dir, args.threads)
    names = ["transformers_pipeline", "torch_eager", "ort_fp32", "ort_int8", "served_model"]
    if b.baseline is not None:
        names += ["tfidf_baseline", "tfidf_fast"]
    short, long = tickets(args.short, args.long, seed=0)
    batch, _ = tickets(args.batch, 0, seed=1)
    for name in names:  # warm-up: first calls allocate
        getattr(b, name)(short[:4])
    agreement = {n: float((getattr(b, n)(short).argmax(1) == b.ort_fp32(short).argmax(1)).mean()) for n in names}
    rows: dict[str, dict[str, list[float]]] = {
        n: {"short_ms": [], "short_mean_ms": [], "long_ms": [], "long_mean_ms": [], "batch_tickets_per_s": []}
        for n in names
    }
    for round_no in range(args.rounds):
        order = names[round_no % len(names) :] + names[: round_no % len(names)]  # rotate who goes first
        for name in order:
            fn = getattr(b, name)
            # The median ticket, and the mean: the served model answers some tickets twice (int8, then fp32).
            for kind, texts in (("short", short), ("long", long)):
                times = time_per_ticket(fn, texts)
                rows[name][f"{kind}_ms"].append(statistics.median(times))
                rows[name][f"{kind}_mean_ms"].append(statistics.fmean(times))
            started = time.perf_counter()
            fn(batch)
            rows[name]["batch_tickets_per_s"].append(len(batch) / (time.perf_counter() - started))
        print(f"round {round_no + 1}/{args.rounds} done", file=sys.stderr)
    median = {n: {k: round(statistics.median(v), 2) for k, v in r.items()} for n, r in rows.items()}
    ref = median["transformers_pipeline"]
    ratios = {
        n: {
            "short_speedup": round(ref["short_ms"] / m["short_ms"], 2),
            "long_speedup": round(ref["long_ms"] / m["long_ms"], 2),
            "short_mean_speedup": round(ref["short_mean_ms"] / m["short_mean_ms"], 2),
            "long_mean_speedup": round(ref["long_mean_ms"] / m["long_mean_ms"], 2),
            "batch_throughput_ratio": round(m["batch_tickets_per_s"] / ref["batch_tickets_per_s"], 2),
        }
        for n, m in median.items()
    }
    lengths = [len(b.enc.tokenizer(normalize(t))["input_ids"]) for t in short + long]
    result = {
        "benchmark": "encoder",
        "command": "python bench/encoder.py " + " ".join(sys.argv[1:]),
        "model": f"{b.int8.name}@{b.int8.version}",
        "served_graph": "int8, fp32 near a border" if b.int8_published else "fp32 (int8 failed its gate)",
        "parity": b.card.metrics.get("parity", {}),
        "machine": {
            "cpus": os.cpu_count(),
            "threads": args.threads,
            "python": platform.python_version(),
            "torch": torch.__version__,
            "platform": platform.platform(),
        },
        "tickets": {
            "short": args.short,
            "long": args.long,
            "batch": args.batch,
            "short_tokens_median": statistics.median(lengths[: args.short]),
            "long_tokens_median": statistics.median(lengths[args.short :]),
        },
        "rounds": args.rounds,
        "median": median,
        "vs_transformers_pipeline": ratios,
        "argmax_agreement_with_ort_fp32": agreement,
    }
    publish(result, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
