"""The fake helpdesk behind the Helpdesk port."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from integrations.fake.client import FakeClient
from integrations.fake.settings import FakeSettings
from service.core.domain import InboundTicket, RateLimit, WritebackRequest
from service.core.ports import IntegrationError


class FakeHelpdesk:
    name = "fake"

    def __init__(self, settings: FakeSettings) -> None:
        self.settings = settings
        self.client = FakeClient(settings.url, settings.timeout_s)

    def write_back(self, request: WritebackRequest) -> None:
        self.client.update_ticket(
            request.ticket_external_id,
            self._fields(request),
            idempotency_key=f"triage-writeback-{request.writeback_id}",
        )

    def post_reply(self, request: WritebackRequest) -> None:
        self.client.update_ticket(
            request.ticket_external_id,
            {**self._fields(request), "public_reply": request.public_reply},
            idempotency_key=f"triage-writeback-{request.writeback_id}",
        )

    @staticmethod
    def _fields(request: WritebackRequest) -> dict[str, object]:
        # Like the real helpdesks: what is not sent keeps its value (a guess below threshold moves nothing).
        routing = {"group": request.queue, "priority": request.priority, "label": request.label}
        return {
            **{k: v for k, v in routing.items() if v is not None},
            "status": str(request.status),
            "tags": list(request.tags),
            "internal_note": request.note,
            # The earlier ticket this one nearly duplicates: a link, where the helpdesk has them.
            **({"duplicate_of": request.duplicate_of} if request.duplicate_of else {}),
        }

    def external_id_problem(self, external_id: str) -> str | None:
        return None

    def routing_shown(self, ticket: InboundTicket) -> Mapping[str, frozenset[str]]:
        # The fake helpdesk names groups and priorities as we do.
        shown = {"queue": ticket.metadata.get("group"), "priority": ticket.metadata.get("priority")}
        return {field: frozenset([str(v)]) for field, v in shown.items() if v not in (None, "")}

    def fetch_ticket(self, external_id: str) -> InboundTicket:
        raise IntegrationError("the fake helpdesk sends whole tickets; it has none to fetch", permanent=True)

    def rate_limits(self, request: WritebackRequest) -> Sequence[RateLimit]:
        if not self.settings.limit_per_minute:
            return ()
        return (RateLimit("fake:account", self.settings.limit_per_minute, 60.0),)


def from_env(
    environ: Mapping[str, str], *, queues: Collection[str] = (), priorities: Collection[str] = ()
) -> FakeHelpdesk:
    return FakeHelpdesk(FakeSettings.from_env(environ))
