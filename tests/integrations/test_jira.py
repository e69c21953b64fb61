"""Jira: Server and Cloud payloads in, signatures, exact write-back requests against a local Jira API, exports."""

import json

import pytest

from integrations.jira import webhook
from integrations.jira.adapter import from_env
from integrations.jira.export import read_export
from service import create_app
from service.core.domain import DecisionStatus, WritebackRequest
from service.core.ports import IntegrationError, PayloadError, SignatureError
from service.core.settings import ConfigError
from service.decide.route import load_rules
from tests.support.settings import FIXTURES, ROOT, make_settings
from tests.support.vendors import jira_env, jira_headers

SAMPLES = FIXTURES / "webhooks" / "jira"
RULES = load_rules(ROOT / "data" / "routing" / "banking77.yaml")
APACHE = ROOT.parent / "shared" / "datasets" / "apache_jira_changelog" / "apache_jira_issues_sample10k.csv"

# file -> (key, summary, description starts with, requester, is_update, issuetype id, status id, project)
TICKETS = {
    "jenkins-jira-trigger__issue_created": ("TEST-4", "a", "", "admin@admin.com", False, "10000", "10000", "TEST"),
    "jenkins-jira-trigger__issue_updated_fields_updated": (
        "TEST-11",
        "summary updated",
        "description updated",
        "admin@example.com",
        True,
        "3",
        "10000",
        "TEST",
    ),
    "jenkins-jira-trigger__issue_updated_with_comment": (
        "TEST-4",
        "a",
        "",
        "admin@admin.com",
        True,
        "10000",
        "10000",
        "TEST",
    ),
    "jenkins-jira-trigger__issue_updated_without_comment": (
        "TEST-44",
        "updated",
        "Dummy issue description",
        "admin@admin.com",
        True,
        "10000",
        "10000",
        "TEST",
    ),
    "jira-to-matrix__issue_created": (
        "BBCOM-1398",
        "Prueba de creación de tareas en un proyecto público",
        "Info",
        "5b912f5c8a96e82b9549361c",
        False,
        "3",
        "1",
        "BBCOM",
    ),
    "jira-to-matrix__issue_updated_commented": ("BBCOM-956", "BBCOM-956", "dafdasfadf", "", True, "3", "4", "BBCOM"),
    "jira-to-matrix__issue_updated_description-update": (
        "INDEV-131",
        "Тестовая задача для переноса",
        "Лалалалл 11233",
        "5c07f55ba1b46046f530e0f3",
        True,
        "10169",
        "10257",
        "INDEV",
    ),
    "jira-to-matrix__issue_updated_move-issue": (
        "INDEV-130",
        "test Task 2",
        "dsf",
        "5b912f5c8a96e82b9549361c",
        True,
        "10169",
        "10257",
        "INDEV",
    ),
    "jira-to-matrix__issue_updated_rank-changed": (
        "INDEV-259",
        "test new me_b",
        "",
        "5d034a895b75cc0c04cca79c",
        True,
        "10169",
        "10257",
        "INDEV",
    ),
    "jira-to-matrix__issue_updated_status-changed": (
        "INDEV-6",
        "Prueba de creación de tareas en un proyecto público",
        "Prueba de creación",
        "5b912f5c8a96e82b9549361c",
        True,
        "10177",
        "10258",
        "INDEV",
    ),
}
IGNORED = {
    f"jira-to-matrix__{event}": event
    for event in ("comment_created", "comment_updated", "issuelink_created", "project_created")
}


def load(name):
    return json.loads((SAMPLES / f"{name}.json").read_text())


