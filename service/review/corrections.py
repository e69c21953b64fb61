"""People's corrections: what an agent set on the review page or in the helpdesk, held against later decisions."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.core.clock import now_utc
from service.decide.held import HELD_FIELDS, Held
from service.infra.models import Correction, Ticket

log = logging.getLogger(__name__)

REVIEW, HELPDESK = "review", "helpdesk"


def hold(
    session: Session,
    ticket: Ticket,
    values: Mapping[str, str],
    *,
    origin: str,
    actor: str,
    before: Mapping[str, str],
    at: datetime | None = None,
) -> list[Correction]:
    """Hold `values` on the ticket and record a correction for each one that differs from `before`."""
    when = at or now_utc()
    held = dict(ticket.held or {})
    by = dict(held.get("by") or {})
    who = f"{actor}, {'review page' if origin == REVIEW else origin}"
    changes = []
    for field in HELD_FIELDS:
        value = values.get(field)
        if value is None:
            continue
        held[field], by[field] = value, who
        old = before.get(field, "")
        if value != old:
            changes.append(
                Correction(
                    ticket_id=ticket.id,
                    origin=origin,
                    actor=actor[:128],
                    field=field,
                    old_value=str(old)[:128],
                    new_value=str(value)[:128],
                    created_at=when,
                )
            )
    held["by"] = by
    ticket.held = held  # a new dict: SQLAlchemy sees a JSON column change only on assignment
    session.add_all(changes)
    return changes


def note_helpdesk_routing(
    session: Session,
    ticket: Ticket,
    *,
    seen: Mapping[str, str],
    written: Mapping[str, str | None],
    helpdesk: str,
) -> list[Correction]:
    """Hold what a person changed in the helpdesk: values its webhook shows that differ from what we wrote there.

    `written` is what our last delivered write-back set (None for a field it left alone); a field we never wrote,
    or one the helpdesk shows as we wrote it or as already held, is no change of a person's.
    """
    held = Held.of(ticket.held)
    changed = {
        field: value
        for field, value in seen.items()
        if field in ("queue", "priority")
        and written.get(field) is not None
        and value != written[field]
        and value != getattr(held, field)
    }
    if not changed:
        return []
    corrections = hold(
        session, ticket, changed, origin=HELPDESK, actor=helpdesk, before={f: written[f] or "" for f in changed}
    )
    log.info(
        "a person re-routed the ticket in the helpdesk; later decisions keep it",
        extra={"ticket_id": ticket.id, "source": ticket.source, "fields": sorted(changed)},
    )
    return corrections


def correction_history(session: Session, ticket_id: int) -> list[Correction]:
    """Every correction people made to a ticket, oldest first."""
    return list(
        session.scalars(
            select(Correction).where(Correction.ticket_id == ticket_id).order_by(Correction.created_at, Correction.id)
        )
    )
