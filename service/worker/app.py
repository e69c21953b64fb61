"""Worker entry point for `celery -A service.worker.app worker` and `celery -A service.worker.app beat`."""

import logging
import time

from celery.signals import worker_init, worker_process_init

from service import create_app
from service.core.settings import Settings
from service.infra import logs
from service.runtime import EXTENSION

log = logging.getLogger(__name__)

settings = Settings.from_env()
# Before the app is built, so that even its start-up warnings are lines in the configured format.
logs.configure(settings, service=True)
logs.hand_celery_our_logging()
app = create_app(settings)
celery = app.extensions["celery"]


# Loading takes seconds (3-10 s measured on 2 busy cores): done lazily, it held the first batch's claims for as
# long, so a restarted worker recovered that much later (bench/faults.py worker_kill).
@worker_process_init.connect
def load_model(**_: object) -> None:
    """Load the model as each pool process starts, not inside its first ticket's claim."""
    started = time.perf_counter()
    try:
        model = app.extensions[EXTENSION].models.get()
    except Exception as exc:  # only logged: the first ticket tries again and records the reason
        log.warning("no model loaded at start (%s); the first ticket will try again", exc)
        return
    log.info("model %s@%s loaded in %.1f s", model.name, model.version, time.perf_counter() - started)


# lingua's models (~300 MB with the default languages) are plain memory that detection only reads: loaded once
# here, before the pool forks, its processes share them instead of each loading its own (measured: 6 MB private
# per process after the fork, against ~290 MB loaded in each).
@worker_init.connect
def load_language_models(**_: object) -> None:
    """Load the language detector's models in the main worker process, before its pool forks."""
    found = app.extensions[EXTENSION].language
    if found is None:
        return
    started = time.perf_counter()
    found.warm()
    log.info("language models for %s loaded in %.1f s", ",".join(found.languages), time.perf_counter() - started)
