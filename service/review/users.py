"""Users of the review page: create, authenticate with a lockout, change passwords, activate and deactivate."""

from __future__ import annotations

__all__ = ["User"]  # the row type views read, re-exported so they never import the ORM

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from service.core.clock import aware, now_utc
from service.infra.models import (
    User,
)
from service.review.errors import ReviewError
from service.review.queries import find_user, record_failed_sign_in
from service.review.sessions import end_user_sessions

log = logging.getLogger(__name__)


ROLES = ("agent", "admin")


MIN_PASSWORD_CHARS = 12


MAX_FAILED_LOGINS = 10


LOCKOUT = timedelta(minutes=15)


_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")


# scrypt with N=2^13, r=8, p=10: one of the settings OWASP's Password Storage Cheat Sheet lists as equal in
# strength (N=2^17/r=8/p=1, 2^16/8/2, 2^15/8/3, 2^14/8/5, 2^13/8/10), and the one that needs the least memory:
# 8 MiB per attempt instead of werkzeug's default 32 MiB (N=2^15, r=8, p=1, which is below OWASP's minimum).
# Reference: https://cheatsheetseries.owasp.org/cheatsheets/Password_Storage_Cheat_Sheet.html#scrypt
PASSWORD_METHOD = "scrypt:8192:8:10"


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=PASSWORD_METHOD)


def needs_rehash(password_hash: str) -> bool:
    """Whether a stored hash was made with other parameters (it is replaced at the next sign-in)."""
    return not password_hash.startswith(PASSWORD_METHOD + "$")


def create_user(session: Session, *, username: str, password: str, role: str) -> User:
    """Add a user who can sign in to the review page."""
    username = username.strip().lower()
    if not _USERNAME.match(username):
        raise ReviewError(
            "a username is 1 to 64 lower-case letters, digits and . _ @ -, starting with a letter or digit"
        )
    if role not in ROLES:
        raise ReviewError(f"role must be one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD_CHARS:
        raise ReviewError(f"a password needs at least {MIN_PASSWORD_CHARS} characters")
    if find_user(session=session, username=username) is not None:
        raise ReviewError(f"user {username!r} already exists", status=409)
    user = User(
        username=username,
        password_hash=hash_password(password),
        role=role,
        active=True,
        session_token=secrets.token_urlsafe(32),
        failed_logins=0,
        created_at=now_utc(),
    )
    session.add(user)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise ReviewError(f"user {username!r} already exists", status=409) from None
    return user


def reset_password(session: Session, *, user_id: int, password: str) -> User:
    """Give a user a new password and let them sign in again; their open sessions end."""
    user = session.get(User, user_id)
    if user is None:
        raise ReviewError(f"no user {user_id}", status=404)
    if len(password) < MIN_PASSWORD_CHARS:
        raise ReviewError(f"a password needs at least {MIN_PASSWORD_CHARS} characters")
    user.password_hash = hash_password(password)
    user.active, user.failed_logins, user.locked_until = True, 0, None
    user.session_token = secrets.token_urlsafe(32)
    end_user_sessions(session, user_id=user.id, reason="password_changed")
    session.commit()
    return user


def change_password(session: Session, *, user_id: int, current: str, new: str) -> User:
    """A signed-in user's own new password, given the current one; every session of theirs ends."""
    user = session.get(User, user_id)
    if user is None:
        raise ReviewError(f"no user {user_id}", status=404)
    if not check_password_hash(user.password_hash, current):
        raise ReviewError("the current password is wrong", status=403)
    if new == current:
        raise ReviewError("the new password is the same as the current one")
    return reset_password(session, user_id=user_id, password=new)


@dataclass(frozen=True)
class SignIn:
    """The outcome of one sign-in attempt: the user, or why not (for the audit log, never for the page)."""

    user: User | None
    outcome: str  # signed_in, unknown_user, wrong_password, locked, inactive
    user_id: int | None = None
    locked_now: bool = False


_DUMMY_HASH: list[str] = []


def _dummy_hash() -> str:
    if not _DUMMY_HASH:
        _DUMMY_HASH.append(hash_password(secrets.token_urlsafe(16)))
    return _DUMMY_HASH[0]


def sign_in(session: Session, *, username: str, password: str) -> SignIn:
    """Check a username and password; failures count towards a lockout, in one UPDATE each."""
    now = now_utc()
    user = find_user(session=session, username=username.strip().lower()[:64])
    # One hash check whatever the account's state, so the time taken does not say whether it exists, is locked
    # or is deactivated.
    matches = check_password_hash(user.password_hash if user is not None else _dummy_hash(), password)
    if user is None:
        return SignIn(None, "unknown_user")
    locked_until = aware(user.locked_until)
    if locked_until is not None and locked_until > now:
        return SignIn(None, "locked", user.id)
    if not matches:
        locked = record_failed_sign_in(
            session=session, user_id=user.id, max_failures=MAX_FAILED_LOGINS, lock_until=now + LOCKOUT
        )
        session.commit()
        if locked:
            log.warning(
                "user %s locked for %s after repeated failed sign-ins", user.id, LOCKOUT, extra={"user_id": user.id}
            )
        return SignIn(None, "wrong_password", user.id, locked_now=locked)
    if not user.active:
        return SignIn(None, "inactive", user.id)
    if needs_rehash(user.password_hash):
        # Transparent upgrade: the password is at hand only now, so an older hash is replaced at sign-in.
        user.password_hash = hash_password(password)
    user.failed_logins, user.locked_until, user.last_login_at = 0, None, now
    session.commit()
    return SignIn(user, "signed_in", user.id)


def authenticate(session: Session, *, username: str, password: str) -> User | None:
    """The user if the password is right and the account may sign in; failures count towards a lockout."""
    return sign_in(session, username=username, password=password).user


def set_user_active(session: Session, *, user_id: int, active: bool, by_user_id: int) -> User:
    """Let a user sign in again, or stop them; stopping also ends their open sessions."""
    user = session.get(User, user_id)
    if user is None:
        raise ReviewError(f"no user {user_id}", status=404)
    if user.id == by_user_id and not active:
        raise ReviewError("you cannot deactivate yourself; ask another admin")
    user.active = active
    if not active:
        user.session_token = secrets.token_urlsafe(32)
        end_user_sessions(session, user_id=user.id, reason="deactivated")
    else:
        user.failed_logins, user.locked_until = 0, None  # restoring access also lifts a lockout
    session.commit()
    return user
