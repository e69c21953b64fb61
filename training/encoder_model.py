"""The fine-tuned encoder in torch: mean pooling and a linear head, its training loop, and its ONNX export."""

from __future__ import annotations

import math
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from torch import nn
from tqdm import tqdm
from transformers import AutoModel, AutoTokenizer

from service.decide.normalize import normalize
from service.decide.thresholds import DEFAULT_TARGET
from training.calibration import softmax
from training.data import Examples
from training.onnx_bert import default_base_model

# Few-shot training adds the contrastive loss at this weight unless told otherwise: on Banking77 at 10 shots it
# gained 0.8 points in two runs (85.90 / 85.84 % against 85.09 %); on the full set it gained nothing (BENCHMARKS.md).
FEW_SHOT_CONTRASTIVE = 0.5


class MeanPoolClassifier(nn.Module):
    """Encoder -> attention-masked mean pooling -> L2 normalisation -> linear head."""

    def __init__(self, encoder: nn.Module, n_labels: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        hidden = int(encoder.config.hidden_size)  # type: ignore[union-attr,arg-type]  # a transformers model has a config
        self.head = nn.Linear(hidden, n_labels)

    def embed(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        hidden = self.encoder(**kwargs).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-6)
        return F.normalize(pooled, dim=-1)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self.head(self.dropout(self.embed(input_ids, attention_mask, token_type_ids)))


def supervised_contrastive(embedding: torch.Tensor, y: torch.Tensor, temperature: float) -> torch.Tensor:
    """Khosla et al.'s SupCon loss on unit vectors: pull each ticket toward its label's others in the batch."""
    similarity = embedding @ embedding.T / temperature
    self_mask = torch.eye(len(y), dtype=torch.bool, device=embedding.device)
    similarity = similarity.masked_fill(self_mask, float("-inf"))
    log_prob = similarity - torch.logsumexp(similarity, dim=1, keepdim=True)
    positives = (y.unsqueeze(0) == y.unsqueeze(1)) & ~self_mask
    count = positives.sum(1)
    has = count > 0
    if not bool(has.any()):
        return embedding.new_zeros(())
    mean_log_prob = log_prob.masked_fill(~positives, 0.0).sum(1)[has] / count[has]
    return -mean_log_prob.mean()


class LogitsAndEmbedding(nn.Module):
    """What the exported graph computes: the logits, and the sentence embedding that "none of these" measures."""

    def __init__(self, model: MeanPoolClassifier) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        embedding = self.model.embed(input_ids, attention_mask, token_type_ids)
        return self.model.head(embedding), embedding


@dataclass
class EncoderConfig:
    base_model: Path = field(default_factory=default_base_model)
    epochs: int = 6
    batch_size: int = 32
    lr: float = 6e-5
    head_lr: float = 3e-4
    weight_decay: float = 0.01
    warmup: float = 0.06
    max_length: int = 128
    patience: int = 2
    seed: int = 0
    head_init: bool = True
    ensemble: bool = True
    target_precision: float = DEFAULT_TARGET
    threads: int = 2
    # Supervised contrastive loss on the pooled embeddings, added to cross-entropy with this weight (0: off;
    # None: FEW_SHOT_CONTRASTIVE when training few-shot, else off). Batches are then built from same-label
    # pairs, so every ticket has a positive to be pulled toward.
    contrastive: float | None = None
    contrastive_temperature: float = 0.1
    # Folds of shorter fine-tunings whose out-of-fold answers join the validation answers that thresholds are
    # chosen from (training/encoder_crossfit.py); 0: the validation answers alone.
    cross_fit: int = 2


class EncoderClassifier:
    """scikit-learn style estimator: fit(texts, labels) / predict_proba(texts) over the torch model."""

    def __init__(self, config: EncoderConfig) -> None:
        self.config = config
        self.tokenizer = AutoTokenizer.from_pretrained(str(config.base_model))
        self.uses_token_types = "token_type_ids" in self.tokenizer.model_input_names
        self.model: MeanPoolClassifier | None = None
        self.classes_: list[str] = []

    def _encode(self, texts: list[str]) -> list[list[int]]:
        return self.tokenizer(
            [normalize(t) for t in texts], truncation=True, max_length=self.config.max_length, add_special_tokens=True
        )["input_ids"]

    def _batch(self, ids: list[list[int]]) -> dict[str, torch.Tensor]:
        width = max(len(x) for x in ids)
        input_ids = torch.full((len(ids), width), self.tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(ids), width), dtype=torch.long)
        for row, x in enumerate(ids):
            input_ids[row, : len(x)] = torch.tensor(x)
            mask[row, : len(x)] = 1
        batch = {"input_ids": input_ids, "attention_mask": mask}
        if self.uses_token_types:
            batch["token_type_ids"] = torch.zeros_like(input_ids)
        return batch

    def _batches(self, ids: list[list[int]], *, shuffle: bool, rng: random.Random) -> list[list[int]]:
        """Length buckets: sort within large shuffled chunks, then shuffle the batches themselves."""
        order = list(range(len(ids)))
        size = self.config.batch_size
        if shuffle:
            rng.shuffle(order)
        chunk = size * 50
        batches = []
        for start in range(0, len(order), chunk):
            part = sorted(order[start : start + chunk], key=lambda i: len(ids[i]))
            batches += [part[i : i + size] for i in range(0, len(part), size)]
        if shuffle:
            rng.shuffle(batches)
        return batches

    def _pair_batches(self, ids: list[list[int]], y: list[int], rng: random.Random) -> list[list[int]]:
        """Length-bucketed batches of same-label pairs: each ticket once an epoch, each with a positive."""
        by_label: dict[int, list[int]] = {}
        for i, label in enumerate(y):
            by_label.setdefault(label, []).append(i)
        pairs: list[tuple[int, int]] = []
        for members in by_label.values():
            rng.shuffle(members)
            if len(members) % 2:  # the odd one out pairs with another of its label, seen twice this epoch
                members = members + [members[0]]
            pairs += [(members[k], members[k + 1]) for k in range(0, len(members), 2)]
        rng.shuffle(pairs)
        size = max(1, self.config.batch_size // 2)
        chunk = size * 50
        batches = []
        for start in range(0, len(pairs), chunk):
            part = sorted(pairs[start : start + chunk], key=lambda p: max(len(ids[p[0]]), len(ids[p[1]])))
            batches += [[i for pair in part[k : k + size] for i in pair] for k in range(0, len(part), size)]
        rng.shuffle(batches)
        return batches

    @torch.no_grad()
    def _run(self, ids: list[list[int]], fn: str) -> np.ndarray:
        assert self.model is not None
        self.model.eval()
        outputs: list[np.ndarray] = [np.empty(0)] * len(ids)
        for batch_idx in self._batches(ids, shuffle=False, rng=random.Random(0)):
            out = getattr(self.model, fn)(**self._batch([ids[i] for i in batch_idx])).numpy()
            for row, i in enumerate(batch_idx):
                outputs[i] = out[row]
        return np.stack(outputs)

    def logits(self, texts: list[str]) -> np.ndarray:
        return self._run(self._encode(texts), "forward")

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        return softmax(self.logits(texts))

    def fit(
        self,
        texts: list[str],
        labels: list[str],
        *,
        valid: Examples | None = None,
        checkpoint: Path | None = None,
        progress: bool = True,
    ) -> EncoderClassifier:
        cfg = self.config
        torch.manual_seed(cfg.seed)
        random.seed(cfg.seed)
        np.random.seed(cfg.seed)
        torch.set_num_threads(cfg.threads)
        self.classes_ = sorted(set(labels))
        index = {c: i for i, c in enumerate(self.classes_)}
        y = torch.tensor([index[label] for label in labels])
        encoder = AutoModel.from_pretrained(str(cfg.base_model))
        self.model = MeanPoolClassifier(encoder, len(self.classes_))
        ids = self._encode(texts)
        resuming = checkpoint is not None and checkpoint.is_file()
        if cfg.head_init and not resuming:
            self._init_head(ids, y.numpy(), progress)
        valid_ids = self._encode(valid.texts) if valid else None
        valid_y = np.array([index.get(label, -1) for label in valid.labels]) if valid else None

        head = list(self.model.head.parameters())
        body = [p for n, p in self.model.named_parameters() if not n.startswith("head.")]
        optimizer = torch.optim.AdamW(
            [{"params": body, "lr": cfg.lr}, {"params": head, "lr": cfg.head_lr}], weight_decay=cfg.weight_decay
        )
        steps_per_epoch = math.ceil(len(ids) / cfg.batch_size)
        total = steps_per_epoch * cfg.epochs
        warmup = max(1, int(total * cfg.warmup))
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, (total - s) / max(1, total - warmup))
        )
        state: dict[str, Any] = {"epoch": 0, "best": -1.0, "best_state": None, "bad_epochs": 0, "history": []}
        if checkpoint and checkpoint.is_file():
            saved = torch.load(checkpoint, weights_only=False)
            if saved["classes"] == self.classes_:
                self.model.load_state_dict(saved["model"])
                optimizer.load_state_dict(saved["optimizer"])
                scheduler.load_state_dict(saved["scheduler"])
                state = saved["state"]
                print(f"resuming from {checkpoint} after epoch {state['epoch']}", file=sys.stderr)
        rng = random.Random(cfg.seed + state["epoch"])
        contrastive = cfg.contrastive or 0.0
        for epoch in range(state["epoch"], cfg.epochs):
            self.model.train()
            if contrastive > 0:
                batches = self._pair_batches(ids, y.tolist(), rng)
            else:
                batches = self._batches(ids, shuffle=True, rng=rng)
            bar = tqdm(
                batches, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="batch", disable=not progress, file=sys.stderr
            )
            running = 0.0
            for step, batch_idx in enumerate(bar, start=1):
                embedding = self.model.embed(**self._batch([ids[i] for i in batch_idx]))
                loss = F.cross_entropy(self.model.head(self.model.dropout(embedding)), y[batch_idx])
                if contrastive > 0:
                    loss = loss + contrastive * supervised_contrastive(
                        embedding, y[batch_idx], cfg.contrastive_temperature
                    )
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
                running += loss.item()
                bar.set_postfix(loss=f"{running / step:.3f}")
            score = float("nan")
            if valid_ids is not None and valid_y is not None:
                score = float((self._run(valid_ids, "forward").argmax(1) == valid_y).mean())
            state["epoch"] = epoch + 1
            state["history"].append(
                {"epoch": epoch + 1, "train_loss": running / max(1, len(batches)), "valid_accuracy": score}
            )
            scored = "" if math.isnan(score) else f", validation accuracy {score:.4f}"
            print(f"epoch {epoch + 1}: train loss {running / max(1, len(batches)):.4f}{scored}", file=sys.stderr)
            # Ties go to the later epoch: same accuracy, larger margins, which also quantize more safely.
            if math.isnan(score) or score >= state["best"]:
                state["best"], state["bad_epochs"] = score, 0
                state["best_state"] = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            else:
                state["bad_epochs"] += 1
            if checkpoint:
                torch.save(
                    {
                        "classes": self.classes_,
                        "model": self.model.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(),
                        "state": state,
                    },
                    checkpoint,
                )
            if state["bad_epochs"] >= cfg.patience:
                print(f"early stop: no better validation accuracy for {cfg.patience} epochs", file=sys.stderr)
                break
        if state["best_state"] is not None:
            self.model.load_state_dict(state["best_state"])
        self.history = state["history"]
        return self

    def _init_head(self, ids: list[list[int]], y: np.ndarray, progress: bool) -> None:
        """Start the head where a logistic regression on frozen embeddings ends (a strong, cheap start)."""
        assert self.model is not None
        if progress:
            print(f"embedding {len(ids)} examples with the frozen encoder for the head's start ...", file=sys.stderr)
        embeddings = self._run(ids, "embed")
        lr = LogisticRegression(C=10.0, max_iter=2000).fit(embeddings, y)
        weight = np.zeros((len(self.classes_), embeddings.shape[1]), dtype=np.float32)
        bias = np.zeros(len(self.classes_), dtype=np.float32)
        weight[lr.classes_] = lr.coef_
        bias[lr.classes_] = lr.intercept_
        with torch.no_grad():
            self.model.head.weight.copy_(torch.from_numpy(weight))
            self.model.head.bias.copy_(torch.from_numpy(bias))

    def save_torch(self, directory: Path) -> None:
        """The fine-tuned weights in torch form, for benchmarks and further training; never served."""
        assert self.model is not None
        self.model.encoder.save_pretrained(directory)  # type: ignore[operator]  # a transformers model, typed as Module
        self.tokenizer.save_pretrained(directory)
        torch.save({"head": self.model.head.state_dict(), "classes": self.classes_}, directory / "head.pt")

    @classmethod
    def load_torch(cls, directory: Path, config: EncoderConfig | None = None) -> EncoderClassifier:
        cfg = config or EncoderConfig()
        cfg.base_model = directory
        enc = cls(cfg)
        saved = torch.load(directory / "head.pt", weights_only=False)
        enc.classes_ = saved["classes"]
        enc.model = MeanPoolClassifier(AutoModel.from_pretrained(str(directory)), len(enc.classes_))
        enc.model.head.load_state_dict(saved["head"])
        enc.model.eval()
        return enc

    def export_onnx(self, path: Path) -> list[str]:
        """torch.onnx.export (TorchScript path: optimum would downgrade transformers), dynamic batch and length."""
        assert self.model is not None
        self.model.eval()
        names = ["input_ids", "attention_mask"] + (["token_type_ids"] if self.uses_token_types else [])
        sample = self._batch(self._encode(["export sample text", "a second, longer sample text for export"]))
        args = tuple(sample[n] for n in names)
        encoder: Any = self.model.encoder
        trained_with = encoder.config._attn_implementation
        # Eager attention exports as MatMul, Softmax, MatMul: the pattern onnxruntime's transformer optimizer
        # fuses into one Attention op (the sdpa export's masking is not fused). Same weights, same numbers.
        encoder.set_attn_implementation("eager")
        try:
            torch.onnx.export(
                LogitsAndEmbedding(self.model),
                args,
                str(path),
                input_names=names,
                output_names=["logits", "embedding"],
                dynamic_axes={
                    **{n: {0: "batch", 1: "sequence"} for n in names},
                    "logits": {0: "batch"},
                    "embedding": {0: "batch"},
                },
                opset_version=17,
                dynamo=False,
            )
        finally:
            encoder.set_attn_implementation(trained_with)
        return names
