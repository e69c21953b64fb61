"""Users of the review page: create, authenticate with a lockout, activate and deactivate."""

from __future__ import annotations

__all__ = ["User"]  # the row type views read, re-exported so they never import the ORM

import logging
import re
import secrets
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from service.core.clock import aware, now_utc
from service.infra.models import (
    User,
)
from service.review.errors import ReviewError
from service.review.queries import find_user, user_by_session_token

log = logging.getLogger(__name__)


ROLES = ("agent", "admin")


MIN_PASSWORD_CHARS = 12


MAX_FAILED_LOGINS = 10


LOCKOUT = timedelta(minutes=15)


_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")


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
        password_hash=generate_password_hash(password),
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
    user.password_hash = generate_password_hash(password)
    user.active, user.failed_logins = True, 0
    user.session_token = secrets.token_urlsafe(32)
    session.commit()
    return user


_DUMMY_HASH: list[str] = []


def authenticate(session: Session, *, username: str, password: str) -> User | None:
    """The user if the password is right and the account may sign in; failures count towards a lockout."""
    now = now_utc()
    user = find_user(session=session, username=username.strip().lower())
    if user is None:
        # Hash anyway, so the answer takes as long as for a real user and does not reveal who exists.
        if not _DUMMY_HASH:
            _DUMMY_HASH.append(generate_password_hash(secrets.token_urlsafe(16)))
        check_password_hash(_DUMMY_HASH[0], password)
        return None
    locked_until = aware(user.locked_until)
    if locked_until is not None and locked_until > now:
        return None
    if not check_password_hash(user.password_hash, password):
        user.failed_logins += 1
        if user.failed_logins >= MAX_FAILED_LOGINS:
            user.locked_until, user.failed_logins = now + LOCKOUT, 0
            log.warning(
                "user %s locked for %s after repeated failed sign-ins", user.id, LOCKOUT, extra={"user_id": user.id}
            )
        session.commit()
        return None
    if not user.active:
        return None
    user.failed_logins, user.locked_until, user.last_login_at = 0, None, now
    session.commit()
    return user


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
    session.commit()
    return user


def user_for_session(session: Session, *, token: str) -> User | None:
    """The active user whose sign-in carries this session token, if any."""
    user = user_by_session_token(session=session, token=token)
    return user if user is not None and user.active else None
