"""Engine and session factory, built once per process from the database URL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker


class Database:
    """Owns the engine and hands out sessions."""

    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that rolls back on error and always closes."""
        session = self.sessions()
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def ping(self) -> str | None:
        """Reach the database; what is missing from its schema, or None when it has every migration."""
        from service.infra.migrate import schema_behind

        with self.engine.connect() as conn:
            return schema_behind(conn)

    def dispose(self) -> None:
        self.engine.dispose()


# SQLSTATE classes that mean "try again": connection exception, transaction rollback (deadlock, serialization),
# insufficient resources (too many connections), operator intervention (shutdown, starting up).
_TRANSIENT_SQLSTATE_CLASSES = {"08", "40", "53", "57"}


def unavailable(exc: BaseException) -> bool:
    """Whether a database error means "down, restarting or busy" (retry later) rather than a bug of ours."""
    if isinstance(exc, PoolTimeout):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    if getattr(orig, "sqlite_errorname", None) is not None:
        # SQLite reports a missing table as an OperationalError too; only lock contention passes with time.
        return getattr(orig, "sqlite_errorname", None) in ("SQLITE_BUSY", "SQLITE_LOCKED")
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate:
        return str(sqlstate)[:2] in _TRANSIENT_SQLSTATE_CLASSES
    # No answer from a server at all: refused, reset or timed out while connecting.
    return isinstance(exc, OperationalError)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        # SQLite: wait on writer locks instead of failing, WAL so readers never block the writer.
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            # In WAL mode NORMAL never corrupts the file; it may lose the last commits on power loss only.
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    # No pool_pre_ping: it costs a round trip per checkout, as much as the intake INSERT itself. After a
    # Postgres restart the first statement on a dead connection fails (503 to the sender, who retries) and
    # SQLAlchemy then invalidates the whole pool, so later checkouts connect afresh.
    return create_engine(url, pool_size=10, max_overflow=20, connect_args={"connect_timeout": 5})
