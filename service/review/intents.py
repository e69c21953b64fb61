"""New intents: cluster recent tickets no label fits, show the clusters, and let an admin name one as a label."""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
from sqlalchemy.orm import Session

from service.core.clock import aware, now_utc
from service.decide.normalize import ticket_text
from service.infra.models import IntentCluster, PredictionRow
from service.infra.queries import distinct_values
from service.review import clustering
from service.review import intent_queries as queries
from service.review.errors import ReviewError
from service.runtime import Runtime

log = logging.getLogger(__name__)

EXAMPLES = 3
TREND_DAYS = 7  # the trend compares the last this many days with as many before
LABEL = re.compile(r"[^\W_][\w .:/-]{0,63}")


@dataclass(frozen=True)
class IntentRun:
    """What one clustering run looked at and found."""

    tickets: int
    clusters: int
    clustered: int
    representations: dict[str, int]  # tickets per representation ("tfidf", or "embedding:<model>")


def find_intents(runtime: Runtime, session: Session, *, now: datetime | None = None) -> IntentRun:
    """Cluster the window's unsettled guesses and store the clusters, replacing the last run's unnamed ones."""
    settings = runtime.settings
    now = now or now_utc()
    named = {int(i) for c in queries.labelled_clusters(session=session) for i in c.ticket_ids}
    rows = queries.recent_unreviewed(
        session=session, since=now - timedelta(days=settings.intents_window_days), limit=settings.intents_max_tickets
    )
    # A guess: below its threshold or out of scope. A label a person set in the helpdesk settles it already,
    # and a ticket in a named cluster waits for its agent, not for another cluster.
    guesses = [(t, d) for t, d in rows if d.is_guess and not (t.held or {}).get("label") and t.id not in named]
    ids = [t.id for t, _ in guesses]
    texts = [ticket_text(t.subject, t.body) for t, _ in guesses]
    days = [(aware(t.received_at) or now).date().isoformat() for t, _ in guesses]
    stored = queries.stored_vectors(session=session, ticket_ids=ids)
    embeddings = {
        p: (stored[i][0], np.frombuffer(stored[i][1], dtype=np.float32)) for p, i in enumerate(ids) if i in stored
    }
    groups, used = clustering.group(texts, embeddings, min_cluster_size=settings.intents_min_cluster_size)
    clusters = [
        IntentCluster(
            found_at=now,
            size=len(g.members),
            terms=g.terms,
            ticket_ids=[ids[i] for i in g.members],
            trend={
                "per_day": dict(sorted(Counter(days[i] for i in g.members).items())),
                "representation": g.representation,
                "window_days": settings.intents_window_days,
            },
        )
        for g in groups
    ]
    queries.replace_unlabelled(session=session, clusters=clusters)
    session.commit()
    run = IntentRun(
        tickets=len(ids),
        clusters=len(clusters),
        clustered=sum(c.size for c in clusters),
        representations=dict(used),
    )
    log.info(
        "new intents: %d cluster(s) among %d unsure ticket(s)",
        run.clusters,
        run.tickets,
        extra={"clusters": run.clusters, "tickets": run.tickets, "representations": run.representations},
    )
    return run


@dataclass(frozen=True)
class Example:
    ticket_id: int
    text: str


@dataclass(frozen=True)
class ClusterView:
    """A cluster as the dashboard shows it."""

    id: int
    found_at: datetime
    size: int
    terms: list[str]
    per_day: list[tuple[str, int]]  # every day of the window, oldest first
    recent: int  # tickets in the last TREND_DAYS days
    before: int  # tickets in the TREND_DAYS days before those
    examples: list[Example]
    representation: str
    label: str | None
    labelled_by: str | None
    confirmed: int  # tickets an agent has since reviewed to the cluster's label

    @property
    def growing(self) -> bool | None:
        return None if self.recent == self.before else self.recent > self.before


def intent_clusters(session: Session, *, today: date | None = None) -> list[ClusterView]:
    """Every stored cluster with its trend, three examples, and how many of a named one agents confirmed."""
    rows = queries.all_clusters(session=session)
    heads = queries.ticket_heads(session=session, ticket_ids=[int(i) for c in rows for i in c.ticket_ids[:EXAMPLES]])
    confirmed = queries.confirmed_counts(session=session, labels=sorted({c.label for c in rows if c.label}))
    today = today or now_utc().date()
    out = []
    for c in rows:
        counts = {str(k): int(v) for k, v in (c.trend.get("per_day") or {}).items()}
        window = int(c.trend.get("window_days") or 14)
        days = [(today - timedelta(days=window - 1 - i)).isoformat() for i in range(window)]
        cut, start = (
            (today - timedelta(days=TREND_DAYS)).isoformat(),
            (today - timedelta(days=2 * TREND_DAYS)).isoformat(),
        )
        examples = [
            Example(int(i), ticket_text(*heads[int(i)])[:240]) for i in c.ticket_ids[:EXAMPLES] if int(i) in heads
        ]
        members = {int(i) for i in c.ticket_ids}
        out.append(
            ClusterView(
                id=c.id,
                found_at=c.found_at,
                size=c.size,
                terms=[str(t) for t in c.terms],
                per_day=[(d, counts.get(d, 0)) for d in days],
                recent=sum(n for d, n in counts.items() if d > cut),
                before=sum(n for d, n in counts.items() if start < d <= cut),
                examples=examples,
                representation=str(c.trend.get("representation") or clustering.TFIDF),
                label=c.label,
                labelled_by=c.labelled_by,
                confirmed=len(members & confirmed.get(c.label, set())) if c.label else 0,
            )
        )
    return out


def name_intent(runtime: Runtime, session: Session, *, cluster_id: int, label: str, by: str) -> IntentCluster:
    """Turn a cluster into a new label: agents then see it suggested on its tickets and may confirm it."""
    label = label.strip()
    if not LABEL.fullmatch(label):
        raise ReviewError(
            "a label is 1 to 64 letters, digits, spaces or _ . : / - and starts with a letter or digit", status=400
        )
    cluster = session.get(IntentCluster, cluster_id)
    if cluster is None:
        raise ReviewError(f"there is no cluster {cluster_id}; the clusters were found again, reload", status=404)
    if cluster.label is not None:
        raise ReviewError(f"cluster {cluster_id} is already the label {cluster.label!r}", status=409)
    if label in known_labels(runtime, session):
        raise ReviewError(f"{label!r} is already a label; correct the tickets to it on their pages instead", status=409)
    cluster.label, cluster.labelled_by = label, by
    session.commit()
    log.info("cluster %s named %r by %s", cluster_id, label, by, extra={"cluster_id": cluster_id, "user": by})
    return cluster


def known_labels(runtime: Runtime, session: Session) -> set[str]:
    """Labels the model has predicted or the routing file routes (not those named from clusters)."""
    return set(distinct_values(session=session, column=PredictionRow.label)) | set(runtime.rules.label_queue)


def named_labels(session: Session) -> list[str]:
    """Labels admins made from clusters, for agents to choose when correcting."""
    return sorted({str(c.label) for c in queries.labelled_clusters(session=session) if c.label})


@dataclass(frozen=True)
class Suggestion:
    """A named cluster that holds a ticket: its label is what the ticket's page suggests."""

    cluster_id: int
    label: str
    labelled_by: str | None
    size: int


def suggestion_for(session: Session, ticket_id: int) -> Suggestion | None:
    for c in queries.labelled_clusters(session=session):
        if ticket_id in {int(i) for i in c.ticket_ids} and c.label:
            return Suggestion(cluster_id=c.id, label=c.label, labelled_by=c.labelled_by, size=c.size)
    return None
