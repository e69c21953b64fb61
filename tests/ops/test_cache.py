"""Cached: one computation per interval; while one thread refreshes, the others keep the last answer."""

import threading
import time

from service.ops.cache import Cached


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_value_is_reused_for_its_interval_then_computed_again():
    clock, calls = Clock(), []
    cached = Cached(lambda: calls.append(1) or len(calls), 15.0, clock=clock)
    assert [cached.get() for _ in range(3)] == [1, 1, 1]
    clock.now = 15.0
    assert cached.get() == 2 and cached.computed == 2


def test_concurrent_first_callers_wait_for_one_computation():
    started = threading.Event()

    def slow() -> str:
        started.set()
        time.sleep(0.2)
        return "answer"

    cached = Cached(slow, 60.0)
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(cached.get())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["answer"] * 8 and cached.computed == 1


def test_while_one_thread_refreshes_the_others_get_the_last_answer_at_once():
    clock = Clock()
    release = threading.Event()
    values = iter(["first", "second"])

    def compute() -> str:
        value = next(values)
        if value == "second":
            release.wait(5)
        return value

    cached = Cached(compute, 1.0, clock=clock)
    assert cached.get() == "first"
    clock.now = 2.0
    refresher = threading.Thread(target=cached.get)
    refresher.start()
    time.sleep(0.05)
    started = time.monotonic()
    assert cached.get() == "first"  # not queued behind the refresh
    assert time.monotonic() - started < 0.5
    release.set()
    refresher.join()
    assert cached.get() == "second"


def test_a_failed_computation_is_not_cached():
    calls = []

    def flaky() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database away")
        return 42

    cached = Cached(flaky, 60.0)
    try:
        cached.get()
    except RuntimeError:
        pass
    assert cached.get() == 42
