"""The background batcher that takes publishing off the intake request path."""

from __future__ import annotations

import threading
import time

import pytest

from service.infra.batching import Batcher, GroupCommit


class Sink:
    def __init__(self, fail_first: int = 0) -> None:
        self.batches: list[list[int]] = []
        self.fail_first = fail_first
        self.lock = threading.Lock()

    def __call__(self, batch: list[int]) -> None:
        with self.lock:
            if self.fail_first:
                self.fail_first -= 1
                raise ConnectionError("broker down")
            self.batches.append(batch)

    def items(self) -> list[int]:
        with self.lock:
            return [i for b in self.batches for i in b]


def wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_items_from_many_threads_are_published_once_each_in_bounded_batches():
    sink = Sink()
    batcher = Batcher(sink, max_batch=16, linger_s=0.02)
    threads = [
        threading.Thread(target=lambda k=k: [batcher.submit(k * 1000 + i) for i in range(250)]) for k in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wait_for(lambda: len(sink.items()) == 2000)
    assert sorted(sink.items()) == sorted(k * 1000 + i for k in range(8) for i in range(250))
    assert max(len(b) for b in sink.batches) <= 16
    assert len(sink.batches) < 2000 / 4  # batched, not one call per item


def test_a_lone_item_waits_for_the_linger_not_the_idle_timeout():
    sink = Sink()
    batcher = Batcher(sink, max_batch=16, linger_s=0.05, idle_s=30)
    for item in (1, 2):  # the second finds the thread waiting for work, not starting
        started = time.monotonic()
        batcher.submit(item)
        wait_for(lambda item=item: sink.items()[-1:] == [item])
        assert time.monotonic() - started < 5.0


def test_flush_publishes_what_waits_in_the_calling_thread():
    sink = Sink()
    batcher = Batcher(sink, max_batch=100, linger_s=10)
    for i in range(5):
        batcher.submit(i)
    batcher.flush()
    assert sink.items() == [0, 1, 2, 3, 4]


def test_the_thread_ends_when_idle_and_starts_again_on_the_next_item():
    sink = Sink()
    batcher = Batcher(sink, max_batch=4, linger_s=0.01, idle_s=0.05)
    batcher.submit(1)
    wait_for(lambda: sink.items() == [1])
    wait_for(lambda: batcher._thread is None)
    batcher.submit(2)
    wait_for(lambda: sink.items() == [1, 2])


def test_a_failing_publish_does_not_stop_later_batches():
    sink = Sink(fail_first=1)
    batcher = Batcher(sink, max_batch=4, linger_s=0.01)
    batcher.submit(1)
    time.sleep(0.1)
    batcher.submit(2)
    wait_for(lambda: sink.items() == [2])


def test_group_commit_returns_each_caller_its_own_result_or_error():
    batches = []

    def write(rows: list[int]) -> list[object]:
        batches.append(list(rows))
        return [ValueError(f"row {r} refused") if r % 10 == 3 else r * 2 for r in rows]

    commit = GroupCommit(write, max_batch=8, linger_s=0.002, timeout_s=30)
    results: dict[int, object] = {}

    def caller(k: int) -> None:
        for r in range(k * 100, k * 100 + 25):
            try:
                results[r] = commit.submit(r)
            except ValueError as exc:
                results[r] = str(exc)

    threads = [threading.Thread(target=caller, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {
        r: (f"row {r} refused" if r % 10 == 3 else r * 2) for k in range(6) for r in range(k * 100, k * 100 + 25)
    }
    assert max(len(b) for b in batches) <= 8 and len(batches) < 150  # shared, not one write per row


def test_group_commit_hands_a_failed_batch_error_to_every_caller_in_it():
    def write(rows: list[int]) -> list[int]:
        raise ConnectionError("database down")

    commit = GroupCommit(write, max_batch=8, linger_s=0.0)
    with pytest.raises(ConnectionError, match="database down"):
        commit.submit(1)
