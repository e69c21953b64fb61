"""The ticket page shows what the LLM said and exactly what was sent to it (redacted); the dashboard its cost."""

import yaml

from integrations.fake.webhook import signed_delivery
from service import create_app
from service.core.settings import Secret
from service.decide import flow as decide_flow
from service.review import users as review_users
from tests.support.chat import ChatServer
from tests.support.review import PASSWORD, SECRET_KEY, sign_in
from tests.support.settings import ROOT, SECRET, make_settings


def test_an_escalated_ticket_shows_the_llm_answer_and_the_redacted_text(sqlite_url, models_dir, tmp_path):
    raw = yaml.safe_load((ROOT / "data" / "routing" / "banking77.yaml").read_text())
    raw["default"]["threshold"] = 0.999
    for queue in raw["queues"].values():
        queue.pop("threshold", None)
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(raw))
    chat = ChatServer().start()
    chat.answers.append({"label": "card_arrival", "confidence": 0.9})
    try:
        app = create_app(
            make_settings(sqlite_url, models_dir, routing_file=rules, secret_key=Secret(SECRET_KEY)),
            environ={
                "TRIAGE_LLM_BASE_URL": f"{chat.url}/v1",
                "TRIAGE_LLM_MODEL": "gpt-test",
                "TRIAGE_LLM_PRICE_IN_PER_1K": "1",
            },
        )
        rt = app.extensions["triage"]
        with rt.db.session() as session:
            review_users.create_user(session, username="ann", password=PASSWORD, role="agent")
        body, headers = signed_delivery(SECRET, {"id": "E-1", "body": "My card never came. Mail me at ann@example.com"})
        ticket_id = app.test_client().post("/webhooks/generic", data=body, headers=headers).get_json()["ticket_id"]
        with rt.db.session() as session:
            decide_flow.process_tickets(rt, session, [ticket_id])
        client = app.test_client()
        sign_in(client, "ann")
        page = client.get(f"/review/tickets/{ticket_id}").get_data(as_text=True)
        assert "Text as sent to the LLM (redacted)" in page and "&lt;EMAIL_1&gt;" in page
        assert "llm agrees" in page and "gpt-test" in page
        dashboard = client.get("/review/dashboard").get_data(as_text=True)
        assert "no LLM configured" not in dashboard
    finally:
        chat.stop()
