"""Scheduled retraining: feedback (+ a labelled file) -> train a candidate -> gate -> promote, one run at a time.

Training runs as subprocesses (`python -m training.baseline` for the label, `python -m training.priority train`
for the priority model, `python -m training.gate`) so the service never imports training/; the model directory,
its card and the gate's exit code are the contract.
"""

from __future__ import annotations

import csv
import fcntl
import json
import subprocess
import sys
import tempfile
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

from service.core.csvcells import cells, uncell
from service.core.modelcard import audit

LOCK_FILE = "RETRAIN.lock"
GATE_PASSED, GATE_REFUSED = 0, 1
# What each target learns: the labelled file's column, and the trainer's command line for the combined CSV.
COLUMNS = {"label": "category", "priority": "priority"}


def _trainer(target: str, combined: Path, models_dir: Path, name: str) -> list[str]:
    """The command that trains an unpromoted candidate of `name` on the combined CSV."""
    common = ["--out", str(models_dir), "--name", name, "--no-promote"]
    if target == "priority":
        # The run's own held-out split and report go to the temporary directory, with the combined CSV.
        source = ["--source", f"csv:{combined}", "--label-field", "category", "--report-dir", str(combined.parent)]
        return [sys.executable, "-m", "training.priority", "train", *source, *common]
    return [sys.executable, "-m", "training.baseline", "--data", str(combined), *common]


def retrain(
    *,
    models_dir: Path,
    name: str,
    examples: Iterable[tuple[str, str]],
    data: Path | None,
    holdout: Path,
    exclude: Collection[str] = (),
    timeout_s: float = 3600,
    target: str = "label",
) -> dict[str, Any]:
    """Train a candidate on `data` plus `examples`, gate it against the model in service, promote if it passes.

    `target` is "label" (examples and `data`'s category) or "priority" (examples and `data`'s priority column;
    rows without one are skipped). Rows of `data` whose source_id is in `exclude` (tickets only our own
    write-back labelled) are left out, and the result says how many.

    A second run while one holds the lock returns at once with outcome "locked" (an flock on the models
    directory: it dies with its process, so a crashed run never leaves a stale lock).
    """
    models_dir.mkdir(parents=True, exist_ok=True)
    with (models_dir / LOCK_FILE).open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return {"outcome": "locked", "reason": "another retraining is running"}
        with tempfile.TemporaryDirectory(prefix="triage-retrain-") as tmp:
            combined = Path(tmp) / "train.csv"
            n, left_out = _combine(combined, examples, data, exclude=set(exclude), column=COLUMNS[target])
            if n == 0:
                audit(models_dir, "retrain", name=name, outcome="no-data", reason="no labelled examples")
                return {"outcome": "no-data", "examples": 0, "left_out_bot_labels": left_out}
            before = _versions(models_dir / name)
            trained = subprocess.run(
                _trainer(target, combined, models_dir, name),
                capture_output=True,
                text=True,
                timeout=timeout_s,
            )
            new = sorted(_versions(models_dir / name) - before)
            if trained.returncode != 0 or len(new) != 1:
                tail = (trained.stderr or trained.stdout)[-500:]
                audit(models_dir, "retrain", name=name, outcome="train-failed", reason=tail)
                return {"outcome": "train-failed", "examples": n, "left_out_bot_labels": left_out, "error": tail}
            candidate = models_dir / name / new[0]
            report_path = Path(tmp) / "gate.json"
            gated = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "training.gate",
                    "--candidate",
                    str(candidate),
                    "--holdout",
                    str(holdout),
                    "--models-dir",
                    str(models_dir),
                    "--name",
                    name,
                    "--promote",
                    "--report",
                    str(report_path),
                ],
                capture_output=True,
                text=True,
                timeout=timeout_s,
            )
            if gated.returncode not in (GATE_PASSED, GATE_REFUSED):
                audit(
                    models_dir,
                    "retrain",
                    name=name,
                    version=candidate.name,
                    outcome="gate-failed",
                    reason=gated.stderr[-500:],
                )
                return {
                    "outcome": "gate-failed",
                    "examples": n,
                    "left_out_bot_labels": left_out,
                    "version": candidate.name,
                    "error": gated.stderr,
                }
            report = json.loads(report_path.read_text())
            outcome = "promoted" if report["promoted"] else ("passed" if report["decision"] == "pass" else "refused")
            return {
                "outcome": outcome,
                "examples": n,
                "left_out_bot_labels": left_out,
                "version": candidate.name,
                "gate": report,
            }


def _combine(
    out: Path, examples: Iterable[tuple[str, str]], data: Path | None, *, exclude: set[str], column: str = "category"
) -> tuple[int, int]:
    """Write the labelled file's (text, `column`) rows and then the feedback examples into one (text, category)
    CSV; the number written, and the number of the file's rows left out because their source_id is in
    `exclude`. A row with an empty `column` is no example."""
    n = left_out = 0
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "category"])
        if data is not None:
            with data.open(newline="", encoding="utf-8") as src:
                for row in csv.DictReader(src):
                    label = uncell(row.get(column) or "")
                    if not label:
                        continue
                    if uncell(row.get("source_id") or "") in exclude:
                        left_out += 1
                        continue
                    writer.writerow(cells([uncell(row["text"]), label]))
                    n += 1
        for text, label in examples:
            writer.writerow(cells([text, label]))
            n += 1
    return n, left_out


def _versions(family: Path) -> set[str]:
    if not family.is_dir():
        return set()
    return {d.name for d in family.iterdir() if d.is_dir() and not d.name.endswith(".tmp")}
