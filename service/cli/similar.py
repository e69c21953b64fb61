"""`triage similar`: build the similar-ticket index from the database, top it up, or say what it holds."""

from __future__ import annotations

import subprocess
import sys

import click
from flask.cli import with_appcontext

from service.decide import similar as decide_similar
from service.decide.base_encoder import ENCODER_DIR
from service.runtime import runtime

NO_VECTORS = "no decided ticket has an embedding yet (frozen and encoder models compute one; the baseline's tickets "
NO_VECTORS += "get one once `triage similar encoder` has run)"


@click.group()
def similar() -> None:
    """Similar and duplicate tickets: the nearest-neighbour index of decided tickets' embeddings."""


def _report(report: dict[str, object]) -> None:
    if "skipped" in report:
        raise click.ClickException(f"not written: {report['skipped']}")
    for space, figures in report.items():
        assert isinstance(figures, dict)
        click.echo(
            f"{space}\t{figures['indexed']} indexed of {figures['stored']} stored\t"
            f"{figures['added']} added in {figures['seconds']} s"
        )
    if not report:
        click.echo(NO_VECTORS)


@similar.command("rebuild")
@with_appcontext
def similar_rebuild() -> None:
    """Build every embedding space's index from ticket_vectors from scratch (after a restore, or a lost volume)."""
    rt = runtime()
    with rt.db.session() as session:
        _report(decide_similar.refresh_index(rt, session, rebuild=True))


@similar.command("update")
@with_appcontext
def similar_update() -> None:
    """Add the tickets decided since the last build (what celery beat runs every TRIAGE_SIMILAR_INDEX_INTERVAL_S)."""
    rt = runtime()
    with rt.db.session() as session:
        _report(decide_similar.refresh_index(rt, session))


@similar.command("encoder")
@with_appcontext
def similar_encoder() -> None:
    """Install the base sentence encoder, so models without an embedding (the baseline) get similar tickets too.

    Built from the installed all-MiniLM-L6-v2 wheel (no network); costs 2-14 ms a ticket and ~90 MB per worker."""
    out = runtime().settings.similar_dir / ENCODER_DIR
    # A subprocess keeps the service package free of training imports (the directory is the contract).
    code = subprocess.call([sys.executable, "-m", "training.base_encoder", "--out", str(out)])
    if code:
        raise SystemExit(code)
    click.echo("workers embed the next tickets of models without an embedding with it (no restart needed)")


@similar.command("status")
@with_appcontext
def similar_status() -> None:
    """Each embedding space: tickets stored, tickets in the published index, and up to when."""
    rt = runtime()
    with rt.db.session() as session:
        rows = decide_similar.index_status(rt, session)
    for space, stored, published in rows:
        where = (
            "no index yet (searched exactly)"
            if published is None
            else f"{published.count} indexed up to {published.watermark:%Y-%m-%d %H:%M:%S} in {published.path}"
            if published.watermark
            else f"{published.count} indexed in {published.path}"
        )
        click.echo(f"{space}\t{stored} stored\t{where}")
    if not rows:
        click.echo(NO_VECTORS)
