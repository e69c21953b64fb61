"""Prometheus metrics, all read at scrape time from what every process shares: database, broker, intake counts.

Several web server processes and Celery worker processes, on several hosts, do the work; counters kept in one
process's memory would show that process's share only. So stage latencies are stored with the tickets and
counted in the database, queue depth is asked of the broker, and intake counts live in Redis (intake_stats).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from celery import Celery
from kombu.exceptions import ChannelError
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session

from service.core.clock import aware, now_utc
from service.decide import queries as decide_queries
from service.escalate import queries as escalate_queries
from service.infra import queries as infra_queries
from service.infra.celery_app import QUEUE
from service.infra.db import Database
from service.infra.models import DecisionRow, PredictionRow, StageTiming, Ticket, WritebackRow
from service.ops.intake_stats import IntakeCollector, IntakeStats
from service.retrain import flow as retrain_flow
from service.runtime import Runtime

# Milliseconds: a baseline classification takes ~1 ms, an LLM call or a draft several seconds.
STAGE_BUCKETS_MS = (1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000)
CONFIDENCE_BUCKETS = tuple(round(i / 10, 1) for i in range(1, 11))


class DatabaseCollector(Collector):
    """State that spans processes (tickets, decisions, write-backs) comes from the database."""

    def __init__(self, db: Database, runtime: Runtime | None = None) -> None:
        self.db = db
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        with self.db.session() as session:
            for name, column, doc in (
                ("triage_tickets", Ticket.status, "Tickets by processing status"),
                ("triage_decisions", DecisionRow.status, "Decisions by routing status"),
                ("triage_writebacks", WritebackRow.status, "Write-backs by delivery status"),
                ("triage_queue_tickets", DecisionRow.queue, "Decided tickets per queue"),
            ):
                label = "queue" if name == "triage_queue_tickets" else "status"
                family = GaugeMetricFamily(name, doc, labels=[label])
                for value, count in infra_queries.count_by(session=session, column=column).items():
                    family.add_metric([value], count)
                yield family
            stats = escalate_queries.llm_stats(session=session)
            for name, key, doc in (
                ("triage_llm_calls", "llm_calls", "Calls made to the external LLM"),
                ("triage_llm_cost", "llm_cost", "Money spent on the external LLM (price units of TRIAGE_LLM_PRICE_*)"),
                ("triage_llm_tokens_in", "tokens_in", "Prompt tokens sent to the LLM"),
                ("triage_llm_tokens_out", "tokens_out", "Completion tokens received from the LLM"),
                ("triage_escalation_rate", "escalation_rate", "Share of decided tickets sent to the LLM"),
                ("triage_llm_cost_per_1000_tickets", "cost_per_1000_tickets", "LLM spend per 1,000 decided tickets"),
            ):
                yield GaugeMetricFamily(name, doc, value=float(stats[key] or 0))
            if stats["llm_accuracy_on_reviewed"] is not None:
                yield GaugeMetricFamily(
                    "triage_llm_accuracy_on_reviewed",
                    "LLM labels agents confirmed",
                    value=float(stats["llm_accuracy_on_reviewed"]),
                )
            yield from self._latency_and_confidence(session)
            oldest = decide_queries.oldest_waiting_ticket(session=session)
            age = 0.0 if oldest is None else (now_utc() - (aware(oldest) or oldest)).total_seconds()
            yield GaugeMetricFamily(
                "triage_backlog_oldest_seconds",
                "Age of the oldest ticket acknowledged but not yet decided (0 when none waits)",
                value=max(age, 0.0),
            )
            if self.runtime is not None:
                yield GaugeMetricFamily(
                    "triage_helpdesk_configured",
                    "1 when TRIAGE_HELPDESK names a helpdesk; 0: generic and API tickets are decided but not "
                    "written back (their write-backs are counted as not_sent)",
                    value=1.0 if self.runtime.settings.helpdesk else 0.0,
                )
                yield from self._drift(session)

    def _latency_and_confidence(self, session: Session) -> Iterator[Metric]:
        stages = HistogramMetricFamily(
            "triage_stage_seconds",
            "Time one pipeline stage took for one ticket (classify, route, escalate, draft, writeback)",
            labels=["stage"],
        )
        for stage, (cumulative, total_ms, count) in sorted(
            infra_queries.histogram(
                session=session, value=StageTiming.duration_ms, bounds=STAGE_BUCKETS_MS, group=StageTiming.stage
            ).items()
        ):
            stages.add_metric(
                [stage], _buckets([b / 1000 for b in STAGE_BUCKETS_MS], cumulative, count), sum_value=total_ms / 1000
            )
        yield stages
        confidence = HistogramMetricFamily(
            "triage_confidence", "Classifier confidence of the model in service's predictions"
        )
        found = infra_queries.histogram(
            session=session,
            value=PredictionRow.confidence,
            bounds=CONFIDENCE_BUCKETS,
            where=PredictionRow.role == "serving",
        ).get("")
        if found is not None:
            cumulative, total, count = found
            confidence.add_metric([], _buckets(CONFIDENCE_BUCKETS, cumulative, count), sum_value=total)
        yield confidence

    def _drift(self, session: Session) -> Iterator[Metric]:
        """PSI of the model in service's live labels and confidences vs its training data; unknown = absent."""
        report = retrain_flow.drift(self.runtime, session) if self.runtime is not None else None
        if report is None:
            return
        family = GaugeMetricFamily(
            "triage_drift_psi",
            "Population stability index of live traffic vs the training data of the model in service",
            labels=["kind"],
        )
        for kind, value in (("label", report.label_psi), ("confidence", report.confidence_psi)):
            if value is not None:
                family.add_metric([kind], value)
        yield family
        yield GaugeMetricFamily(
            "triage_drift_window_predictions", "Live predictions the drift PSI is computed on", value=report.window_n
        )
        yield GaugeMetricFamily(
            "triage_drift_alarm",
            "1 when a drift PSI is above TRIAGE_DRIFT_PSI_THRESHOLD",
            value=1.0 if report.drifting else 0.0,
        )


class BrokerCollector(Collector):
    """Messages waiting in the broker's queue, asked of the broker itself at each scrape."""

    def __init__(self, celery: Celery) -> None:
        self.celery = celery

    def collect(self) -> Iterator[Metric]:
        try:
            with self.celery.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, timeout=2)
                try:
                    depth = conn.default_channel.queue_declare(queue=QUEUE, passive=True).message_count
                except ChannelError:
                    depth = 0  # the queue does not exist until the first message is sent
        except Exception:  # broker unreachable: no sample rather than a false 0 (/readyz reports the outage)
            return
        family = GaugeMetricFamily(
            "triage_broker_queue_messages", "Tasks waiting in the broker queue", labels=["queue"]
        )
        family.add_metric([QUEUE], float(depth))
        yield family


def registry(
    db: Database, runtime: Runtime | None = None, *, celery: Celery | None = None, intake: IntakeStats | None = None
) -> CollectorRegistry:
    """A registry per app, so two apps in one process (tests) never clash over metric names."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(db, runtime))
    if intake is not None:
        registry.register(IntakeCollector(intake))
    if celery is not None:
        registry.register(BrokerCollector(celery))
    return registry


def _buckets(bounds: Sequence[float], cumulative: list[int], count: int) -> list[tuple[str, float]]:
    return [*((repr(float(b)), float(c)) for b, c in zip(bounds, cumulative, strict=True)), ("+Inf", float(count))]
