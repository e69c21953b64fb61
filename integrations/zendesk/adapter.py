"""Zendesk behind the Helpdesk and WebhookSource ports."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from integrations.settings import ours_shown
from integrations.zendesk import webhook
from integrations.zendesk.client import ZendeskClient
from integrations.zendesk.settings import ZendeskSettings
from service.core.domain import InboundEvent, InboundTicket, RateLimit, WritebackRequest
from service.core.ports import IntegrationError, PayloadError


class ZendeskHelpdesk:
    name = "zendesk"

    def __init__(self, settings: ZendeskSettings) -> None:
        self.settings = settings
        self.client = ZendeskClient(settings)

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        webhook.verify(self.settings.webhook_secrets, headers, body, tolerance_s=self.settings.signature_tolerance_s)

    def parse(self, payload: Any, headers: Mapping[str, str]) -> InboundEvent:
        return webhook.parse(payload, headers)

    def signed_digest(self, headers: Mapping[str, str]) -> str:
        return hashlib.sha256(headers.get("X-Zendesk-Webhook-Signature", "").encode()).hexdigest()

    def external_id_problem(self, external_id: str) -> str | None:
        if external_id.isascii() and external_id.isdigit() and len(external_id) <= 19:
            return None
        return f"Zendesk ticket ids are numbers; {external_id[:40]!r} cannot be a Zendesk ticket"

    def routing_shown(self, ticket: InboundTicket) -> Mapping[str, frozenset[str]]:
        shown = {
            "queue": ours_shown([ticket.metadata.get("group_id")], self.settings.groups),
            "priority": ours_shown([ticket.metadata.get("zendesk_priority")], self.settings.priorities),
        }
        return {field: names for field, names in shown.items() if names}

    def fetch_ticket(self, external_id: str) -> InboundTicket:
        if problem := self.external_id_problem(external_id):
            raise IntegrationError(problem, permanent=True)
        data = self.client.show_ticket(external_id)
        users = {u.get("id"): u for u in data.get("users") or [] if isinstance(u, dict)}
        ticket = data.get("ticket")
        if not isinstance(ticket, dict):
            raise IntegrationError(f"Zendesk ticket {external_id}: answer has no 'ticket'", permanent=True)
        try:
            return webhook.ticket_from_api(ticket, users.get(ticket.get("requester_id")))
        except PayloadError as exc:
            raise IntegrationError(f"Zendesk ticket {external_id}: {exc}", permanent=True) from None

    def write_back(self, request: WritebackRequest) -> None:
        """Group, priority, tags, label field and an internal note, in one ticket update."""
        self.client.update_ticket(
            request.ticket_external_id, self._update(request, {"body": request.note, "public": False})
        )

    def post_reply(self, request: WritebackRequest) -> None:
        """The same update with the approved reply as the public comment: one call, so a retry cannot send
        the reply twice after the routing failed, nor the routing without the reply."""
        # Reference: https://developer.zendesk.com/api-reference/ticketing/tickets/ticket_comments/
        self.client.update_ticket(
            request.ticket_external_id, self._update(request, {"body": request.public_reply or "", "public": True})
        )

    def _update(self, request: WritebackRequest, comment: dict[str, Any]) -> dict[str, Any]:
        s = self.settings
        update: dict[str, Any] = {
            # additional_tags adds without replacing the agent's own tags.
            "additional_tags": [_tag(s.tag_prefix + t.removeprefix("triage_")) for t in request.tags],
            "comment": comment,
        }
        # A field left out of the update keeps its value: a guess below threshold moves nothing.
        if request.queue is not None:
            update["group_id"] = s.groups[request.queue]
        if request.priority is not None:
            update["priority"] = s.priorities[request.priority]
        if s.label_field_id and request.label is not None:
            update["custom_fields"] = [{"id": s.label_field_id, "value": request.label}]
        return update

    def rate_limits(self, request: WritebackRequest) -> Sequence[RateLimit]:
        # Reference: https://developer.zendesk.com/api-reference/introduction/rate-limits/
        return (
            RateLimit("zendesk:update-ticket", 100, 60.0),
            RateLimit(f"zendesk:ticket:{request.ticket_external_id}", 30, 600.0),
        )


def _tag(value: str) -> str:
    """Zendesk tags are lower-case words: spaces and commas would split them."""
    return "".join(c if c.isalnum() or c in "_-:/" else "_" for c in value.lower())


def from_env(environ: Mapping[str, str], *, queues: Collection[str], priorities: Collection[str]) -> ZendeskHelpdesk:
    return ZendeskHelpdesk(ZendeskSettings.from_env(environ, queues=queues, priorities=priorities))
