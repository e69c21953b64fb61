"""Decided tickets' embeddings in a persisted HNSW index (usearch, cosine), one file per embedding space.

One writer, many readers: the index is built (`triage similar rebuild`) or topped up (celery beat's
`triage.similar_index`) by one process at a time under a file lock, saved as a new generation file, and
published by atomically replacing a small JSON pointer. Readers (the workers) memory-map the generation the
pointer names, so several processes share one copy in the page cache, and reopen it when the pointer changes.
What the index does not hold yet (tickets decided after its watermark) the reader searches exactly from the
database rows; see service/decide/similar.py.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

POINTER = "{slug}.json"
# HNSW parameters (bench/similar.py, 1M vectors on 2 cores): 16 links per node; a build beam of 64 rather than 128
# builds 1.7x faster for the same recall; a search beam of 256 finds 95 % of the true five (64: 85 %) in 1.5 ms p95.
CONNECTIVITY = 16
EXPANSION_ADD = 64
EXPANSION_SEARCH = 256
# Half precision halves the memory (1M x 384 dims: 0.8 GB instead of 1.5 GB) and kept recall@5 at 0.998 on 50,000
# clustered vectors; int8 was faster still but fell to 0.94.
DTYPE = "f16"
KEEP_GENERATIONS = 2  # an old generation stays a while for readers that still have it mapped


def slug(space: str) -> str:
    """A file name for an embedding space (a model name@version may hold characters a path should not)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", space)[:80] or "space"


@dataclass(frozen=True)
class Published:
    """One generation of a space's index: its file, what it holds, and up to when."""

    space: str
    path: Path
    ndim: int
    count: int
    watermark: datetime | None  # the newest row's created_at when it was built: later rows are not in it
    built_at: str


def usearch_index() -> Any:
    """usearch's Index class, imported only when an index is used (usearch pulls in tqdm, which serving
    processes never load at start)."""
    # usearch loads NumKong's library with RTLD_GLOBAL, and onnxruntime imported after that crashes the process
    # (segmentation fault on import, usearch 2.26 / onnxruntime 1.2x): onnxruntime goes first, always.
    import onnxruntime  # noqa: F401
    from usearch.index import Index

    return Index


def new_index(ndim: int) -> Any:
    """An empty HNSW index for unit vectors compared by cosine."""
    Index = usearch_index()  # noqa: N806 - a class
    return Index(
        ndim=ndim,
        metric="cos",
        dtype=DTYPE,
        connectivity=CONNECTIVITY,
        expansion_add=EXPANSION_ADD,
        expansion_search=EXPANSION_SEARCH,
    )


def add_rows(index: Any, rows: Iterable[tuple[int, bytes]], *, chunk: int = 8192) -> int:
    """Add (ticket id, float32 bytes) rows; a ticket already in the index is replaced. Returns how many were added."""
    added = 0
    for keys, vectors in _chunks(rows, chunk, index.ndim):
        present = [k for k in keys.tolist() if k in index]
        if present:
            index.remove(present)
        index.add(keys, vectors)
        added += len(keys)
    return added


