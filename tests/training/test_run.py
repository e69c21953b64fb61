"""`training.run`: several sources into one leakage-free split; both model families trained and evaluated on it."""

import csv
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from service.core.modelcard import ModelCard
from tests.support.cli import triage
from tests.support.settings import APACHE, BANKING77, ENDAVA, ROOT, TINY_LABELS
from training.prepare import deduplicate, handle_rare, split_rows
from training.run import RunConfig, encoder_shots, read_config, render, run
from training.sources import Row, SourceSpec, read_source

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def banking_rows(labels=TINY_LABELS[:3], per_label=24):
    """(text, label) pairs of a few Banking77 intents, in file order."""
    taken = {label: 0 for label in labels}
    with (BANKING77 / "train.csv").open(newline="") as fh:
        for row in csv.DictReader(fh):
            if taken.get(row["category"], per_label) < per_label:
                taken[row["category"]] += 1
                yield row["text"], row["category"]


def row(key, label="a", text=None, day=None, source="s"):
    return Row(text or f"text of {key}", label, key, source, T0 + timedelta(days=day) if day is not None else None)


def test_csv_and_jsonl_sources_use_the_chosen_columns_and_say_what_they_skipped(tmp_path):
    table = tmp_path / "history.csv"
    table.write_text(
        "ticket,subject,body,queue,opened\n"
        "7,Card,It never came,cards,2025-03-01T10:00:00Z\n"
        "8,,,cards,2025-03-02\n"
        "9,Refund,,,2025-03-02\n"
        "10,Rate,What rate?,fx,yesterday\n"
    )
    rows, report = read_source(
        SourceSpec("csv", table, label="queue", text=("subject", "body"), id="ticket", time="opened")
    )
    assert [(r.text, r.label, r.key) for r in rows] == [
        ("Card. It never came", "cards", "history:7"),
        ("Rate. What rate?", "fx", "history:10"),
    ]
    assert rows[0].created_at == datetime(2025, 3, 1, 10, tzinfo=UTC) and rows[1].created_at is None
    assert report.as_dict() == {
        "source": f"csv:{table}",
        "read": 2,
        "skipped": {"no subject/body": 1, "no queue": 1, "unreadable opened (kept, without a time)": 1},
    }

    lines = tmp_path / "more.jsonl"
    lines.write_text(
        '{"text": "Where is my card", "category": "cards"}\nnot json\n[1]\n\n'
        '{"text": "Exchange rate", "category": "fx"}\n'
    )
    rows, report = read_source(SourceSpec("jsonl", lines))
    assert [r.key for r in rows] == ["more:row-1", "more:row-2"]
    assert report.skipped == {"not a JSON line": 1, "not a JSON object": 1}


