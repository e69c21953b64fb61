"""An agent's priority on the review page becomes the priority model's training data."""

import csv

from service.cli import main
from tests.support.review import csrf_token, decided_ticket, decision_id
from training.sources import SourceSpec, read_source


def test_a_priority_an_agent_corrects_is_exported_and_read_as_a_priority_label(agent, rt, review_app, tmp_path):
    ticket_id = decided_ticket(rt, subject="Card", body="Someone took my card", priority="normal")
    response = agent.post(
        f"/review/tickets/{ticket_id}/review",
        data={
            "csrf_token": csrf_token(agent, "/review"),
            "action": "correct",
            "decision_id": decision_id(rt, ticket_id),
            "priority": "urgent",
        },
    )
    assert response.status_code == 303
    out = tmp_path / "feedback.csv"
    result = review_app.test_cli_runner().invoke(main, ["feedback", "export", "--out", str(out)])
    assert result.exit_code == 0, result.output
    with out.open(newline="") as fh:
        [row] = list(csv.DictReader(fh))
    assert (row["category"], row["priority"]) == ("card_arrival", "urgent")
    # `triage train --target priority --feedback` reads the same file with the priority as the label.
    [example], _ = read_source(SourceSpec("feedback", out, label="priority"))
    assert (example.text, example.label) == ("Card. Someone took my card", "urgent")
