"""`triage writebacks`, `triage users` and `triage feedback`: what operators do day to day."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TextIO

import click
from flask.cli import with_appcontext

from service.review import errors as review_errors
from service.review import feedback as review_feedback
from service.review import users as review_users
from service.runtime import runtime

log = logging.getLogger(__name__)


@click.group()
def writebacks() -> None:
    """Inspect and retry write-backs to helpdesks."""


@writebacks.command("list")
@click.option("--status", default="failed", show_default=True)
@with_appcontext
def writebacks_list(status: str) -> None:
    """List write-backs in a status, with their last error."""
    from service.writeback.flow import writebacks_in

    rt = runtime()
    with rt.db.session() as session:
        rows = writebacks_in(session, status)
        for wb in rows:
            click.echo(
                f"{wb.id}\tdecision {wb.decision_id}\t{wb.target}\tattempts {wb.attempts}\t{wb.last_error or ''}"
            )
        click.echo(f"{len(rows)} write-back(s) {status}")


@writebacks.command("retry")
@with_appcontext
def writebacks_retry() -> None:
    """Queue every failed write-back again."""
    from service.worker.tasks import deliver_writeback, enqueue
    from service.writeback import flow as writeback_flow

    rt = runtime()
    with rt.db.session() as session:
        ids = writeback_flow.retry_failed_writebacks(session)
    queued = sum(enqueue(deliver_writeback, i) for i in ids)
    click.echo(f"{len(ids)} failed write-back(s) reset; {queued} queued now, the rest by the next sweep")


@click.group()
def tickets() -> None:
    """Inspect and retry tickets that could not be decided."""


@tickets.command("list")
@click.option("--status", default="failed", show_default=True)
@with_appcontext
def tickets_list(status: str) -> None:
    """List tickets in a status, with why they are there."""
    from service.decide.flow import tickets_in

    rt = runtime()
    with rt.db.session() as session:
        rows = tickets_in(session, status)
        for t in rows:
            click.echo(f"{t.id}	{t.source}:{t.external_id}	attempts {t.attempts}	{t.last_error or ''}")
        click.echo(f"{len(rows)} ticket(s) {status}")


@tickets.command("retry")
@click.argument("ticket_ids", nargs=-1, type=int)
@click.option("--source", help="Only failed tickets from this source (generic, api, or an integration).")
@click.option("--all", "everything", is_flag=True, help="Every failed ticket.")
@with_appcontext
def tickets_retry(ticket_ids: tuple[int, ...], source: str | None, everything: bool) -> None:
    """Put failed tickets back in line: TICKET_IDS, those of --source, or --all."""
    from service.decide.flow import retry_failed_tickets
    from service.worker.tasks import enqueue, process_tickets

    if not (ticket_ids or source or everything):
        raise click.UsageError("say which: TICKET_IDS, --source NAME, or --all")
    rt = runtime()
    with rt.db.session() as session:
        ids = retry_failed_tickets(session, ticket_ids=ticket_ids, source=source)
    size = rt.settings.batch_size
    queued = sum(enqueue(process_tickets, ids[i : i + size]) for i in range(0, len(ids), size))
    click.echo(f"{len(ids)} failed ticket(s) back in line; {queued} batch(es) queued now, the rest by the next sweep")


@click.group()
def users() -> None:
    """Accounts for the review page."""


@users.command("create")
@click.argument("username")
@click.option(
    "--role",
    type=click.Choice(["agent", "admin"]),
    required=True,
    help="agent reviews tickets; admin also manages users.",
)
@click.option(
    "--password-file",
    type=click.File("r"),
    help="Read the password from this file (first line) instead of prompting; - for stdin.",
)
@with_appcontext
def users_create(username: str, role: str, password_file: TextIO | None) -> None:
    """Create a user who can sign in to the review page."""

    if password_file is not None:
        password = password_file.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    rt = runtime()
    with rt.db.session() as session:
        try:
            user = review_users.create_user(session, username=username, password=password, role=role)
        except review_errors.ReviewError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"created {user.role} {user.username!r}; they can sign in at /login")


@click.group()
def feedback() -> None:
    """Agents' corrections from the review page, as training data."""


@feedback.command("export")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="CSV file to write.")
@click.option("--corrections-only", is_flag=True, help="Leave out tickets the agent accepted unchanged.")
@with_appcontext
def feedback_export(out: Path, corrections_only: bool) -> None:
    """Write reviewed tickets as a labelled CSV (text, category, ...) that `triage train` reads as feedback:F."""
    n, stale = write_feedback(out, corrections_only=corrections_only)
    click.echo(
        f"{n} labelled example(s) written to {out}"
        + (f"; {stale} skipped because the ticket's text changed after review" if stale else "")
    )


def write_feedback(out: Path, *, corrections_only: bool) -> tuple[int, int]:
    """The agents' latest verdicts as a CSV; how many were written and how many were stale."""
    import csv

    from service.core.csvcells import cells

    rt = runtime()
    with rt.db.session() as session:
        examples, stale = review_feedback.feedback_examples(session, corrections_only=corrections_only)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            [
                "text",
                "category",
                "priority",
                "kind",
                "source_id",
                "ticket_id",
                "revision",
                "text_sha256",
                "created_at",
                "reviewed_at",
            ]
        )
        for e in examples:
            # Ticket text is written by customers: a subject like =HYPERLINK(...) must stay text in a spreadsheet.
            writer.writerow(
                cells(
                    [
                        e.text,
                        e.label,
                        e.priority,
                        e.kind,
                        e.source_id,
                        e.ticket_id,
                        e.revision,
                        e.text_sha256,
                        e.created_at.isoformat(),
                        e.reviewed_at.isoformat(),
                    ]
                )
            )
    return len(examples), stale
