"""The internal notes a helpdesk agent reads: decision, review and approved reply."""

from __future__ import annotations

import logging
from typing import Any

from service.infra.models import (
    DraftRow,
    Feedback,
)

log = logging.getLogger(__name__)


def render_note(reason: dict[str, Any]) -> str:
    """The internal note an agent reads in the helpdesk: decision, reason, alternatives, model."""
    top = ", ".join(f"{t['label']} {t['score']:.0%}" for t in reason.get("top_k", []))
    return (
        f"Triage: {reason.get('status', '').replace('_', ' ')} to {reason.get('queue')} "
        f"(priority {reason.get('priority')}).\n"
        f"Label: {reason.get('label')} ({reason.get('confidence', 0):.0%}); top: {top}.\n"
        f"Why: {reason.get('reason')}; rule: {reason.get('rule')}.\n"
        f"Model: {reason.get('model')}." + _language_line(reason) + _duplicate_line(reason)
    )


def _language_line(reason: dict[str, Any]) -> str:
    # The gate's reason is kept apart from "Why", which the LLM step may have replaced since.
    gate = reason.get("language_gate")
    return f"\nHeld back: {gate}." if isinstance(gate, str) else ""


def _duplicate_line(reason: dict[str, Any]) -> str:
    duplicate = reason.get("duplicate_of")
    if not isinstance(duplicate, dict):
        return ""
    return (
        f"\nPossible duplicate of {duplicate.get('external_id')} (Triage #{duplicate.get('ticket_id')}): "
        f"{duplicate.get('why')}, similarity {float(duplicate.get('similarity', 0)):.0%}."
    )


def render_review_note(feedback: Feedback) -> str:
    """The internal note that tells helpdesk agents what a Triage reviewer decided."""
    if feedback.kind == "accepted":
        change = f"accepted label {feedback.to_label}, queue {feedback.to_queue}, priority {feedback.to_priority}"
    else:
        parts = [f"{name} {old} -> {new}" for name, old, new in feedback.changes()]
        change = "corrected " + "; ".join(parts)
    return f"Triage review by {feedback.user.username}: {change}."


def render_reply_note(draft: DraftRow) -> str:
    """The internal note that goes with an approved reply, which itself is sent as a public comment."""
    who = draft.reviewed_by.username if draft.reviewed_by else "an agent"
    return f"Triage: reply approved by {who} and sent to the requester as a public reply:\n\n{draft.text}"
