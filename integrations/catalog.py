"""Every integration by name, and what each provides: the one place that names vendors.

A new helpdesk is a copy of integrations/fake/ and one entry here.
"""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.core.domain import LabelledExample

ExportReader = Callable[..., tuple[list[LabelledExample], Counter[str]]]


@dataclass(frozen=True)
class Entry:
    """Where an integration's parts live, as "module:attribute"; None for a part it does not have."""

    adapter: str
    export: str | None = None
    openapi: str | None = None
    # An example of the field to label by, for help texts (`--label-field`).
    label_example: str = ""
    # False for integrations that only tests and the demo may use.
    public: bool = True
    # Ticket metadata the model reads beside the text; the export reader gives the same values as context.
    model_fields: tuple[str, ...] = ()


CATALOG: dict[str, Entry] = {
    "fake": Entry("integrations.fake.adapter:from_env", public=False),
    "zendesk": Entry(
        "integrations.zendesk.adapter:from_env",
        export="integrations.zendesk.export:read_export",
        openapi="integrations.zendesk.openapi:OPERATION",
        label_example="group_id",
    ),
    "jira": Entry(
        "integrations.jira.adapter:from_env",
        export="integrations.jira.export:read_export",
        openapi="integrations.jira.openapi:OPERATION",
        label_example="component",
        # Components belong to projects: with the project key the Apache set gains 10 points (BENCHMARKS.md);
        # the issue type says much of a priority (an Apache Bug is six times as often a Blocker as an Improvement).
        model_fields=("project", "issuetype"),
    ),
    "llm": Entry("integrations.llm.adapter:from_env"),
}


def _load(target: str) -> Any:
    module, attribute = target.split(":")
    return getattr(importlib.import_module(module), attribute)


def adapter_factory(name: str) -> Callable[..., Any]:
    """The factory that builds `name`'s adapter from the environment; LookupError for an unknown name."""
    if name not in CATALOG:
        raise LookupError(f"unknown integration {name!r}; known: {public_names()}")
    return _load(CATALOG[name].adapter)


def model_fields(source: str) -> tuple[str, ...]:
    """The metadata keys of a webhook source's tickets that its models read (none for an unknown source)."""
    entry = CATALOG.get(source)
    return entry.model_fields if entry else ()


def public_names() -> list[str]:
    return sorted(name for name, entry in CATALOG.items() if entry.public)


def export_formats() -> tuple[str, ...]:
    """Helpdesks whose exports training can read, e.g. for `--format`."""
    return tuple(name for name, entry in CATALOG.items() if entry.export)


def export_reader(name: str) -> ExportReader:
    entry = CATALOG.get(name)
    if entry is None or entry.export is None:
        raise LookupError(f"no export reader for {name!r}; known: {list(export_formats())}")
    return _load(entry.export)


def label_examples() -> str:
    """'zendesk: group_id; jira: component', for help texts."""
    return "; ".join(f"{name}: {CATALOG[name].label_example}" for name in export_formats())


def openapi_operations() -> dict[str, dict[str, Any]]:
    """Each webhook-sending integration's POST operation, by name."""
    return {name: dict(_load(entry.openapi)) for name, entry in CATALOG.items() if entry.openapi}


def read_export(name: str, path: Path, *, label_field: str) -> tuple[list[LabelledExample], Counter[str]]:
    """Labelled examples from `name`'s export file, and what was skipped and why."""
    return export_reader(name)(path, label_field=label_field)
