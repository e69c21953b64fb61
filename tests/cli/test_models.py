"""`triage models list|promote|rollback` and `triage eval` on tiny trained models."""

import json

import pytest

from tests.support.cli import triage
from tests.support.settings import BANKING77, TINY_LABELS, write_subset
from training.baseline import train

pytestmark = pytest.mark.e2e


def test_list_promote_and_rollback_follow_the_history(tmp_path):
    data = write_subset(tmp_path / "train.csv", BANKING77 / "train.csv", TINY_LABELS, 20)
    first = train(data=data, out=tmp_path, progress=False).name
    second = train(data=data, out=tmp_path, progress=False, c=5.0, make_current=False).name
    env = {"TRIAGE_MODELS_DIR": str(tmp_path)}
    listed = triage("models", "list", env_extra=env).stdout
    assert f"* {first}" in listed and f"  {second}" in listed and "held-out accuracy" in listed
    assert triage("models", "promote", second, env_extra=env).returncode == 0
    assert (tmp_path / "baseline" / "CURRENT").read_text().strip() == second
    rolled = triage("models", "rollback", env_extra=env)
    assert rolled.returncode == 0 and first in rolled.stdout
    assert (tmp_path / "baseline" / "CURRENT").read_text().strip() == first
    nothing = triage("models", "rollback", env_extra=env)
    assert nothing.returncode != 0 and "no earlier" in nothing.stderr
    missing = triage("models", "promote", "19990101T000000-deadbeef", env_extra=env)
    assert missing.returncode != 0 and "missing" in missing.stderr


def test_eval_writes_json_and_an_html_report_with_plots(tmp_path, models_dir):
    test = write_subset(tmp_path / "test.csv", BANKING77 / "test.csv", TINY_LABELS, 10)
    result = triage(
        "eval", "--data", str(test), "--out", str(tmp_path / "report"), env_extra={"TRIAGE_MODELS_DIR": str(models_dir)}
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "report" / "eval.json").read_text())
    assert report["n"] == 80 and 0.5 < report["accuracy"] <= 1 and 0 <= report["ece"] <= 1
    assert set(report["per_class"]) == set(TINY_LABELS)
    assert len(report["confusion_matrix"]["matrix"]) == len(TINY_LABELS)
    assert report["accuracy_at_coverage"][0]["coverage"] == 1.0
    page = (tmp_path / "report" / "eval.html").read_text()
    assert page.count("data:image/png;base64,") == 3 and "Reliability" in page and "Accuracy vs coverage" in page
    # The promise is the routing file's (the demo routing's default, 98 %), beside what was achieved here.
    promise = report["model_thresholds"]
    assert promise["promised_precision"] == 0.98 and 0 < promise["auto_routed_share"] <= 1
    assert "(promised 98%)" in result.stdout and "(promised 98%)" in page
