"""`triage train --target priority`, `triage eval --target priority` and `triage classify` with the model."""

import json
import shutil

import pytest

from tests.support.cli import triage
from tests.support.priority import write_priority_csv

pytestmark = pytest.mark.e2e


def test_the_priority_model_is_trained_evaluated_and_used_from_the_command_line(tmp_path, models_dir):
    models = tmp_path / "models"
    shutil.copytree(models_dir, models)
    env = {"TRIAGE_MODELS_DIR": str(models)}
    data = write_priority_csv(tmp_path / "priority.csv", per_label=20)
    runs = tmp_path / "runs"
    trained = triage(
        "train", "--target", "priority", "--source", f"csv:{data}", "--report-dir", str(runs), env_extra=env
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "priority model priority@" in trained.stdout and (models / "priority" / "CURRENT").is_file()
    [run] = list(runs.iterdir())

    evaluated = triage(
        "eval",
        "--target",
        "priority",
        "--data",
        str(run / "holdout.csv"),
        "--out",
        str(tmp_path / "reports"),
        env_extra=env,
    )
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    assert "Most urgent priority 'urgent': recall" in evaluated.stdout
    assert (tmp_path / "reports" / "priority" / "eval.html").is_file()

    # fx_fees is a "low" queue; the model learnt exchange-rate questions as "high" and may raise it.
    decided = json.loads(triage("classify", "What exchange rate do you use for dollars?", env_extra=env).stdout)
    assert decided["queue"] == "fx_fees" and decided["priority"] == "high"
    assert decided["priority_from"] == "model" and decided["priority_model"]["priority"] == "high"

    off = json.loads(
        triage(
            "classify", "What exchange rate do you use for dollars?", env_extra=env | {"TRIAGE_PRIORITY_MODEL": "none"}
        ).stdout
    )
    assert off["priority"] == "low" and "priority_model" not in off
