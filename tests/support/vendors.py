"""Local servers that speak the Zendesk and Jira REST protocols, as far as Triage uses them."""

from __future__ import annotations

import base64
import itertools
import json
import time
from typing import Any

from integrations.fake.server import Recorded, RecordingServer
from tests.support.settings import FIXTURES, ROOT

ZENDESK_EMAIL, ZENDESK_TOKEN = "agent@example.com", "zd-api-token"
JIRA_EMAIL, JIRA_TOKEN = "bot@example.com", "jira-api-token"


class ZendeskServer(RecordingServer):
    """Tickets in memory; PUT applies updates like Zendesk (additional_tags add, comment appended)."""

    def __init__(self, groups: set[int]) -> None:
        self.groups = groups
        self.tickets: dict[int, dict[str, Any]] = {}
        self.comments: dict[int, list[dict[str, Any]]] = {}
        self.auth = "Basic " + base64.b64encode(f"{ZENDESK_EMAIL}/token:{ZENDESK_TOKEN}".encode()).decode()
        super().__init__(
            [
                ("PUT", r"/api/v2/tickets/(?P<id>\d+)\.json", self._update),
                ("GET", r"/api/v2/tickets/(?P<id>\d+)\.json", self._show),
            ]
        )

    def add_ticket(
        self,
        ticket_id: int,
        subject: str,
        description: str,
        requester_email: str = "ann@example.com",
        tags: list[str] | None = None,
    ) -> None:
        self.tickets[ticket_id] = {
            "id": ticket_id,
            "subject": subject,
            "description": description,
            "requester_id": 9000 + ticket_id,
            "tags": tags or [],
            "priority": None,
            "group_id": None,
            "status": "new",
            "via": {"channel": "web"},
            "created_at": "2026-11-30T10:00:00Z",
            "_email": requester_email,
        }

    def _denied(self, request: Recorded) -> tuple[int, Any, dict[str, str]] | None:
        if request.headers.get("Authorization") != self.auth:
            return 401, {"error": "Couldn't authenticate you"}, {}
        return None

    def _show(self, m: Any, request: Recorded) -> tuple[int, Any, dict[str, str]]:
        ticket = self.tickets.get(int(m["id"]))
        if (denied := self._denied(request)) or ticket is None:
            return denied or (404, {"error": "RecordNotFound", "description": "Not found"}, {})
        public = {k: v for k, v in ticket.items() if not k.startswith("_")}
        users = [{"id": ticket["requester_id"], "email": ticket["_email"], "name": "Ann"}]
        return 200, {"ticket": public, "users": users}, {}

    def _update(self, m: Any, request: Recorded) -> tuple[int, Any, dict[str, str]]:
        if denied := self._denied(request):
            return denied
        ticket = self.tickets.get(int(m["id"]))
        if ticket is None:
            return 404, {"error": "RecordNotFound", "description": "Not found"}, {}
        update = (request.body or {}).get("ticket")
        if not isinstance(update, dict):
            return 400, {"error": "InvalidEndpoint", "description": "ticket object required"}, {}
        if "group_id" in update and update["group_id"] not in self.groups:
            return (
                422,
                {
                    "error": "RecordInvalid",
                    "description": "Record validation errors",
                    "details": {"group_id": [{"description": "Group: is invalid", "error": "InvalidValue"}]},
                },
                {},
            )
        for key in ("group_id", "priority", "custom_fields"):
            if key in update:
                ticket[key] = update[key]
        ticket["tags"] = sorted(set(ticket["tags"]) | set(update.get("additional_tags", [])))
        if "comment" in update:
            self.comments.setdefault(ticket["id"], []).append(update["comment"])
        return 200, {"ticket": {k: v for k, v in ticket.items() if not k.startswith("_")}, "audit": {"events": []}}, {}


