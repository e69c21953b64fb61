"""`triage config` and `triage db`: settings and the database schema."""

from __future__ import annotations

import logging

import click

from service.cli.common import settings_from_env
from service.core.settings import describe

log = logging.getLogger(__name__)


@click.command()
@click.option("--markdown", is_flag=True, help="As the table rows of the README.")
def config(markdown: bool) -> None:
    """Print every setting: variable, default and meaning."""
    for name, default, doc in describe():
        if markdown:
            click.echo(f"| `{name}` | " + ("(empty)" if default == "(empty)" else f"`{default}`") + f" | {doc} |")
        else:
            click.echo(f"{name:34} {default:28} {doc}")
    if not markdown:
        from service.drafts.local_model import missing_drafting_model

        settings = settings_from_env()
        problem = missing_drafting_model(settings.drafting_model, settings.cache_dir)
        state = f"template-only: {problem}" if problem else "installed"
        if settings.drafting_model == "none":
            state = "templates only (chosen)"
        click.echo(f"\ndrafting model {settings.drafting_model}: {state}")


@click.group()
def db() -> None:
    """Database schema commands (Alembic)."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Migrate the database to REVISION (default: head)."""
    from service.infra.migrate import upgrade

    settings = settings_from_env()
    upgrade(settings.database_url, revision)
    click.echo(f"database at {revision}")


@db.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Migrate the database down to REVISION (e.g. base)."""
    from service.infra.migrate import downgrade

    downgrade(settings_from_env().database_url, revision)
    click.echo(f"database at {revision}")
