"""Intake counts and latencies that every web process adds to: a Redis hash when Redis is the broker, else memory.

Prometheus scrapes one web process at a time; a counter kept in that process's memory would show its share
only. A Redis hash is shared by every web process on every host. Each process adds its counts to it in one
pipeline every half second, off the request path, and before it answers a scrape.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Protocol

import redis
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from service.infra.batching import Batcher

log = logging.getLogger(__name__)

LINGER_S = 0.5  # how long a process may hold its counts before adding them to Redis
BUCKETS_S = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
REDIS_KEY = "triage:metrics:intake"


class IntakeStats(Protocol):
    def record(self, *, source: str, status: int, outcome: str, seconds: float | None) -> None:
        """Count one answered delivery; seconds is its handling time when it was accepted."""

    def fields(self) -> dict[str, float]:
        """The raw counters, named as `_fields` names them."""


def _fields(source: str, status: int, outcome: str, seconds: float | None) -> dict[str, float]:
    """count|source|status|outcome, and for timed ones bucket|source|index (not cumulative) and sum|source."""
    out = {f"count|{source}|{status}|{outcome}": 1.0}
    if seconds is not None:
        index = next((i for i, bound in enumerate(BUCKETS_S) if seconds <= bound), len(BUCKETS_S))
        out[f"bucket|{source}|{index}"] = 1.0
        out[f"sum|{source}"] = seconds
    return out


class MemoryIntakeStats:
    """One process's counts: right in embedded mode, where this process is the whole service."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: Counter[str] = Counter()

    def record(self, *, source: str, status: int, outcome: str, seconds: float | None) -> None:
        with self._lock:
            self._values.update(_fields(source, status, outcome, seconds))

    def fields(self) -> dict[str, float]:
        with self._lock:
            return dict(self._values)


class RedisIntakeStats:
    def __init__(self, url: str) -> None:
        # Short timeouts: a Redis outage may cost counts, never an intake request's time.
        self._redis = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._batcher: Batcher[dict[str, float]] = Batcher(self._add, max_batch=100_000, linger_s=LINGER_S)

    def record(self, *, source: str, status: int, outcome: str, seconds: float | None) -> None:
        self._batcher.submit(_fields(source, status, outcome, seconds))

    def _add(self, batch: list[dict[str, float]]) -> None:
        totals: Counter[str] = Counter()
        for fields in batch:
            totals.update(fields)
        try:
            pipe = self._redis.pipeline(transaction=False)
            for name, value in totals.items():
                if name.startswith("sum|"):
                    pipe.hincrbyfloat(REDIS_KEY, name, value)
                else:
                    pipe.hincrby(REDIS_KEY, name, int(value))
            pipe.execute()
        except redis.RedisError as exc:
            log.warning("%d intake answer(s) not counted: Redis unavailable (%s)", len(batch), type(exc).__name__)

    def fields(self) -> dict[str, float]:
        self._batcher.flush()  # this process's latest counts; other processes' are at most linger_s behind
        raw: dict[bytes, bytes] = self._redis.hgetall(REDIS_KEY)  # type: ignore[assignment]  # redis-py types both sync and async answers
        return {k.decode(): float(v) for k, v in raw.items()}


def for_broker(broker_url: str) -> IntakeStats:
    if broker_url.startswith(("redis://", "rediss://")):
        return RedisIntakeStats(broker_url)
    return MemoryIntakeStats()


class IntakeCollector(Collector):
    """triage_intake_total{source,status,outcome} and triage_intake_seconds{source}, from the shared counts."""

    def __init__(self, stats: IntakeStats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        try:
            values = self.stats.fields()
        except redis.RedisError:
            return  # absent rather than zero: Prometheus then shows a gap, not a reset
        total = CounterMetricFamily(
            "triage_intake",
            "Intake requests answered, by source, HTTP status and outcome",
            labels=["source", "status", "outcome"],
        )
        buckets: dict[str, list[float]] = {}
        sums: dict[str, float] = {}
        for name, value in sorted(values.items()):
            kind, source, *rest = name.split("|")
            if kind == "count":
                total.add_metric([source, *rest], value)
            elif kind == "bucket":
                buckets.setdefault(source, [0.0] * (len(BUCKETS_S) + 1))[int(rest[0])] += value
            elif kind == "sum":
                sums[source] = value
        yield total
        latency = HistogramMetricFamily(
            "triage_intake_seconds", "Time to verify, store and enqueue one accepted delivery", labels=["source"]
        )
        for source, counts in sorted(buckets.items()):
            cumulative, running = [], 0.0
            for bound, count in zip([*map(str, BUCKETS_S), "+Inf"], counts, strict=True):
                running += count
                cumulative.append((bound, running))
            latency.add_metric([source], cumulative, sum_value=sums.get(source, 0.0))
        yield latency
