"""Review-page sessions kept on the server: opened at sign-in, ended by signing out, a new password, deactivation,
an admin, the idle limit or the absolute one."""

from __future__ import annotations

__all__ = ["UserSession"]  # the row type the admin page reads, re-exported so views never import the ORM

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from service.core.clock import aware, now_utc
from service.infra.models import User, UserSession
from service.review.queries import end_sessions, live_session, open_sessions

# last_seen_at is written at most this often per session: a page view is not worth a write each time, and the
# idle limit is counted in hours.
TOUCH_EVERY = timedelta(seconds=60)


def digest(token: str) -> str:
    """What the table keeps of a session token: a stolen copy of the table signs nobody in."""
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(
    session: Session, *, user_id: int, absolute_s: int, address: str | None, user_agent: str | None
) -> str:
    """Start a session for a user who just signed in; return the token the cookie carries."""
    token = secrets.token_urlsafe(32)
    now = now_utc()
    session.add(
        UserSession(
            user_id=user_id,
            token_sha256=digest(token),
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(seconds=absolute_s),
            address=(address or "")[:64],
            user_agent=(user_agent or "")[:200],
        )
    )
    session.commit()
    return token


def session_user(session: Session, *, token: str, idle_s: int) -> User | None:
    """The active user a session token signs in, while the session is open, unexpired and not idle too long."""
    if not token:
        return None
    row = live_session(session=session, token_sha256=digest(token))
    if row is None:
        return None
    now = now_utc()
    expires_at, last_seen_at = aware(row.expires_at), aware(row.last_seen_at)
    assert expires_at is not None and last_seen_at is not None
    ended = "expired" if expires_at <= now else "idle" if last_seen_at <= now - timedelta(seconds=idle_s) else None
    if ended is not None:
        end_sessions(session=session, user_id=row.user_id, now=now, reason=ended, session_id=row.id)
        session.commit()
        return None
    if not row.user.active:
        return None
    if now - last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now
        session.commit()
    return row.user


def end_session(session: Session, *, token: str, reason: str) -> None:
    """End the one session this token belongs to, if it is open."""
    row = live_session(session=session, token_sha256=digest(token)) if token else None
    if row is not None:
        end_sessions(session=session, user_id=row.user_id, now=now_utc(), reason=reason, session_id=row.id)
        session.commit()


def end_user_sessions(session: Session, *, user_id: int, reason: str, session_id: int | None = None) -> int:
    """End every open session of a user (or one of them, by id); the caller commits. Return how many ended."""
    return end_sessions(session=session, user_id=user_id, now=now_utc(), reason=reason, session_id=session_id)


def active_sessions(session: Session, *, idle_s: int, now: datetime | None = None) -> list[UserSession]:
    """Every session that still signs someone in, for the admins' sessions page."""
    now = now or now_utc()
    return open_sessions(session=session, now=now, idle_since=now - timedelta(seconds=idle_s))
