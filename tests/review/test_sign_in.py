"""Sign-in: one UPDATE per failure, one hash whatever the account's state, OWASP's scrypt, upgraded at sign-in."""

import threading

import pytest
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from service.infra.db import Database
from service.infra.models import User
from service.review import users
from tests.support.review import PASSWORD


def make_db(url):
    db = Database(url)
    with db.session() as session:
        users.create_user(session, username="ann", password=PASSWORD, role="agent")
    return db


def failed_logins(db) -> tuple[int, object]:
    with db.session() as session:
        user = session.scalars(select(User).where(User.username == "ann")).one()
        return user.failed_logins, user.locked_until


def guess_in_parallel(db, n: int) -> None:
    """n wrong passwords at once, each in its own thread and session, released together."""
    barrier = threading.Barrier(n)

    def guess() -> None:
        with db.session() as session:
            barrier.wait()
            users.sign_in(session, username="ann", password="wrong password")

    threads = [threading.Thread(target=guess) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_parallel_wrong_passwords_each_count_on_sqlite(sqlite_url):
    db = make_db(sqlite_url)
    guess_in_parallel(db, 6)
    assert failed_logins(db) == (6, None)
    db.dispose()


@pytest.mark.services
def test_parallel_wrong_passwords_each_count_and_lock_on_postgres(own_postgres_url):
    db = make_db(own_postgres_url)
    guess_in_parallel(db, 8)
    assert failed_logins(db) == (8, None)
    # Two more: the tenth failure locks the account and starts the count again.
    guess_in_parallel(db, 2)
    count, locked_until = failed_logins(db)
    assert count == 0 and locked_until is not None
    db.dispose()


@pytest.fixture
def db(sqlite_url):
    database = make_db(sqlite_url)
    yield database
    database.dispose()


def set_user(db, **values) -> None:
    with db.session() as session:
        user = session.scalars(select(User).where(User.username == "ann")).one()
        for name, value in values.items():
            setattr(user, name, value)
        session.commit()


def test_every_attempt_costs_one_hash_whether_the_account_exists_is_locked_or_inactive(db, monkeypatch):
    from datetime import timedelta

    from service.core.clock import now_utc

    calls = []
    real = users.check_password_hash
    monkeypatch.setattr(users, "check_password_hash", lambda h, p: calls.append(h) or real(h, p))

    def attempt(username: str, password: str) -> str:
        with db.session() as session:
            return users.sign_in(session, username=username, password=password).outcome

    outcomes = [attempt("nobody", "x"), attempt("ann", "wrong"), attempt("ann", PASSWORD)]
    set_user(db, locked_until=now_utc() + timedelta(minutes=5))
    outcomes.append(attempt("ann", PASSWORD))
    set_user(db, locked_until=None, active=False)
    outcomes.append(attempt("ann", PASSWORD))
    assert outcomes == ["unknown_user", "wrong_password", "signed_in", "locked", "inactive"]
    assert len(calls) == 5
    # The stand-in hash for unknown users costs what a real one does: the same method and parameters.
    assert {h.split("$")[0] for h in calls} == {users.PASSWORD_METHOD}


def test_passwords_are_hashed_with_owasps_scrypt_and_older_hashes_are_replaced_at_sign_in(db):
    with db.session() as session:
        stored = session.scalars(select(User.password_hash).where(User.username == "ann")).one()
    assert stored.startswith("scrypt:8192:8:10$")
    set_user(db, password_hash=generate_password_hash(PASSWORD))  # werkzeug's default: scrypt:32768:8:1
    with db.session() as session:
        assert users.sign_in(session, username="ann", password=PASSWORD).user is not None
    with db.session() as session:
        upgraded = session.scalars(select(User.password_hash).where(User.username == "ann")).one()
    assert upgraded.startswith("scrypt:8192:8:10$") and users.authenticate(session, username="ann", password=PASSWORD)


def test_a_wrong_password_does_not_upgrade_the_hash(db):
    old = generate_password_hash(PASSWORD)
    set_user(db, password_hash=old)
    with db.session() as session:
        users.sign_in(session, username="ann", password="wrong")
        assert session.scalars(select(User.password_hash).where(User.username == "ann")).one() == old
