"""A tiny priority model trained on Banking77 tickets given priorities by their intent, for the priority tests."""

from __future__ import annotations

import csv
from pathlib import Path

from tests.support.settings import BANKING77

# Chosen against data/routing/banking77.yaml so the rules and the model disagree both ways: exchange_rate's
# queue (fx_fees) is "low" and the model says "high"; card_arrival's queue (cards) is "normal", the model "low".
PRIORITY_OF = {
    "exchange_rate": "high",
    "card_arrival": "low",
    "lost_or_stolen_card": "urgent",
    "pending_transfer": "normal",
    "top_up_failed": "normal",
}


def write_priority_csv(path: Path, per_label: int = 30) -> Path:
    """A CSV (text, priority) of `per_label` Banking77 training tickets of each intent above."""
    counts = dict.fromkeys(PRIORITY_OF, 0)
    with (BANKING77 / "train.csv").open(newline="") as fh, path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["text", "priority"])
        for row in csv.DictReader(fh):
            label = row["category"]
            if label in counts and counts[label] < per_label:
                counts[label] += 1
                writer.writerow([row["text"], PRIORITY_OF[label]])
    return path


def train_priority(models_dir: Path, data: Path, **options: object) -> Path:
    """Train and publish a priority model from a (text, priority) CSV into `models_dir`; its directory."""
    from training.priority import PriorityConfig, train
    from training.sources import SourceSpec

    cfg = PriorityConfig(sources=[SourceSpec("csv", data, label="priority")], folds=3, jobs=1, **options)  # type: ignore[arg-type]
    summary = train(cfg, models_dir=models_dir, report_dir=models_dir.parent / "runs")
    return Path(summary["directory"])
