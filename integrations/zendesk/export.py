"""Labelled examples from Zendesk ticket exports (tickets list, incremental export; JSON or JSON lines)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from integrations.exports import items
from integrations.zendesk.webhook import _time
from service.core.domain import LabelledExample

LABEL_FIELDS = "group_id, priority, type, status, brand_id, via, custom_field:<id>, tag:<prefix>"


def _tickets(path: Path) -> Iterator[dict[str, Any]]:
    """Tickets from a page ({"tickets": [...]}), a list, or JSON lines of pages or tickets."""
    return (t for t in items(path, "tickets") if isinstance(t, dict) and "id" in t)


def label_of(ticket: dict[str, Any], field: str) -> str | None:
    if field.startswith("custom_field:"):
        wanted = field.split(":", 1)[1]
        for cf in ticket.get("custom_fields") or []:
            if str(cf.get("id")) == wanted:
                value = cf.get("value")
                return None if value in (None, "", []) else str(value)
        return None
    if field.startswith("tag:"):
        prefix = field.split(":", 1)[1]
        tags = [t for t in ticket.get("tags") or [] if str(t).startswith(prefix)]
        return tags[0][len(prefix) :] if len(tags) == 1 else None
    if field == "via":
        via = ticket.get("via")
        return (via or {}).get("channel") if isinstance(via, dict) else None
    if field not in ("group_id", "priority", "type", "status", "brand_id", "ticket_form_id"):
        raise ValueError(f"unknown Zendesk label field {field!r}; use one of: {LABEL_FIELDS}")
    value = ticket.get(field)
    return None if value in (None, "") else str(value)


def read_export(path: Path, *, label_field: str) -> tuple[list[LabelledExample], Counter[str]]:
    """Examples with text = subject + description; `skipped` counts why other tickets were left out."""
    examples: list[LabelledExample] = []
    skipped: Counter[str] = Counter()
    seen: set[str] = set()
    for ticket in _tickets(path):
        ticket_id = str(ticket["id"])
        if ticket_id in seen:  # incremental exports repeat tickets that changed twice
            skipped["duplicate ticket"] += 1
            continue
        seen.add(ticket_id)
        if ticket.get("status") == "deleted":
            skipped["deleted"] += 1
            continue
        subject = (ticket.get("subject") or "").strip()
        description = (ticket.get("description") or "").strip()
        both = subject and description and subject != description
        text = f"{subject}. {description}" if both else subject or description
        if not text:
            skipped["no subject or description"] += 1
            continue
        label = label_of(ticket, label_field)
        if label is None:
            skipped[f"no {label_field}"] += 1
            continue
        examples.append(
            LabelledExample(text=text, label=label, source_id=ticket_id, created_at=_time(ticket.get("created_at")))
        )
    return examples, skipped