def _chunks(rows: Iterable[tuple[int, bytes]], size: int, ndim: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    keys: list[int] = []
    vectors: list[bytes] = []
    for key, vector in rows:
        if len(vector) != ndim * 4:
            continue  # a vector of another dimension cannot share the index (a model changed its encoder)
        keys.append(key)
        vectors.append(vector)
        if len(keys) == size:
            yield _arrays(keys, vectors, ndim)
            keys, vectors = [], []
    if keys:
        yield _arrays(keys, vectors, ndim)


def _arrays(keys: list[int], vectors: list[bytes], ndim: int) -> tuple[np.ndarray, np.ndarray]:
    # Several rows for one key (a ticket decided twice in one page): the last one wins.
    last = {k: i for i, k in enumerate(keys)}
    order = sorted(last.values())
    matrix = np.frombuffer(b"".join(vectors[i] for i in order), dtype=np.float32).reshape(-1, ndim)
    return np.array([keys[i] for i in order], dtype=np.uint64), matrix


class IndexStore:
    """The index files of every embedding space under one directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def published(self, space: str) -> Published | None:
        """The generation readers should use now, or None when the space has no index yet."""
        try:
            raw = json.loads((self.directory / POINTER.format(slug=slug(space))).read_text())
        except (OSError, ValueError):
            return None
        path = self.directory / str(raw.get("file", ""))
        if raw.get("space") != space or not path.is_file():
            return None
        watermark = raw.get("watermark")
        return Published(
            space=space,
            path=path,
            ndim=int(raw["ndim"]),
            count=int(raw["count"]),
            watermark=datetime.fromisoformat(watermark) if watermark else None,
            built_at=str(raw.get("built_at", "")),
        )

    def load(self, space: str) -> tuple[Any, Published] | None:
        """A writable copy of the published index (to top it up), or None."""
        current = self.published(space)
        if current is None:
            return None
        index = new_index(current.ndim)
        index.load(str(current.path))
        return index, current

    def publish(self, space: str, index: Any, watermark: datetime | None) -> Published:
        """Save the index as a new generation and point readers at it; drop generations older than the last few."""
        self.directory.mkdir(parents=True, exist_ok=True)
        name = slug(space)
        generation = f"{name}.{time.time_ns()}.usearch"
        partial = self.directory / (generation + ".partial")
        index.save(str(partial))
        os.replace(partial, self.directory / generation)
        pointer = {
            "space": space,
            "file": generation,
            "ndim": int(index.ndim),
            "count": len(index),
            "watermark": watermark.isoformat() if watermark else None,
            "built_at": datetime.now().astimezone().isoformat(timespec="seconds"),
        }
        tmp = self.directory / f".{name}.json.partial"
        tmp.write_text(json.dumps(pointer, indent=2))
        os.replace(tmp, self.directory / POINTER.format(slug=name))
        old = sorted(self.directory.glob(f"{glob_escape(name)}.*.usearch"), key=lambda p: p.stat().st_mtime)
        # Readers that mapped an older file keep their mapping after the unlink (POSIX); new ones open the new file.
        for stale in old[:-KEEP_GENERATIONS]:
            with contextlib.suppress(OSError):
                stale.unlink()
        published = self.published(space)
        assert published is not None
        return published

    @contextlib.contextmanager
    def writer(self) -> Iterator[bool]:
        """Hold the directory's write lock; yields False (and writes nothing) when another process holds it."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with (self.directory / ".lock").open("a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


class IndexReader:
    """Memory-mapped views of the published indexes, reopened when a new generation is published.

    Each look-up stats the space's pointer file (microseconds) and rereads it only when it changed.
    """

    def __init__(self, store: IndexStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._open: dict[str, tuple[Any, Published]] = {}
        self._seen: dict[str, tuple[int, int] | None] = {}

    def get(self, space: str) -> tuple[Any, Published] | None:
        pointer = self.store.directory / POINTER.format(slug=slug(space))
        try:
            stat = pointer.stat()
            stamp: tuple[int, int] | None = (stat.st_mtime_ns, stat.st_ino)
        except OSError:
            stamp = None
        with self._lock:
            if space in self._seen and self._seen[space] == stamp:
                return self._open.get(space)
            self._seen[space] = stamp
            current = self.store.published(space) if stamp is not None else None
            held = self._open.get(space)
            if current is None:
                self._open.pop(space, None)
            elif held is None or held[1].path != current.path:
                view = new_index(current.ndim)  # the search beam is not saved in the file: ours applies
                view.view(str(current.path))
                self._open[space] = (view, current)
            return self._open.get(space)


def search(index: Any, vectors: np.ndarray, count: int) -> list[list[tuple[int, float]]]:
    """The `count` nearest (ticket id, cosine similarity) of each vector, nearest first."""
    if len(index) == 0 or len(vectors) == 0:
        return [[] for _ in range(len(vectors))]
    matches = index.search(np.ascontiguousarray(vectors, dtype=np.float32), min(count, len(index)))
    keys = np.atleast_2d(matches.keys)
    distances = np.atleast_2d(matches.distances)
    # One query comes back trimmed to what was found; a batch is padded past each row's count (key 0, NaN).
    counts = np.atleast_1d(np.asarray(getattr(matches, "counts", keys.shape[1])))
    return [
        [(int(k), 1.0 - float(d)) for k, d in zip(row_keys[:n], row_distances[:n], strict=True)]
        for row_keys, row_distances, n in zip(keys, distances, counts, strict=True)
    ]
