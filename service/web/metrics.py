"""Prometheus metrics: per-process counters for intake, and database-wide gauges read at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from service import flows, store
from service.db import Database
from service.models import DecisionRow, Ticket, WritebackRow
from service.runtime import Runtime

REGISTRY = CollectorRegistry()
INTAKE = Counter("triage_intake_total", "Deliveries answered, by source and outcome",
                 ["source", "outcome"], registry=REGISTRY)
INTAKE_SECONDS = Histogram("triage_intake_seconds", "Time to verify, store and enqueue one delivery",
                           ["source"], registry=REGISTRY,
                           buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0))


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
                for value, count in store.count_by(session=session, column=column).items():
                    family.add_metric([value], count)
                yield family
            stats = store.llm_stats(session=session)
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
                yield GaugeMetricFamily("triage_llm_accuracy_on_reviewed", "LLM labels agents confirmed",
                                        value=float(stats["llm_accuracy_on_reviewed"]))
            if self.runtime is not None:
                yield from self._drift(session)

    def _drift(self, session) -> Iterator[Metric]:  # type: ignore[no-untyped-def]
        """PSI of the model in service's live labels and confidences vs its training data; unknown = absent."""
        report = flows.drift(self.runtime, session)  # type: ignore[arg-type]
        if report is None:
            return
        family = GaugeMetricFamily("triage_drift_psi", "Population stability index of live traffic vs the "
                                   "training data of the model in service", labels=["kind"])
        for kind, value in (("label", report.label_psi), ("confidence", report.confidence_psi)):
            if value is not None:
                family.add_metric([kind], value)
        yield family
        yield GaugeMetricFamily("triage_drift_window_predictions", "Live predictions the drift PSI is computed on",
                                value=report.window_n)
        yield GaugeMetricFamily("triage_drift_alarm", "1 when a drift PSI is above TRIAGE_DRIFT_PSI_THRESHOLD",
                                value=1.0 if report.drifting else 0.0)


def database_registry(db: Database, runtime: Runtime | None = None) -> CollectorRegistry:
    """A registry per app, so two apps in one process (tests) never clash over metric names."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(db, runtime))
    return registry
