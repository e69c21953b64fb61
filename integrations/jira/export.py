"""Labelled examples from Jira exports: CSV as Jira writes it, and REST search JSON."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from integrations.catalog import model_fields
from integrations.exports import items
from integrations.jira.webhook import SOURCE, _time, adf_text
from service.core.domain import LabelledExample

LABEL_FIELDS = ("component", "priority", "issuetype", "project", "status", "label")
# Column names in Jira's own CSV export, and in flattened datasets such as the Apache changelog sample.
CSV_ALIASES = {
    "key": ("issue key", "issue_key", "key"),
    "summary": ("summary",),
    "description": ("description",),
    "component": ("component/s", "components", "component"),
    "priority": ("priority",),
    "issuetype": ("issue type", "issue_type", "issuetype"),
    "project": ("project key", "jira_project", "project"),
    "status": ("status",),
    "label": ("labels", "label"),
    "created": ("created",),
}


def _check(field: str) -> None:
    if field not in LABEL_FIELDS:
        raise ValueError(f"unknown Jira label field {field!r}; use one of: {', '.join(LABEL_FIELDS)}")


def _csv_rows(path: Path) -> Iterator[dict[str, list[str]]]:
    """Rows as {field: [values]}: Jira repeats a header once per value of a multi-value field."""
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = [h.strip().lower() for h in next(reader)]
        columns: dict[str, list[int]] = {}
        for name, aliases in CSV_ALIASES.items():
            columns[name] = [i for i, h in enumerate(header) if h in aliases]
        if not columns["summary"]:
            raise ValueError(f"{path}: no Summary column; is this a Jira CSV export?")
        for row in reader:
            values: dict[str, list[str]] = {}
            for name, idx in columns.items():
                cells = [row[i].strip() for i in idx if i < len(row) and row[i].strip()]
                if name in ("component", "label") and len(idx) == 1:
                    # Flattened datasets join several values in one cell with ", ".
                    cells = [part.strip() for cell in cells for part in cell.split(",") if part.strip()]
                values[name] = cells
            yield values


def _json_issues(path: Path) -> Iterator[dict[str, Any]]:
    return (i for i in items(path, "issues") if isinstance(i, dict) and isinstance(i.get("fields"), dict))


def _from_issue(issue: dict[str, Any]) -> dict[str, list[str]]:
    f = issue["fields"]

    def names(key: str) -> list[str]:
        value = f.get(key)
        items = value if isinstance(value, list) else [value] if value else []
        return [str(v.get("name") if isinstance(v, dict) else v) for v in items if v]

    return {
        "key": [str(issue.get("key", ""))],
        "summary": [f.get("summary") or ""],
        "description": [adf_text(f.get("description"))],
        "component": names("components"),
        "priority": names("priority"),
        "issuetype": names("issuetype"),
        "project": [str((f.get("project") or {}).get("key", ""))] if f.get("project") else [],
        "status": names("status"),
        "label": names("labels"),
        "created": [f.get("created") or ""],
    }


def read_export(path: Path, *, label_field: str, multi: str = "skip") -> tuple[list[LabelledExample], Counter[str]]:
    """Examples with text = summary + description. An issue with several values of the label field is
    skipped (multi="skip") or labelled with the first (multi="first")."""
    _check(label_field)
    rows = (_from_issue(i) for i in _json_issues(path)) if path.suffix in (".json", ".jsonl") else _csv_rows(path)
    examples: list[LabelledExample] = []
    skipped: Counter[str] = Counter()
    seen: set[str] = set()
    for number, row in enumerate(rows, start=1):
        key = (row.get("key") or [""])[0] or f"row-{number}"
        if key in seen:
            skipped["duplicate issue"] += 1
            continue
        seen.add(key)
        summary = (row.get("summary") or [""])[0]
        description = (row.get("description") or [""])[0]
        text = f"{summary}. {description}" if summary and description else summary or description
        labels = row.get(label_field) or []
        if not text.strip():
            skipped["no summary or description"] += 1
        elif not labels:
            skipped[f"no {label_field}"] += 1
        elif len(labels) > 1 and multi == "skip":
            skipped[f"several {label_field} values"] += 1
        else:
            created = (row.get("created") or [""])[0]
            # The fields the webhook gives its models as metadata (catalog.model_fields), but never the label.
            context = tuple((row.get(name) or [""])[0] for name in model_fields(SOURCE) if name != label_field)
            examples.append(
                LabelledExample(
                    text=text.strip(),
                    label=labels[0],
                    source_id=key,
                    created_at=_time(created) if created else None,
                    context=tuple(value for value in context if value),
                )
            )
    return examples, skipped
