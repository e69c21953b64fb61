"""Handing request threads' work to a slow sink (database, broker, Redis) a batch at a time, from one thread."""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
_LIVE: weakref.WeakSet[Batcher] = weakref.WeakSet()


class Batcher(Generic[T]):
    """Collect items from request threads and hand them to `publish` a batch at a time, off the request path.

    Intake uses it three times: new tickets share one transaction (GroupCommit), committed ticket ids share
    one Celery message (one per request cost a quarter of the request's CPU), and intake counts share one
    Redis pipeline. What is not published when the process dies is recovered elsewhere: the tickets stay
    received and the sweep enqueues them.
    """

    def __init__(
        self, publish: Callable[[list[T]], object], *, max_batch: int, linger_s: float, idle_s: float = 2.0
    ) -> None:
        self.publish = publish
        self.max_batch = max(1, max_batch)
        self.linger_s = linger_s
        self.idle_s = idle_s  # the thread ends after this long without work; the next item starts it again
        self._cond = threading.Condition()
        self._pending: list[T] = []
        self._thread: threading.Thread | None = None
        self._pid = 0
        _LIVE.add(self)

    def submit(self, item: T) -> None:
        """Queue one item for publishing; never waits for the sink."""
        with self._cond:
            self._pending.append(item)
            # A forked child (a web server's worker process) inherits the object but not the thread.
            if self._thread is None or self._pid != os.getpid():
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="triage-batcher", daemon=True)
                self._thread.start()
            elif len(self._pending) in (1, self.max_batch):
                self._cond.notify()  # wake it from waiting for work, or from lingering once the batch is full

    def flush(self) -> None:
        """Publish whatever is waiting now, in this thread (at exit, and for callers that need it sent)."""
        with self._cond:
            batch, self._pending = self._pending, []
        self._send(batch)

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._pending:
                    self._cond.wait(self.idle_s)
                if not self._pending:
                    self._thread = None
                    return
                # Let a batch gather: a full one is sent at once, a partial one after linger_s.
                if len(self._pending) < self.max_batch:
                    self._cond.wait(self.linger_s)
                batch, self._pending = self._pending, []
            self._send(batch)

    def _send(self, batch: list[T]) -> None:
        for start in range(0, len(batch), self.max_batch):
            try:
                self.publish(batch[start : start + self.max_batch])
            except Exception:  # the publisher's own failures are its to handle; this keeps the thread alive
                log.exception("publishing a batch of %d failed", len(batch[start : start + self.max_batch]))


@atexit.register
def _flush_all() -> None:
    deadline = time.monotonic() + 5
    for batcher in list(_LIVE):
        if time.monotonic() < deadline:
            batcher.flush()


R = TypeVar("R")


class GroupCommit(Generic[T, R]):
    """Many request threads' rows written by one thread in one transaction; each caller waits for its own result.

    `write` gets a batch and returns one result per row, or an exception for a row that failed alone. Rows that
    arrive while a batch is being written form the next batch, so batches grow with the load; a lone request
    waits linger_s at most for company.
    """

    def __init__(
        self,
        write: Callable[[list[T]], list[R | Exception]],
        *,
        max_batch: int,
        linger_s: float,
        timeout_s: float = 60.0,
    ) -> None:
        self.write = write
        self.timeout_s = timeout_s
        self._batcher: Batcher[tuple[T, Future[R]]] = Batcher(self._write_batch, max_batch=max_batch, linger_s=linger_s)

    def submit(self, row: T) -> R:
        """Write one row with whatever else is waiting, and return its result or raise its error."""
        future: Future[R] = Future()
        self._batcher.submit((row, future))
        return future.result(timeout=self.timeout_s)

    def _write_batch(self, batch: list[tuple[T, Future[R]]]) -> None:
        try:
            results = self.write([row for row, _ in batch])
        except Exception as exc:  # the whole batch failed (the database is down): every caller gets the error
            for _, future in batch:
                future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)
