"""Intake's queries: insert new tickets and deliveries in one round trip, find repeats."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, delete, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from service.infra.models import (
    Ticket,
    WebhookEvent,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NewTicket:
    """A delivery of a ticket not seen before, as the intake stores it: the ticket's columns and the delivery's."""

    values: dict[str, Any]  # the tickets row: source, external_id, subject, body, ..., received_at, status
    delivery_id: str
    body_sha256: str
    signed_sha256: str | None = None


def insert_new_tickets(*, session: Session, rows: Sequence[NewTicket]) -> list[tuple[int, int] | None]:
    """Insert tickets and their deliveries where neither exists yet: one round trip for the lot on Postgres.

    Per row: (ticket id, event id), or None for a known ticket, a repeated delivery, or a row whose ticket or
    delivery repeats an earlier row's; the caller looks those up once this transaction is committed.
    """
    fresh, keys, deliveries = [], set(), set()
    for i, row in enumerate(rows):
        key, delivery = (row.values["source"], row.values["external_id"]), (row.values["source"], row.delivery_id)
        if key not in keys and delivery not in deliveries:
            fresh.append(i)
            keys.add(key)
            deliveries.add(delivery)
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        inserted = _insert_new_postgres(conn, [rows[i] for i in fresh])
    else:
        inserted = _insert_new_portable(conn, [rows[i] for i in fresh])
    results: list[tuple[int, int] | None] = [None] * len(rows)
    orphans = []
    for i, (ticket_id, event_id) in zip(fresh, inserted, strict=True):
        if ticket_id is not None and event_id is None:
            orphans.append(ticket_id)  # the delivery was recorded before, for another ticket: this one is not new
        elif ticket_id is not None and event_id is not None:
            results[i] = (ticket_id, event_id)
    if orphans:
        conn.execute(delete(Ticket).where(Ticket.id.in_(orphans)))
    return results


# Both rows of one delivery in one statement; the ticket id comes back even when the delivery was known, so that
# the caller can remove the ticket again. Sent for many deliveries at once in psycopg's pipeline mode.
_NEW_TICKET_SQL = """
WITH new_ticket AS (
    INSERT INTO tickets (source, external_id, subject, body, requester, tags, metadata, created_at, received_at,
                         status, needs_fetch, attempts)
    VALUES (%(source)s, %(external_id)s, %(subject)s, %(body)s, %(requester)s, %(tags)s, %(metadata)s,
            %(created_at)s, %(received_at)s, %(status)s, %(needs_fetch)s, 0)
    ON CONFLICT (source, external_id) DO NOTHING
    RETURNING id
), new_event AS (
    INSERT INTO webhook_events (source, delivery_id, body_sha256, signed_sha256, ticket_id, outcome, received_at)
    SELECT %(source)s, %(delivery_id)s, %(body_sha256)s, %(signed_sha256)s, new_ticket.id, 'created', %(received_at)s
    FROM new_ticket
    ON CONFLICT (source, delivery_id) DO NOTHING
    RETURNING id
)
SELECT new_ticket.id, new_event.id FROM new_ticket LEFT JOIN new_event ON true
"""


def _insert_new_postgres(conn: Connection, rows: list[NewTicket]) -> list[tuple[int | None, int | None]]:
    """One round trip for the lot: psycopg pipelines the statements of an executemany."""
    import psycopg
    from psycopg.types.json import Json

    params = [
        {
            **row.values,
            "tags": Json(row.values["tags"]),
            "metadata": Json(row.values["metadata"]),
            "delivery_id": row.delivery_id,
            "body_sha256": row.body_sha256,
            "signed_sha256": row.signed_sha256,
        }
        for row in rows
    ]
    out: list[tuple[int | None, int | None]] = []
    dbapi = conn.connection.dbapi_connection
    try:
        with dbapi.cursor() as cur:  # type: ignore[union-attr]  # a live psycopg connection inside this transaction
            cur.executemany(_NEW_TICKET_SQL, params, returning=True)
            while True:
                row = cur.fetchone()
                out.append((row[0], row[1]) if row else (None, None))
                if not cur.nextset():
                    break
    except psycopg.Error as exc:
        # Past SQLAlchemy, so do what it would: drop a dead connection, and raise its error types (a 503 upstream).
        invalidated = conn.dialect.is_disconnect(exc, dbapi, None)  # type: ignore[arg-type]  # psycopg's Error is the DBAPI one
        if invalidated:
            conn.invalidate(exc)
        raise DBAPIError.instance(
            _NEW_TICKET_SQL, None, exc, psycopg.Error, hide_parameters=True, connection_invalidated=invalidated
        ) from None
    return out


def _insert_new_portable(conn: Connection, rows: list[NewTicket]) -> list[tuple[int | None, int | None]]:
    """The same with two multi-row INSERTs (SQLite, embedded: one process, so no pipelining to gain)."""
    from sqlalchemy.dialects.sqlite import insert

    tickets, events = cast(Table, Ticket.__table__), cast(Table, WebhookEvent.__table__)
    created = {
        (r.source, r.external_id): r.id
        for r in conn.execute(
            insert(tickets)
            .on_conflict_do_nothing(index_elements=["source", "external_id"])
            .returning(tickets.c.id, tickets.c.source, tickets.c.external_id),
            [row.values for row in rows],
        )
    }
    ticket_ids = [created.get((row.values["source"], row.values["external_id"])) for row in rows]
    new = [(row, ticket_id) for row, ticket_id in zip(rows, ticket_ids, strict=True) if ticket_id is not None]
    logged = (
        {
            (r.source, r.delivery_id): r.id
            for r in conn.execute(
                insert(events)
                .on_conflict_do_nothing(index_elements=["source", "delivery_id"])
                .returning(events.c.id, events.c.source, events.c.delivery_id),
                [
                    {
                        "source": row.values["source"],
                        "delivery_id": row.delivery_id,
                        "body_sha256": row.body_sha256,
                        "signed_sha256": row.signed_sha256,
                        "ticket_id": ticket_id,
                        "outcome": "created",
                        "received_at": row.values["received_at"],
                    }
                    for row, ticket_id in new
                ],
            )
        }
        if new
        else {}
    )
    return [
        (ticket_id, logged.get((row.values["source"], row.delivery_id)) if ticket_id is not None else None)
        for row, ticket_id in zip(rows, ticket_ids, strict=True)
    ]


def find_event(*, session: Session, source: str, delivery_id: str) -> WebhookEvent | None:
    return session.scalars(
        select(WebhookEvent).where(WebhookEvent.source == source, WebhookEvent.delivery_id == delivery_id)
    ).first()


def find_signed(*, session: Session, source: str, signed_sha256: str, since: datetime) -> WebhookEvent | None:
    """An earlier delivery of the same signed request since `since` (a replay under another delivery id)."""
    return session.scalars(
        select(WebhookEvent)
        .where(
            WebhookEvent.source == source,
            WebhookEvent.signed_sha256 == signed_sha256,
            WebhookEvent.received_at >= since,
        )
        .order_by(WebhookEvent.id)
        .limit(1)
    ).first()


def find_ticket(*, session: Session, source: str, external_id: str) -> Ticket | None:
    return session.scalars(select(Ticket).where(Ticket.source == source, Ticket.external_id == external_id)).first()
