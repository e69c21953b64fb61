"""Zendesk settings from TRIAGE_ZENDESK_* variables and the id mapping file, validated at start."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from integrations.settings import IntegrationConfigError, mapping_file, missing, required, secret, secret_list

ZENDESK_PRIORITIES = ("low", "normal", "high", "urgent")


@dataclass(frozen=True, repr=False)
class ZendeskSettings:
    base_url: str
    auth_header: str
    # Every accepted signing secret: one, or old and new while the webhook's secret is rotated.
    webhook_secrets: tuple[str, ...]
    groups: Mapping[str, int]
    priorities: Mapping[str, str]
    label_field_id: int | None = None
    tag_prefix: str = "triage_"
    timeout_s: float = 10.0
    signature_tolerance_s: int = 300
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"ZendeskSettings(base_url={self.base_url!r}, groups={len(self.groups)}, auth=***)"

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str], *, queues: Collection[str], priorities: Collection[str]
    ) -> ZendeskSettings:
        base = environ.get("TRIAGE_ZENDESK_URL", "").rstrip("/")
        if not base:
            base = f"https://{required(environ, 'TRIAGE_ZENDESK_SUBDOMAIN')}.zendesk.com"
        oauth = secret(environ, "TRIAGE_ZENDESK_OAUTH_TOKEN", required=False)
        if oauth:
            auth = f"Bearer {oauth}"
        else:
            import base64

            email = required(environ, "TRIAGE_ZENDESK_EMAIL")
            token = secret(environ, "TRIAGE_ZENDESK_API_TOKEN")
            auth = "Basic " + base64.b64encode(f"{email}/token:{token}".encode()).decode()
        mapping = mapping_file(environ, "TRIAGE_ZENDESK_MAPPING_FILE")
        where = f"TRIAGE_ZENDESK_MAPPING_FILE ({environ['TRIAGE_ZENDESK_MAPPING_FILE']})"
        groups = mapping.get("groups") or {}
        missing("groups", set(queues), groups, where)
        prio = {p: p for p in priorities if p in ZENDESK_PRIORITIES} | dict(mapping.get("priorities") or {})
        missing("priorities", set(priorities), prio, where)
        bad = sorted(v for v in prio.values() if v not in ZENDESK_PRIORITIES)
        if bad:
            raise IntegrationConfigError(f"{where}: Zendesk priorities are {ZENDESK_PRIORITIES}, not {bad}")
        try:
            group_ids = {q: int(g) for q, g in groups.items()}
        except (TypeError, ValueError):
            raise IntegrationConfigError(f"{where}: every group must be a numeric Zendesk group id") from None
        field_id = mapping.get("label_field_id")
        return cls(
            base_url=base,
            auth_header=auth,
            webhook_secrets=tuple(secret_list(secret(environ, "TRIAGE_ZENDESK_WEBHOOK_SECRET"))),
            groups=group_ids,
            priorities=prio,
            label_field_id=int(field_id) if field_id else None,
            tag_prefix=str(mapping.get("tag_prefix", "triage_")),
            timeout_s=float(environ.get("TRIAGE_HTTP_TIMEOUT_S", "10")),
            signature_tolerance_s=int(environ.get("TRIAGE_SIGNATURE_TOLERANCE_S", "300")),
        )
