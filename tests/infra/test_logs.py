"""Logs: one JSON object per line with ids as fields; ticket text and secrets never in any line."""

import io
import json
import logging
import uuid

import pytest
from sqlalchemy import select

from integrations.fake.webhook import signed_delivery
from service import create_app
from service.core.settings import ConfigError, Secret, Settings
from service.infra import logs
from service.infra.models import WritebackRow
from tests.support.processes import WorkerProcess, service_env, wait_until
from tests.support.settings import SECRET, TOKEN, make_settings

SUBJECT = "Zebra-subject-7781 about my card"
BODY = "Quokka-body-5523: I ordered a card two weeks ago and it has not arrived"
API_BODY = "Narwhal-body-9034: my card still has not arrived, where is it?"


@pytest.fixture
def captured():
    """The root logger's lines, as the service would write them, for the duration of one test."""
    root = logging.getLogger()
    level, buffer = root.level, io.StringIO()
    handler = logs.configure(Settings(), service=True, handler=logging.StreamHandler(buffer))
    yield buffer
    root.removeHandler(handler)
    root.setLevel(level)


def parse(lines: str) -> list[dict]:
    """Every non-empty line must be a JSON object with the four fixed fields."""
    entries = [json.loads(line) for line in lines.splitlines() if line.strip()]
    assert all({"ts", "level", "logger", "message"} <= set(e) for e in entries)
    return entries


def test_a_line_is_one_json_object_with_extra_fields_and_nothing_forbidden(captured):
    logs.register_secrets(Settings(webhook_secret=Secret("hunter2-webhook")), {"TRIAGE_LLM_API_KEY": "sk-live-123456"})
    log = logging.getLogger("service.test")
    log.info(
        "delivery created",
        extra={"ticket_id": 7, "event_id": 9, "subject": SUBJECT, "authorization": "Bearer x", "api_token": "t"},
    )
    log.warning("upstream said hunter2-webhook and sk-live-123456\nover two lines")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed", extra={"ticket_id": 8})
    first, second, third = parse(captured.getvalue())
    assert first["message"] == "delivery created" and (first["ticket_id"], first["event_id"]) == (7, 9)
    assert first["logger"] == "service.test" and first["level"] == "INFO" and first["ts"].endswith("Z")
    assert first["subject"] == first["authorization"] == first["api_token"] == logs.REDACTED
    assert "hunter2" not in second["message"] and "sk-live" not in second["message"]
    assert "ValueError: boom" in third["exc"] and third["ticket_id"] == 8


def test_auto_is_json_for_services_and_text_for_people():
    assert logs.resolve("auto", service=True) == "json" and logs.resolve("auto", service=False) == "text"
    assert logs.resolve("json", service=False) == "json" and logs.resolve("text", service=True) == "text"
    with pytest.raises(ConfigError, match="TRIAGE_LOG_FORMAT"):
        Settings.from_env({"TRIAGE_LOG_FORMAT": "xml"})


def test_text_lines_carry_the_extra_fields_and_hide_the_forbidden_ones():
    buffer = io.StringIO()
    handler = logs.configure(Settings(log_format="text"), service=True, handler=logging.StreamHandler(buffer))
    try:
        logging.getLogger("service.test").info("ticket decided", extra={"ticket_id": 3, "body": BODY})
    finally:
        logging.getLogger().removeHandler(handler)
    line = buffer.getvalue()
    assert "ticket decided [ticket_id=3 body=[redacted]]" in line and "Quokka" not in line


@pytest.mark.services
def test_a_ticket_through_web_and_worker_logs_ids_but_no_ticket_text_or_secret(
    captured, postgres_url, redis_url, models_dir, fake_helpdesk, tmp_path
):
    settings = make_settings(postgres_url, models_dir, broker_url=redis_url, writeback_backoff_s=0.2)
    env = service_env(settings, TRIAGE_FAKE_HELPDESK_URL=fake_helpdesk.url, TRIAGE_LOG_FORMAT="json")
    app = create_app(settings, environ=env)
    worker = WorkerProcess(env, tmp_path / "worker.log", quiet=True)
    try:
        worker.wait_ready()
        client = app.test_client()
        external_id = f"LOG-{uuid.uuid4().hex[:8]}"
        body, headers = signed_delivery(SECRET, {"id": external_id, "subject": SUBJECT, "body": BODY})
        signature = headers["X-Triage-Signature"]
        accepted = client.post("/webhooks/generic", data=body, headers=headers)
        assert accepted.status_code == 202
        via_api = client.post(
            "/api/v1/tickets",
            json={"id": f"{external_id}-api", "body": API_BODY},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert via_api.status_code == 202
        forged, forged_headers = signed_delivery("not-the-secret", {"id": "forged", "body": BODY})
        assert client.post("/webhooks/generic", data=forged, headers=forged_headers).status_code == 401
        ids = {accepted.get_json()["ticket_id"], via_api.get_json()["ticket_id"]}
        rt = app.extensions["triage"]

        def written_back():
            with rt.db.session() as session:
                rows = session.scalars(select(WritebackRow).where(WritebackRow.status == "done")).all()
                return ids <= {wb.decision.ticket_id for wb in rows}

        wait_until(written_back, timeout=90, message=f"write-backs; worker log:\n{worker.log()[-3000:]}")
        wait_until(lambda: "write-back delivered" in worker.log(), timeout=10, message="the write-back's log line")
        worker_lines = worker.log()  # read before stopping: Celery prints its shutdown notice outside logging
    finally:
        worker.stop()
        app.extensions["triage"].db.dispose()

    web, work = parse(captured.getvalue()), parse(worker_lines)
    created = [e for e in web if e["message"] == "delivery created"]
    assert {e["ticket_id"] for e in created} == ids and all(e["event_id"] for e in created)
    assert {e["source"] for e in created} == {"generic", "api"}
    assert any(e["message"].startswith("delivery refused") and e["source"] == "generic" for e in web)
    decided = [e for e in work if e["message"] == "ticket decided"]
    assert ids <= {e["ticket_id"] for e in decided} and all("classify_ms" in e for e in decided)
    assert ids <= {e["ticket_id"] for e in work if e["message"] == "write-back delivered"}
    everything = captured.getvalue() + worker_lines
    for forbidden in (
        SUBJECT,
        "Zebra",
        "Quokka",
        "Narwhal",
        BODY[:40],
        SECRET,
        TOKEN,
        signature,
        signature.removeprefix("sha256="),
        forged_headers["X-Triage-Signature"],
        "Bearer",
    ):
        assert forbidden not in everything, forbidden
