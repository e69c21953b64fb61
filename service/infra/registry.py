"""Lazy lookup of integrations by name, typed by the port each must implement; vendors are named in the catalog."""

from __future__ import annotations

import threading
from collections.abc import Collection, Mapping
from typing import Any

from integrations.catalog import CATALOG, adapter_factory, public_names
from service.core.ports import LLM, Helpdesk, IntegrationConfigError, WebhookSource


class IntegrationRegistry:
    """Builds each adapter once per process; enabled ones are built (and validated) at start."""

    def __init__(
        self,
        environ: Mapping[str, str],
        *,
        queues: Collection[str],
        priorities: Collection[str],
        enabled: Collection[str],
    ) -> None:
        unknown = sorted(set(enabled) - set(CATALOG))
        if unknown:
            raise LookupError(f"unknown integration(s) {unknown} in TRIAGE_INTEGRATIONS; known: {public_names()}")
        self._environ = environ
        self._queues = queues
        self._priorities = priorities
        self.enabled = tuple(enabled)
        self._built: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _get(self, name: str) -> Any:
        with self._lock:
            if name not in self._built:
                self._built[name] = adapter_factory(name)(
                    self._environ, queues=self._queues, priorities=self._priorities
                )
            return self._built[name]

    def helpdesk(self, name: str) -> Helpdesk:
        """The helpdesk that receives write-backs and answers fetches for tickets of `name`."""
        adapter = self._get(name)
        if not isinstance(adapter, Helpdesk):
            raise IntegrationConfigError(f"integration {name!r} is not a helpdesk")
        return adapter

    def webhook_source(self, name: str) -> WebhookSource | None:
        """The enabled integration `name` as a webhook sender, or None if it is not enabled or sends none."""
        if name not in self.enabled:
            return None
        adapter = self._get(name)
        return adapter if isinstance(adapter, WebhookSource) else None

    def llm(self, name: str) -> LLM:
        adapter = self._get(name)
        if not isinstance(adapter, LLM):
            raise IntegrationConfigError(f"integration {name!r} is not an LLM")
        return adapter

    def start(self) -> None:
        """Build every enabled integration now, so a missing setting or mapping stops the process at once."""
        for name in self.enabled:
            self._get(name)