@pytest.mark.parametrize("name", sorted(TICKETS))
def test_issue_events_in_server_and_cloud_shapes_become_the_expected_ticket(name):
    key, summary, body, requester, is_update, issuetype, status, project = TICKETS[name]
    event = webhook.parse(load(name), {"X-Atlassian-Webhook-Identifier": "d-1"})
    t = event.ticket
    assert (t.external_id, t.subject, t.requester, event.is_update) == (key, summary, requester, is_update)
    assert t.body.startswith(body) and (body or t.body == "")
    # Ids, never localised names ("Tarea", "К выполнению").
    assert (t.metadata["issuetype_id"], t.metadata["status_id"], t.metadata["project"]) == (issuetype, status, project)
    assert t.source == "jira" and event.delivery_id == "d-1" and t.created_at is not None


@pytest.mark.parametrize("name", sorted(IGNORED))
def test_events_that_are_not_a_ticket_are_ignored_with_a_reason(name):
    event = webhook.parse(load(name), {})
    assert event.ticket is None and event.reason.startswith(IGNORED[name]) and "nothing to classify" in event.reason


def test_every_shipped_jira_sample_is_covered_by_the_tables_above():
    assert {p.stem for p in SAMPLES.glob("*.json")} == set(TICKETS) | set(IGNORED)


def test_cloud_descriptions_in_document_format_are_flattened_to_text():
    adf = {
        "type": "doc",
        "version": 1,
        "content": [
            {
                "type": "paragraph",
                "content": [{"type": "text", "text": "My card"}, {"type": "text", "text": "is lost"}],
            },
            {"type": "paragraph", "content": [{"type": "text", "text": "Please block it"}]},
        ],
    }
    payload = load("jenkins-jira-trigger__issue_created")
    payload["issue"]["fields"]["description"] = adf
    assert webhook.parse(payload, {}).ticket.body == "My card is lost\nPlease block it"


@pytest.mark.parametrize(
    "payload, words",
    [
        ({"issue": {}}, "webhookEvent"),
        ({"webhookEvent": "jira:issue_created"}, "'issue'"),
        ({"webhookEvent": "jira:issue_created", "issue": {"key": "nokey", "fields": {"summary": "x"}}}, "issue key"),
        ({"webhookEvent": "jira:issue_created", "issue": {"key": "A-1", "fields": {"summary": " "}}}, "neither"),
    ],
)
def test_malformed_jira_payloads_raise_a_payload_error(payload, words):
    with pytest.raises(PayloadError, match=words):
        webhook.parse(payload, {})


def test_signature_is_hex_hmac_sha256_of_the_raw_body():
    body = b'{"webhookEvent": "jira:issue_created"}'
    webhook.verify("jira-webhook-secret", jira_headers(body), body)
    for headers, words in (
        (jira_headers(body, secret="other"), "does not match"),
        ({}, "missing"),
        ({"X-Hub-Signature": "md5=abc"}, "sha256="),
    ):
        with pytest.raises(SignatureError, match=words):
            webhook.verify("jira-webhook-secret", headers, body)
    with pytest.raises(SignatureError):
        webhook.verify("jira-webhook-secret", jira_headers(body), body + b" ")


def adapter(server, **env):
    return from_env({**jira_env(server.url), **env}, queues=set(RULES.queues), priorities=RULES.priorities)


def request(**changes):
    base = dict(
        writeback_id=9,
        ticket_external_id="SUP-12",
        queue="cards",
        priority="urgent",
        label="card_arrival",
        status=DecisionStatus.NEEDS_REVIEW,
        note="Triage: needs review.",
        tags=("triage_cards", "triage_needs_review"),
    )
    return WritebackRequest(**{**base, **changes})


def test_write_back_sets_component_priority_labels_then_adds_an_internal_jsm_comment(jira_server):
    jira_server.add_issue("SUP-12", "Where is my card?")
    adapter(jira_server).write_back(request())
    edit, comment = jira_server.requests
    assert (edit.method, edit.path, edit.query) == ("PUT", "/rest/api/2/issue/SUP-12", "notifyUsers=false")
    assert edit.body == {
        "fields": {"components": [{"id": "10102"}], "priority": {"id": "1"}},
        "update": {"labels": [{"add": "triage_cards"}, {"add": "triage_needs_review"}]},
    }
    assert (comment.method, comment.path) == ("POST", "/rest/servicedeskapi/request/SUP-12/comment")
    assert comment.body == {"body": "Triage: needs review.", "public": False}
    assert jira_server.issues["SUP-12"]["fields"]["labels"] == ["triage_cards", "triage_needs_review"]


