"""The fake helpdesk behind the Helpdesk port."""

from __future__ import annotations

from collections.abc import Mapping

from integrations.fake.client import FakeClient
from integrations.fake.settings import FakeSettings
from service.domain import WritebackRequest


class FakeHelpdesk:
    name = "fake"

    def __init__(self, settings: FakeSettings) -> None:
        self.client = FakeClient(settings.url, settings.timeout_s)

    def write_back(self, request: WritebackRequest) -> None:
        self.client.update_ticket(
            request.ticket_external_id,
            {"group": request.queue, "priority": request.priority, "label": request.label,
             "status": str(request.status), "tags": list(request.tags),
             "internal_note": request.note},
            idempotency_key=f"triage-writeback-{request.writeback_id}",
        )


def from_env(environ: Mapping[str, str]) -> FakeHelpdesk:
    return FakeHelpdesk(FakeSettings.from_env(environ))
