"""Similar and duplicate tickets: each new ticket's nearest earlier tickets, near-duplicates flagged, vectors kept.

Only the workers search, once per decision, and the result is stored in the decision's explanation
(`similar`, `duplicate_of`), so the review page reads it back without an index of its own. A search covers the
published index (tickets up to its watermark) plus an exact pass over the rows stored since (minus a margin
for transactions still open at the watermark), so a ticket decided a moment ago is already found: staleness
costs time, never results, as long as the beat keeps the index topped up.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from service.core.clock import aware, now_utc
from service.core.domain import Decision
from service.decide.base_encoder import base_encoder
from service.decide.classify import BASE_SPACE
from service.decide.normalize import model_text
from service.decide.similar_queries import (
    newer_vectors,
    newest_vector_time,
    replace_vectors,
    tickets_by_id,
    vector_spaces,
    vectors_since,
)
from service.decide.vector_index import IndexReader, IndexStore, Published, add_rows, new_index, search
from service.infra.models import Ticket, TicketVector
from service.runtime import Runtime

log = logging.getLogger(__name__)

SHOWN = 5  # similar tickets kept with each decision
# Rows stored this long before the index's watermark are searched exactly too: a transaction that began before the
# watermark may commit after it was taken.
MARGIN = timedelta(minutes=10)
# Bounds the exact pass when the index lags far behind (or was never built): the newest rows are searched.
TAIL_LIMIT = 100_000
OVERFETCH = 20  # extra index matches, since later tickets are filtered out


@lru_cache(maxsize=8)
def _reader(directory: Path) -> IndexReader:
    return IndexReader(IndexStore(directory))


def with_similar(
    runtime: Runtime, session: Session, tickets: Sequence[Ticket], decisions: list[Decision]
) -> list[Decision]:
    """Each decision with its ticket's most similar earlier tickets, and the near-duplicate flag where one is.

    A failure here (an unreadable index file) costs the explanation its similar tickets, never the decision."""
    if not runtime.settings.similar_tickets:
        return decisions
    started = time.perf_counter()
    try:
        decisions = _embed_missing(runtime, tickets, decisions)
        found = _nearest(runtime, session, tickets, decisions)
        candidates = tickets_by_id(session=session, ticket_ids=sorted({i for hits in found for i, _ in hits}))
    except Exception:
        log.exception("similar tickets could not be searched", extra={"ticket_ids": [t.id for t in tickets]})
        return decisions
    per_ticket_ms = (time.perf_counter() - started) * 1000 / max(len(tickets), 1)
    out = []
    for ticket, decision, hits in zip(tickets, decisions, found, strict=True):
        if decision.prediction.embedding is None:
            out.append(decision)
            continue
        extra: dict[str, Any] = {
            **decision.extra,
            "similar": [{"ticket_id": i, "similarity": round(s, 4)} for i, s in hits],
        }
        reason = decision.reason
        duplicate = _duplicate(runtime, ticket, hits, candidates)
        if duplicate is not None:
            extra["duplicate_of"] = duplicate
            reason = (
                f"{reason}; near-duplicate of #{duplicate['ticket_id']} ({duplicate['why']}, "
                f"similarity {duplicate['similarity']:.2f})"
            )
        out.append(
            replace(decision, extra=extra, reason=reason, timings_ms={**decision.timings_ms, "similar": per_ticket_ms})
        )
    return out


def _embed_missing(runtime: Runtime, tickets: Sequence[Ticket], decisions: list[Decision]) -> list[Decision]:
    """Embed, with the base encoder if one is installed, the tickets whose model computed no embedding."""
    missing = [i for i, d in enumerate(decisions) if d.prediction.embedding is None]
    encoder = base_encoder(runtime.settings.similar_dir, threads=runtime.settings.model_threads) if missing else None
    if encoder is None:
        return decisions
    texts = [model_text(tickets[i].subject, tickets[i].body, tickets[i].source, tickets[i].meta) for i in missing]
    vectors = np.ascontiguousarray(encoder.embed(texts), dtype=np.float32)
    out = list(decisions)
    for i, vector in zip(missing, vectors, strict=True):
        prediction = replace(out[i].prediction, embedding=vector.tobytes(), embedding_space=BASE_SPACE)
        out[i] = replace(out[i], prediction=prediction)
    return out


def _nearest(
    runtime: Runtime, session: Session, tickets: Sequence[Ticket], decisions: Sequence[Decision]
) -> list[list[tuple[int, float]]]:
    """The SHOWN most similar earlier tickets (id, cosine similarity) of each ticket, most similar first."""
    found: list[list[tuple[int, float]]] = [[] for _ in tickets]
    spaces: dict[str, list[int]] = {}
    for i, d in enumerate(decisions):
        if d.prediction.embedding is not None and d.prediction.embedding_space:
            spaces.setdefault(d.prediction.embedding_space, []).append(i)
    for space, rows in spaces.items():
        vectors = np.stack([np.frombuffer(decisions[i].prediction.embedding or b"", dtype=np.float32) for i in rows])
        ids = [tickets[i].id for i in rows]
        best: list[dict[int, float]] = [{} for _ in rows]
        published = _reader(runtime.settings.similar_dir).get(space)
        watermark = None
        if published is not None and published[1].ndim == vectors.shape[1]:
            index, info = published
            watermark = info.watermark - MARGIN if info.watermark is not None else None
            for hits, mine in zip(search(index, vectors, SHOWN + OVERFETCH), best, strict=True):
                mine.update(hits)
        # Rows the index does not hold yet, searched exactly; and the batch's own earlier tickets.
        newer = newer_vectors(session=session, space=space, after=watermark, before_id=max(ids), limit=TAIL_LIMIT)
        newer += [(ids[j], decisions[i].prediction.embedding or b"") for j, i in enumerate(rows)]
        newer = [(k, v) for k, v in newer if len(v) == vectors.shape[1] * 4]
        if newer:
            matrix = np.frombuffer(b"".join(v for _, v in newer), dtype=np.float32).reshape(len(newer), -1)
            keys = [k for k, _ in newer]
            sims = vectors @ matrix.T
            for row, mine in enumerate(best):
                for j in np.argsort(-sims[row])[: SHOWN + OVERFETCH + len(rows)]:
                    mine[keys[j]] = float(sims[row, j])
        for row, (ticket_id, mine) in enumerate(zip(ids, best, strict=True)):
            earlier = sorted(((k, s) for k, s in mine.items() if k < ticket_id), key=lambda kv: -kv[1])
            found[rows[row]] = [(k, min(1.0, s)) for k, s in earlier[:SHOWN]]
    return found


def _duplicate(
    runtime: Runtime, ticket: Ticket, hits: list[tuple[int, float]], candidates: dict[int, Ticket]
) -> dict[str, Any] | None:
    """The most similar earlier ticket above the threshold that is from the same requester or still open."""
    settings = runtime.settings
    open_since = now_utc() - timedelta(days=settings.duplicate_open_days)
    for ticket_id, similarity in hits:
        if similarity < settings.duplicate_threshold:
            break
        earlier = candidates.get(ticket_id)
        if earlier is None:
            continue
        requester = (ticket.requester or "").strip().lower()
        if requester and requester == (earlier.requester or "").strip().lower():
            why = "same requester"
        elif (aware(earlier.received_at) or open_since) > open_since:
            why = "still open"
        else:
            continue
        return {
            "ticket_id": earlier.id,
            "source": earlier.source,
            "external_id": earlier.external_id,
            "subject": (earlier.subject or earlier.body or "")[:120],
            "similarity": round(similarity, 4),
            "why": why,
        }
    return None


def store_vectors(session: Session, tickets: Sequence[Ticket], decisions: Sequence[Decision], *, on: bool) -> None:
    """Keep each decided ticket's embedding (when the model computed one) for later tickets' searches."""
    if not on:
        return
    now = now_utc()
    replace_vectors(
        session=session,
        rows=[
            TicketVector(
                ticket_id=t.id, model=d.prediction.embedding_space, vector=d.prediction.embedding, created_at=now
            )
            for t, d in zip(tickets, decisions, strict=True)
            if d.prediction.embedding is not None and d.prediction.embedding_space
        ],
    )


def refresh_index(runtime: Runtime, session: Session, *, rebuild: bool = False) -> dict[str, Any]:
    """Top up (or rebuild from scratch) each embedding space's index from ticket_vectors, and publish it.

    One process writes at a time (a file lock); another that finds the lock held does nothing."""
    store = IndexStore(runtime.settings.similar_dir)
    report: dict[str, Any] = {}
    with store.writer() as mine:
        if not mine:
            return {"skipped": "another process is writing the index"}
        for space, stored in vector_spaces(session=session).items():
            started = time.perf_counter()
            # The watermark is read before the rows, so a row committed meanwhile is searched exactly until next time.
            watermark = newest_vector_time(session=session, space=space)
            loaded = None if rebuild else store.load(space)
            index, after = None, None
            if loaded is not None:
                index, info = loaded
                after = info.watermark - MARGIN if info.watermark is not None else None
                newest, indexed = aware(watermark), aware(info.watermark)
                if newest is not None and indexed is not None and newest <= indexed:
                    report[space] = {"stored": stored, "indexed": len(index), "added": 0, "seconds": 0.0}
                    continue
            rows = vectors_since(session=session, space=space, after=after)
            first = next(rows, None)
            if first is None and index is None:
                continue
            if index is None:
                assert first is not None
                index = new_index(len(first[1]) // 4)
            added = add_rows(index, itertools.chain([first] if first else [], rows))
            store.publish(space, index, aware(watermark))
            report[space] = {
                "stored": stored,
                "indexed": len(index),
                "added": added,
                "seconds": round(time.perf_counter() - started, 2),
            }
    return report


def index_status(runtime: Runtime, session: Session) -> list[tuple[str, int, Published | None]]:
    """Each embedding space in use: tickets stored, and the generation of the index readers use now."""
    store = IndexStore(runtime.settings.similar_dir)
    return [(space, n, store.published(space)) for space, n in sorted(vector_spaces(session=session).items())]
