"""The background batcher that takes publishing off the intake request path."""

from __future__ import annotations

import threading
import time

from service.batching import Batcher


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
    threads = [threading.Thread(target=lambda k=k: [batcher.submit(k * 1000 + i) for i in range(250)])
               for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wait_for(lambda: len(sink.items()) == 2000)
    assert sorted(sink.items()) == sorted(k * 1000 + i for k in range(8) for i in range(250))
    assert max(len(b) for b in sink.batches) <= 16
    assert len(sink.batches) < 2000 / 4  # batched, not one call per item


def test_a_lone_item_waits_no_longer_than_the_linger():
    sink = Sink()
    batcher = Batcher(sink, max_batch=16, linger_s=0.05)
    started = time.monotonic()
    batcher.submit(1)
    wait_for(lambda: sink.items() == [1])
    assert time.monotonic() - started < 1.0


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
