"""Sliding-window limits: in memory for one process, in Redis for every worker of a deployment."""

import time
import uuid

import pytest

from service.core.domain import RateLimit
from service.infra.ratelimit import MemoryRateLimiter, RedisRateLimiter, for_broker


def exercise(limiter):
    limit = RateLimit(f"test:{uuid.uuid4().hex}", 3, 0.5)
    assert [limiter.acquire(limit) for _ in range(3)] == [0, 0, 0]
    wait = limiter.acquire(limit)
    assert 0 < wait <= 0.5
    time.sleep(wait + 0.05)
    assert limiter.acquire(limit) == 0
    other = RateLimit(f"test:{uuid.uuid4().hex}", 1, 60)
    assert limiter.acquire(other) == 0  # keys do not share slots


def test_memory_limiter_admits_the_limit_then_says_how_long_to_wait():
    exercise(MemoryRateLimiter())


@pytest.mark.services
def test_redis_limiter_is_shared_between_limiter_instances(redis_url):
    exercise(RedisRateLimiter(redis_url))
    limit = RateLimit(f"test:{uuid.uuid4().hex}", 2, 60)
    a, b = RedisRateLimiter(redis_url), RedisRateLimiter(redis_url)
    assert (a.acquire(limit), b.acquire(limit)) == (0, 0)
    assert 59 <= a.acquire(limit) <= 60 and 59 <= b.acquire(limit) <= 60


def test_the_broker_decides_where_limits_live():
    assert isinstance(for_broker("memory://"), MemoryRateLimiter)
    assert isinstance(for_broker("redis://127.0.0.1:6379/0"), RedisRateLimiter)
