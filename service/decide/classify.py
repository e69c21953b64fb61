"""Load a model directory once per process and label texts with it."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from service.core.domain import Prediction
from service.core.modelcard import ModelCard, ModelCardError, current_version_dir, shadow_version_dir
from service.core.ports import Classifier
from service.decide.cascade import Margins, needs_exact
from service.decide.normalize import normalize
from service.decide.scope import SCOPE_FILE, Scope
from service.decide.sparse_tfidf import fast
from service.decide.thresholds import CALIBRATION_FILE, NEVER, Calibration

BATCH_SIZE = 32
BASE_SPACE = "all-MiniLM-L6-v2"  # the untrained sentence encoder's embeddings (frozen family, base encoder)
log = logging.getLogger(__name__)


class SklearnClassifier:
    """A scikit-learn pipeline (preprocessing included) with predict_proba."""

    def __init__(self, directory: Path, card: ModelCard) -> None:
        self.directory = directory
        self.card = card
        self.name = card.name
        self.version = card.version
        self.labels = list(card.labels)
        # The card's artefact hash was checked before this load, so unpickling is of our own file.
        self._pipeline = fast(joblib.load(directory / card.artefact))
        classes = [str(c) for c in self._pipeline.classes_]
        if classes != self.labels:
            raise ModelCardError(f"{directory}: artefact classes differ from the card's labels")
        self.promised = PromisedThresholds(directory, card)

    def predict(
        self,
        texts: Sequence[str],
        *,
        top_k: int = 3,
        thresholds: Mapping[str, float] | None = None,
        scope_quantile: float | None = None,
    ) -> list[Prediction]:
        """Predictions held to `thresholds`; with no embeddings there is no scope for `scope_quantile` to set."""
        started = time.perf_counter()
        proba = np.asarray(self._pipeline.predict_proba(list(texts)))
        per_item_ms = (time.perf_counter() - started) * 1000 / max(len(texts), 1)
        return _predictions(proba, self.labels, self.name, self.version, per_item_ms, top_k, thresholds)

    def thresholds(self, target: float, groups: Mapping[str, str]) -> Mapping[str, float] | None:
        return self.promised.get(target, groups)


class OnnxClassifier:
    """A fine-tuned encoder exported to ONNX, served with onnxruntime and tokenizers (never torch).

    Optional ensemble members (e.g. the TF-IDF baseline) are mixed in probability space, then the mixture
    is calibrated with the card's temperature; per-class thresholds come with each prediction. Where the card
    serves an int8 graph, the fp32 graph answers the tickets int8 could route otherwise (service/decide/cascade.py).
    """

    def __init__(self, directory: Path, card: ModelCard, *, threads: int = 2) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.directory, self.card = directory, card
        self.name, self.version, self.labels = card.name, card.version, list(card.labels)
        serving = card.serving
        options = session_options(threads)
        self.session = ort.InferenceSession(str(directory / card.artefact), options, providers=["CPUExecutionProvider"])
        # DistilBERT takes no token_type_ids: run_encoder feeds exactly what the exported graph asks for.
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.tokenizer = Tokenizer.from_file(str(directory / serving.get("tokenizer", "tokenizer.json")))
        self.tokenizer.enable_truncation(int(serving.get("max_length", 128)))
        self.tokenizer.no_padding()
        self.pad_id = int(serving.get("pad_id", 0))
        self.temperature = float(serving.get("temperature", 1.0))
        self.card_thresholds = {k: float(v) for k, v in serving.get("thresholds", {}).items()}
        self.encoder_weight = float(serving.get("encoder_weight", 1.0))
        self.members = []
        for member, weight in serving.get("members", {}).items():
            pipeline = fast(joblib.load(directory / member))  # hash checked with the card's files
            order = [list(map(str, pipeline.classes_)).index(label) for label in self.labels]
            self.members.append((pipeline, float(weight), order))
        self.logits_output = self.session.get_outputs()[0].name
        outputs = {o.name for o in self.session.get_outputs()}
        # "None of these" needs the graph's embedding output and the training tickets' embeddings.
        self.scope = Scope.load(directory / SCOPE_FILE) if SCOPE_FILE in card.files and "embedding" in outputs else None
        # Similar tickets are found by the same embedding: fetching it with the logits costs no extra compute.
        self.embedding_space = embedding_space(card) if "embedding" in outputs else None
        self.promised = PromisedThresholds(directory, card)
        # An int8 graph is served with the fp32 one beside it, for the answers int8 could route otherwise.
        exact = serving.get("exact")
        self.exact: tuple[Any, Margins] | None = None
        if exact:
            fp32 = ort.InferenceSession(str(directory / exact["graph"]), options, providers=["CPUExecutionProvider"])
            self.exact = (fp32, Margins(float(exact["log_odds_margin"]), float(exact["scope_margin"])))

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """Raw logits of the served graph (its first output)."""
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        return run_encoder(self.session, self.tokenizer, self.pad_id, texts, self.logits_output)

    def _answer(
        self, session: Any, texts: Sequence[str], member: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """One graph's served probabilities, and each text's embedding and scope distance when it has them."""
        if self.embedding_space is None:
            logits = run_encoder(session, self.tokenizer, self.pad_id, texts, self.logits_output)
            return self._mix(logits, member), None, None
        logits, embeddings = run_encoder_outputs(
            session, self.tokenizer, self.pad_id, texts, [self.logits_output, "embedding"]
        )
        distances = self.scope.distance(embeddings) if self.scope is not None else None
        return self._mix(logits, member), embeddings, distances

    def _members(self, texts: Sequence[str]) -> np.ndarray:
        """The ensemble members' weighted share of each text's probabilities (zeros without members)."""
        share = np.zeros((len(texts), len(self.labels)))
        for pipeline, weight, order in self.members:
            share += weight * np.asarray(pipeline.predict_proba(list(texts)))[:, order]
        return share

    def _mix(self, logits: np.ndarray, member: np.ndarray) -> np.ndarray:
        probs = self.encoder_weight * _softmax(logits) + member
        return _softmax(np.log(np.clip(probs, 1e-12, None)) / self.temperature)

    def _answers(
        self, texts: Sequence[str], cuts: Mapping[str, float], limit: float | None
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Served probabilities, embeddings and scope distances; near a border (`cuts`, the scope's `limit`), the
        fp32 graph's."""
        if not texts:
            return np.zeros((0, len(self.labels))), None, None
        member = self._members(texts)
        proba, embeddings, distances = self._answer(self.session, texts, member)
        if self.exact is None:
            return proba, embeddings, distances
        session, margins = self.exact
        cut = np.array([cuts.get(label, NEVER) for label in self.labels])
        redo = np.flatnonzero(needs_exact(proba, cut, margins, distances, limit))
        if len(redo):
            exact = self._answer(session, [texts[int(i)] for i in redo], member[redo])
            for whole, part in zip((proba, embeddings, distances), exact, strict=True):
                if whole is not None and part is not None:
                    whole[redo] = part
        return proba, embeddings, distances

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Served probabilities, held to the card's own thresholds."""
        return self._answers(texts, self.card_thresholds, self.scope.limit if self.scope is not None else None)[0]

    def predict(
        self,
        texts: Sequence[str],
        *,
        top_k: int = 3,
        thresholds: Mapping[str, float] | None = None,
        scope_quantile: float | None = None,
    ) -> list[Prediction]:
        started = time.perf_counter()
        cuts = self.card_thresholds if thresholds is None else thresholds
        limit = self.scope.limit_at(scope_quantile) if self.scope is not None else None
        proba, embeddings, distances = self._answers(texts, cuts, limit)
        per_item_ms = (time.perf_counter() - started) * 1000 / max(len(texts), 1)
        predictions = _predictions(proba, self.labels, self.name, self.version, per_item_ms, top_k, cuts)
        if embeddings is None:
            return predictions
        vectors = np.ascontiguousarray(embeddings, dtype=np.float32)
        predictions = [
            replace(p, embedding=v.tobytes(), embedding_space=self.embedding_space)
            for p, v in zip(predictions, vectors, strict=True)
        ]
        if distances is None or limit is None:
            return predictions
        return [
            replace(p, scope_distance=float(d), scope_limit=limit) for p, d in zip(predictions, distances, strict=True)
        ]

    def thresholds(self, target: float, groups: Mapping[str, str]) -> Mapping[str, float] | None:
        return self.promised.get(target, groups)