class JiraServer(RecordingServer):
    """Issues in memory; edit (204), JSM and platform comments (201), get issue."""

    def __init__(self, priorities: set[str], components: set[str]) -> None:
        self.priorities = priorities
        self.components = components
        self.issues: dict[str, dict[str, Any]] = {}
        self.comments: dict[str, list[dict[str, Any]]] = {}
        self._ids = itertools.count(10000)
        self.auth = "Basic " + base64.b64encode(f"{JIRA_EMAIL}:{JIRA_TOKEN}".encode()).decode()
        super().__init__(
            [
                ("PUT", r"/rest/api/2/issue/(?P<key>[A-Z][A-Z0-9]*-\d+)", self._edit),
                ("GET", r"/rest/api/2/issue/(?P<key>[A-Z][A-Z0-9]*-\d+)", self._get),
                ("POST", r"/rest/servicedeskapi/request/(?P<key>[A-Z][A-Z0-9]*-\d+)/comment", self._comment),
                ("POST", r"/rest/api/2/issue/(?P<key>[A-Z][A-Z0-9]*-\d+)/comment", self._comment),
                ("POST", r"/rest/api/2/issueLink", self._link),
            ]
        )
        # Jira's built-in link types; (type, outward issue, inward issue) of each link, one per pair and type.
        self.link_types = {"Duplicate", "Relates", "Blocks", "Cloners"}
        self.links: list[tuple[str, str, str]] = []

    def add_issue(self, key: str, summary: str, description: str = "") -> None:
        self.issues[key] = {
            "id": str(next(self._ids)),
            "key": key,
            "fields": {
                "summary": summary,
                "description": description,
                "labels": [],
                "components": [],
                "priority": {"id": "3"},
                "project": {"id": "10000", "key": key.split("-")[0]},
                "issuetype": {"id": "10001"},
                "status": {"id": "1"},
                "reporter": {"accountId": "5b10a2844c20165700ede21g"},
                "created": "2026-11-30T10:00:00.000+0000",
            },
        }

    def _missing(self, key: str, request: Recorded) -> tuple[int, Any, dict[str, str]] | None:
        if request.headers.get("Authorization") != self.auth:
            return 401, {"errorMessages": ["You are not authenticated."], "errors": {}}, {}
        if key not in self.issues:
            return (
                404,
                {"errorMessages": ["Issue does not exist or you do not have permission to see it."], "errors": {}},
                {},
            )
        return None

    def _get(self, m: Any, request: Recorded) -> tuple[int, Any, dict[str, str]]:
        return self._missing(m["key"], request) or (200, self.issues[m["key"]], {})

    def _edit(self, m: Any, request: Recorded) -> tuple[int, Any, dict[str, str]]:
        if missing := self._missing(m["key"], request):
            return missing
        fields = (request.body or {}).get("fields", {})
        issue = self.issues[m["key"]]["fields"]
        if "priority" in fields and fields["priority"].get("id") not in self.priorities:
            return 400, {"errorMessages": [], "errors": {"priority": "Specify a valid priority id"}}, {}
        for component in fields.get("components", []):
            if component.get("id") not in self.components:
                return 400, {"errorMessages": [], "errors": {"components": "Component id is not valid"}}, {}
        issue.update({k: v for k, v in fields.items()})
        for op in (request.body or {}).get("update", {}).get("labels", []):
            if "add" in op and op["add"] not in issue["labels"]:
                issue["labels"].append(op["add"])
        return 204, None, {}

    def _link(self, m: Any, request: Recorded) -> tuple[int, Any, dict[str, str]]:
        body = request.body or {}
        outward, inward = (str((body.get(side) or {}).get("key")) for side in ("outwardIssue", "inwardIssue"))
        for key in (outward, inward):
            if missing := self._missing(key, request):
                return missing
        kind = (body.get("type") or {}).get("name")
        if kind not in self.link_types:
            return 404, {"errorMessages": [f"No issue link type with name '{kind}' found."], "errors": {}}, {}
        if (kind, outward, inward) not in self.links:
            self.links.append((kind, outward, inward))
        return 201, None, {}

    def _comment(self, m: Any, request: Recorded) -> tuple[int, Any, dict[str, str]]:
        if missing := self._missing(m["key"], request):
            return missing
        self.comments.setdefault(m["key"], []).append(request.body)
        return 201, {"id": str(next(self._ids)), **(request.body or {})}, {}


# Settings and signed headers for the integrations under test.
ZENDESK_SECRET, JIRA_SECRET = "zd-webhook-secret", "jira-webhook-secret"


ZENDESK_GROUPS = {
    q: 360000000000 + i
    for i, q in enumerate(
        [
            "general",
            "fraud_security",
            "cards",
            "card_payments",
            "transfers",
            "top_ups",
            "cash_atm",
            "fx_fees",
            "identity_verification",
            "account",
            "complaints",
        ],
        start=1,
    )
}


def zendesk_env(server_url: str) -> dict[str, str]:
    return {
        "TRIAGE_ZENDESK_URL": server_url,
        "TRIAGE_ZENDESK_EMAIL": ZENDESK_EMAIL,
        "TRIAGE_ZENDESK_API_TOKEN": ZENDESK_TOKEN,
        "TRIAGE_ZENDESK_WEBHOOK_SECRET": ZENDESK_SECRET,
        "TRIAGE_ZENDESK_MAPPING_FILE": str(ROOT / "docs" / "examples" / "zendesk-mapping.yaml"),
    }


def jira_env(server_url: str) -> dict[str, str]:
    return {
        "TRIAGE_JIRA_URL": server_url,
        "TRIAGE_JIRA_EMAIL": JIRA_EMAIL,
        "TRIAGE_JIRA_API_TOKEN": JIRA_TOKEN,
        "TRIAGE_JIRA_WEBHOOK_SECRET": JIRA_SECRET,
        "TRIAGE_JIRA_MAPPING_FILE": str(ROOT / "docs" / "examples" / "jira-mapping.yaml"),
    }


def zendesk_headers(
    body: bytes, secret: str = ZENDESK_SECRET, timestamp: str | None = None, invocation: str = "8350205582"
) -> dict[str, str]:
    import base64
    import hashlib
    import hmac
    from datetime import UTC, datetime

    ts = timestamp or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    signature = base64.b64encode(hmac.new(secret.encode(), ts.encode() + body, hashlib.sha256).digest()).decode()
    return {
        "Content-Type": "application/json",
        "X-Zendesk-Webhook-Signature": signature,
        "X-Zendesk-Webhook-Signature-Timestamp": ts,
        "X-Zendesk-Webhook-Id": "01F1KRFQ6BG29CNWFR60NK5FNY",
        "X-Zendesk-Webhook-Invocation-Id": invocation,
    }


def jira_headers(body: bytes, secret: str = JIRA_SECRET, identifier: str = "jira-delivery-1") -> dict[str, str]:
    import hashlib
    import hmac

    return {
        "Content-Type": "application/json",
        "X-Hub-Signature": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
        "X-Atlassian-Webhook-Identifier": identifier,
    }


def jira_fixture(name: str) -> bytes:
    """A shipped Jira payload with its event time set to now: Jira deliveries older than the replay window are
    refused, and the samples were recorded years ago."""
    payload = json.loads((FIXTURES / "webhooks" / "jira" / f"{name}.json").read_text())
    return json.dumps(fresh_jira(payload)).encode()


def fresh_jira(payload: Any) -> Any:
    """The payload with `timestamp` (milliseconds) set to now, where it is an object that has one."""
    if isinstance(payload, dict) and "timestamp" in payload:
        return {**payload, "timestamp": int(time.time() * 1000)}
    return payload
