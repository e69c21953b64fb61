"""The queue view's query string: tab, filters, sort and page, parsed strictly and written back for links."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any
from urllib.parse import urlencode

from service.review.filters import REVIEW_SORTS, REVIEW_TABS, ReviewFilter

PER_PAGE = (25, 50, 100)
# Past this a page number is a typo or a probe: its offset would overflow the database's integers.
MAX_PAGE = 100_000
# Dates outside these years are typos, and the last day of year 9999 has no next day to end the range at.
YEARS = (1900, 2999)
TAB_NAMES = {
    "needs_review": "Needs review",
    "escalated": "Escalated",
    "auto_routed": "Auto-routed",
    "reviewed": "Reviewed",
    "all": "All",
}
SORT_NAMES = {
    "newest": "Newest first",
    "oldest": "Oldest first",
    "confidence": "Least confident first",
    "confidence_desc": "Most confident first",
    "priority": "Highest priority first",
}


@dataclass(frozen=True)
class QueueArgs:
    """One queue view as its URL describes it; problems lists the parameters that were ignored and why."""

    tab: str = "needs_review"
    queue: str = ""
    label: str = ""
    conf_min: int | None = None
    conf_max: int | None = None
    model: str = ""
    since: date | None = None
    until: date | None = None
    sort: str = "newest"
    page: int = 1
    per_page: int = PER_PAGE[0]
    problems: tuple[str, ...] = field(default=(), compare=False)

    @property
    def filters(self) -> ReviewFilter:
        return ReviewFilter(
            queue=self.queue or None,
            label=self.label or None,
            min_confidence=None if self.conf_min is None else self.conf_min / 100,
            max_confidence=None if self.conf_max is None else self.conf_max / 100,
            model_version=self.model or None,
            decided_from=self.since,
            decided_to=self.until,
        )

    @property
    def filtered(self) -> bool:
        return self.filters != ReviewFilter()

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    def params(self, **changes: Any) -> dict[str, str]:
        """The query parameters of this view with `changes`, leaving out defaults so URLs stay short."""
        view = replace(self, **changes)
        default = QueueArgs()
        out: dict[str, str] = {}
        for name in (
            "tab",
            "queue",
            "label",
            "conf_min",
            "conf_max",
            "model",
            "since",
            "until",
            "sort",
            "page",
            "per_page",
        ):
            value = getattr(view, name)
            if value != getattr(default, name) and value not in (None, ""):
                out[name] = value.isoformat() if isinstance(value, date) else str(value)
        return out

    def query(self, **changes: Any) -> str:
        return urlencode(self.params(**changes))

    def suffix(self, **changes: Any) -> str:
        """The query as a URL suffix: empty, or ?key=value..."""
        query = self.query(**changes)
        return f"?{query}" if query else ""


def parse(args: Mapping[str, str]) -> QueueArgs:
    """Read a queue view from request args; a bad value is dropped and reported, never an error page."""
    problems: list[str] = []

    def text(name: str, limit: int = 128) -> str:
        raw = (args.get(name) or "").strip()[:limit]
        if any(ord(c) < 32 or ord(c) == 127 for c in raw):
            # NUL and other control characters: no label or queue has them, and Postgres refuses NUL outright.
            problems.append(f"{name} {raw[:40]!r} has control characters; ignored")
            return ""
        return raw

    def choice(name: str, allowed: tuple[Any, ...], default: Any) -> Any:
        raw = text(name)
        if not raw:
            return default
        for option in allowed:
            if raw == str(option):
                return option
        problems.append(f"{name} {raw!r} is not one of {', '.join(map(str, allowed))}; ignored")
        return default

    def percent(name: str) -> int | None:
        raw = text(name)
        if not raw:
            return None
        try:
            number = float(raw)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            problems.append(f"{name} {raw[:40]!r} is not a number; ignored")
            return None
        if not 0 <= number <= 100:
            problems.append(f"{name} {raw[:40]!r} is not between 0 and 100; ignored")
            return None
        return int(number)

    def day(name: str) -> date | None:
        raw = text(name)
        if not raw:
            return None
        try:
            value = date.fromisoformat(raw)
        except ValueError:
            problems.append(f"{name} {raw[:40]!r} is not a date (YYYY-MM-DD); ignored")
            return None
        if not YEARS[0] <= value.year <= YEARS[1]:
            problems.append(f"{name} {raw[:40]!r} is not between {YEARS[0]} and {YEARS[1]}; ignored")
            return None
        return value

    page_raw = text("page") or "1"
    # ASCII digits only: str.isdigit() is true for "²" and "١", which int() refuses or reads unexpectedly.
    page = int(page_raw) if page_raw.isascii() and page_raw.isdigit() and len(page_raw) <= 9 else 0
    if page > MAX_PAGE:
        problems.append(f"page {page_raw[:40]!r} is past any queue's last page; showing page 1")
        page = 1
    elif page < 1 or page_raw != str(page):
        problems.append(f"page {page_raw[:40]!r} is not a page number; showing page 1")
        page = 1
    conf_min, conf_max = percent("conf_min"), percent("conf_max")
    if conf_min is not None and conf_max is not None and conf_min > conf_max:
        problems.append("the lowest confidence is above the highest; both ignored")
        conf_min = conf_max = None
    since, until = day("since"), day("until")
    if since and until and since > until:
        problems.append("the start date is after the end date; both ignored")
        since = until = None
    return QueueArgs(
        tab=choice("tab", REVIEW_TABS, "needs_review"),
        queue=text("queue", 64),
        label=text("label"),
        conf_min=conf_min,
        conf_max=conf_max,
        model=text("model", 64),
        since=since,
        until=until,
        sort=choice("sort", REVIEW_SORTS, "newest"),
        page=page,
        per_page=choice("per_page", PER_PAGE, PER_PAGE[0]),
        problems=tuple(problems),
    )