def test_a_guess_below_threshold_edits_only_the_labels_and_adds_the_note(jira_server):
    jira_server.add_issue("SUP-12", "Is this a question?")
    adapter(jira_server).write_back(request(queue=None, priority=None, label=None, tags=("triage_needs_review",)))
    edit, comment = jira_server.requests
    assert edit.body == {"fields": {}, "update": {"labels": [{"add": "triage_needs_review"}]}}
    assert comment.body == {"body": "Triage: needs review.", "public": False}


def test_an_approved_reply_is_a_public_jsm_comment_after_the_routing_and_the_internal_note(jira_server):
    jira_server.add_issue("SUP-12", "Where is my card?")
    reply = "Hello,\nyour new card is on its way."
    adapter(jira_server).post_reply(request(note="Triage: reply approved.", public_reply=reply))
    edit, note, public = jira_server.requests
    assert edit.method == "PUT" and note.body == {"body": "Triage: reply approved.", "public": False}
    assert (public.method, public.path) == ("POST", "/rest/servicedeskapi/request/SUP-12/comment")
    assert public.body == {"body": reply, "public": True}


def restricted(jira_server, tmp_path):
    """The adapter in `comment: restricted` mode, with issue SUP-12."""
    mapping = (
        (ROOT / "docs" / "examples" / "jira-mapping.yaml")
        .read_text()
        .replace("comment: servicedesk", "comment: restricted")
    )
    (tmp_path / "m.yaml").write_text(mapping)
    jira_server.add_issue("SUP-12", "Where is my card?")
    return adapter(jira_server, TRIAGE_JIRA_MAPPING_FILE=str(tmp_path / "m.yaml"))


def test_in_restricted_mode_the_reply_is_a_platform_comment_without_a_visibility_limit(jira_server, tmp_path):
    restricted(jira_server, tmp_path).post_reply(request(public_reply="Your card is on its way."))
    public = jira_server.requests[-1]
    assert (public.path, public.body) == ("/rest/api/2/issue/SUP-12/comment", {"body": "Your card is on its way."})


def test_restricted_mode_posts_a_platform_comment_visible_to_a_role(jira_server, tmp_path):
    restricted(jira_server, tmp_path).write_back(request())
    comment = jira_server.requests[1]
    assert comment.path == "/rest/api/2/issue/SUP-12/comment"
    assert comment.body == {"body": "Triage: needs review.", "visibility": {"type": "role", "value": "Administrators"}}


def test_data_center_uses_a_personal_access_token(jira_server):
    jira_server.auth = "Bearer dc-pat"
    jira_server.add_issue("SUP-12", "x")
    adapter(jira_server, TRIAGE_JIRA_PAT="dc-pat").write_back(request())
    assert all(r.headers["Authorization"] == "Bearer dc-pat" for r in jira_server.requests)


@pytest.mark.parametrize(
    "status, body, permanent, words",
    [
        (
            404,
            {"errorMessages": ["Issue does not exist or you do not have permission to see it."], "errors": {}},
            True,
            "Issue does not exist",
        ),
        (400, {"errorMessages": [], "errors": {"priority": "Specify a valid priority id"}}, True, "valid priority"),
        (429, None, False, "HTTP 429"),
        (502, None, False, "HTTP 502"),
    ],
)
def test_jira_errors_keep_the_platform_text_and_are_permanent_or_transient(jira_server, status, body, permanent, words):
    jira_server.add_issue("SUP-12", "x")
    jira_server.fail(status, body=body)
    with pytest.raises(IntegrationError, match=words) as info:
        adapter(jira_server).write_back(request())
    assert info.value.permanent is permanent


