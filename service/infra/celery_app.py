"""Celery bound to the Flask app, configured from Settings (Flask's documented pattern)."""

from __future__ import annotations

from celery import Celery, Task
from flask import Flask

from service.core.settings import Settings

QUEUE = "triage"


def make_celery(app: Flask, settings: Settings) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args: object, **kwargs: object) -> object:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery = Celery(app.name, task_cls=FlaskTask)
    celery.conf.update(
        broker_url=settings.broker_url,
        task_ignore_result=True,
        task_default_queue=QUEUE,
        # A task is acknowledged only after it ran, and requeued if its worker dies mid-way.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=4,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=3,
        # Intake must not hang when Redis is down: the sweep re-enqueues whatever was stored.
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5},
        broker_transport_options=_transport_options(settings),
        beat_schedule={
            "sweep-stragglers": {"task": "triage.sweep", "schedule": float(settings.sweep_interval_s)},
            **(
                {"retrain": {"task": "triage.retrain", "schedule": float(settings.retrain_interval_s)}}
                if settings.retrain_interval_s > 0
                else {}
            ),
            **(
                {"similar": {"task": "triage.similar_index", "schedule": float(settings.similar_index_interval_s)}}
                if settings.similar_tickets and settings.similar_index_interval_s > 0
                else {}
            ),
            **(
                {"find-intents": {"task": "triage.find_intents", "schedule": float(settings.intents_interval_s)}}
                if settings.intents_interval_s > 0
                else {}
            ),
        },
        worker_hijack_root_logger=False,
    )
    celery.set_default()
    app.extensions["celery"] = celery
    return celery


def _transport_options(settings: Settings) -> dict[str, float]:
    if settings.embedded:
        # The memory transport sleeps this long whenever the prefetch window is full; the default 1 s
        # would cap the embedded worker at a few tickets a second.
        return {"polling_interval": 0.01}
    # Redis redelivers unacknowledged tasks after this; the claim lease makes redelivery harmless.
    return {"visibility_timeout": max(3600, settings.claim_lease_s * 2)}
