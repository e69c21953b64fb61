"""Jira settings from TRIAGE_JIRA_* variables and the id mapping file, validated at start."""

from __future__ import annotations

import base64
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from integrations.settings import IntegrationConfigError, mapping_file, missing, required, secret, secret_list

COMMENT_MODES = ("servicedesk", "restricted")


def ref(value: Any) -> dict[str, str]:
    """A Jira object reference: ids are safer than names, which admins rename and users see localised."""
    if isinstance(value, dict) and ({"id"} <= set(value) or {"name"} <= set(value)):
        return {k: str(v) for k, v in value.items() if k in ("id", "name")}
    text = str(value)
    return {"id": text} if text.isdigit() else {"name": text}


@dataclass(frozen=True, repr=False)
class JiraSettings:
    base_url: str
    auth_header: str
    # Every accepted signing secret: one, or old and new while the webhook's secret is rotated.
    webhook_secrets: tuple[str, ...]
    components: Mapping[str, dict[str, str]]
    priorities: Mapping[str, dict[str, str]]
    comment_mode: str = "servicedesk"
    comment_visibility: Mapping[str, str] | None = None
    label_prefix: str = "triage_"
    request_type_field: str | None = None
    request_types: Mapping[str, Any] | None = None
    writes_per_minute: int = 100
    timeout_s: float = 10.0
    replay_window_s: int = 24 * 3600

    def __repr__(self) -> str:
        return f"JiraSettings(base_url={self.base_url!r}, components={len(self.components)}, auth=***)"

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str], *, queues: Collection[str], priorities: Collection[str]
    ) -> JiraSettings:
        base = required(environ, "TRIAGE_JIRA_URL").rstrip("/")
        pat = secret(environ, "TRIAGE_JIRA_PAT", required=False)
        if pat:  # Data Center personal access token
            auth = f"Bearer {pat}"
        else:  # Cloud: e-mail + API token
            email = required(environ, "TRIAGE_JIRA_EMAIL")
            token = secret(environ, "TRIAGE_JIRA_API_TOKEN")
            auth = "Basic " + base64.b64encode(f"{email}:{token}".encode()).decode()
        mapping = mapping_file(environ, "TRIAGE_JIRA_MAPPING_FILE")
        where = f"TRIAGE_JIRA_MAPPING_FILE ({environ['TRIAGE_JIRA_MAPPING_FILE']})"
        components = mapping.get("components") or {}
        missing("components", set(queues), components, where)
        prio = mapping.get("priorities") or {}
        missing("priorities", set(priorities), prio, where)
        mode = str(mapping.get("comment", "servicedesk"))
        if mode not in COMMENT_MODES:
            raise IntegrationConfigError(f"{where}: comment must be one of {COMMENT_MODES}, not {mode!r}")
        visibility = mapping.get("comment_visibility") or {"type": "role", "value": "Administrators"}
        request_types = mapping.get("request_types")
        if request_types:
            missing("request_types", set(queues), request_types, where)
            if not mapping.get("request_type_field"):
                raise IntegrationConfigError(
                    f"{where}: request_types needs request_type_field (e.g. customfield_10010)"
                )
        return cls(
            base_url=base,
            auth_header=auth,
            webhook_secrets=tuple(secret_list(secret(environ, "TRIAGE_JIRA_WEBHOOK_SECRET"))),
            components={q: ref(v) for q, v in components.items()},
            priorities={p: ref(v) for p, v in prio.items()},
            comment_mode=mode,
            comment_visibility={str(k): str(v) for k, v in visibility.items()},
            label_prefix=str(mapping.get("label_prefix", "triage_")),
            request_type_field=mapping.get("request_type_field"),
            request_types=request_types,
            writes_per_minute=int(environ.get("TRIAGE_JIRA_WRITES_PER_MINUTE", "100")),
            timeout_s=float(environ.get("TRIAGE_HTTP_TIMEOUT_S", "10")),
            replay_window_s=int(environ.get("TRIAGE_REPLAY_WINDOW_S", str(24 * 3600))),
        )