def test_a_429_without_retry_after_falls_back_to_our_backoff(jira_server):
    jira_server.add_issue("SUP-12", "x")
    jira_server.fail(429)
    with pytest.raises(IntegrationError) as info:
        adapter(jira_server).write_back(request())
    assert info.value.retry_after is None and not info.value.permanent


def test_fetch_reads_an_issue(jira_server):
    jira_server.add_issue("SUP-7", "Refund missing", "It has been a week")
    ticket = adapter(jira_server).fetch_ticket("SUP-7")
    assert (ticket.external_id, ticket.subject, ticket.body) == ("SUP-7", "Refund missing", "It has been a week")


@pytest.mark.parametrize(
    "old, new, words",
    [
        ('  cards: "10102"\n', "", "no components mapping for 'cards'"),
        ('  urgent: "1"\n', "", "no priorities mapping for 'urgent'"),
        ("comment: servicedesk", "comment: loud", "comment must be one of"),
    ],
)
def test_startup_refuses_an_incomplete_jira_mapping_naming_what_is_missing(
    tmp_path, sqlite_url, models_dir, old, new, words
):
    full = (ROOT / "docs" / "examples" / "jira-mapping.yaml").read_text()
    assert old in full
    path = tmp_path / "m.yaml"
    path.write_text(full.replace(old, new))
    env = {**jira_env("http://x"), "TRIAGE_JIRA_MAPPING_FILE": str(path)}
    with pytest.raises(ConfigError, match=words):
        create_app(make_settings(sqlite_url, models_dir, integrations="jira"), environ=env)


def test_an_unknown_integration_name_is_refused(sqlite_url, models_dir):
    with pytest.raises(ConfigError, match="unknown integration"):
        create_app(make_settings(sqlite_url, models_dir, integrations="freshdesk"), environ={})


def write_jira_csv(path):
    path.write_text(
        "Summary,Issue key,Issue id,Issue Type,Priority,Component/s,Component/s,Labels,Labels,Description,Created\n"
        "Card never came,SUP-1,10001,Task,High,Cards,,vip,,Ordered last month,30/Nov/26 9:00 AM\n"
        'Charged twice,SUP-2,10002,Task,Medium,Payments,Cards,,,"Two charges,\nsame shop",30/Nov/26 9:05 AM\n'
        "No component,SUP-3,10003,Task,Low,,,,,,\n"
        "Card never came,SUP-1,10001,Task,High,Cards,,,,,\n"
    )


def test_a_jira_csv_export_with_repeated_headers_is_read(tmp_path):
    path = tmp_path / "jira.csv"
    write_jira_csv(path)
    examples, skipped = read_export(path, label_field="component")
    assert [(e.source_id, e.label, e.text) for e in examples] == [
        ("SUP-1", "Cards", "Card never came. Ordered last month")
    ]
    assert skipped == {"several component values": 1, "no component": 1, "duplicate issue": 1}
    first, _ = read_export(path, label_field="component", multi="first")
    assert [(e.source_id, e.label) for e in first] == [("SUP-1", "Cards"), ("SUP-2", "Payments")]
    by_priority, _ = read_export(path, label_field="priority")
    assert [e.label for e in by_priority] == ["High", "Medium", "Low"]


def test_a_rest_search_result_is_read(tmp_path):
    page = {
        "startAt": 0,
        "maxResults": 50,
        "total": 2,
        "issues": [
            {
                "id": "1",
                "key": "SUP-1",
                "fields": {
                    "summary": "Card never came",
                    "description": None,
                    "components": [{"id": "10", "name": "Cards"}],
                    "priority": {"id": "2", "name": "High"},
                    "project": {"key": "SUP"},
                },
            },
            {
                "id": "2",
                "key": "SUP-2",
                "fields": {
                    "summary": "Refund",
                    "components": [],
                    "priority": {"name": "Low"},
                    "project": {"key": "SUP"},
                },
            },
        ],
    }
    path = tmp_path / "search.json"
    path.write_text(json.dumps(page))
    examples, skipped = read_export(path, label_field="component")
    assert [(e.source_id, e.label) for e in examples] == [("SUP-1", "Cards")] and skipped == {"no component": 1}
    projects, _ = read_export(path, label_field="project")
    assert [e.label for e in projects] == ["SUP", "SUP"]


