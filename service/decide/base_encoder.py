"""The base sentence encoder (all-MiniLM-L6-v2 as trained, no head) for models that compute no embedding.

`triage similar encoder` writes its graph under TRIAGE_SIMILAR_DIR/base-encoder; while it is there, the workers
embed the tickets of such models (the TF-IDF baseline) with it, in the frozen family's space. It costs what the
frozen model's encoder costs: 2 ms for a short question, about 14 ms at 64 tokens on 2 threads, and ~90 MB per worker.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from service.decide.classify import run_encoder, session_options

ENCODER_DIR = "base-encoder"
ENCODER_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
MAX_LENGTH = 128  # as the frozen family embeds, so both land in one space

log = logging.getLogger(__name__)


class BaseEncoder:
    """One loaded encoder graph and its tokenizer."""

    def __init__(self, directory: Path, *, threads: int = 2) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.session: Any = ort.InferenceSession(
            str(directory / ENCODER_FILE), session_options(threads), providers=["CPUExecutionProvider"]
        )
        self.tokenizer: Any = Tokenizer.from_file(str(directory / TOKENIZER_FILE))
        self.tokenizer.enable_truncation(MAX_LENGTH)
        self.tokenizer.no_padding()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length sentence embeddings, one row per text."""
        return run_encoder(self.session, self.tokenizer, 0, texts, output="embedding")


_lock = threading.Lock()
_loaded: dict[Path, tuple[int, BaseEncoder]] = {}


def base_encoder(similar_dir: Path, *, threads: int = 2) -> BaseEncoder | None:
    """The encoder under `similar_dir`, loaded once per process (again when the file is replaced); None when
    `triage similar encoder` has not written one."""
    path = similar_dir / ENCODER_DIR
    try:
        stamp = (path / ENCODER_FILE).stat().st_mtime_ns
    except OSError:
        return None
    with _lock:
        held = _loaded.get(path)
        if held is None or held[0] != stamp:
            log.info("loading the base sentence encoder from %s", path)
            _loaded[path] = (stamp, BaseEncoder(path, threads=threads))
        return _loaded[path][1]
