"""Labelled tickets from several sources (helpdesk exports, CSV/JSON lines, review feedback) as one kind of row."""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from integrations.catalog import CATALOG, export_formats, read_export
from service.core.csvcells import uncell
from service.decide.normalize import with_context

# Helpdesk exports are read by their integration (integrations/catalog.py); the rest are files of ours.
HELPDESK_FORMATS = export_formats()
SOURCE_FORMATS = ("csv", "jsonl", *HELPDESK_FORMATS, "feedback")
# `triage feedback export` writes these columns; the ticket key is already "<webhook source>:<external id>".
# The columns of `triage feedback export`.
FEEDBACK_TEXT, FEEDBACK_LABEL, FEEDBACK_ID, FEEDBACK_TIME = ("text",), "category", "source_id", "created_at"
# The column of the priority an agent settled: the priority model's label when a feedback source asks for it.
FEEDBACK_PRIORITY = "priority"


@dataclass(frozen=True)
class SourceSpec:
    """Where labelled tickets come from and which fields hold what."""

    format: str
    path: Path
    label: str | None = None  # column (csv/jsonl) or helpdesk field (zendesk: group_id, ...; jira: component, ...)
    text: tuple[str, ...] = ("text",)  # csv/jsonl columns joined into the ticket text, e.g. subject, body
    id: str | None = None  # csv/jsonl column with the ticket id (rows without one are keyed by position)
    time: str | None = None  # csv/jsonl column with the time the ticket was opened (for time-based splits)
    name: str = ""  # prefix of ticket keys, so the same id from two systems is two tickets

    def __post_init__(self) -> None:
        if self.format not in SOURCE_FORMATS:
            raise ValueError(f"unknown source format {self.format!r}; use one of {', '.join(SOURCE_FORMATS)}")
        if self.format in HELPDESK_FORMATS and not self.label:
            raise ValueError(
                f"{self.format}:{self.path}: say which field is the label "
                f"(--label-field, e.g. {CATALOG[self.format].label_example})"
            )
        if not self.name:
            default = self.format if self.format in HELPDESK_FORMATS else self.path.stem
            object.__setattr__(self, "name", default)

    @classmethod
    def parse(cls, value: str, **defaults: Any) -> SourceSpec:
        """`FORMAT:PATH` as given on the command line, with the flags' field choices as defaults."""
        fmt, sep, path = value.partition(":")
        if not sep or not path:
            raise ValueError(f"--source {value!r}: write FORMAT:PATH, FORMAT one of {', '.join(SOURCE_FORMATS)}")
        return cls(format=fmt, path=Path(path), **{k: v for k, v in defaults.items() if v})

    @classmethod
    def from_config(cls, entry: dict[str, Any], base: Path) -> SourceSpec:
        """One entry of a config file's `sources:` list; relative paths are relative to the config file."""
        unknown = set(entry) - {"format", "path", "label", "text", "id", "time", "name"}
        if unknown or "format" not in entry or "path" not in entry:
            raise ValueError(f"source {entry!r}: needs format and path; unknown keys {sorted(unknown)}")
        path = Path(entry["path"])
        text = entry.get("text", "text")
        return cls(
            format=entry["format"],
            path=path if path.is_absolute() else base / path,
            label=entry.get("label"),
            text=tuple([text] if isinstance(text, str) else text),
            id=entry.get("id"),
            time=entry.get("time"),
            name=entry.get("name", ""),
        )


@dataclass(frozen=True)
class Row:
    """One labelled ticket, with where it came from."""

    text: str
    label: str
    key: str  # "<source name>:<ticket id>": the unit that must never be on both sides of a split
    source: str
    created_at: datetime | None = None


@dataclass
class SourceReport:
    """What was read from one source and what was left out, and why."""

    source: str
    read: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "read": self.read, "skipped": dict(self.skipped)}


def read_source(spec: SourceSpec) -> tuple[list[Row], SourceReport]:
    """Every labelled row of one source; rows that cannot be used are counted in the report by reason."""
    if not spec.path.is_file():
        raise ValueError(f"{spec.format}:{spec.path}: no such file")
    report = SourceReport(f"{spec.format}:{spec.path}")
    if spec.format in HELPDESK_FORMATS:
        rows = _helpdesk_rows(spec, report)
    else:
        if spec.format == "feedback":
            label = FEEDBACK_PRIORITY if spec.label == FEEDBACK_PRIORITY else FEEDBACK_LABEL
            spec = replace(spec, text=FEEDBACK_TEXT, label=label, id=FEEDBACK_ID, time=FEEDBACK_TIME)
        records = _jsonl_records(spec.path, report) if spec.format == "jsonl" else _csv_records(spec)
        rows = _table_rows(spec, records, report)
    report.read = len(rows)
    if not rows:
        raise ValueError(f"{report.source}: no labelled tickets (skipped: {dict(report.skipped) or 'none'})")
    return rows, report


def _helpdesk_rows(spec: SourceSpec, report: SourceReport) -> list[Row]:
    examples, skipped = read_export(spec.format, spec.path, label_field=spec.label or "")
    report.skipped.update(skipped)
    return [
        Row(with_context(e.text, e.context), e.label, f"{spec.name}:{e.source_id}", report.source, _utc(e.created_at))
        for e in examples
    ]


def _csv_records(spec: SourceSpec) -> Iterator[dict[str, Any]]:
    with spec.path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        wanted = {*spec.text, spec.label or "category", *(c for c in (spec.id, spec.time) if c)}
        missing = wanted - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{spec.format}:{spec.path}: no column(s) {sorted(missing)}; found {reader.fieldnames}")
        # Our own CSVs quote text that looks like a formula (service.core.csvcells); the quote is not the text's.
        for record in reader:
            yield {k: uncell(v) if isinstance(v, str) else v for k, v in record.items()}


def _jsonl_records(path: Path, report: SourceReport) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                report.skipped["not a JSON line"] += 1
                continue
            if isinstance(record, dict):
                yield record
            else:
                report.skipped["not a JSON object"] += 1


def _table_rows(spec: SourceSpec, records: Iterator[dict[str, Any]], report: SourceReport) -> list[Row]:
    label_column = spec.label or "category"
    rows = []
    for number, record in enumerate(records, start=1):
        parts = [str(record.get(c) or "").strip() for c in spec.text]
        text = ". ".join(p for p in parts if p)
        label = str(record.get(label_column) or "").strip()
        if not text:
            report.skipped[f"no {'/'.join(spec.text)}"] += 1
            continue
        if not label:
            report.skipped[f"no {label_column}"] += 1
            continue
        ticket_id = str(record.get(spec.id) or "").strip() if spec.id else ""
        created = None
        if spec.time:
            created = parse_time(record.get(spec.time))
            if created is None:
                why = "unreadable" if str(record.get(spec.time) or "").strip() else "no"
                report.skipped[f"{why} {spec.time} (kept, without a time)"] += 1
        key = ticket_id if spec.format == "feedback" and ticket_id else f"{spec.name}:{ticket_id or f'row-{number}'}"
        rows.append(Row(text, label, key, report.source, created))
    return rows


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 time (Z, offsets, or naive = UTC), or None."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return _utc(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
    except ValueError:
        return None


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
