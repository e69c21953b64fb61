"""A value computed at most once per interval however many threads ask for it (metrics, readiness)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Cached(Generic[T]):
    """Reuse a computed value for `ttl_s`; one thread refreshes it while the others keep the last one.

    A flood of scrapes then costs one computation per interval, and no caller queues behind a slow one once a
    value exists: a request thread stuck waiting here is a thread intake cannot use.
    """

    def __init__(self, compute: Callable[[], T], ttl_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._compute = compute
        self.ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._value: tuple[T] | None = None
        self._at = 0.0
        self.computed = 0  # how many times compute ran (for tests and the bench)

    def get(self) -> T:
        value = self._value
        if value is not None and self._clock() - self._at < self.ttl_s:
            return value[0]
        if value is not None and not self._lock.acquire(blocking=False):
            return value[0]  # another thread is refreshing it
        if value is None:
            self._lock.acquire()
        try:
            # Another thread may have refreshed it while this one waited for the lock.
            if self._value is not None and self._value is not value and self._clock() - self._at < self.ttl_s:
                return self._value[0]
            fresh = self._compute()
            self._value, self._at = (fresh,), self._clock()
            self.computed += 1
            return fresh
        finally:
            self._lock.release()
