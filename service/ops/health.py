"""Readiness: the database answers and has every migration, and the broker takes connections."""

from __future__ import annotations

from service.runtime import Runtime


def readiness(rt: Runtime) -> tuple[bool, dict[str, str]]:
    """Whether this process can take work, and each check's answer ("ok" or why not)."""
    checks: dict[str, str] = {}
    try:
        checks["database"] = rt.db.ping() or "ok"
    except Exception as exc:
        checks["database"] = f"unavailable: {type(exc).__name__}"
    try:
        with rt.broker_connection() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        checks["broker"] = "ok"
    except Exception as exc:
        checks["broker"] = f"unavailable: {type(exc).__name__}"
    return all(v == "ok" for v in checks.values()), checks
