"""`triage serve` and `triage worker`: the web app with its embedded worker, or a Celery worker."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from typing import Any

import click
from flask import Flask
from werkzeug.serving import make_server

from service import create_app
from service.cli.common import settings_from_env
from service.core.settings import Settings
from service.worker.embedded import EmbeddedWorker

log = logging.getLogger(__name__)


class Server:
    """The WSGI app on a loopback port, in a thread."""

    def __init__(self, app: Any, host: str, port: int) -> None:
        self._server = make_server(host, port, app, threaded=True)
        self.url = f"http://{host}:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> Server:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
def serve(host: str, port: int) -> None:
    """Serve the web app (and, in embedded mode, a worker thread) until interrupted."""
    from service.infra.migrate import upgrade

    settings = settings_from_env()
    if settings.database_url.startswith("sqlite"):
        upgrade(settings.database_url)
    app = create_app(settings)
    worker = start_embedded(app, settings) if settings.embedded else None
    server = Server(app, host, port).start()
    # A log line, not a print: a log collector reading this service's output sees only JSON (or only text).
    log.info(
        "Triage serving on %s%s",
        server.url,
        " (embedded worker)" if worker else "",
        extra={"url": server.url, "embedded_worker": worker is not None},
    )
    block(server, worker)


def start_embedded(app: Flask, settings: Settings) -> EmbeddedWorker:
    worker = EmbeddedWorker(
        app.extensions["celery"], concurrency=settings.worker_concurrency, sweep_interval_s=settings.sweep_interval_s
    )
    worker.start()
    return worker


def block(server: Server, worker: EmbeddedWorker | None) -> None:
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        log.info("stopping")
    finally:
        server.stop()
        if worker:
            worker.stop()


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def worker(ctx: click.Context) -> None:
    """Run a Celery worker (extra arguments go to `celery worker`, e.g. --concurrency 4)."""
    settings = settings_from_env()
    if settings.embedded:
        raise click.ClickException(
            "TRIAGE_BROKER_URL is memory://, which lives inside one process: "
            "`triage serve` runs the worker itself. Set a redis:// broker for "
            "separate workers."
        )
    app = create_app(settings)
    celery = app.extensions["celery"]
    celery.worker_main(["worker", "--loglevel=INFO", "-Q", "triage", *ctx.args])


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []})
@click.pass_context
def demo(ctx: click.Context) -> None:
    """The main job: set up, train if needed, serve, stream Banking77 tickets, print a summary."""
    # A subprocess keeps the service package free of the demo's and the trainers' imports.
    raise SystemExit(subprocess.call([sys.executable, "-m", "training.demo", *ctx.args]))
