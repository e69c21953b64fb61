"""The one clock: timezone-aware UTC, also for timestamps SQLite hands back without their zone."""

from __future__ import annotations

from datetime import UTC, datetime


def now_utc() -> datetime:
    """The current moment in UTC."""
    return datetime.now(UTC)


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands timestamps back without their zone; they were stored as UTC."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value
