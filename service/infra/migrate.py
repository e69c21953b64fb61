"""Run Alembic from code, with the URL taken from settings (used by the CLI and tests)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

ROOT = Path(__file__).resolve().parents[2]


def alembic_config(database_url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["database_url"] = database_url
    config.attributes["configure_logging"] = False
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


def check(database_url: str) -> None:
    command.check(alembic_config(database_url))


@cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(""))


def schema_behind(conn: Connection) -> str | None:
    """What is missing when the database lacks migrations this code needs, else None (also when it is ahead)."""
    current, head = MigrationContext.configure(conn).get_current_revision(), _scripts().get_current_head()
    if current == head:
        return None
    if current is None:
        return "no schema: run `triage db upgrade`"
    if current not in {script.revision for script in _scripts().walk_revisions()}:
        return None  # a newer release migrated first, as in a rolling upgrade; its migrations keep this one working
    return f"schema at {current}, this release needs {head}: run `triage db upgrade`"