class PromisedThresholds:
    """Per-label thresholds for the routing file's target precision, from the model's out-of-fold answers.

    Computed once per (target, queues) and kept: the routing file may change the promise without retraining.
    A model trained before calibration files existed has none (its card's own thresholds stay in use).
    """

    def __init__(self, directory: Path, card: ModelCard) -> None:
        self.calibration = Calibration.load(directory / CALIBRATION_FILE) if CALIBRATION_FILE in card.files else None
        self._lock = threading.Lock()
        self._memo: dict[tuple[float, tuple[tuple[str, str], ...]], dict[str, float]] = {}

    def get(self, target: float, groups: Mapping[str, str]) -> dict[str, float] | None:
        if self.calibration is None:
            return None
        key = (target, tuple(sorted(groups.items())))
        with self._lock:
            if key not in self._memo:
                self._memo[key] = self.calibration.thresholds(target, groups)
            return self._memo[key]


def session_options(threads: int) -> Any:
    """onnxruntime options for serving: `threads` for one graph, and threads that sleep after a run.

    Spinning threads starve the numpy and Python work that follows on the same cores: on 2 cores the scope
    distance took 3.4 ms after a run instead of 0.35 ms, and the web processes share those cores too.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def embedding_space(card: ModelCard) -> str:
    """Where a model's embeddings live: the base encoder's own space when training left it frozen (so every
    version's vectors compare), else the model's name@version (fine-tuning moves every vector)."""
    declared = card.serving.get("embedding_space")
    if isinstance(declared, str) and declared:
        return declared
    recipe = str(card.params.get("recipe", ""))
    if recipe.startswith("frozen ") and "all-MiniLM-L6-v2" in recipe:
        return BASE_SPACE
    return f"{card.name}@{card.version}"[:64]


def run_encoder(
    session: Any, tokenizer: Any, pad_id: int, texts: Sequence[str], output: str | None = None
) -> np.ndarray:
    """One output of an encoder graph (the first by default) for each text."""
    return run_encoder_outputs(session, tokenizer, pad_id, texts, [output or session.get_outputs()[0].name])[0]


def run_encoder_outputs(
    session: Any, tokenizer: Any, pad_id: int, texts: Sequence[str], outputs: Sequence[str]
) -> list[np.ndarray]:
    """Outputs of an encoder graph for each text, in one pass, batched by similar length so padding stays
    short; the graph's own input names decide what is fed (DistilBERT takes no token types)."""
    input_names = [i.name for i in session.get_inputs()]
    encodings = tokenizer.encode_batch([normalize(t) for t in texts])
    order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
    chunks: list[tuple[list[int], np.ndarray]] = []
    for start in range(0, len(order), BATCH_SIZE):
        chunk = order[start : start + BATCH_SIZE]
        width = max(len(encodings[i].ids) for i in chunk)
        feeds = {
            name: np.full((len(chunk), width), pad_id if name == "input_ids" else 0, dtype=np.int64)
            for name in input_names
        }
        for row, i in enumerate(chunk):
            e = encodings[i]
            n = len(e.ids)
            feeds["input_ids"][row, :n] = e.ids
            if "attention_mask" in feeds:
                feeds["attention_mask"][row, :n] = e.attention_mask
            if "token_type_ids" in feeds:
                feeds["token_type_ids"][row, :n] = e.type_ids
        chunks.append((chunk, session.run(list(outputs), feeds)))
    if not chunks:
        return [np.zeros((0, 0), dtype=np.float32) for _ in outputs]
    results = []
    for i in range(len(outputs)):
        out = np.zeros((len(texts), chunks[0][1][i].shape[1]), dtype=np.float32)
        for chunk, values in chunks:
            out[chunk] = values[i]
        results.append(out)
    return results


def _predictions(
    proba: np.ndarray,
    labels: Sequence[str],
    name: str,
    version: str,
    per_item_ms: float,
    top_k: int,
    thresholds: Mapping[str, float] | None = None,
) -> list[Prediction]:
    """One prediction per row of probabilities: the top_k labels, best first, with the label's threshold if any."""
    out = []
    for row in proba:
        best = np.argsort(row)[::-1][:top_k]
        top = tuple((labels[i], float(row[i])) for i in best)
        threshold = thresholds.get(top[0][0]) if thresholds is not None else None
        out.append(
            Prediction(
                label=top[0][0],
                confidence=top[0][1],
                top_k=top,
                model_name=name,
                model_version=version,
                latency_ms=per_item_ms,
                threshold=threshold,
            )
        )
    return out


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return out


def load_model(directory: Path, *, threads: int = 2) -> Classifier:
    """Read the card, refuse what this service cannot serve, and load the artefact."""
    card = ModelCard.read(directory)
    if card.kind == "sklearn-tfidf-logreg":
        return SklearnClassifier(directory, card)
    if card.kind == "onnx-encoder":
        return OnnxClassifier(directory, card, threads=threads)
    if card.kind == "sklearn-priority":
        from service.decide.priority import PriorityClassifier  # it imports the card helpers this module does

        return PriorityClassifier(directory, card)
    raise ModelCardError(f"{directory}: no loader for kind {card.kind!r}")


class FollowedModel:
    """A model loaded once per process from the version a pointer file names, re-read every few seconds.

    Both the model in service (CURRENT) and the one in shadow (SHADOW) are followed this way, so a promotion
    or a new shadow needs no restart. A failure to load is remembered for the same interval, so a broken
    version costs one attempt per interval, not one per ticket.
    """

    def __init__(self, locate: Callable[[], Path | None], *, threads: int = 2, check_every_s: float = 5.0) -> None:
        self.locate, self.threads, self.check_every_s = locate, threads, check_every_s
        self._lock = threading.Lock()
        self._model: Classifier | None = None
        self._dir: Path | None = None
        self._error: Exception | None = None
        self._checked: float | None = None

    def get(self) -> Classifier | None:
        """The model the pointer names now, or None when it names none; raises what loading raised."""
        with self._lock:
            now = time.monotonic()
            if self._checked is None or now - self._checked >= self.check_every_s:
                self._checked = now
                try:
                    directory = self.locate()
                    if directory is None:
                        self._model = None
                    elif directory != self._dir or self._model is None:
                        self._model = load_model(directory, threads=self.threads)
                    self._dir, self._error = directory, None
                except (ModelCardError, OSError, ValueError) as exc:
                    self._model, self._dir, self._error = None, None, exc
            if self._error is not None:
                raise self._error
            return self._model


class ModelCache:
    """The model in service; with a fallback family (the baseline), one that cannot be loaded is replaced by
    the fallback's current version, loudly, instead of stopping classification."""

    def __init__(
        self, models_dir: Path, name: str, check_every_s: float = 5.0, threads: int = 2, fallback: str | None = None
    ) -> None:
        self.name = name
        self._main = FollowedModel(
            lambda: current_version_dir(models_dir, name), threads=threads, check_every_s=check_every_s
        )
        self.fallback = fallback if fallback != name else None
        self._fallback = (
            None
            if self.fallback is None
            else FollowedModel(
                lambda: current_version_dir(models_dir, fallback or ""), threads=threads, check_every_s=check_every_s
            )
        )

    def get(self) -> Classifier:
        try:
            model = self._main.get()
        except (ModelCardError, OSError, ValueError) as exc:
            if self._fallback is None:
                raise
            log.error("model %r cannot be served (%s); falling back to %r", self.name, exc, self.fallback)
            model = self._fallback.get()
        assert model is not None  # current_version_dir raises rather than name no version
        return model


def shadow_model(models_dir: Path, name: str, *, threads: int = 2, check_every_s: float = 5.0) -> FollowedModel:
    """The family's model in shadow, if any (SHADOW pointer)."""
    return FollowedModel(lambda: shadow_version_dir(models_dir, name), threads=threads, check_every_s=check_every_s)