@pytest.mark.skipif(not APACHE.is_file(), reason="needs ../shared/datasets beside the checkout")
@pytest.mark.parametrize(
    "field, count, skipped",
    [
        ("priority", 10000, {}),
        ("project", 10000, {}),
        ("component", 5986, {"no component": 2880, "several component values": 1134}),
    ],
)
def test_the_apache_jira_export_reads_with_the_chosen_label_field(field, count, skipped):
    examples, why = read_export(APACHE, label_field=field)
    assert len(examples) == count and dict(why) == skipped
    assert all(e.text and e.label for e in examples)


def test_a_model_reads_an_issue_the_same_way_from_the_export_and_from_the_webhook(tmp_path):
    from service.decide.normalize import model_text, with_context

    issue = {
        "key": "FLINK-1",
        "fields": {
            "summary": "Planner fails on nested joins",
            "description": "The SQL planner throws on a join inside a join.",
            "components": [{"name": "Table SQL / Planner"}],
            "project": {"key": "FLINK", "id": "10001"},
            "issuetype": {"id": "1", "name": "Bug"},
            "priority": {"id": "1", "name": "Blocker"},
        },
    }
    path = tmp_path / "search.json"
    path.write_text(json.dumps({"issues": [issue]}))
    ticket = webhook._ticket(issue)
    served = model_text(ticket.subject, ticket.body, "jira", ticket.metadata)
    expected = "[FLINK Bug] Planner fails on nested joins. The SQL planner throws on a join inside a join."
    for label_field in ("component", "priority"):
        [example], _ = read_export(path, label_field=label_field)
        assert example.context == ("FLINK", "Bug")
        assert with_context(example.text, example.context) == served == expected
    # Labelled by project or issue type, that field is the answer: it is not given to the model.
    [by_project], _ = read_export(path, label_field="project")
    assert by_project.context == ("Bug",)
    [by_type], _ = read_export(path, label_field="issuetype")
    assert by_type.context == ("FLINK",)
    # Sources whose models read no metadata see the text alone.
    assert model_text("Card", "lost", "generic", {"project": "X"}) == "Card. lost"


def test_the_routing_an_issue_shows_is_read_back_into_our_queue_and_priority(jira_server, tmp_path):
    jira = adapter(jira_server)
    # A real issue's components are objects with id and name; the webhook keeps both.
    issue = {
        "key": "SUP-12",
        "fields": {
            "summary": "Card",
            "components": [{"id": "10101", "name": "Fraud"}],
            "priority": {"id": "2", "name": "High"},
        },
    }
    assert jira.routing_shown(webhook.ticket_from_issue(issue)) == {
        "queue": frozenset({"fraud_security"}),
        "priority": frozenset({"high"}),
    }
    # Several components are someone's own arrangement, not one of our queues; an unmapped one is none of ours.
    issue["fields"]["components"].append({"id": "10102", "name": "Cards"})
    issue["fields"]["priority"] = {"id": "99", "name": "Blocker"}
    assert jira.routing_shown(webhook.ticket_from_issue(issue)) == {}
    # A mapping that names components is matched by name.
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(
        (ROOT / "docs" / "examples" / "jira-mapping.yaml")
        .read_text()
        .replace('fraud_security: "10101"', "fraud_security: Fraud")
    )
    named = adapter(jira_server, TRIAGE_JIRA_MAPPING_FILE=str(mapping))
    issue["fields"]["components"] = [{"id": "555", "name": "Fraud"}]
    assert named.routing_shown(webhook.ticket_from_issue(issue)) == {"queue": frozenset({"fraud_security"})}
