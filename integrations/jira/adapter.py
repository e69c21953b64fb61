"""Jira behind the Helpdesk and WebhookSource ports."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from integrations.jira import webhook
from integrations.jira.client import JiraClient
from integrations.jira.settings import JiraSettings
from integrations.settings import ours_shown
from service.core.domain import InboundEvent, InboundTicket, RateLimit, WritebackRequest
from service.core.ports import IntegrationError, PayloadError

log = logging.getLogger(__name__)
# Reference: https://support.atlassian.com/jira-software-cloud/docs/what-is-an-issue/ (project key + number)
_ISSUE_KEY = re.compile(r"[A-Z][A-Z0-9_]{0,254}-[0-9]{1,18}")


class JiraHelpdesk:
    name = "jira"

    def __init__(self, settings: JiraSettings) -> None:
        self.settings = settings
        self.client = JiraClient(settings)

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        webhook.verify(self.settings.webhook_secrets, headers, body, window_s=self.settings.replay_window_s)

    def parse(self, payload: Any, headers: Mapping[str, str]) -> InboundEvent:
        return webhook.parse(payload, headers)

    def signed_digest(self, headers: Mapping[str, str]) -> str:
        return hashlib.sha256(headers.get("X-Hub-Signature", "").encode()).hexdigest()

    def external_id_problem(self, external_id: str) -> str | None:
        if _ISSUE_KEY.fullmatch(external_id) or (external_id.isascii() and external_id.isdigit()):
            return None
        return f"Jira issues are keys like SUP-12 or numeric ids; {external_id[:40]!r} cannot be a Jira issue"

    def routing_shown(self, ticket: InboundTicket) -> Mapping[str, frozenset[str]]:
        meta = ticket.metadata
        ids, names = str(meta.get("components", "")), str(meta.get("component_names", ""))
        shown = {
            "priority": ours_shown([meta.get("jira_priority_id"), meta.get("jira_priority")], self.settings.priorities)
        }
        # We write one component; several on the issue is someone's own arrangement, no queue of ours.
        if ids and "," not in ids:
            shown["queue"] = ours_shown([ids, names], self.settings.components)
        return {field: names for field, names in shown.items() if names}

    def fetch_ticket(self, external_id: str) -> InboundTicket:
        if problem := self.external_id_problem(external_id):
            raise IntegrationError(problem, permanent=True)
        try:
            return webhook.ticket_from_issue(self.client.get_issue(external_id))
        except PayloadError as exc:
            raise IntegrationError(f"Jira issue {external_id}: {exc}", permanent=True) from None

    def write_back(self, request: WritebackRequest) -> None:
        """Component, priority and labels in one edit, then the internal comment."""
        s = self.settings
        # A field left out of the edit keeps its value: a guess below threshold moves nothing.
        fields: dict[str, Any] = {}
        if request.queue is not None:
            fields["components"] = [s.components[request.queue]]
            if s.request_type_field and s.request_types:
                fields[s.request_type_field] = s.request_types[request.queue]
        if request.priority is not None:
            fields["priority"] = s.priorities[request.priority]
        labels = [{"add": _label(s.label_prefix + t.removeprefix("triage_"))} for t in request.tags]
        self.client.edit_issue(request.ticket_external_id, {"fields": fields, "update": {"labels": labels}})
        # Editing is idempotent, so a retry after a failed comment repeats the edit harmlessly.
        self.client.add_internal_comment(request.ticket_external_id, request.note)
        if request.duplicate_of and request.duplicate_of != request.ticket_external_id:
            # Last: a failed link retries the edit and the comment with it. Jira keeps one link per pair and type.
            try:
                self.client.link_duplicate(request.ticket_external_id, request.duplicate_of)
            except IntegrationError as exc:
                if not exc.permanent:
                    raise
                # No Duplicate link type, or the earlier issue is gone: the note names it; the routing stands.
                log.warning(
                    "duplicate link %s -> %s refused: %s", request.ticket_external_id, request.duplicate_of, exc
                )

    def post_reply(self, request: WritebackRequest) -> None:
        """The routing edit, then the approved reply as a comment the customer sees."""
        self.write_back(request)
        self.client.add_public_comment(request.ticket_external_id, request.public_reply or "")

    def rate_limits(self, request: WritebackRequest) -> Sequence[RateLimit]:
        # Reference: https://developer.atlassian.com/cloud/jira/platform/rate-limiting/
        # Cloud publishes no fixed number for API-token writes (burst and per-issue limits answer 429);
        # a steady cap keeps a backlog from tripping them.
        return (RateLimit("jira:writes", self.settings.writes_per_minute, 60.0),)


def _label(value: str) -> str:
    """Jira labels cannot contain spaces."""
    return "".join(c if not c.isspace() else "_" for c in value)


def from_env(environ: Mapping[str, str], *, queues: Collection[str], priorities: Collection[str]) -> JiraHelpdesk:
    return JiraHelpdesk(JiraSettings.from_env(environ, queues=queues, priorities=priorities))
