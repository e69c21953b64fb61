"""Promotions, rollbacks and trainings leave who/when/what/why lines in the models directory's audit log."""

import pytest

from service.core.modelcard import AUDIT_FILE, audit_log, promote, rollback
from tests.support.cli import triage
from tests.support.settings import BANKING77, TINY_LABELS, write_subset
from training.baseline import train


def test_train_promote_and_rollback_are_audited_with_who_and_why(tmp_path, monkeypatch):
    monkeypatch.setenv("TRIAGE_AUDIT_USER", "alice")
    data = write_subset(tmp_path / "train.csv", BANKING77 / "train.csv", TINY_LABELS, 5)
    first = train(data=data, out=tmp_path, progress=False).name
    second = train(data=data, out=tmp_path, progress=False, make_current=False).name
    promote(tmp_path, "baseline", second, reason="better on last week's tickets")
    assert rollback(tmp_path, "baseline", reason="queue complaints") == first

    log = audit_log(tmp_path)
    assert [(e["action"], e["version"]) for e in log] == [
        ("train", first),
        ("promote", first),
        ("train", second),
        ("promote", second),
        ("rollback", first),
    ]
    assert all(e["who"] == "alice" and e["name"] == "baseline" and e["at"] for e in log)
    assert log[1]["reason"] == "trained; no version was in service" and log[1]["previous"] is None
    assert log[3]["reason"] == "better on last week's tickets" and log[3]["previous"] == first
    assert log[4]["reason"] == "queue complaints" and log[4]["previous"] == second
    assert log[0]["examples"] == 40 and 0 <= log[0]["validation_accuracy"] <= 1


def test_the_log_is_append_only_and_skips_a_torn_last_line(tmp_path):
    data = write_subset(tmp_path / "train.csv", BANKING77 / "train.csv", TINY_LABELS, 5)
    train(data=data, out=tmp_path, progress=False)
    with (tmp_path / AUDIT_FILE).open("a") as fh:
        fh.write('{"action": "promo')
    assert [e["action"] for e in audit_log(tmp_path)] == ["train", "promote"]


@pytest.mark.e2e
def test_the_cli_records_the_reason_and_the_user(tmp_path):
    data = write_subset(tmp_path / "train.csv", BANKING77 / "train.csv", TINY_LABELS, 5)
    train(data=data, out=tmp_path, progress=False)
    second = train(data=data, out=tmp_path, progress=False, make_current=False).name
    env = {"TRIAGE_MODELS_DIR": str(tmp_path), "USER": "bob"}
    assert triage("models", "promote", second, "--reason", "try it", env_extra=env).returncode == 0
    assert triage("models", "rollback", env_extra=env).returncode == 0
    last_two = audit_log(tmp_path)[-2:]
    assert [(e["action"], e["who"], e["reason"]) for e in last_two] == [
        ("promote", "bob", "try it"),
        ("rollback", "bob", None),
    ]
