"""Quantization variants of one fine-tuned encoder against the int8 gate (training/quantize.py), on the
validation split its card was calibrated on: gate figures (int8 beside fp32, margins measured on training
tickets; the scope is left out here), the share of tickets fp32 must answer again, the routing agreement of
int8 alone with its own calibration and the noise floor of that (fp32 against itself with tiny logit
noise), and single-ticket latency.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/int8_variants.py [--model-dir var/models/encoder/<version>]
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import joblib
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.encoder import tickets  # noqa: E402
from bench.report import machine, publish  # noqa: E402
from service.core.modelcard import ModelCard, current_version_dir  # noqa: E402
from training.data import drop_rare, read_examples, split  # noqa: E402
from training.encoder_model import EncoderClassifier, EncoderConfig  # noqa: E402
from training.encoder_parity import known, member_probs, onnx_logits  # noqa: E402
from training.quantize import int8_gate, measure_margins, optimize_graph, quantize_graph, serve  # noqa: E402

# Nodes the transformer optimizer leaves quantizable (the head is a Gemm and stays fp32 everywhere).
QUANTIZABLE = ("MatMul", "Attention", "EmbedLayerNormalization")


def dynamic(src: Path, dst: Path, keep_fp32: str | None = None, only: str | None = None) -> None:
    """Dynamic per-channel QInt8; nodes matching `keep_fp32` stay fp32, or only those matching `only` are quantized."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    nodes = [n.name for n in onnx.load(str(src)).graph.node if n.op_type in QUANTIZABLE]
    if keep_fp32:
        nodes = [n for n in nodes if not re.search(keep_fp32, n)]
    if only:
        nodes = [n for n in nodes if re.search(only, n)]
    quantize_dynamic(
        str(src),
        str(dst),
        weight_type=QuantType.QInt8,
        per_channel=True,
        nodes_to_quantize=nodes,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


def static_qdq(src: Path, dst: Path, feeds: list[dict[str, np.ndarray]]) -> None:
    """Static QDQ on the MatMuls: per-channel QInt8 weights, QUInt8 activations calibrated (MinMax) on tickets."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.rows = iter(feeds)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.rows, None)

    quantize_static(
        str(src),
        str(dst),
        Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        weight_type=QuantType.QInt8,
        activation_type=QuantType.QUInt8,
        op_types_to_quantize=["MatMul"],
        extra_options={"DefaultTensorType": 1},
    )


def latency_ms(graph: Path, enc: EncoderClassifier, names: list[str], texts: list[str], rounds: int) -> float:
    """Median single-ticket latency of one graph (2 threads), tokenized beforehand."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = 2, 1
    session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
    feeds = [{n: enc._batch([ids])[n].numpy() for n in names} for ids in enc._encode(texts)]
    for feed in feeds[:5]:
        session.run(["logits"], feed)
    times = []
    for _ in range(rounds):
        for feed in feeds:
            started = time.perf_counter()
            session.run(["logits"], feed)
            times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 3)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path)
    parser.add_argument("--calibration-tickets", type=int, default=300)
    parser.add_argument("--margin-tickets", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/encoder-int8-variants.json")
    args = parser.parse_args()
    model_dir = args.model_dir or current_version_dir(ROOT / "var/models", "encoder")
    card = ModelCard.read(model_dir)
    target = float(card.params["target_precision"])
    enc = EncoderClassifier.load_torch(model_dir / "torch", EncoderConfig(threads=2))
    examples, _ = drop_rare(read_examples(ROOT / str(card.params["data"]))[0], 2)
    fit, valid = split(examples, holdout=0.1, seed=int(card.params["seed"]))
    labels = enc.classes_
    kept, y = known(valid, labels)
    texts = kept.texts
    members = card.serving.get("members", {})
    base = member_probs(joblib.load(model_dir / next(iter(members))), texts, labels) if members else None

    work = Path(tempfile.mkdtemp())
    names = enc.export_onnx(work / "unfused.onnx")
    shutil.copy(work / "unfused.onnx", work / "fp32.onnx")
    fused = optimize_graph(work / "fp32.onnx", 12, 384)
    fp32_logits = onnx_logits(work / "fp32.onnx", enc, texts, names)
    fp32 = serve("fp32", fp32_logits, y, labels, target, base)
    rng = np.random.default_rng(0)
    # The margins come from training tickets, as training/encoder.py measures them.
    sample = list(rng.choice(fit.texts, min(args.margin_tickets, len(fit.texts)), replace=False))
    sample_fp32 = onnx_logits(work / "fp32.onnx", enc, sample, names)
    no_scope = np.zeros(len(sample))
    calibration = [
        {n: enc._batch([ids])[n].numpy() for n in names}
        for ids in enc._encode(list(rng.choice(fit.texts, args.calibration_tickets, replace=False)))
    ]
    variants: dict[str, Any] = {
        "dynamic per-channel, unfused graph": lambda d: quantize_graph(work / "unfused.onnx", d),
        "dynamic per-channel, fused graph (training/quantize.py)": lambda d: quantize_graph(work / "fp32.onnx", d),
        "dynamic, fused, FFN output layers kept fp32": lambda d: dynamic(work / "fp32.onnx", d, r"layer\.\d/output/"),
        "dynamic, fused, embeddings kept fp32": lambda d: dynamic(work / "fp32.onnx", d, "EmbedLayer"),
        "dynamic, fused, only the embeddings quantized": lambda d: dynamic(work / "fp32.onnx", d, only="EmbedLayer"),
        "static QDQ (MatMul), fused, 300 training tickets": lambda d: static_qdq(work / "fp32.onnx", d, calibration),
    }
    short, _ = tickets(60, 0, seed=0)
    rows: dict[str, Any] = {
        "fp32, unfused graph": {"short_ms": latency_ms(work / "unfused.onnx", enc, names, short, args.rounds)},
        "fp32, fused graph": {"short_ms": latency_ms(work / "fp32.onnx", enc, names, short, args.rounds)},
    }
    for i, (name, make) in enumerate(variants.items()):
        graph = work / f"variant{i}.onnx"
        make(graph)
        logits = onnx_logits(graph, enc, texts, names)
        margins = measure_margins(
            sample_fp32, onnx_logits(graph, enc, sample, names), no_scope, no_scope, fp32.temperature
        )
        gate = int8_gate(fp32, fp32.mix(logits, base), margins, y)
        # int8 alone, calibrated on its own (the earlier gate): its thresholds move with 13 tickets a label.
        own = serve(graph.name, logits, y, labels, target, base)
        rows[name] = {
            **{k: v for k, v in gate.items() if k != "int8_required"},
            "int8_alone_own_calibration_routing_agreement": float((own.routed() == fp32.routed()).mean()),
            "mean_abs_logit_diff": float(np.abs(logits - fp32_logits).mean()),
            "short_ms": latency_ms(graph, enc, names, short, args.rounds),
        }
        print(name, rows[name], file=sys.stderr)
    floor = {}
    for sd in (0.003, 0.01, 0.03):
        noisy = [
            serve("n", fp32_logits + rng.normal(0, sd, fp32_logits.shape), y, labels, target, base) for _ in range(3)
        ]
        floor[str(sd)] = [float((n.routed() == fp32.routed()).mean()) for n in noisy]
    shutil.rmtree(work, ignore_errors=True)
    publish(
        {
            "benchmark": "encoder-int8-variants",
            "command": "python bench/int8_variants.py " + " ".join(sys.argv[1:]),
            "model": f"{card.name}@{card.version}",
            "machine": machine(),
            "validation_tickets": len(texts),
            "fused_operators": fused,
            "fp32": {"validation_accuracy": fp32.accuracy(y), "auto_routed_share": float(fp32.routed().mean())},
            "variants": rows,
            "routing_agreement_of_fp32_with_logit_noise": floor,
        },
        args.out,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
