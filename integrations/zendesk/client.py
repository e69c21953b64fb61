"""The two Zendesk Support API calls Triage makes: show a ticket, update a ticket."""

from __future__ import annotations

from typing import Any

import requests

from integrations.http import call
from integrations.zendesk.settings import ZendeskSettings


class ZendeskClient:
    def __init__(self, settings: ZendeskSettings) -> None:
        self.settings = settings
        self.http = requests.Session()
        self.http.headers.update(
            {"Authorization": settings.auth_header, "Accept": "application/json", "User-Agent": "triage/0.1"}
        )

    def show_ticket(self, ticket_id: str) -> dict[str, Any]:
        # Reference: https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#show-ticket
        response = call(
            self.http,
            "GET",
            f"{self.settings.base_url}/api/v2/tickets/{int(ticket_id)}.json",
            timeout=self.settings.timeout_s,
            params={"include": "users"},
        )
        return response.json()

    def update_ticket(self, ticket_id: str, ticket: dict[str, Any]) -> None:
        # Reference: https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#update-ticket
        call(
            self.http,
            "PUT",
            f"{self.settings.base_url}/api/v2/tickets/{int(ticket_id)}.json",
            timeout=self.settings.timeout_s,
            json={"ticket": ticket},
        )
