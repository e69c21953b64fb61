"""Lazy lookup of helpdesk adapters by name: the one place that names vendors."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Mapping

from service.ports import Helpdesk

# name -> "module:factory"; each factory takes the environment mapping and returns a Helpdesk.
HELPDESKS: dict[str, str] = {
    "fake": "integrations.fake.adapter:from_env",
}


class HelpdeskRegistry:
    """Builds each adapter on first use and keeps it for the life of the process."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self._built: dict[str, Helpdesk] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> Helpdesk:
        with self._lock:
            if name not in self._built:
                if name not in HELPDESKS:
                    raise LookupError(f"unknown helpdesk {name!r}; known: {sorted(HELPDESKS)}")
                module_name, factory = HELPDESKS[name].split(":")
                module = importlib.import_module(module_name)
                self._built[name] = getattr(module, factory)(self._environ)
            return self._built[name]
