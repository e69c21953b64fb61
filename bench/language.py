"""Language detection: how often it names a ticket's language, how often it errs, what it costs per ticket.

Run: .venv/bin/python bench/language.py  (prints JSON, writes bench/results/language.json); --help for options.

Sets, each with the language every text is in:
- heldout: tests/data/language_heldout.jsonl, written after the detector's rules were settled and measured once
  (14 configured languages and 6 others; never tuned on).
- dev: tests/data/language_corpus.jsonl, the corpus the tests use; the rules were tuned on it.
- English tickets from ../shared/datasets: Banking77 test questions (dev: the rules were tuned on them), the Bitext
  customer-support instructions, Apache Jira summaries and the Endava IT tickets (anonymised, stop words
  stripped) - held out.

For each text: right (the language it is in), unknown (too short or too mixed to tell: None), or wrong. A wrong
answer is what costs: an English ticket read as another language is held back from auto-routing by a model
trained on English; a foreign one read as English is routed on a label the model guessed from words it never read.
Time: one call per ticket after the models are loaded, and a 256 KiB ticket; load: warm() and resident memory.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import machine, publish  # noqa: E402
from service.decide.language import DEFAULT_LANGUAGES, Detector  # noqa: E402
from tests.support.adversarial import catalogue  # noqa: E402

SHARED = Path(os.environ.get("TRIAGE_SHARED_DIR") or ROOT.parent / "shared") / "datasets"


def jsonl(path: Path) -> list[tuple[str, str | None]]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [(r["text"], r["language"]) for r in rows]


def english(path: Path, columns: tuple[str, ...], limit: int) -> list[tuple[str, str | None]]:
    with path.open(newline="") as fh:
        texts = [". ".join(row[c] for c in columns if row.get(c)).strip() for row in csv.DictReader(fh)]
    return [(t, "en") for t in texts if t][:limit]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def score(found: Detector, rows: list[tuple[str, str | None]], configured: tuple[str, ...]) -> dict[str, object]:
    """Right, unknown and wrong answers, split by whether the text's language is a configured one."""
    out: dict[str, object] = {"texts": len(rows)}
    for part, keep in (("configured", True), ("other", False)):
        subset = [(t, lang) for t, lang in rows if (lang is None or lang in configured) == keep]
        if not subset:
            continue
        answers = [(lang, found.detect(t)) for t, lang in subset]
        right = sum(got == lang for lang, got in answers)
        unknown = sum(got is None and lang is not None for lang, got in answers)
        wrong = [(lang, got) for lang, got in answers if got is not None and got != lang]
        out[part] = {
            "texts": len(subset),
            "right": round(right / len(subset), 4),
            "unknown": round(unknown / len(subset), 4),
            "wrong": round(len(wrong) / len(subset), 4),
            # Wrong answers by what they were: (in -> read as), most frequent first.
            "wrong_as": dict(Counter(f"{lang}->{got}" for lang, got in wrong).most_common(8)),
            # Where a model trained on English alone would decide wrongly: English held back, or foreign routed.
            "english_held_back": sum(lang == "en" and got not in ("en", None) for lang, got in answers),
            "foreign_read_as_english": sum(lang not in ("en", None) and got == "en" for lang, got in answers),
        }
    by_language: dict[str, list[int]] = {}
    for text, lang in rows:
        if lang is not None:
            tally = by_language.setdefault(lang, [0, 0])
            tally[0] += found.detect(text) == lang
            tally[1] += 1
    if len(by_language) > 1:
        out["right_by_language"] = {lang: f"{r}/{n}" for lang, (r, n) in sorted(by_language.items())}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--languages", default=",".join(DEFAULT_LANGUAGES), help="TRIAGE_LANGUAGES to measure")
    parser.add_argument("--limit", type=int, default=3000, help="texts per English dataset")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "language.json")
    args = parser.parse_args()
    configured = tuple(c.strip() for c in args.languages.split(",") if c.strip())

    before = rss_mb()
    started = time.perf_counter()
    found = Detector(configured)
    found.warm()
    load_s = time.perf_counter() - started
    loaded = rss_mb()

    sets = {
        "heldout": jsonl(ROOT / "tests" / "data" / "language_heldout.jsonl"),
        "dev": jsonl(ROOT / "tests" / "data" / "language_corpus.jsonl"),
        "banking77_test_dev": english(SHARED / "banking77" / "test.csv", ("text",), args.limit),
        "bitext_instructions": english(
            SHARED / "bitext_customer_support" / "bitext_customer_support_4514.csv", ("instruction",), args.limit
        ),
        "apache_jira_summaries": english(
            SHARED / "apache_jira_changelog" / "apache_jira_issues_sample10k.csv", ("summary",), args.limit
        ),
        "endava_stopwords_stripped": english(
            SHARED / "endava_it_tickets_subset" / "endava_all_tickets_first5431.csv", ("title", "body"), args.limit
        ),
    }
    quality = {name: score(found, rows, configured) for name, rows in sets.items()}

    texts = [t for rows in sets.values() for t, _ in rows]
    times = []
    for text in texts:
        t0 = time.perf_counter()
        found.detect(text)
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    huge = ("Die Überweisung ist seit drei Tagen nicht angekommen, bitte prüfen Sie das. " * 4000)[: 256 * 1024]
    huge_ms = []
    for _ in range(5):
        t0 = time.perf_counter()
        found.detect(huge)
        huge_ms.append((time.perf_counter() - t0) * 1000)
    # The 24 hostile 256 KiB texts of tests/test_text_bounds.py, each read once (a first read may load models).
    hostile = {}
    for name, text in catalogue().items():
        t0 = time.perf_counter()
        found.detect(text)
        hostile[name] = (time.perf_counter() - t0) * 1000
    worst = max(hostile, key=hostile.__getitem__)

    publish(
        {
            "benchmark": "language",
            "machine": machine(),
            "detector": "lingua-language-detector 2.1.1: high accuracy over the configured languages for texts "
            "under 120 characters, low accuracy over all 75 languages",
            "languages": list(configured),
            "load_s": round(load_s, 2),
            "resident_mb_added": round(loaded - before, 1),
            "per_ticket_ms": {
                "texts": len(times),
                "median": round(statistics.median(times), 3),
                "p95": round(times[int(0.95 * (len(times) - 1))], 3),
                "max": round(times[-1], 3),
                "text_256_kib": round(statistics.median(huge_ms), 3),
                "hostile_256_kib_worst": {"ms": round(hostile[worst], 1), "text": worst},
                "hostile_256_kib_median": round(statistics.median(hostile.values()), 3),
            },
            "quality": quality,
        },
        args.out,
    )


if __name__ == "__main__":
    main()
