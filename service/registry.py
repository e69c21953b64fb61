"""Lazy lookup of helpdesk integrations by name: the one place that names vendors."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Collection, Mapping
from typing import Any

# name -> "module:factory"; a factory takes (environ, queues=, priorities=) and returns an adapter that is
# a Helpdesk and, for platforms that send webhooks, a WebhookSource.
INTEGRATIONS: dict[str, str] = {
    "fake": "integrations.fake.adapter:from_env",
    "zendesk": "integrations.zendesk.adapter:from_env",
    "jira": "integrations.jira.adapter:from_env",
    "llm": "integrations.llm.adapter:from_env",
}


class IntegrationRegistry:
    """Builds each adapter once per process; enabled ones are built (and validated) at start."""

    def __init__(self, environ: Mapping[str, str], *, queues: Collection[str], priorities: Collection[str],
                 enabled: Collection[str]) -> None:
        unknown = sorted(set(enabled) - set(INTEGRATIONS))
        if unknown:
            raise LookupError(f"unknown integration(s) {unknown} in TRIAGE_INTEGRATIONS; known: "
                              f"{sorted(set(INTEGRATIONS) - {'fake'})}")
        self._environ = environ
        self._queues = queues
        self._priorities = priorities
        self.enabled = tuple(enabled)
        self._built: dict[str, Any] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> Any:
        with self._lock:
            if name not in self._built:
                if name not in INTEGRATIONS:
                    raise LookupError(f"unknown helpdesk {name!r}; known: {sorted(INTEGRATIONS)}")
                module_name, factory = INTEGRATIONS[name].split(":")
                module = importlib.import_module(module_name)
                self._built[name] = getattr(module, factory)(self._environ, queues=self._queues,
                                                             priorities=self._priorities)
            return self._built[name]

    def start(self) -> None:
        """Build every enabled integration now, so a missing setting or mapping stops the process at once."""
        for name in self.enabled:
            self.get(name)
