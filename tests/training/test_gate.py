"""The champion/challenger gate refuses a worse model with its reasons and promotes a better one."""

import json

import pytest

from service.core.modelcard import audit_log, current_version_dir
from tests.support.cli import triage
from tests.support.flows import shuffled
from tests.support.settings import BANKING77, TINY_LABELS, write_subset
from training.baseline import train
from training.gate import EXIT_PASSED, EXIT_REFUSED, compare, gate, main


@pytest.fixture(scope="module")
def holdout(tmp_path_factory):
    return write_subset(tmp_path_factory.mktemp("holdout") / "test.csv", BANKING77 / "test.csv", TINY_LABELS, 10)


def test_the_gate_refuses_a_model_trained_on_shuffled_labels_and_says_why(tmp_path, holdout):
    good = write_subset(tmp_path / "good.csv", BANKING77 / "train.csv", TINY_LABELS, 40)
    champion = train(data=good, out=tmp_path, progress=False)
    worse = train(data=shuffled(good, tmp_path / "shuffled.csv"), out=tmp_path, progress=False, make_current=False)

    report = gate(candidate=worse, holdout=holdout, models_dir=tmp_path, name="baseline", make_current=True)

    assert report["decision"] == "refuse" and not report["promoted"]
    assert current_version_dir(tmp_path, "baseline") == champion
    checks = {r["check"] for r in report["reasons"]}
    assert checks == {"accuracy", "recall"}
    accuracy = next(r for r in report["reasons"] if r["check"] == "accuracy")
    assert accuracy["champion"] == report["champion"]["accuracy"] > accuracy["candidate"]
    assert accuracy["shortfall"] == pytest.approx(accuracy["champion"] - accuracy["candidate"])
    dropped = {r["label"]: r for r in report["reasons"] if r["check"] == "recall"}
    assert dropped and set(dropped) <= set(TINY_LABELS)
    for label, r in dropped.items():
        assert r["drop"] > 0.05 and label in r["message"] and f"{r['drop']:.2%}" in r["message"]
    entry = audit_log(tmp_path)[-1]
    assert entry["action"] == "gate" and entry["decision"] == "refuse" and entry["version"] == worse.name
    assert "recall of" in entry["reason"] and entry["who"]


def test_the_gate_promotes_a_model_trained_on_more_data_from_the_command_line(tmp_path, holdout, capsys):
    few = write_subset(tmp_path / "few.csv", BANKING77 / "train.csv", TINY_LABELS, 3)
    more = write_subset(tmp_path / "more.csv", BANKING77 / "train.csv", TINY_LABELS, 40)
    champion = train(data=few, out=tmp_path, progress=False)
    better = train(data=more, out=tmp_path, progress=False, make_current=False)

    code = main(
        [
            "--candidate",
            str(better),
            "--holdout",
            str(holdout),
            "--models-dir",
            str(tmp_path),
            "--name",
            "baseline",
            "--promote",
            "--max-recall-drop",
            "0.2",
        ]
    )

    assert code == EXIT_PASSED
    assert current_version_dir(tmp_path, "baseline") == better
    printed = capsys.readouterr().out
    assert "PASSED and promoted" in printed
    report = json.loads((tmp_path / "baseline" / f"gate-{better.name}.json").read_text())
    assert report["promoted"] and report["champion"]["version"] == champion.name
    assert report["candidate"]["accuracy"] > report["champion"]["accuracy"]
    assert report["holdout"]["n"] == 80
    actions = [(e["action"], e["version"]) for e in audit_log(tmp_path)]
    assert actions[-2:] == [("promote", better.name), ("gate", better.name)]


def test_a_margin_the_candidate_cannot_reach_refuses_it_with_exit_1(tmp_path, holdout, capsys):
    data = write_subset(tmp_path / "train.csv", BANKING77 / "train.csv", TINY_LABELS, 10)
    train(data=data, out=tmp_path, progress=False)
    same = train(data=data, out=tmp_path, progress=False, make_current=False)
    code = main(
        [
            "--candidate",
            str(same),
            "--holdout",
            str(holdout),
            "--models-dir",
            str(tmp_path),
            "--margin",
            "0.02",
            "--promote",
            "--report",
            str(tmp_path / "r.json"),
        ]
    )
    assert code == EXIT_REFUSED
    out = capsys.readouterr().out
    assert "REFUSED: 1 check(s) failed" in out and "+ margin 2.00%" in out
    assert json.loads((tmp_path / "r.json").read_text())["reasons"][0]["check"] == "accuracy"


def test_with_no_model_in_service_anything_passes():
    candidate = {"accuracy": 0.1, "recall": {"a": 0.0}}
    assert compare(None, candidate, margin=0.5, max_recall_drop=0.0) == []


def test_a_class_the_candidate_does_not_know_counts_as_lost_recall():
    champion = {"accuracy": 0.9, "recall": {"a": 0.9, "b": 0.8}}
    candidate = {"accuracy": 0.95, "recall": {"a": 1.0}}
    (reason,) = compare(champion, candidate, margin=0.0, max_recall_drop=0.05)
    assert reason["label"] == "b" and reason["drop"] == pytest.approx(0.8)


def test_triage_models_gate_runs_the_gate_by_version(tmp_path, holdout):
    data = write_subset(tmp_path / "train.csv", BANKING77 / "train.csv", TINY_LABELS, 10)
    train(data=data, out=tmp_path, progress=False)
    worse = train(data=shuffled(data, tmp_path / "s.csv"), out=tmp_path, progress=False, make_current=False)
    result = triage(
        "models",
        "gate",
        worse.name,
        "--holdout",
        str(holdout),
        "--promote",
        env_extra={"TRIAGE_MODELS_DIR": str(tmp_path)},
    )
    assert result.returncode == EXIT_REFUSED, result.stderr
    assert "REFUSED" in result.stdout and "recall of" in result.stdout
    assert current_version_dir(tmp_path, "baseline").name != worse.name
