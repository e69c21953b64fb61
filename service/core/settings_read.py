"""How settings are read and checked: TRIAGE_* variables and *_FILE secrets parsed by type, values validated."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import Field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from service.core.secret import Secret

if TYPE_CHECKING:
    from service.core.settings import Settings

PREFIX = "TRIAGE_"
LOG_FORMATS = ("auto", "json", "text")


class ConfigError(ValueError):
    """A setting has a value Triage cannot use."""


def values_from_env(
    declared: Iterable[Field[Any]], env: Mapping[str, str], overrides: Mapping[str, Any]
) -> dict[str, Any]:
    """The values TRIAGE_* variables (and *_FILE for secrets) set for the declared fields, then the overrides."""
    declared = list(declared)
    by_name = {f.name: f for f in declared}
    values: dict[str, Any] = {}
    for f in declared:
        key = PREFIX + f.name.upper()
        raw = env.get(key)
        file_key = key + "_FILE"
        if f.metadata.get("secret") and env.get(file_key):
            if raw is not None:
                raise ConfigError(f"set either {key} or {file_key}, not both")
            try:
                raw = Path(env[file_key]).read_text().strip()
            except OSError as exc:
                raise ConfigError(f"{file_key}: cannot read {env[file_key]!r}: {exc.strerror}") from exc
        if raw is not None:
            values[f.name] = _parse(key, raw, f.type)
    for name, value in overrides.items():
        if name not in by_name:
            raise ConfigError(f"unknown setting {name!r}")
        values[name] = _parse(PREFIX + name.upper(), value, by_name[name].type) if isinstance(value, str) else value
    return values


def check(settings: Settings) -> None:
    """Refuse values the service cannot use, naming the variable and what to set instead."""
    for name in (
        "drafting_concurrency",
        "model_threads",
        "batch_size",
        "session_lifetime_s",
        "session_absolute_s",
        "signature_tolerance_s",
        "max_body_bytes",
        "writeback_max_attempts",
        "claim_lease_s",
        "sweep_interval_s",
        "process_give_up_s",
        "fetch_backoff_s",
        "replay_window_s",
        "worker_concurrency",
        "drift_window_days",
        "drift_min_predictions",
        "drift_psi_threshold",
        "intents_window_days",
        "intents_max_tickets",
        "llm_top_k",
        "llm_max_chars",
    ):
        if getattr(settings, name) <= 0:
            raise ConfigError(f"{PREFIX}{name.upper()} must be positive, got {getattr(settings, name)}")
    if settings.intake_linger_ms < 0:
        raise ConfigError(f"{PREFIX}INTAKE_LINGER_MS must be 0 (no wait) or positive, got {settings.intake_linger_ms}")
    if settings.metrics_cache_s < 0:
        raise ConfigError(f"{PREFIX}METRICS_CACHE_S must be 0 (no cache) or positive, got {settings.metrics_cache_s}")
    if settings.intents_interval_s < 0:
        raise ConfigError(f"{PREFIX}INTENTS_INTERVAL_S must be 0 (off) or positive, got {settings.intents_interval_s}")
    if settings.intents_min_cluster_size < 2:
        raise ConfigError(
            f"{PREFIX}INTENTS_MIN_CLUSTER_SIZE must be 2 or more, got {settings.intents_min_cluster_size}"
        )
    if settings.retrain_interval_s < 0:
        raise ConfigError(f"{PREFIX}RETRAIN_INTERVAL_S must be 0 (off) or positive, got {settings.retrain_interval_s}")
    if settings.log_format not in LOG_FORMATS:
        raise ConfigError(f"{PREFIX}LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, got {settings.log_format!r}")
    limits = ("login_rate_limit", "login_user_rate_limit", "ops_rate_limit")
    for name in (*limits, "intake_rate_limit") if settings.intake_rate_limit_enabled else limits:
        _check_limit(name, getattr(settings, name))
    if settings.retrain_interval_s and not settings.retrain_holdout:
        raise ConfigError(f"{PREFIX}RETRAIN_INTERVAL_S is set: set {PREFIX}RETRAIN_HOLDOUT to the gate's held-out CSV")


def _check_limit(name: str, value: str) -> None:
    from limits import parse_many

    try:
        parse_many(value)
    except ValueError as exc:
        raise ConfigError(
            f"{PREFIX}{name.upper()}={value!r} is not a rate limit such as 100/second or 100/second;3000/minute "
            f"({exc}){'; use off for none' if name == 'intake_rate_limit' else ''}"
        ) from None


def _parse(key: str, raw: str, type_name: Any) -> Any:
    """Turn one raw string into the field's type, refusing anything ambiguous."""
    kind = type_name if isinstance(type_name, str) else getattr(type_name, "__name__", str(type_name))
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "bool":
            if raw not in ("true", "false"):
                raise ValueError("use true or false")
            return raw == "true"
        if kind == "Path":
            return Path(raw)
        if kind == "Secret":
            return Secret(raw)
        return raw
    except ValueError as exc:
        raise ConfigError(f"{key}={raw if kind != 'Secret' else '***'!s} is not a valid {kind}: {exc}") from exc
