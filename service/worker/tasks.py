"""Celery tasks: thin, named, take ids, safe to run twice."""

from __future__ import annotations

import logging

from celery import Task, shared_task

from service.core.ports import IntegrationError
from service.decide import flow as decide_flow
from service.decide import similar as decide_similar
from service.drafts import flow as drafts_flow
from service.retrain import flow as retrain_flow
from service.review import intents as review_intents
from service.runtime import Runtime, runtime
from service.worker import sweep as worker_sweep
from service.writeback import flow as writeback_flow

log = logging.getLogger(__name__)


@shared_task(name="triage.process_tickets", acks_late=True, bind=True)
def process_tickets(self: Task, ticket_ids: list[int]) -> None:
    rt = runtime()
    try:
        with rt.db.session() as session:
            writeback_ids = decide_flow.process_tickets(rt, session, ticket_ids, batch_size=rt.settings.batch_size)
            deferred = decide_flow.deferred_tickets(session, ticket_ids)
    except IntegrationError as exc:
        if exc.permanent:
            return  # recorded on the ticket as failed; retrying cannot help
        raise self.retry(
            countdown=exc.retry_after or backoff(rt, self.request.retries), max_retries=decide_flow.MAX_PROCESS_ATTEMPTS
        ) from None
    except Exception as exc:
        # The flow left the tickets claimable with the error recorded; the sweep is the last resort.
        raise self.retry(
            exc=exc, countdown=backoff(rt, self.request.retries), max_retries=decide_flow.MAX_PROCESS_ATTEMPTS
        ) from None
    # A ticket whose fetch met a 429 or an outage is tried again when it may be (the sweep would, later).
    for ticket_id, wait in deferred:
        enqueue(process_tickets, [ticket_id], countdown=wait)
    # Drafting comes first, so the decision's internal note can carry the draft; it is bounded in time.
    next_task = draft_reply if rt.templates is not None else deliver_writeback
    for writeback_id in writeback_ids:
        enqueue(next_task, writeback_id)


@shared_task(name="triage.draft_reply", acks_late=True)
def draft_reply(writeback_id: int) -> None:
    rt = runtime()
    try:
        with rt.db.session() as session:
            drafts_flow.draft_reply(rt, session, writeback_id)
    except Exception:
        # A draft is a convenience: never let it hold up the decision's write-back.
        log.exception(
            "drafting failed for write-back %s; delivering without a draft",
            writeback_id,
            extra={"task": "triage.draft_reply", "writeback_id": writeback_id, "stage": "draft"},
        )
    enqueue(deliver_writeback, writeback_id)


def backoff(rt: Runtime, retries: int) -> float:
    return min(rt.settings.writeback_backoff_s * 2**retries, writeback_flow.MAX_BACKOFF_S)


@shared_task(name="triage.deliver_writeback", acks_late=True)
def deliver_writeback(writeback_id: int) -> None:
    rt = runtime()
    with rt.db.session() as session:
        delivery = writeback_flow.deliver_writeback(rt, session, writeback_id)
    if delivery.retry_in is not None:
        enqueue(deliver_writeback, writeback_id, countdown=delivery.retry_in)


@shared_task(name="triage.sweep", acks_late=True)
def sweep() -> None:
    rt = runtime()
    with rt.db.session() as session:
        tickets, writebacks = worker_sweep.stragglers(rt, session)
    for start in range(0, len(tickets), rt.settings.batch_size):
        enqueue(process_tickets, tickets[start : start + rt.settings.batch_size])
    for writeback_id in writebacks:
        enqueue(deliver_writeback, writeback_id)
    if tickets or writebacks:
        log.info(
            "sweep re-enqueued %d ticket(s) and %d write-back(s)",
            len(tickets),
            len(writebacks),
            extra={"task": "triage.sweep", "ticket_ids": tickets[:100], "writeback_ids": writebacks[:100]},
        )


@shared_task(name="triage.retrain", acks_late=False)
def retrain() -> None:
    """Celery beat's scheduled retraining; not acks_late, so a crash is not redelivered into a second run."""
    rt = runtime()
    with rt.db.session() as session:
        result = retrain_flow.retrain(rt, session)
    priority = result.pop("priority", None)
    log.info(
        "scheduled retraining: %s", {k: v for k, v in result.items() if k != "gate"}, extra={"task": "triage.retrain"}
    )
    if isinstance(priority, dict):
        shown = {k: v for k, v in priority.items() if k != "gate"}
        log.info("scheduled retraining of the priority model: %s", shown, extra={"task": "triage.retrain"})


@shared_task(name="triage.find_intents", acks_late=False)
def find_intents() -> None:
    """Celery beat's scheduled clustering of unsure tickets into candidate new intents."""
    rt = runtime()
    with rt.db.session() as session:
        review_intents.find_intents(rt, session)  # it logs what it found


@shared_task(name="triage.similar_index", acks_late=False)
def similar_index() -> None:
    """Celery beat's top-up of the similar-ticket index with the tickets decided since the last one."""
    rt = runtime()
    with rt.db.session() as session:
        report = decide_similar.refresh_index(rt, session)
    log.info("similar-ticket index: %s", report, extra={"task": "triage.similar_index"})


def enqueue(task: Task, item: int | list[int], *, countdown: float | None = None) -> bool:
    """Publish a task for a row id or ids; on a broker failure log it and leave the rows for the sweep."""
    try:
        task.apply_async((item,), countdown=countdown)
        return True
    except Exception as exc:  # kombu raises many types for an unreachable broker
        log.warning(
            "could not enqueue %s(%s): %s; the sweep will pick it up",
            task.name,
            item,
            type(exc).__name__,
            extra={"task": task.name, "item_id": item, "error": type(exc).__name__},
        )
        return False