def test_sources_refuse_what_they_cannot_read_with_a_message_that_says_what_to_do(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("body,queue\nx,y\n")
    with pytest.raises(ValueError, match=r"no column\(s\) \['text'\]"):
        read_source(SourceSpec("csv", table, label="queue"))
    with pytest.raises(ValueError, match="say which field is the label"):
        SourceSpec("zendesk", table)
    with pytest.raises(ValueError, match="write FORMAT:PATH"):
        SourceSpec.parse("tickets.csv")
    with pytest.raises(ValueError, match="unknown source format 'xls'"):
        SourceSpec.parse("xls:tickets.xls")
    junk = tmp_path / "junk.jsonl"
    junk.write_text("not json\n")
    with pytest.raises(ValueError, match=r"no labelled tickets \(skipped: \{'not a JSON line': 1\}\)"):
        read_source(SourceSpec("jsonl", junk))


def test_feedback_replaces_an_exports_label_for_the_same_ticket_and_duplicate_texts_are_dropped():
    export = [
        row("zendesk:1", "cards", "My card is lost"),
        row("zendesk:2", "fx", "What rate"),
        row("zendesk:3", "cards", "  what   RATE "),
        row("zendesk:2", "fx", "What rate"),
    ]
    feedback = [row("zendesk:1", "lost_card", "My card is lost", source="feedback")]
    prepared = deduplicate(export + feedback)
    assert sorted((r.key, r.label) for r in prepared.rows) == [("zendesk:1", "lost_card"), ("zendesk:3", "cards")]
    assert prepared.removed == {
        "same ticket in another source or twice (later one kept)": 2,
        "same text as another ticket": 1,
    }
    assert prepared.conflicts == 1  # "What rate" was fx in one ticket, cards in another


def test_rare_labels_are_merged_into_other_or_dropped_as_configured():
    rows = [row(f"k{i}", "common") for i in range(6)] + [row("r1", "rare1"), row("r2", "rare2"), row("r3", "rare2")]
    merged = handle_rare(deduplicate(rows), min_count=3, policy="merge", other_label="other")
    assert merged.rare == {"rare1": 1, "rare2": 2}
    assert sorted({r.label for r in merged.rows}) == ["common", "other"] and len(merged.rows) == 9
    dropped = handle_rare(deduplicate(rows), min_count=3, policy="drop", other_label="other")
    assert {r.label for r in dropped.rows} == {"common"}
    assert dropped.removed == {"label with fewer than 3 tickets": 3}
    tiny = handle_rare(deduplicate(rows[:6] + rows[6:7]), min_count=3, policy="merge", other_label="other")
    assert tiny.removed == {"'other' still below 3 after merging": 1} and len(tiny.rows) == 6


def test_a_time_split_holds_out_the_newest_tickets_and_a_ticket_split_never_splits_a_ticket():
    rows = [row(f"t{i}", "ab"[i % 2], day=i) for i in range(20)] + [row("undated", "a")]
    split = split_rows(rows, method="time", holdout=0.25)
    assert [r.key for r in split.holdout] == [f"t{i}" for i in range(15, 20)]
    assert max(r.created_at for r in split.train if r.created_at) < min(r.created_at for r in split.holdout)
    assert "1 tickets without a time train but are never held out" in split.notes
    assert split_rows(rows, method="auto").method == "time"

    # Two revisions of one ticket (same key, different text) must land on the same side.
    revisions = [row(f"k{i}", "ab"[i % 2], text=f"v{v} of {i}") for i in range(30) for v in (1, 2)]
    by_ticket = split_rows(revisions, method="ticket", holdout=0.3, seed=3)
    assert not {r.key for r in by_ticket.train} & {r.key for r in by_ticket.holdout}
    assert len(by_ticket.holdout) == 18 and {r.label for r in by_ticket.holdout} == {"a", "b"}
    assert split_rows([row(f"u{i}", "ab"[i % 2]) for i in range(10)], method="auto").method == "ticket"
    with pytest.raises(ValueError, match="no ticket has a time"):
        split_rows([row("x"), row("y")], method="time")
    with pytest.raises(ValueError, match="too few to hold out"):
        split_rows([row("x", "a"), row("y", "a"), row("z", "b"), row("w", "b")], method="ticket", holdout=0.9)


def test_few_shot_mode_is_chosen_when_labels_have_few_tickets():
    few = [row(f"k{i}", "ab"[i % 2]) for i in range(20)]
    many = [row(f"k{i}", "ab"[i % 2]) for i in range(60)]
    assert encoder_shots(RunConfig([SourceSpec("csv", ROOT / "x.csv")]), few) == 10
    assert encoder_shots(RunConfig([SourceSpec("csv", ROOT / "x.csv")]), many) is None
    assert encoder_shots(RunConfig([SourceSpec("csv", ROOT / "x.csv")], encoder_mode="full"), few) is None


@pytest.fixture(scope="module")
def three_sources(tmp_path_factory):
    """The same Banking77 intents as a Zendesk export (label: group_id), a CSV and review feedback."""
    base = tmp_path_factory.mktemp("sources")
    pairs = list(banking_rows())
    random.Random(0).shuffle(pairs)  # Banking77 is sorted by label; tickets arrive mixed
    tickets = [
        {
            "id": 100 + i,
            "subject": "",
            "description": text,
            "group_id": label,
            "status": "open",
            "created_at": (T0 + timedelta(hours=i)).isoformat().replace("+00:00", "Z"),
        }
        for i, (text, label) in enumerate(pairs[::2])
    ]
    (base / "zendesk.json").write_text(json.dumps({"tickets": tickets}))
    with (base / "history.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["ticket", "body", "queue", "opened"])
        for i, (text, label) in enumerate(pairs[1::2]):
            writer.writerow([f"H-{i}", text, label, (T0 + timedelta(hours=i, minutes=30)).isoformat()])
        writer.writerow(["H-rare", "Please close my account today", "account_closure", T0.isoformat()])
    # An agent corrected ticket 100 (the export said something else) and confirmed ticket 102.
    with (base / "feedback.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "category", "kind", "source_id", "created_at", "reviewed_at"])
        writer.writerow(
            [
                tickets[0]["description"],
                "corrected_label",
                "corrected",
                "zendesk:100",
                tickets[0]["created_at"],
                T0.isoformat(),
            ]
        )
        writer.writerow(
            [
                tickets[1]["description"],
                tickets[1]["group_id"],
                "accepted",
                "zendesk:102",
                tickets[1]["created_at"],
                T0.isoformat(),
            ]
        )
    config = base / "train.yml"
    config.write_text(
        "sources:\n"
        "  - {format: zendesk, path: zendesk.json, label: group_id}\n"
        "  - {format: csv, path: history.csv, text: [body], label: queue, id: ticket, time: opened}\n"
        "split: time\nholdout: 0.25\nmin_count: 3\nrare: merge\n"
    )
    return base


def test_one_run_trains_and_evaluates_both_families_on_the_same_split(three_sources, tiny_distilbert, tmp_path):
    options = read_config(three_sources / "train.yml")
    options["sources"].append(SourceSpec("feedback", three_sources / "feedback.csv"))
    options["encoder"] = {"base_model": tiny_distilbert, "epochs": 1, "head_init": False, "ensemble": False}
    summary = run(RunConfig(**options), models_dir=tmp_path / "models", report_dir=tmp_path / "runs", progress=False)

    assert [s["read"] for s in summary["sources"]] == [36, 37, 2]  # feedback is read last
    prepared = summary["prepared"]
    # Two Banking77 training texts differ only in case: one is dropped so it cannot sit on both sides.
    assert prepared["removed"] == {
        "same ticket in another source or twice (later one kept)": 2,
        "same text as another ticket": 1,
        "'other' still below 3 after merging": 2,
    }
    assert prepared["rare_labels"] == {"account_closure": 1, "corrected_label": 1}
    split = summary["split"]
    assert split["method"] == "time" and split["train"] + split["holdout"] == prepared["examples"] == 70
    assert split["holdout"] == 18

    run_dir = tmp_path / "runs" / summary["run"]
    with (run_dir / "train.csv").open() as a, (run_dir / "holdout.csv").open() as b:
        train, held = list(csv.DictReader(a)), list(csv.DictReader(b))
    assert not {r["key"] for r in train} & {r["key"] for r in held}
    assert not {r["text"] for r in train} & {r["text"] for r in held}
    assert max(r["created_at"] for r in train) < min(r["created_at"] for r in held)

    baseline, encoder = summary["families"]["baseline"], summary["families"]["encoder"]
    assert encoder["mode"] == "few-shot (19)" and baseline["mode"] == "full"
    # Few-shot training adds the contrastive loss; the card says with which weight.
    assert ModelCard.read(Path(encoder["directory"])).params["contrastive"] == 0.5
    for family in ("baseline", "encoder"):
        result = json.loads((run_dir / family / "eval.json").read_text())
        assert result["n"] == 18 and (run_dir / family / "eval.html").stat().st_size > 10_000
        assert summary["families"][family]["accuracy"] == result["accuracy"]
    assert baseline["accuracy"] > 0.8  # three easy intents; the random tiny encoder is only checked to run
    text = render(summary)
    assert "split by time: 52 to train, 18 held out" in text
    assert "2 rare labels merged into other: account_closure (1), corrected_label (1)" in text
    assert json.loads((run_dir / "summary.json").read_text())["families"].keys() == {"baseline", "encoder"}


def triage_train(*args, env_extra=None):
    return triage("train", *args, env_extra=env_extra)


@pytest.mark.skipif(not APACHE.is_file(), reason="needs ../shared beside the checkout")
def test_the_cli_trains_from_the_apache_jira_export_by_component_with_rare_components_merged(tmp_path):
    # A third of the export, as exported: the whole of it took 85 s of the suite for the same checks.
    export = tmp_path / "export.csv"
    with APACHE.open(newline="") as src, export.open("w", newline="") as dst:
        reader = csv.DictReader(src)
        writer = csv.DictWriter(dst, fieldnames=reader.fieldnames or [])
        writer.writeheader()
        writer.writerows(row for i, row in enumerate(reader) if i < 3500)
    result = triage_train(
        "--source",
        f"jira:{export}",
        "--label-field",
        "component",
        "--min-count",
        "40",
        "--family",
        "baseline",
        "--report-dir",
        str(tmp_path / "runs"),
        env_extra={"TRIAGE_MODELS_DIR": str(tmp_path / "m")},
    )
    assert result.returncode == 0, result.stderr
    assert "split by ticket" in result.stdout and "rare labels merged into other" in result.stdout
    summary = json.loads(next((tmp_path / "runs").glob("*/summary.json")).read_text())
    assert summary["sources"][0]["skipped"]["several component values"] > 0
    assert summary["prepared"]["labels"]["other"] > 0 and min(summary["prepared"]["labels"].values()) >= 40
    held = summary["split"]["holdout"]
    assert json.loads((tmp_path / "runs" / summary["run"] / "baseline" / "eval.json").read_text())["n"] == held
    assert summary["families"]["baseline"]["accuracy"] > 0.4


@pytest.mark.skipif(not ENDAVA.is_file(), reason="needs ../shared beside the checkout")
def test_the_cli_refuses_a_bad_source_and_says_what_to_do(tmp_path):
    result = triage_train(
        "--source", f"csv:{ENDAVA}", "--label-field", "category", env_extra={"TRIAGE_MODELS_DIR": str(tmp_path / "m")}
    )
    assert result.returncode == 2 and "no column(s) ['text']" in result.stderr
    assert "Traceback" not in result.stderr
    nothing = triage_train(env_extra={"TRIAGE_MODELS_DIR": str(tmp_path / "m")})
    assert nothing.returncode == 2 and "nothing to train on" in nothing.stderr
