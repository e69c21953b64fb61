"""Scheduled retraining: one run at a time, a gated candidate, an audit trail; off unless configured."""

import csv
import fcntl
import shutil

import pytest

from service import create_app
from service.core.modelcard import audit_log, current_version_dir
from service.core.settings import ConfigError, Settings
from service.retrain import flow as retrain_flow
from service.retrain.schedule import LOCK_FILE, retrain
from tests.support.flows import shuffled
from tests.support.priority import PRIORITY_OF, train_priority, write_priority_csv
from tests.support.settings import BANKING77, TINY_LABELS, make_settings, write_subset
from training.baseline import train

# Each test trains and gates real baseline models.
pytestmark = pytest.mark.slow


@pytest.fixture
def holdout(tmp_path):
    return write_subset(tmp_path / "holdout.csv", BANKING77 / "test.csv", TINY_LABELS, 10)


def test_a_better_candidate_is_trained_gated_and_promoted(tmp_path, holdout):
    models = tmp_path / "models"
    champion = train(
        data=write_subset(tmp_path / "few.csv", BANKING77 / "train.csv", TINY_LABELS, 3), out=models, progress=False
    )
    data = write_subset(tmp_path / "more.csv", BANKING77 / "train.csv", TINY_LABELS, 30)
    result = retrain(
        models_dir=models,
        name="baseline",
        examples=[("my card has still not arrived", "card_arrival")],
        data=data,
        holdout=holdout,
    )
    assert result["outcome"] == "promoted" and result["examples"] == 30 * len(TINY_LABELS) + 1
    assert current_version_dir(models, "baseline").name == result["version"] != champion.name
    assert [e["action"] for e in audit_log(models)][-3:] == ["train", "promote", "gate"]


def test_a_worse_candidate_is_refused_and_the_champion_stays(tmp_path, holdout):
    models = tmp_path / "models"
    good = write_subset(tmp_path / "good.csv", BANKING77 / "train.csv", TINY_LABELS, 30)
    champion = train(data=good, out=models, progress=False)
    result = retrain(
        models_dir=models, name="baseline", examples=[], data=shuffled(good, tmp_path / "bad.csv"), holdout=holdout
    )
    assert result["outcome"] == "refused" and result["gate"]["reasons"]
    assert current_version_dir(models, "baseline") == champion


def test_only_one_run_at_a_time(tmp_path, holdout):
    (tmp_path / "models").mkdir()
    with (tmp_path / "models" / LOCK_FILE).open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = retrain(
            models_dir=tmp_path / "models", name="baseline", examples=[("x", "y")], data=None, holdout=holdout
        )
    assert result == {"outcome": "locked", "reason": "another retraining is running"}


def test_no_feedback_and_no_data_trains_nothing(tmp_path, holdout):
    result = retrain(models_dir=tmp_path, name="baseline", examples=[], data=None, holdout=holdout)
    assert result == {"outcome": "no-data", "examples": 0, "left_out_bot_labels": 0}
    assert audit_log(tmp_path)[-1]["outcome"] == "no-data"


def test_the_flow_uses_the_configured_data_and_holdout(sqlite_url, models_dir, tmp_path, holdout):
    models = tmp_path / "models"
    shutil.copytree(models_dir, models)
    data = write_subset(tmp_path / "data.csv", BANKING77 / "train.csv", TINY_LABELS, 3)
    app = create_app(
        make_settings(sqlite_url, models, retrain_data=str(data), retrain_holdout=str(holdout)), environ={}
    )
    rt = app.extensions["triage"]
    with rt.db.session() as session:
        result = retrain_flow.retrain(rt, session)
    rt.db.dispose()
    assert result["examples"] == 3 * len(TINY_LABELS) and result["outcome"] == "refused"
    assert "priority" not in result  # no priority model in service, no priority gate configured


def priority_holdout(path, per_label=10):
    """Banking77 test tickets of the priority tests' intents as (text, category = their priority)."""
    counts = dict.fromkeys(PRIORITY_OF, 0)
    with (BANKING77 / "test.csv").open(newline="") as fh, path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["text", "category"])
        for row in csv.DictReader(fh):
            if counts.get(row["category"], per_label) < per_label:
                counts[row["category"]] += 1
                writer.writerow([row["text"], PRIORITY_OF[row["category"]]])
    return path


def test_the_priority_model_in_service_is_retrained_on_the_priority_column_and_gated(sqlite_url, models_dir, tmp_path):
    models = tmp_path / "models"
    shutil.copytree(models_dir, models)
    # A champion that saw 6 tickets an intent; the labelled file has 30 and a row whose priority nobody set.
    champion = train_priority(models, write_priority_csv(tmp_path / "few.csv", per_label=6))
    data = tmp_path / "data.csv"
    with write_priority_csv(tmp_path / "many.csv", per_label=30).open(newline="") as src, data.open("w") as out:
        rows = [{"text": r["text"], "category": "card_arrival", "priority": r["priority"]} for r in csv.DictReader(src)]
        writer = csv.DictWriter(out, fieldnames=["text", "category", "priority"])
        writer.writeheader()
        writer.writerows([*rows, {"text": "where is my card", "category": "card_arrival", "priority": ""}])
    settings = make_settings(
        sqlite_url,
        models,
        retrain_data=str(data),
        retrain_holdout=str(write_subset(tmp_path / "holdout.csv", BANKING77 / "test.csv", TINY_LABELS, 5)),
        retrain_priority_holdout=str(priority_holdout(tmp_path / "priority-holdout.csv")),
    )
    app = create_app(settings, environ={})
    rt = app.extensions["triage"]
    with rt.db.session() as session:
        result = retrain_flow.retrain(rt, session)
    rt.db.dispose()

    priority = result["priority"]
    assert priority["examples"] == len(rows)  # the row without a priority taught nothing
    assert priority["outcome"] == "promoted", priority.get("gate", {}).get("reasons")
    assert current_version_dir(models, "priority").name == priority["version"] != champion.name
    assert [e["name"] for e in audit_log(models) if e["action"] == "gate"][-1] == "priority"


def test_retraining_is_scheduled_only_when_configured(sqlite_url, models_dir, tmp_path):
    off = create_app(make_settings(sqlite_url, models_dir), environ={})
    assert "retrain" not in off.extensions["celery"].conf.beat_schedule
    on = create_app(
        make_settings(sqlite_url, models_dir, retrain_interval_s=86400, retrain_holdout="h.csv"), environ={}
    )
    assert on.extensions["celery"].conf.beat_schedule["retrain"] == {"task": "triage.retrain", "schedule": 86400.0}
    with pytest.raises(ConfigError, match="TRIAGE_RETRAIN_HOLDOUT"):
        Settings.from_env({"TRIAGE_RETRAIN_INTERVAL_S": "3600"})
