"""Embedded mode: a Celery worker and a sweep timer as threads in this process (memory:// broker).

The memory transport is Celery's own in-process broker: the same tasks, messages, acks and retries as
production, without Redis. It forgets messages on exit, which is why every state lives in the database
and the sweep re-enqueues whatever an earlier run left unfinished.
"""

from __future__ import annotations

import logging
import threading
import time

from celery import Celery

from service.infra.celery_app import QUEUE

log = logging.getLogger(__name__)

# Beat entries cheap and local enough to run in the embedded worker: the similar-ticket index's top-up and the
# clustering of new intents.
EMBEDDED_BEAT = ("similar", "find-intents")


class EmbeddedWorker:
    def __init__(self, celery: Celery, *, concurrency: int, sweep_interval_s: float) -> None:
        self.celery = celery
        self.sweep_interval_s = sweep_interval_s
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._worker = celery.WorkController(
            app=celery,
            pool_cls="threads",
            concurrency=concurrency,
            loglevel="WARNING",
            queues=[QUEUE],
            without_heartbeat=True,
            without_mingle=True,
            without_gossip=True,
            ready_callback=lambda *_: self._ready.set(),
        )
        self._threads: list[threading.Thread] = []

    def start(self, timeout: float = 30.0) -> None:
        worker_thread = threading.Thread(target=self._worker.start, name="triage-worker", daemon=True)
        sweep_thread = threading.Thread(target=self._sweep_loop, name="triage-sweep", daemon=True)
        self._threads = [worker_thread, sweep_thread]
        worker_thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("embedded worker did not start")
        sweep_thread.start()

    def _sweep_loop(self) -> None:
        # The first sweep runs at once: it recovers what a previous run acknowledged but did not finish.
        last_run: dict[str, float] = {}
        while not self._stop.is_set():
            try:
                self.celery.tasks["triage.sweep"].apply_async()
            except Exception:
                log.exception("sweep failed")
            self._beat(last_run)
            self._stop.wait(self.sweep_interval_s)

    def _beat(self, last_run: dict[str, float]) -> None:
        """Run the beat entries that embedded mode runs itself when they are due (there is no celery beat)."""
        for name in EMBEDDED_BEAT:
            entry = self.celery.conf.beat_schedule.get(name)
            now = time.monotonic()
            if entry is None or now - last_run.get(name, -1e18) < float(entry["schedule"]):
                continue
            last_run[name] = now
            try:
                self.celery.tasks[entry["task"]].apply_async()
            except Exception:
                log.exception("%s failed", entry["task"])

    def stop(self) -> None:
        self._stop.set()
        self._worker.stop(in_sighandler=False)
