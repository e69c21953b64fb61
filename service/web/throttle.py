"""Rate limits: intake per source and sender address (429 as problem+json), counted in each process and shared
through Redis in batches (service/infra/window_limits.py); sign-in per address and per username with
Flask-Limiter (429 as the sign-in page), a Redis round trip per attempt. Counts are shared through Redis when
the broker is Redis."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, request
from flask_limiter import Limiter

from service.core.settings import Settings
from service.infra.window_limits import Breach, WindowLimiter
from service.runtime import runtime
from service.web.errors import problem

# The endpoints that take tickets in, and the source each stands for (None: the URL names it).
INTAKE_ENDPOINTS = {"webhooks.generic": "generic", "webhooks.platform": None, "api.create_ticket": "api"}


def intake_source() -> str | None:
    """The source of an intake request (generic, api, or an integration; unknown for other URLs), else None."""
    if request.endpoint not in INTAKE_ENDPOINTS:
        return None
    source = INTAKE_ENDPOINTS[request.endpoint] or (request.view_args or {}).get("source", "")
    # A name from the URL is kept only if it is enabled: anyone can invent /webhooks/<name> URLs, and each
    # invented name would otherwise become a limiter key and a metrics label of its own.
    if request.endpoint == "webhooks.platform" and source not in runtime().integrations.enabled:
        return "unknown"
    return source


def sender_key() -> str:
    """One budget per source and sender address, so a noisy sender cannot use up another's."""
    return f"{intake_source() or 'other'}|{request.remote_addr or '-'}"


def storage_uri(settings: Settings) -> str:
    """Share the counts through Redis when the broker is Redis; embedded mode has one process, so memory."""
    if settings.broker_url.startswith(("redis://", "rediss://")):
        return settings.broker_url
    return "memory://"


def install(app: Flask, settings: Settings) -> tuple[Limiter, WindowLimiter | None]:
    """Limit POSTs to the intake endpoints per sender (unless TRIAGE_INTAKE_RATE_LIMIT is off); return the
    Flask-Limiter that limit_sign_in() uses for /login, and the intake limiter (the fast path counts with it)."""
    storage = storage_uri(settings)
    intake: WindowLimiter | None = None
    if settings.intake_rate_limit_enabled:
        intake = WindowLimiter.parse(
            settings.intake_rate_limit,
            redis_url=storage if storage != "memory://" else None,
            prefix="triage:intake",
            flush_s=INTAKE_SHARE_S,
        )

        @app.before_request
        def _limit_intake() -> Response | None:
            if request.method != "POST" or request.environ.get(COUNTED) or intake_source() is None:
                return None
            breach = intake.hit(sender_key())
            return None if breach is None else _too_many(breach)

    limiter = Limiter(
        key_func=sender_key,
        app=app,
        storage_uri=storage,
        # Sliding window: no double burst at a window edge, at the cost of two counters per key.
        strategy="sliding-window-counter",
        key_prefix="triage:intake",
        storage_options={"socket_timeout": 0.5, "socket_connect_timeout": 0.5},  # type: ignore[dict-item]  # the stub says int; redis-py takes seconds as float
        # Redis down: limit in this process's memory rather than refuse or stall sign-in.
        swallow_errors=True,
        in_memory_fallback_enabled=True,
    )
    return limiter, intake


# Set by the intake fast path on a request it counted before handing it to the view.
COUNTED = "triage.intake_counted"
# How often each web process adds its intake counts to the shared ones: the most a limit can lag across processes.
INTAKE_SHARE_S = 0.1


def limit_sign_in(app: Flask, limiter: Limiter, settings: Settings) -> None:
    """Limit POST /login per address and per username (after the sign-in blueprint is registered).

    Per address against one guesser trying many accounts, per username against many addresses trying one. Each
    attempt costs a memory-hard hash whether or not the account exists, so these also bound what a flood costs.
    """
    from service.web import auth

    view: Any = app.view_functions["auth.login"]
    for key, value, scope in (
        (auth.address_key, settings.login_rate_limit, "login-address"),
        (auth.username_key, settings.login_user_rate_limit, "login-user"),
    ):
        # Both register under the view's qualified name, so the innermost wrapper checks both at once.
        view = limiter.limit(value, key_func=key, methods=["POST"], scope=scope, on_breach=auth.too_many_sign_ins)(view)
    app.view_functions["auth.login"] = view


def _too_many(breach: Breach) -> Response:
    response = problem(
        429,
        "Too Many Requests",
        f"more than {breach.limit} from this sender for {intake_source()!r}; retry after {breach.retry_after_s} s",
        retry_after_s=breach.retry_after_s,
    )
    response.headers["Retry-After"] = str(breach.retry_after_s)
    return response
