"""Sliding-window limits counted per process and shared through the real Redis within a stated delay."""

import time
import uuid

import pytest
import redis

from service.infra.window_limits import WindowLimiter

pytestmark = pytest.mark.services


def key() -> str:
    return f"sender-{uuid.uuid4().hex}"  # Redis keeps counts between tests: a key of our own


def test_a_limit_holds_in_one_process_without_redis_and_names_the_limit_and_the_wait():
    limiter = WindowLimiter.parse("3/minute")
    k, now = key(), 600.0  # the start of a window: the previous one is empty
    assert [limiter.hit(k, now) for _ in range(3)] == [None, None, None]
    breach = limiter.hit(k, now + 10)
    assert breach is not None and str(breach.limit) == "3 per 1 minute" and breach.retry_after_s == 50
    assert limiter.hit(key(), now + 10) is None  # another sender has its own budget


def test_the_previous_window_weighs_in_so_a_window_edge_gives_no_double_burst():
    limiter = WindowLimiter.parse("10/minute")
    k = key()
    assert all(limiter.hit(k, 659.0) is None for _ in range(10))  # the end of one window
    # 15 s into the next one, three quarters of the last window still count: 7.5 + hits must stay <= 10.
    assert [limiter.hit(k, 675.0) is None for _ in range(3)] == [True, True, False]
    # Two windows on, nothing weighs in any more: the whole budget is back.
    assert all(limiter.hit(k, 790.0) is None for _ in range(10))


def test_every_limit_of_a_list_applies():
    limiter = WindowLimiter.parse("2/second;3/minute")
    k = key()
    assert [limiter.hit(k, 60.0) is None for _ in range(3)] == [True, True, False]  # 2 per second
    assert [limiter.hit(k, 61.5) is None for _ in range(2)] == [True, False]  # then 3 per minute
    assert str(limiter.hit(k, 62.5).limit) == "3 per 1 minute"


def test_processes_share_counts_within_the_stated_delay(redis_url):
    first, second = (WindowLimiter.parse("5/minute", redis_url=redis_url, flush_s=0.05) for _ in range(2))
    k = key()
    assert all(first.hit(k) is None for _ in range(3))
    time.sleep(0.2)  # the first process has added its 3; the second reads them when it first sees the key
    assert [second.hit(k) is None for _ in range(3)] == [True, True, False]
    time.sleep(0.2)  # and the first learns of the second's within the delay too, without a hit of its own
    assert first.hit(k) is not None
    total = redis.Redis.from_url(redis_url).get(first._name((k, 0, int(time.time() // 60))))
    assert int(total) == 5


def test_with_redis_down_each_process_counts_on_its_own_and_says_so(caplog):
    limiter = WindowLimiter.parse("2/minute", redis_url="redis://127.0.0.1:1/0", flush_s=0.05)
    k = key()
    started = time.perf_counter()
    assert [limiter.hit(k) is None for _ in range(3)] == [True, True, False]
    assert time.perf_counter() - started < 2  # one failed connection, then local counting without retries
    assert "Redis unavailable" in caplog.text
