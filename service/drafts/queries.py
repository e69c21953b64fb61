"""Drafts' queries: a decision's draft, and a versioned update of it."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from service.infra.models import (
    DraftRow,
)

log = logging.getLogger(__name__)


def draft_for(*, session: Session, decision_id: int) -> DraftRow | None:
    return session.scalars(
        select(DraftRow)
        .where(DraftRow.decision_id == decision_id)
        .options(selectinload(DraftRow.edited_by), selectinload(DraftRow.reviewed_by))
    ).first()


def update_draft(*, session: Session, draft_id: int, version: int, values: dict[str, Any]) -> bool:
    """Change a draft that is still at `version` and not yet sent; false if someone got there first."""
    result = session.execute(
        update(DraftRow)
        .where(DraftRow.id == draft_id, DraftRow.version == version, DraftRow.status != "approved")
        .values(version=DraftRow.version + 1, **values)
    )
    # An UPDATE's result is a CursorResult; SQLAlchemy types execute() as returning the Result it derives from.
    return int(getattr(result, "rowcount", 0)) == 1
