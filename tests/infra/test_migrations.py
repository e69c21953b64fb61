"""The Alembic history builds the models' schema from empty, matches them exactly, and tears down."""

import psycopg
import pytest
from sqlalchemy import create_engine, inspect

from service.infra.migrate import check, downgrade, upgrade
from tests.support.settings import PG_ADMIN_URL

TABLES = {"tickets", "webhook_events", "predictions", "decisions", "writebacks"}


def roundtrip(url: str) -> None:
    upgrade(url)
    engine = create_engine(url)
    assert TABLES <= set(inspect(engine).get_table_names())
    check(url)  # raises if the models and the migrations disagree
    downgrade(url, "base")
    assert not TABLES & set(inspect(engine).get_table_names())
    upgrade(url)
    engine.dispose()


def test_migrations_roundtrip_on_sqlite(tmp_path):
    roundtrip(f"sqlite:///{tmp_path / 'm.db'}")


@pytest.mark.services
def test_migrations_roundtrip_on_postgres():
    name = "triage_migrations_test"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        roundtrip(PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + "/" + name)
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
