"""Helpers for integration settings: secrets from NAME or NAME_FILE, mapping files, clear errors."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from service.core.ports import IntegrationConfigError
from service.core.secret import secret_list

__all__ = ["IntegrationConfigError", "mapping_file", "missing", "ours_shown", "required", "secret", "secret_list"]


def secret(environ: Mapping[str, str], name: str, *, required: bool = True) -> str:
    """The value of NAME, or the contents of the file named by NAME_FILE (several values: see secret_list)."""
    value, path = environ.get(name), environ.get(name + "_FILE")
    if value and path:
        raise IntegrationConfigError(f"set either {name} or {name}_FILE, not both")
    if path:
        try:
            value = Path(path).read_text().strip()
        except OSError as exc:
            raise IntegrationConfigError(f"{name}_FILE: cannot read {path!r}: {exc.strerror}") from None
    if required and not value:
        raise IntegrationConfigError(f"{name} (or {name}_FILE) is required")
    return value or ""


def required(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise IntegrationConfigError(f"{name} is required")
    return value


def mapping_file(environ: Mapping[str, str], name: str) -> dict[str, Any]:
    """Read the YAML file named by NAME (queue/label/priority -> platform ids)."""
    path = required(environ, name)
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except OSError as exc:
        raise IntegrationConfigError(f"{name}: cannot read {path!r}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise IntegrationConfigError(f"{name}: {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise IntegrationConfigError(f"{name}: {path} must hold a mapping")
    return data


def missing(kind: str, wanted: set[str], mapping: Mapping[str, Any], where: str) -> None:
    """Refuse to start when a queue or priority has no platform id, naming every missing one."""
    absent = sorted(w for w in wanted if w not in mapping)
    if absent:
        raise IntegrationConfigError(
            f"{where}: no {kind} mapping for {', '.join(map(repr, absent))}; add "
            f"them under '{kind}' in the mapping file"
        )


def ours_shown(shown: Iterable[Any], mapping: Mapping[str, Any]) -> frozenset[str]:
    """Our names whose helpdesk value (a number, a name, or an {"id"|"name": ...} reference) is among `shown`."""
    seen = {str(v) for v in shown if v not in (None, "")}
    return frozenset(
        ours
        for ours, value in mapping.items()
        if any(str(v) in seen for v in (value.values() if isinstance(value, Mapping) else (value,)))
    )
