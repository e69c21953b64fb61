"""Request limits per key over sliding windows, counted in this process and shared through Redis in batches.

A Redis round trip per request was a third of an intake request's CPU. Here a process reads a key's shared
count once when the key first appears in a window, then admits against that count plus its own hits, and a
background thread adds its new hits to Redis and reads everyone's totals every `flush_s` (100 ms), one pipeline
for all active keys. So the processes agree within `flush_s`: across them, a sender can pass its limit by
at most what the other processes admitted for it in the last `flush_s`. Without Redis (embedded mode, or
while it is down) each process's own counts decide.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from dataclasses import dataclass

import redis
from limits import RateLimitItem, parse_many

log = logging.getLogger(__name__)

Window = tuple[str, int, int]  # key, limit index, window index
RETRY_REDIS_S = 5.0  # after a Redis error, count locally this long before trying Redis on the request path again


@dataclass
class _Count:
    shared: int = 0  # the shared count at the last read (this process's reported hits included)
    pending: int = 0  # hits admitted here and not yet added to Redis


@dataclass(frozen=True)
class Breach:
    """The limit a request went past, and the whole seconds until the sender may try again."""

    limit: RateLimitItem
    retry_after_s: int


class WindowLimiter:
    def __init__(
        self,
        limits: list[RateLimitItem],
        *,
        redis_url: str | None = None,
        prefix: str = "triage:limits",
        flush_s: float = 0.1,
    ) -> None:
        self.limits, self.prefix, self.flush_s = limits, prefix, flush_s
        self._redis = (
            redis.Redis.from_url(redis_url, socket_timeout=0.5, socket_connect_timeout=0.5) if redis_url else None
        )
        self._counts: dict[Window, _Count] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._redis_down_until = 0.0

    @classmethod
    def parse(
        cls, spec: str, *, redis_url: str | None = None, prefix: str = "triage:limits", flush_s: float = 0.1
    ) -> WindowLimiter:
        """From a limit string such as `100/second;3000/minute`."""
        return cls(parse_many(spec), redis_url=redis_url, prefix=prefix, flush_s=flush_s)

    def hit(self, key: str, now: float | None = None) -> Breach | None:
        """Count one request for `key` unless that would pass a limit; then say which and for how long."""
        now = time.time() if now is None else now
        windows = [(key, i, int(now // limit.get_expiry())) for i, limit in enumerate(self.limits)]
        unseen = [w for w in windows if w not in self._counts]
        if unseen and self._redis is not None and now >= self._redis_down_until:
            self._read_shared(unseen + [(k, i, index - 1) for k, i, index in unseen])
        with self._lock:
            for (_, i, index), limit in zip(windows, self.limits, strict=True):
                seconds = limit.get_expiry()
                # Sliding window counter: the previous window's count weighs what is left of it.
                weight = 1.0 - (now / seconds - index)
                if self._count((key, i, index - 1)) * weight + self._count((key, i, index)) + 1 > limit.amount:
                    return Breach(limit, max(1, math.ceil((index + 1) * seconds - now)))
            for window in windows:
                self._counts.setdefault(window, _Count()).pending += 1
        self._ensure_thread()
        return None

    def _count(self, window: Window) -> int:
        count = self._counts.get(window)
        return count.shared + count.pending if count else 0

    def _name(self, window: Window) -> str:
        key, i, index = window
        limit = self.limits[i]
        return f"{self.prefix}:{limit.amount}/{limit.get_expiry()}s:{index}:{key}"

    def _read_shared(self, windows: list[Window]) -> None:
        """What Redis holds for windows this process has not seen yet (one round trip, on the request path)."""
        assert self._redis is not None
        try:
            values = self._redis.mget([self._name(w) for w in windows])
        except redis.RedisError as exc:
            self._redis_failed(exc)
            return
        with self._lock:
            for window, value in zip(windows, values, strict=True):
                self._counts.setdefault(window, _Count()).shared = int(value or 0)

    def _ensure_thread(self) -> None:
        if self._redis is None:
            if len(self._counts) > 1000:  # no thread to forget old windows: do it here now and then
                with self._lock:
                    self._forget_old(time.time())
            return
        if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
            with self._lock:
                if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                    # A forked web worker inherits the object but not the thread.
                    self._pid = os.getpid()
                    self._thread = threading.Thread(target=self._run, name="triage-limits", daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        idle = 0.0
        while idle < 2.0:  # the thread ends when nothing is counted; the next hit starts it again
            time.sleep(self.flush_s)
            idle = 0.0 if self.share() else idle + self.flush_s
        with self._lock:
            # Nobody keeps these fresh any more: the next hit reads them from Redis again.
            for window in [w for w, c in self._counts.items() if not c.pending]:
                del self._counts[window]

    def share(self) -> bool:
        """Add this process's new hits to Redis and read every active window's total; False when idle."""
        assert self._redis is not None
        now = time.time()
        with self._lock:
            self._forget_old(now)
            added = {w: c.pending for w, c in self._counts.items()}
        if not added:
            return False
        try:
            pipe = self._redis.pipeline(transaction=False)
            for window, n in added.items():
                name = self._name(window)
                pipe.incrby(name, n)
                if n:
                    pipe.expire(name, 2 * self.limits[window[1]].get_expiry() + 1)
            results = iter(pipe.execute())
            totals = {}
            for window, n in added.items():
                totals[window] = int(next(results))
                if n:
                    next(results)
        except redis.RedisError as exc:
            self._redis_failed(exc)
            return True
        with self._lock:
            for window, total in totals.items():
                count = self._counts.setdefault(window, _Count())
                count.shared, count.pending = total, max(0, count.pending - added[window])
        return any(added.values())

    def _forget_old(self, now: float) -> None:
        """Drop windows that can no longer weigh in (older than the previous one); called under the lock."""
        for window in [w for w in self._counts if w[2] < int(now // self.limits[w[1]].get_expiry()) - 1]:
            del self._counts[window]

    def _redis_failed(self, exc: Exception) -> None:
        if time.time() >= self._redis_down_until:
            log.warning("shared request limits: Redis unavailable (%s); counting in this process", exc)
        self._redis_down_until = time.time() + RETRY_REDIS_S
