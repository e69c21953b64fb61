"""Zendesk: payloads in, signatures, exact write-back requests against a local Zendesk API, exports."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from integrations.zendesk import webhook
from integrations.zendesk.adapter import from_env
from integrations.zendesk.export import read_export
from service import create_app
from service.core.domain import DecisionStatus, WritebackRequest
from service.core.ports import IntegrationError, PayloadError
from service.core.settings import ConfigError
from service.decide.route import load_rules
from tests.support.settings import FIXTURES, ROOT, make_settings
from tests.support.vendors import ZENDESK_GROUPS, zendesk_env, zendesk_headers

SAMPLES = FIXTURES / "webhooks" / "zendesk"
RULES = load_rules(ROOT / "data" / "routing" / "banking77.yaml")
PREFIX = "zendesk_api_client_rb__"


@pytest.mark.parametrize(
    "name, expected",
    [
        (
            "ticket_show__GET_api_v2_tickets_1",
            (
                "1",
                "This is a sample ticket requested and submitted by you",
                "This is the first comment. Feel free to delete this sample ticket.",
                "20014182",
                (),
                "web",
            ),
        ),
        (
            "ticket_create_response__POST_api_v2_tickets",
            ("8867", "This is a question?", "Indeed it is!", "20014192", ("awesome", "blossom"), "api"),
        ),
    ],
)
def test_ticket_bearing_zendesk_payloads_become_the_expected_ticket(name, expected):
    event = webhook.parse(json.loads((SAMPLES / f"{PREFIX}{name}.json").read_text()), {})
    t = event.ticket
    assert (t.external_id, t.subject, t.body, t.requester, t.tags, t.metadata["channel"]) == expected
    assert t.source == "zendesk" and not t.needs_fetch and t.created_at is not None


@pytest.mark.parametrize(
    "name, words",
    [
        ("tickets_list__GET_api_v2_tickets", "export"),
        ("requests_list__GET_api_v2_requests", "export"),
        ("ticket_audits_with_users__GET_api_v2_tickets_1_audits", "not a ticket event"),
        ("ticket_fields_list__GET_api_v2_ticket_fields", "not a ticket event"),
        ("ticket_metric__GET_api_v2_tickets_1_metrics", "not a ticket event"),
        ("triggers_list__GET_api_v2_triggers", "not a ticket event"),
        ("targets_list__GET_api_v2_targets", "not a ticket event"),
        ("views_active__GET_api_v2_views_active", "not a ticket event"),
    ],
)
def test_other_zendesk_payloads_are_ignored_with_a_reason(name, words):
    event = webhook.parse(json.loads((SAMPLES / f"{PREFIX}{name}.json").read_text()), {})
    assert event.ticket is None and words in event.reason


def test_every_shipped_zendesk_sample_is_covered_by_the_tables_above():
    covered = 2 + 8
    assert len(list(SAMPLES.glob("*.json"))) == covered


def test_the_documented_trigger_body_carries_only_the_id_and_asks_for_a_fetch():
    template = (ROOT / "docs" / "examples" / "zendesk-trigger-body.json").read_text()
    rendered = template.replace("{{ticket.id}}", "4711").replace(
        "{{ticket.updated_at_with_timestamp}}", "2026-11-30T10:00:00Z"
    )
    event = webhook.parse(json.loads(rendered), {"X-Zendesk-Webhook-Invocation-Id": "inv-1"})
    assert event.ticket.external_id == "4711" and event.ticket.needs_fetch
    assert event.delivery_id == "inv-1" and not event.is_update


EVENT = {
    "type": "zen:event-type:ticket.created",
    "account_id": 12514403,
    "id": "2b24ef10-19d4-4740-93cf-8f98ec4776c0",
    "time": "2026-11-30T05:33:18Z",
    "zendesk_event_version": "2022-11-06",
    "subject": "zen:ticket:35436",
    "detail": {
        "id": "35436",
        "subject": "Double charge",
        "description": "My card was charged twice",
        "requester_id": "20978392",
        "priority": "NORMAL",
        "status": "NEW",
        "type": "QUESTION",
        "tags": ["billing"],
        "via": {"channel": "web_form"},
        "created_at": "2026-11-30T05:33:17Z",
        "group_id": "98738",
        "brand_id": "123",
    },
    "event": {"meta": {"sequence": {"id": "CE4A", "position": 1}}},
}


def test_an_event_subscription_ticket_created_becomes_a_ticket_keyed_by_the_event_id():
    event = webhook.parse(EVENT, {})
    assert event.delivery_id == EVENT["id"] and not event.is_update
    t = event.ticket
    assert (t.external_id, t.subject, t.body, t.tags) == (
        "35436",
        "Double charge",
        "My card was charged twice",
        ("billing",),
    )
    assert t.metadata["zendesk_priority"] == "normal" and t.metadata["channel"] == "web_form"


@pytest.mark.parametrize(
    "payload, outcome",
    [
        ({**EVENT, "type": "zen:event-type:ticket.comment_added"}, "update"),
        ({**EVENT, "type": "zen:event-type:ticket.status_changed"}, "ignored"),
        ({**EVENT, "type": "zen:event-type:user.created"}, "ignored"),
    ],
)
def test_other_event_types_are_updates_or_ignored(payload, outcome):
    event = webhook.parse(payload, {})
    assert (event.ticket is None) == (outcome == "ignored")
    if outcome == "update":
        assert event.is_update


@pytest.mark.parametrize(
    "payload, words",
    [
        ([1, 2], "JSON object"),
        ({"ticket": {"id": "abc", "subject": "x"}}, "ticket number"),
        ({**EVENT, "detail": "nope"}, "'detail'"),
    ],
)
def test_malformed_zendesk_payloads_raise_a_payload_error(payload, words):
    with pytest.raises(PayloadError, match=words):
        webhook.parse(payload, {})


def test_signature_is_base64_hmac_of_timestamp_plus_body_within_the_window():
    body = b'{"ticket": {"id": "1"}}'
    webhook.verify("zd-webhook-secret", zendesk_headers(body), body, tolerance_s=300)
    stale = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    cases = [
        (zendesk_headers(body, secret="other"), "does not match"),
        (zendesk_headers(body, timestamp=stale), "window"),
        ({"Content-Type": "application/json"}, "missing"),
    ]
    for headers, words in cases:
        with pytest.raises(Exception, match=words):
            webhook.verify("zd-webhook-secret", headers, body, tolerance_s=300)


def adapter(server):
    return from_env(zendesk_env(server.url), queues=set(RULES.queues), priorities=RULES.priorities)


def request(**changes):
    base = dict(
        writeback_id=7,
        ticket_external_id="35436",
        queue="card_payments",
        priority="high",
        label="transaction_charged_twice",
        status=DecisionStatus.AUTO_ROUTED,
        note="Triage: routed.",
        tags=("triage_card_payments", "triage_auto_routed"),
    )
    return WritebackRequest(**{**base, **changes})


def test_write_back_sets_group_priority_tags_label_field_and_an_internal_note_in_one_update(zendesk_server):
    zendesk_server.add_ticket(35436, "Double charge", "charged twice", tags=["vip"])
    adapter(zendesk_server).write_back(request())
    [sent] = zendesk_server.requests
    assert (sent.method, sent.path) == ("PUT", "/api/v2/tickets/35436.json")
    assert sent.body == {
        "ticket": {
            "group_id": ZENDESK_GROUPS["card_payments"],
            "priority": "high",
            "additional_tags": ["triage_card_payments", "triage_auto_routed"],
            "comment": {"body": "Triage: routed.", "public": False},
            "custom_fields": [{"id": 360000100001, "value": "transaction_charged_twice"}],
        }
    }
    assert zendesk_server.tickets[35436]["tags"] == ["triage_auto_routed", "triage_card_payments", "vip"]
    assert zendesk_server.comments[35436] == [{"body": "Triage: routed.", "public": False}]


def test_a_guess_below_threshold_leaves_group_priority_and_label_field_alone(zendesk_server):
    zendesk_server.add_ticket(35436, "Is this a question?", "?", tags=["vip"])
    guess = request(queue=None, priority=None, label=None, status=DecisionStatus.NEEDS_REVIEW)
    adapter(zendesk_server).write_back(guess)
    [sent] = zendesk_server.requests
    assert set(sent.body["ticket"]) == {"additional_tags", "comment"}
    assert zendesk_server.comments[35436] == [{"body": "Triage: routed.", "public": False}]


def test_an_approved_reply_goes_to_the_requester_as_a_public_comment_in_the_same_update(zendesk_server):
    zendesk_server.add_ticket(35436, "Double charge", "charged twice")
    reply = "Hello Ann,\nwe have refunded the second charge."
    adapter(zendesk_server).post_reply(request(note="Triage: reply approved.", public_reply=reply))
    [sent] = zendesk_server.requests
    assert (sent.method, sent.path) == ("PUT", "/api/v2/tickets/35436.json")
    assert sent.body["ticket"]["comment"] == {"body": reply, "public": True}
    assert sent.body["ticket"]["group_id"] == ZENDESK_GROUPS["card_payments"]
    assert zendesk_server.comments[35436] == [{"body": reply, "public": True}]


@pytest.mark.parametrize(
    "status, headers, permanent, retry_after, words",
    [
        (429, {"Retry-After": "42"}, False, 42.0, "HTTP 429"),
        (500, {}, False, None, "HTTP 500"),
        (503, {}, False, None, "HTTP 503"),
        (404, {}, True, None, "RecordNotFound"),
        (422, {}, True, None, "RecordInvalid"),
        (401, {}, True, None, "authenticate"),
    ],
)
def test_write_back_errors_map_to_transient_or_permanent(
    zendesk_server, status, headers, permanent, retry_after, words
):
    zendesk_server.add_ticket(35436, "x", "y")
    bodies = {
        404: {"error": "RecordNotFound", "description": "Not found"},
        422: {"error": "RecordInvalid", "description": "Record validation errors"},
        401: {"error": "Couldn't authenticate you"},
    }
    zendesk_server.fail(status, headers=headers, body=bodies.get(status))
    with pytest.raises(IntegrationError) as info:
        adapter(zendesk_server).write_back(request())
    assert info.value.permanent is permanent and info.value.retry_after == retry_after
    assert words in str(info.value)


def test_an_unknown_group_is_refused_by_zendesk_and_permanent(zendesk_server, tmp_path):
    zendesk_server.add_ticket(35436, "x", "y")
    zendesk_server.groups.clear()
    with pytest.raises(IntegrationError, match="Group: is invalid") as info:
        adapter(zendesk_server).write_back(request())
    assert info.value.permanent


def test_a_refused_connection_and_a_timeout_are_transient():
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts the connection, never answers: the read times out
    try:
        for url, words in (
            (f"http://127.0.0.1:{silent.getsockname()[1]}", "timed out"),
            ("http://127.0.0.1:1", "ConnectionError"),
        ):
            env = {**zendesk_env(url), "TRIAGE_HTTP_TIMEOUT_S": "0.2"}
            helpdesk = from_env(env, queues=set(RULES.queues), priorities=RULES.priorities)
            with pytest.raises(IntegrationError, match=words) as info:
                helpdesk.write_back(request())
            assert not info.value.permanent
    finally:
        silent.close()


def test_fetch_reads_the_ticket_and_its_requester(zendesk_server):
    zendesk_server.add_ticket(4711, "Card not here", "Ordered two weeks ago", requester_email="bob@example.com")
    ticket = adapter(zendesk_server).fetch_ticket("4711")
    assert (ticket.subject, ticket.body, ticket.requester) == (
        "Card not here",
        "Ordered two weeks ago",
        "bob@example.com",
    )
    assert zendesk_server.requests[0].path == "/api/v2/tickets/4711.json"


def test_rate_limits_follow_zendesk_update_ticket_limits():
    limits = from_env(zendesk_env("http://x"), queues=set(RULES.queues), priorities=RULES.priorities).rate_limits(
        request()
    )
    assert {(limit.key, limit.limit, limit.window_s) for limit in limits} == {
        ("zendesk:update-ticket", 100, 60.0),
        ("zendesk:ticket:35436", 30, 600.0),
    }


@pytest.mark.parametrize(
    "change, words",
    [
        ({"TRIAGE_ZENDESK_API_TOKEN": ""}, "TRIAGE_ZENDESK_API_TOKEN"),
        ({"TRIAGE_ZENDESK_WEBHOOK_SECRET": ""}, "TRIAGE_ZENDESK_WEBHOOK_SECRET"),
        ({"TRIAGE_ZENDESK_MAPPING_FILE": ""}, "TRIAGE_ZENDESK_MAPPING_FILE is required"),
    ],
)
def test_startup_refuses_incomplete_zendesk_settings_naming_them(change, words, sqlite_url, models_dir):
    env = {**zendesk_env("http://x"), **change}
    with pytest.raises(ConfigError, match=words):
        create_app(make_settings(sqlite_url, models_dir, integrations="zendesk"), environ=env)


def test_startup_names_every_queue_without_a_zendesk_group(tmp_path, sqlite_url, models_dir):
    mapping = tmp_path / "m.yaml"
    mapping.write_text("groups: {general: 1, cards: 2}\n")
    env = {**zendesk_env("http://x"), "TRIAGE_ZENDESK_MAPPING_FILE": str(mapping)}
    with pytest.raises(ConfigError) as info:
        create_app(make_settings(sqlite_url, models_dir, integrations="zendesk"), environ=env)
    assert "no groups mapping for" in str(info.value) and "'fraud_security'" in str(info.value)
    assert "'general'" not in str(info.value)


def test_secrets_do_not_show_in_the_settings_repr(zendesk_server):
    text = repr(adapter(zendesk_server).settings)
    assert "zd-api-token" not in text and "zd-webhook-secret" not in text


def test_the_tickets_list_export_gives_labelled_examples_and_says_what_it_skipped():
    examples, skipped = read_export(SAMPLES / f"{PREFIX}tickets_list__GET_api_v2_tickets.json", label_field="priority")
    assert len(examples) == 74 and skipped == {"no priority": 26}
    assert examples[0].label == "high" and examples[0].text.startswith("This is a sample ticket")
    assert {e.label for e in examples} == {"normal", "high"}


def test_an_incremental_export_in_json_lines_is_read_and_deduplicated(tmp_path):
    page = {
        "tickets": [
            {"id": 1, "subject": "Lost card", "description": "help", "group_id": 5, "status": "open"},
            {"id": 2, "subject": "Refund", "description": "", "group_id": 6, "status": "deleted"},
            {"id": 3, "subject": "", "description": "", "group_id": 6},
            {"id": 4, "subject": "FX", "description": "rate?", "custom_fields": [{"id": 77, "value": "fx"}]},
        ],
        "after_cursor": "x",
        "end_of_stream": False,
    }
    again = {
        "tickets": [{"id": 1, "subject": "Lost card", "description": "help", "group_id": 5}],
        "end_of_stream": True,
    }
    path = tmp_path / "export.jsonl"
    path.write_text(json.dumps(page) + "\n" + json.dumps(again) + "\n")
    examples, skipped = read_export(path, label_field="group_id")
    assert [(e.source_id, e.label) for e in examples] == [("1", "5")]
    assert skipped == {"deleted": 1, "no subject or description": 1, "no group_id": 1, "duplicate ticket": 1}
    by_field, _ = read_export(path, label_field="custom_field:77")
    assert [(e.source_id, e.label) for e in by_field] == [("4", "fx")]
    with pytest.raises(ValueError, match="unknown Zendesk label field"):
        read_export(path, label_field="colour")
