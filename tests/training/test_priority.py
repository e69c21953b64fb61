"""Training the priority model: mapping each source's priority names, the cutoff, its card, report and gate."""

import csv
import json

import numpy as np
import pytest

from service.core.modelcard import ModelCard, current_version_dir
from service.decide.classify import load_model
from service.decide.priority import KIND, PriorityClassifier
from tests.support.priority import write_priority_csv
from training import priority as training_priority
from training.gate import gate
from training.sources import Row, SourceSpec, read_source


def rows(*labels):
    return [Row(f"ticket {i}", label, f"t:{i}", "test") for i, label in enumerate(labels)]


def test_jira_and_zendesk_names_map_onto_the_service_scale_and_unknown_ones_are_counted():
    kept, skipped = training_priority.map_rows(
        rows("Blocker", "Critical", "Major", "Minor", "Trivial", "urgent", "P9"),
        {},
        ("low", "normal", "high", "urgent"),
    )
    assert [r.label for r in kept] == ["urgent", "high", "normal", "low", "low", "urgent"]
    assert sum(skipped.values()) == 1 and "'P9'" in next(iter(skipped))


def test_a_priority_map_turns_a_csv_column_of_codes_into_priorities():
    mapping = training_priority.parse_map("0=urgent, 1=high,2=normal,3=low")
    kept, skipped = training_priority.map_rows(rows("0", "3", "1"), mapping, ("low", "normal", "high", "urgent"))
    assert [r.label for r in kept] == ["urgent", "low", "high"] and not skipped
    with pytest.raises(ValueError, match="not on the scale"):
        training_priority.map_rows(rows("0"), {"0": "critical"}, ("low", "normal", "high", "urgent"))
    with pytest.raises(ValueError, match="VALUE=PRIORITY"):
        training_priority.parse_map("0:urgent")


@pytest.mark.parametrize(
    ("target", "cutoff"),
    [(0.8, 0.6), (0.6, 0.7), (1.0, 0.2)],
)
def test_the_cutoff_is_the_highest_that_still_catches_the_target_share_of_urgent_tickets(target, cutoff):
    proba = np.array([0.9, 0.8, 0.7, 0.6, 0.2, 0.95, 0.5])
    urgent = np.array([True, True, True, True, True, False, False])
    assert training_priority.top_cutoff(proba, urgent, target) == pytest.approx(cutoff)
    assert (proba[urgent] >= cutoff).mean() >= target


def test_training_on_a_few_tickets_publishes_a_model_with_its_card_cutoff_and_report(tmp_path):
    data = write_priority_csv(tmp_path / "priority.csv", per_label=20)
    cfg = training_priority.PriorityConfig(sources=[SourceSpec("csv", data, label="priority")], folds=3, jobs=1)
    summary = training_priority.train(cfg, models_dir=tmp_path / "models", report_dir=tmp_path / "runs")

    directory = current_version_dir(tmp_path / "models", "priority")  # the first one is promoted
    card = ModelCard.read(directory)
    assert card.kind == KIND and set(card.labels) == {"low", "normal", "high", "urgent"}
    assert list(card.serving["cutoffs"]) == ["urgent"] and 0 < card.serving["cutoffs"]["urgent"] < 1
    # The cutoff was chosen out of fold for the recall target, and the card says what it cost in precision.
    assert card.metrics["validation"]["top_recall"] >= 0.8 and "top_precision" in card.metrics["validation"]

    model = load_model(directory)
    assert isinstance(model, PriorityClassifier)
    [urgent, calm] = model.predict(["My card was stolen, someone took it", "What exchange rate do you use?"])
    assert (urgent.label, calm.label) == ("urgent", "high")

    report = json.loads((tmp_path / "runs" / summary["run"] / "priority" / "eval.json").read_text())
    assert report["priority"]["top"] == "urgent" and report["priority"]["n"] == summary["holdout"]["n"]
    html = (tmp_path / "runs" / summary["run"] / "priority" / "eval.html").read_text()
    assert "Most urgent priority &#x27;urgent&#x27;: recall" in html and "data:image/png;base64," in html
    assert set(summary["baselines"]) == {"majority", "tfidf_unweighted"}
    # The card's held-out figures are the served model's on the same tickets as the report's.
    assert card.metrics["test"] == summary["holdout"]


def test_the_gate_compares_a_priority_candidate_with_the_priority_model_in_service(tmp_path):
    data = write_priority_csv(tmp_path / "priority.csv", per_label=20)
    cfg = training_priority.PriorityConfig(sources=[SourceSpec("csv", data, label="priority")], folds=3, jobs=1)
    first = training_priority.train(cfg, models_dir=tmp_path / "models", report_dir=tmp_path / "runs")
    second = training_priority.train(cfg, models_dir=tmp_path / "models", report_dir=tmp_path / "runs")
    assert current_version_dir(tmp_path / "models", "priority").name == first["directory"].rsplit("/", 1)[1]

    report = gate(
        candidate=tmp_path / "models" / "priority" / second["directory"].rsplit("/", 1)[1],
        holdout=tmp_path / "runs" / second["run"] / "holdout.csv",
        models_dir=tmp_path / "models",
        name="priority",
        make_current=True,
    )
    assert report["decision"] == "pass" and report["promoted"]
    assert report["champion"]["name"] == "priority" and "urgent" in report["candidate"]["recall"]


def test_agents_priorities_in_a_feedback_export_are_read_as_the_priority_label(tmp_path):
    path = tmp_path / "feedback.csv"
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "category", "priority", "kind", "source_id", "created_at"])
        writer.writerow(["my card was stolen", "lost_or_stolen_card", "urgent", "corrected", "generic:1", ""])
    [label_row], _ = read_source(SourceSpec("feedback", path))
    [priority_row], _ = read_source(SourceSpec("feedback", path, label="priority"))
    assert (label_row.label, priority_row.label) == ("lost_or_stolen_card", "urgent")


def test_zendesk_and_jira_exports_are_read_by_their_priority_field_and_mapped(tmp_path):
    zendesk, jira = tmp_path / "zendesk.json", tmp_path / "jira.json"
    zendesk.write_text(
        json.dumps(
            {
                "tickets": [
                    {"id": 1, "subject": "Site down", "description": "Nothing loads", "priority": "urgent"},
                    {"id": 2, "subject": "Typo on page", "description": "", "priority": "low"},
                    {"id": 3, "subject": "No priority set", "description": "", "priority": None},
                ]
            }
        )
    )
    jira.write_text(
        json.dumps(
            {
                "issues": [
                    {"key": "OPS-1", "fields": {"summary": "Cluster down", "priority": {"name": "Blocker"}}},
                    {"key": "OPS-2", "fields": {"summary": "Rename a label", "priority": {"name": "Trivial"}}},
                    {"key": "OPS-3", "fields": {"summary": "Odd scheme", "priority": {"name": "P0"}}},
                ]
            }
        )
    )
    cfg = training_priority.PriorityConfig(
        sources=[SourceSpec("zendesk", zendesk, label="priority"), SourceSpec("jira", jira, label="priority")]
    )
    rows, reports, unmapped = training_priority.read_rows(cfg)
    assert sorted((r.key, r.label) for r in rows) == [
        ("jira:OPS-1", "urgent"),
        ("jira:OPS-2", "low"),
        ("zendesk:1", "urgent"),
        ("zendesk:2", "low"),
    ]
    assert [r["skipped"] for r in reports] == [{"no priority": 1}, {}]
    assert dict(unmapped) == {"priority 'P0' not on the scale (add it to --priority-map)": 1}
