"""Triage: the deployable web app and worker. create_app() is the composition root."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from flask import Flask

from service.core.settings import Settings


def create_app(
    settings: Settings | None = None, *, environ: Mapping[str, str] | None = None, ops_only: bool = False
) -> Flask:
    """Build the app: settings -> database -> runtime -> celery -> blueprints. Nothing happens at import time.

    ops_only builds the ops app (service.wsgi_ops): /healthz, /readyz and /metrics without a token, for an
    address of its own that only the scraper and the probes reach.
    """
    from service.infra import logs
    from service.infra.batching import Batcher, GroupCommit
    from service.infra.celery_app import make_celery
    from service.infra.db import Database
    from service.intake.flow import store_new_tickets
    from service.intake.queries import NewTicket
    from service.ops import intake_stats, metrics
    from service.runtime import EXTENSION, Runtime
    from service.web import api, errors, fast_intake, headers, intake_counts, ops, review, throttle, webhooks
    from service.worker import tasks  # registers the Celery tasks

    environ = os.environ if environ is None else environ
    settings = settings or Settings.from_env(environ)
    logging.getLogger("service").setLevel(settings.log_level.upper())
    logs.register_secrets(settings, environ)

    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=settings.max_body_bytes, JSON_SORT_KEYS=False)
    db = Database(settings.database_url)
    runtime = Runtime(settings=settings, db=db, environ=environ)
    runtime.check()
    app.extensions[EXTENSION] = runtime
    runtime.celery = make_celery(app, settings)
    # New tickets from all request threads share one transaction, and their ids share one message. Waiting for
    # company trades latency for CPU: at 500 webhooks a second, 10 ms instead of 2 ms cut web CPU per webhook
    # from 1.08 to 0.81 ms (p95 9 -> 16 ms); bench/load.py --configs granian,granian-linger2.
    group: GroupCommit[NewTicket, tuple[int, int] | None] = GroupCommit(
        lambda rows: store_new_tickets(db, rows), max_batch=64, linger_s=settings.intake_linger_ms / 1000
    )
    runtime.store_new = group.submit
    process = runtime.celery.tasks["triage.process_tickets"]
    # Ids committed within 20 ms go in one message: a worker classifies them in one batch anyway.
    dispatch: Batcher[int] = Batcher(
        lambda ids: tasks.enqueue(process, ids), max_batch=settings.batch_size, linger_s=0.02
    )
    runtime.dispatch = dispatch.submit
    intake = intake_stats.for_broker(settings.broker_url)
    runtime.metrics = metrics.registry(db, runtime, celery=runtime.celery, intake=intake)
    errors.register(app)
    headers.register(app, settings)
    ops.install(app, settings, ops_app=ops_only)
    if ops_only:
        app.register_blueprint(ops.bp)
        return app
    intake_counts.install(app, intake)
    limiter, intake_limiter = throttle.install(app, settings)
    for blueprint in (webhooks.bp, api.bp, ops.bp):
        app.register_blueprint(blueprint)
    review.register(app, settings, token_authenticated=(webhooks.bp, api.bp))
    throttle.limit_sign_in(app, limiter, settings)
    fast_intake.install(app, settings, limiter=intake_limiter, stats=intake)
    return app
