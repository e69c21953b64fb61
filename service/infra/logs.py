"""Log set-up: JSON lines (or text) on stderr, with ticket text and secrets kept out of every line."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from service.core.settings import Settings, secret_list

# Attributes every LogRecord has; anything else on a record came in through `extra=`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}
# Extra fields that could carry ticket text or credentials are never written, whoever passes them.
_TICKET_TEXT = {"subject", "body", "text", "redacted_text", "note", "draft"}
_CREDENTIAL_WORDS = ("secret", "token", "password", "signature", "authorization", "cookie", "api_key", "apikey")
# Credentials in TRIAGE_* variable names that the words above miss: personal access tokens (TRIAGE_JIRA_PAT), keys.
_CREDENTIAL_NAME = re.compile(r"(^|_)(PAT|KEY|PASS|PASSWD|CREDENTIALS?)(_FILE)?$", re.IGNORECASE)
REDACTED = "[redacted]"
# Secret values seen at start (settings and TRIAGE_* credentials): masked wherever they show up in a line.
_secrets: set[str] = set()
# Values shorter than this are not masked: replacing every "abc" in every line would garble the logs.
_MIN_SECRET_LEN = 6
_NOISY = {
    "werkzeug": logging.WARNING,
    "alembic": logging.WARNING,
    "kombu": logging.ERROR,
    "flask-limiter": logging.WARNING,
}


def forbidden(key: str) -> bool:
    """Whether an extra field's name says it may hold ticket text or a credential."""
    lowered = key.lower()
    return lowered in _TICKET_TEXT or any(word in lowered for word in _CREDENTIAL_WORDS)


def mask(line: str) -> str:
    for value in _secrets:
        if value in line:
            line = line.replace(value, REDACTED)
    return line


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {
        key: REDACTED if forbidden(key) else value
        for key, value in vars(record).items()
        if key not in _STANDARD and not key.startswith("_")
    }


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, then the record's extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_extras(record),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return mask(json.dumps(entry, default=str, ensure_ascii=False))


class TextFormatter(logging.Formatter):
    """Plain lines for people at a terminal, extra fields appended as key=value."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = _extras(record)
        if extras:
            line += " [" + " ".join(f"{k}={v}" for k, v in extras.items()) + "]"
        return mask(line)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time, so a replaced stderr (pytest, daemons) never goes stale."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def resolve(log_format: str, *, service: bool) -> str:
    """auto means json for long-running services, whose lines go to a log collector, and text for people."""
    if log_format == "auto":
        return "json" if service else "text"
    return log_format


def configure(settings: Settings, *, service: bool, handler: logging.Handler | None = None) -> logging.Handler:
    """Send every logger's lines through one handler on the root logger, in the configured format."""
    fmt = resolve(settings.log_format, service=service)
    handler = handler or _StderrHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler._triage = True  # type: ignore[attr-defined]  # marks the handler as ours, for the next configure()
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_triage", False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    # Python warnings (deprecations, Celery's root-user notice) become log lines in the same format.
    logging.captureWarnings(True)
    for name, level in _NOISY.items():
        logging.getLogger(name).setLevel(level)
    return handler


def hand_celery_our_logging() -> None:
    """Stop a celery worker or beat from installing its own handlers and format over ours."""
    from celery.signals import setup_logging

    # Celery leaves logging alone when anything receives this signal (documented behaviour).
    setup_logging.connect(_logging_already_configured, weak=False, dispatch_uid="triage-logging")


def _logging_already_configured(**_: Any) -> None:
    """Celery's setup_logging receiver: the entry point configured logging before Celery started."""


def register_secrets(settings: Settings, environ: Mapping[str, str]) -> None:
    """Remember the configured secret values so that no formatter ever writes one."""
    # Every setting declared secret, each of its values (a secret may hold several while it is rotated).
    values = [v for f in fields(settings) if f.metadata.get("secret") for v in secret_list(getattr(settings, f.name))]
    for key, value in environ.items():
        if key.startswith("TRIAGE_") and credential_variable(key):
            values.append(_read(value) if key.endswith("_FILE") else value)
    _remember(values)


def credential_variable(name: str) -> bool:
    """Whether a TRIAGE_* variable (or its *_FILE) holds a credential, by its name."""
    lowered = name.lower()
    return any(word in lowered for word in _CREDENTIAL_WORDS + ("_key",)) or bool(_CREDENTIAL_NAME.search(name))


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def _remember(values: Iterable[str]) -> None:
    for value in values:
        for part in {value.strip(), *secret_list(value)}:
            if len(part.strip()) >= _MIN_SECRET_LEN:
                _secrets.add(part.strip())
