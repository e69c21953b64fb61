"""The gate an int8 encoder graph must pass to be served instead of fp32, and each graph as it would be served.

Each candidate graph is calibrated the way train() publishes it: its own TF-IDF ensemble weight, temperature
and per-label thresholds, fitted on the validation split. int8 is served when (a) its validation accuracy is
within `max_accuracy_gap` of fp32's and (b) the routing status of a ticket (does the calibrated probability
of the top label reach that label's threshold?) is the same under both graphs on at least
`min_routing_agreement` of validation tickets. Quantization moves the argmax of tickets the model is unsure
of (below every threshold, so a person decides either way); what matters is whether a ticket is auto-routed
and how often the model is right, so that is what the gate measures. The argmax agreement is still recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from service.decide.thresholds import NEVER, Calibration
from training.calibration import choose_weight, fit_temperature, softmax

# A gap of exactly 0.3 points (3 tickets in 1,000) must pass: 0.929 - 0.926 is 0.0030000000000000027.
_EPS = 1e-9


@dataclass(frozen=True)
class Served:
    """One graph's validation answers as the service would give them, and what it would be published with."""

    graph: str
    encoder_weight: float  # the encoder's share of the mixture; the TF-IDF member has the rest
    temperature: float
    probs: np.ndarray  # calibrated, served probabilities of the validation tickets
    calibration: Calibration
    thresholds: dict[str, float]

    def routed(self) -> np.ndarray:
        """Whether each validation ticket would be auto-routed: its top probability reaches its label's threshold."""
        cut = np.array([self.thresholds.get(self.calibration.labels[k], NEVER) for k in self.probs.argmax(1)])
        return (self.probs.max(1) >= cut) & (cut < NEVER)

    def accuracy(self, y: np.ndarray) -> float:
        return float((self.probs.argmax(1) == y).mean())

    def mix(self, logits: np.ndarray, base_probs: np.ndarray | None) -> np.ndarray:
        """Served probabilities of other tickets (test): the same mixture and temperature."""
        probs = self.encoder_weight * softmax(logits)
        if base_probs is not None and self.encoder_weight < 1.0:
            probs = probs + (1.0 - self.encoder_weight) * base_probs
        return softmax(np.log(np.clip(probs, 1e-12, None)) / self.temperature)


def serve(
    graph: str,
    logits: np.ndarray,
    y: np.ndarray,
    labels: list[str],
    target: float,
    base_probs: np.ndarray | None = None,
) -> Served:
    """Fit the ensemble weight, temperature and thresholds for one graph's validation logits."""
    encoder_probs = softmax(logits)
    weight, combined = (1.0, encoder_probs) if base_probs is None else choose_weight(encoder_probs, base_probs, y)
    # Rounded as the card stores it, so the gate sees what the service will compute.
    weight = round(weight, 2)
    if base_probs is not None:
        combined = weight * encoder_probs + (1.0 - weight) * base_probs
    log = np.log(np.clip(combined, 1e-12, None))
    temperature = fit_temperature(log, y)
    probs = softmax(log / temperature)
    # Fine-tuning once per fold would cost hours: the encoder's thresholds come from its validation split.
    calibration = Calibration.from_probabilities(probs, y, labels)
    return Served(graph, weight, temperature, probs, calibration, calibration.thresholds(target))


def int8_gate(
    fp32: Served,
    int8: Served,
    fp32_logits: np.ndarray,
    int8_logits: np.ndarray,
    y: np.ndarray,
    *,
    max_accuracy_gap: float = 0.003,
    min_routing_agreement: float = 0.995,
) -> dict[str, Any]:
    """The int8 graph's parity figures against fp32 on validation, and whether it may be served."""
    routing = float((fp32.routed() == int8.routed()).mean())
    gap = int8.accuracy(y) - fp32.accuracy(y)
    passed = abs(gap) <= max_accuracy_gap + _EPS and routing >= min_routing_agreement
    return {
        "int8_vs_fp32_argmax_agreement": float((int8_logits.argmax(1) == fp32_logits.argmax(1)).mean()),
        "int8_vs_fp32_routing_agreement": routing,
        "fp32_validation_accuracy": fp32.accuracy(y),
        "int8_validation_accuracy": int8.accuracy(y),
        "fp32_auto_routed_share": float(fp32.routed().mean()),
        "int8_auto_routed_share": float(int8.routed().mean()),
        "int8_required": {"max_accuracy_gap": max_accuracy_gap, "min_routing_agreement": min_routing_agreement},
        "int8_published": bool(passed),
    }


# Per-channel scales: per-tensor ones flipped 2.6 % of validation argmaxes on Banking77, per-channel 0.9 %.
# Static QDQ and layers kept in fp32 were no closer to the gate, nor clearly faster (bench/int8_variants.py).
QUANTIZATION = "dynamic QInt8, per-channel weights, on the fused graph"


def optimize_graph(path: Path, heads: int, hidden: int) -> dict[str, int]:
    """Fuse attention, GELU and LayerNorm in place (onnxruntime's transformer optimizer); what was fused."""
    from onnxruntime.transformers.optimizer import optimize_model

    model = optimize_model(str(path), model_type="bert", num_heads=heads, hidden_size=hidden, opt_level=1)
    model.save_model_to_file(str(path))
    return {op: n for op, n in model.get_fused_operator_statistics().items() if n}


def quantize_graph(src: Path, dst: Path) -> None:
    """The int8 graph the gate judges."""
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(src),
        str(dst),
        weight_type=QuantType.QInt8,
        per_channel=True,
        # ONNX shape inference does not know the fused (com.microsoft) ops' outputs: they are float.
        extra_options={"DefaultTensorType": TensorProto.FLOAT},
    )
