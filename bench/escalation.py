"""Escalation through a local OpenAI-compatible server: below-threshold Banking77 test tickets, the LLM offered
the classifier's top 3 labels, with the schema-constrained answer the client negotiates beside plain JSON mode
(what TRIAGE_LLM_JSON_SCHEMA=false sent before), interleaved in one run; and the classifier alone on the same
tickets. Prints JSON.

    .venv/bin/python bench/escalation.py [--model smollm2-135m] [--tickets 200] [--models DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import random
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import machine, publish  # noqa: E402
from integrations.llm.adapter import from_env  # noqa: E402
from service.core.domain import DecisionStatus  # noqa: E402
from service.core.modelcard import current_version_dir  # noqa: E402
from service.decide.classify import load_model  # noqa: E402
from service.decide.route import load_rules  # noqa: E402
from service.drafts.local_model import GeneratorUnavailable, model_path  # noqa: E402
from service.escalate.policy import capped, settle, top_labels, visible  # noqa: E402

MODES = {"negotiated": "true", "json_mode": "false"}  # the value of TRIAGE_LLM_JSON_SCHEMA


@contextlib.contextmanager
def server(model: Path, threads: int) -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server on a free loopback port; yields its /v1 URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = (ROOT / "var" / "bench-llama-server.log").open("w")
    # Reference: https://llama-cpp-python.readthedocs.io/en/latest/server/
    argv = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--n_ctx", "2048", "--n_threads", str(threads)]
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(300):
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{base}/models", timeout=1).status_code == 200:
                    break
            if proc.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited with {proc.returncode}; see var/bench-llama-server.log")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def below_threshold(models: Path, n: int, seed: int) -> tuple[list[dict[str, Any]], int]:
    """Banking77 test tickets the classifier leaves for review under the demo routing, n of them at random."""
    rules = load_rules(ROOT / "data/routing/banking77.yaml")
    model = load_model(current_version_dir(models, "baseline"))
    with (ROOT / "data/banking77/test.csv").open(newline="") as fh:
        rows = [(r["text"], r["category"]) for r in csv.DictReader(fh)]
    unsure = []
    for (text, truth), prediction in zip(rows, model.predict([t for t, _ in rows], top_k=3), strict=True):
        status, _, _ = rules.route(prediction, text=text)
        if status == DecisionStatus.NEEDS_REVIEW:
            unsure.append({"text": text, "truth": truth, "prediction": prediction})
    return random.Random(seed).sample(unsure, min(n, len(unsure))), len(rows)


def figures(runs: list[dict[str, Any]]) -> dict[str, Any]:
    answered = [r for r in runs if r["label"] is not None]
    settled = [r for r in runs if r["settled"] is not None]
    seconds = sorted(r["seconds"] for r in runs)
    return {
        "calls": len(runs),
        "failed_calls": sum(r["failed"] for r in runs),
        "answered_with_an_allowed_label": round(len(answered) / len(runs), 3),
        "accuracy_of_answered": round(sum(r["label"] == r["truth"] for r in answered) / len(answered), 3)
        if answered
        else None,
        "not_json_or_outside_the_set": sum(r["invalid"] for r in runs),
        "routed_by_the_agreement_rule": round(len(settled) / len(runs), 3),
        "accuracy_of_routed": round(sum(r["settled"] == r["truth"] for r in settled) / len(settled), 3)
        if settled
        else None,
        "by_branch": {
            branch: {
                "tickets": len(rows),
                "llm_right": sum(r["label"] == r["truth"] for r in rows),
                "classifier_right": sum(r["classifier"] == r["truth"] for r in rows),
            }
            for branch in sorted({r["branch"] for r in runs})
            for rows in [[r for r in runs if r["branch"] == branch]]
        },
        "seconds_per_call_median": round(statistics.median(seconds), 3),
        "seconds_per_call_p95": round(seconds[int(0.95 * (len(seconds) - 1))], 3),
        "tokens_in_mean": round(statistics.mean(r["tokens_in"] for r in runs), 1),
        "tokens_out_mean": round(statistics.mean(r["tokens_out"] for r in runs), 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m", help="smollm2-135m or qwen2.5-coder-1.5b")
    parser.add_argument("--tickets", type=int, default=200)
    parser.add_argument("--models", type=Path, default=ROOT / "var/bench/escalation-models")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="default: bench/results/escalation-MODEL.json")
    args = parser.parse_args()
    args.out = args.out or ROOT / "bench/results" / f"escalation-{args.model}.json"
    try:
        gguf = model_path(args.model, ROOT / "var/cache")
    except GeneratorUnavailable as exc:
        publish({"model": args.model, "installed": False, "why": str(exc)}, args.out)
        return 0
    if not (args.models / "baseline" / "CURRENT").exists():
        from training.baseline import train

        train(data=ROOT / "data/banking77/train.csv", out=args.models, name="baseline", progress=False)
    tickets, total = below_threshold(args.models, args.tickets, args.seed)
    classifier = {
        "top1_accuracy": round(sum(t["prediction"].label == t["truth"] for t in tickets) / len(tickets), 3),
        "truth_in_top3": round(sum(t["truth"] in top_labels(t["prediction"]) for t in tickets) / len(tickets), 3),
    }
    runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
    with server(gguf, args.threads) as base:
        llms = {
            mode: from_env(
                {
                    "TRIAGE_LLM_BASE_URL": base,
                    "TRIAGE_LLM_MODEL": args.model,
                    "TRIAGE_LLM_JSON_SCHEMA": flag,
                    "TRIAGE_LLM_TIMEOUT_S": "60",
                    "TRIAGE_LLM_DEADLINE_S": "120",
                }
            )
            for mode, flag in MODES.items()
        }
        for i, ticket in enumerate(tickets):
            offered = top_labels(ticket["prediction"], 3)
            text = capped(visible(ticket["text"]))
            # Alternate which mode goes first, so neither always meets a warm cache.
            for mode in list(MODES) if i % 2 == 0 else list(MODES)[::-1]:
                started = time.perf_counter()
                answer = llms[mode].classify(text=text, labels=offered)
                seconds = time.perf_counter() - started
                outcome = settle(ticket["prediction"], answer, allowed=offered)
                runs[mode].append(
                    {
                        "truth": ticket["truth"],
                        "label": answer.label,
                        "settled": outcome.label,
                        "branch": outcome.branch,
                        "classifier": ticket["prediction"].label,
                        "failed": answer.reason.startswith("call failed"),
                        "invalid": answer.reason.startswith(("answer is not", "label ")),
                        "seconds": seconds,
                        "tokens_in": answer.tokens_in,
                        "tokens_out": answer.tokens_out,
                    }
                )
        negotiated = llms["negotiated"].client.response_format
    result = {
        "benchmark": "escalation",
        "model": args.model,
        "server": "llama-cpp-python 0.3.36 (python -m llama_cpp.server), n_ctx 2048",
        "threads": args.threads,
        "tickets": len(tickets),
        "of_test_tickets": total,
        "classifier": "TF-IDF + LogisticRegression baseline (data/banking77/train.csv)",
        "negotiated_response_format": negotiated,
        "classifier_alone_on_these_tickets": classifier,
        "llm": {mode: figures(r) for mode, r in runs.items()},
        "machine": machine(),
    }
    publish(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
