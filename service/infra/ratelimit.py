"""Sliding-window rate limits shared by all workers (Redis), or by the threads of one process (memory)."""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from typing import Protocol

import redis

from service.core.domain import RateLimit

# KEYS[1] = window key; ARGV = now, window, limit, member. Returns 0 when admitted, else ms to wait.
_SLIDING_WINDOW = """
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window))
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, math.ceil(tonumber(oldest[2]) + window - now))
"""


class RateLimiter(Protocol):
    def acquire(self, limit: RateLimit) -> float:
        """Take one slot now and return 0, or return the seconds to wait before one frees up."""


class MemoryRateLimiter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hits: dict[str, deque[float]] = {}

    def acquire(self, limit: RateLimit) -> float:
        now = time.monotonic()
        with self._lock:
            hits = self._hits.setdefault(limit.key, deque())
            while hits and hits[0] <= now - limit.window_s:
                hits.popleft()
            if len(hits) < limit.limit:
                hits.append(now)
                return 0.0
            return hits[0] + limit.window_s - now


class RedisRateLimiter:
    def __init__(self, url: str) -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._script = self._redis.register_script(_SLIDING_WINDOW)

    def acquire(self, limit: RateLimit) -> float:
        now_ms = time.time() * 1000
        wait_ms = self._script(
            keys=[f"triage:ratelimit:{limit.key}"],
            args=[now_ms, limit.window_s * 1000, limit.limit, f"{now_ms}-{uuid.uuid4().hex}"],
        )
        return float(wait_ms) / 1000


def for_broker(broker_url: str) -> RateLimiter:
    """Share limits through Redis when the workers do; otherwise they all live in this process."""
    if broker_url.startswith(("redis://", "rediss://")):
        return RedisRateLimiter(broker_url)
    return MemoryRateLimiter()
