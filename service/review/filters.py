"""What the review queue can be narrowed down to: tabs, sorts and filters, as plain values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

# Review page. A ticket is listed by its latest decision (the one for the newest revision that has one);
# once an agent has given feedback on that decision it counts as reviewed.
REVIEW_TABS = ("needs_review", "escalated", "auto_routed", "reviewed", "all")
REVIEW_SORTS = ("newest", "oldest", "confidence", "confidence_desc", "priority")


@dataclass(frozen=True)
class ReviewFilter:
    """What the queue view narrows tickets down to; None means no constraint."""

    queue: str | None = None
    label: str | None = None
    min_confidence: float | None = None
    max_confidence: float | None = None
    model_version: str | None = None
    decided_from: date | None = None
    decided_to: date | None = None
