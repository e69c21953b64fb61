"""`triage intents`: find clusters of tickets no label fits, list them, name one as a new label."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from service.review import errors as review_errors
from service.review import intents as review_intents
from service.runtime import runtime


@click.group()
def intents() -> None:
    """Candidate new intents: clusters of unsure and out-of-scope tickets."""


@intents.command("find")
@with_appcontext
def intents_find() -> None:
    """Cluster the recent unreviewed guesses now (what the schedule runs); replaces the unnamed clusters."""
    rt = runtime()
    with rt.db.session() as session:
        run = review_intents.find_intents(rt, session)
    how = ", ".join(f"{n} by {name}" for name, n in sorted(run.representations.items())) or "none clustered"
    click.echo(
        f"{run.clusters} cluster(s) holding {run.clustered} of {run.tickets} unsure ticket(s) "
        f"from the last {rt.settings.intents_window_days} days ({how})"
    )


@intents.command("list")
@with_appcontext
def intents_list() -> None:
    """Every cluster: id, size, trend, key terms, and the label it was given."""
    rt = runtime()
    with rt.db.session() as session:
        rows = review_intents.intent_clusters(session)
    for c in rows:
        named = f"label {c.label!r} by {c.labelled_by} ({c.confirmed} confirmed)" if c.label else "unnamed"
        click.echo(
            f"{c.id}\t{c.size} tickets\t{c.recent} last 7 days, {c.before} before\t{', '.join(c.terms)}\t{named}"
        )
    click.echo(f"{len(rows)} cluster(s)")


@intents.command("name")
@click.argument("cluster_id", type=int)
@click.argument("label")
@click.option("--by", default="cli", show_default=True, help="Who named it, as the dashboard shows.")
@with_appcontext
def intents_name(cluster_id: int, label: str, by: str) -> None:
    """Turn cluster CLUSTER_ID into the new label LABEL (as an admin does on the dashboard)."""
    rt = runtime()
    with rt.db.session() as session:
        try:
            review_intents.name_intent(rt, session, cluster_id=cluster_id, label=label, by=by)
        except review_errors.ReviewError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"cluster {cluster_id} is now the label {label.strip()!r}; agents see it suggested on its tickets")
