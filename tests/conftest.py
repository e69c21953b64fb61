"""Shared fixtures: tiny trained model, apps on SQLite and Postgres, Redis, a real worker, fake helpdesk."""

from __future__ import annotations

import contextlib
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from integrations.fake.server import FakeHelpdeskServer
from service import create_app
from service.infra.migrate import upgrade
from tests.support.settings import BANKING77, PG_ADMIN_URL, REDIS_URL, TINY_LABELS, make_settings, write_subset
from tests.support.vendors import ZENDESK_GROUPS


def _fuzzing():
    """The fuzz helpers if this process ran fuzz tests (importing them costs 1.6 s), else None."""
    return sys.modules.get("tests.support.fuzzing")


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A pytest-xdist process hands its fuzz tallies to the controller, which prints them."""
    fuzzing = _fuzzing()
    if fuzzing is not None and hasattr(session.config, "workeroutput"):
        session.config.workeroutput["fuzz_tally"] = dict(fuzzing.TALLY)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    tally = getattr(node, "workeroutput", {}).get("fuzz_tally")
    if tally:
        from tests.support.fuzzing import TALLY

        TALLY.update(tally)


def pytest_terminal_summary(terminalreporter) -> None:
    """Say how many fuzz cases ran, so the total is visible in every run that includes the fuzz tests."""
    fuzzing = _fuzzing()
    if fuzzing is None:
        return
    ran = {name: fuzzing.TALLY[name] for name in fuzzing.BUDGET if fuzzing.TALLY[name]}
    if ran:
        parts = ", ".join(f"{name} {count}" for name, count in ran.items())
        terminalreporter.write_line(f"fuzz cases run: {sum(ran.values())} ({parts})")


@pytest.fixture(scope="session")
def tiny_test_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_subset(tmp_path_factory.mktemp("data") / "test.csv", BANKING77 / "test.csv", TINY_LABELS, 10)


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models directory holding one promoted tiny baseline trained on Banking77 examples."""
    from training.baseline import train

    base = tmp_path_factory.mktemp("models")
    data = write_subset(base / "train.csv", BANKING77 / "train.csv", TINY_LABELS, 40)
    train(data=data, out=base, name="baseline", progress=False)
    return base


@pytest.fixture(scope="session")
def frozen_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models directory holding one promoted tiny frozen-embedding model (it computes embeddings; ~20 s)."""
    from training.frozen import train

    base = tmp_path_factory.mktemp("frozen-models")
    data = write_subset(base / "train.csv", BANKING77 / "train.csv", TINY_LABELS, 16)
    train(data=data, out=base, name="frozen", progress=False)
    return base


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'triage.db'}"
    upgrade(url)
    return url


@pytest.fixture
def app(sqlite_url: str, models_dir: Path):
    """An app on a fresh SQLite file with the in-memory broker and no worker (tasks wait in the queue)."""
    application = create_app(make_settings(sqlite_url, models_dir), environ={})
    yield application
    application.extensions["triage"].db.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runtime(app):
    return app.extensions["triage"]


@pytest.fixture
def fake_helpdesk() -> Iterator[FakeHelpdeskServer]:
    server = FakeHelpdeskServer().start()
    yield server
    server.stop()


@contextlib.contextmanager
def _fresh_database() -> Iterator[str]:
    """A fresh, migrated Postgres database, dropped afterwards."""
    name = f"triage_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"Postgres is not reachable at {PG_ADMIN_URL} ({exc}); start it (see README) or point TRIAGE_TEST_PG at one"
        )
    admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + "/" + name
    upgrade(url)
    try:
        yield url
    finally:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, migrated Postgres database for this test session, shared by its tests, dropped afterwards."""
    with _fresh_database() as url:
        yield url


@pytest.fixture
def own_postgres_url() -> Iterator[str]:
    """A Postgres database of this test's own: for end-to-end tests that count every row, whatever ran before."""
    with _fresh_database() as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> str:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(
            f"Redis is not reachable at {REDIS_URL} ({exc}); start it (see README) or point TRIAGE_TEST_REDIS at one"
        )
    client.flushdb()
    return REDIS_URL


@pytest.fixture
def zendesk_server():
    from tests.support.vendors import ZendeskServer

    server = ZendeskServer(groups=set(ZENDESK_GROUPS.values())).start()
    yield server
    server.stop()


@pytest.fixture
def jira_server():
    from tests.support.vendors import JiraServer

    server = JiraServer(priorities={"1", "2", "3", "4"}, components={str(10100 + i) for i in range(11)}).start()
    yield server
    server.stop()


@pytest.fixture
def helpdesk_app(sqlite_url, models_dir, fake_helpdesk):
    application = create_app(
        make_settings(sqlite_url, models_dir, writeback_max_attempts=3),
        environ={"TRIAGE_FAKE_HELPDESK_URL": fake_helpdesk.url},
    )
    yield application
    application.extensions["triage"].db.dispose()
