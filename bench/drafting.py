"""Drafting: our path (prompt + generation + guards + template) vs a bare llama.cpp call on the same GGUF,
interleaved in one run; then guard pass rates on Banking77 test tickets and sample drafts. Prints JSON.

    .venv/bin/python bench/drafting.py [--model smollm2-135m] [--rounds 3] [--tickets 200]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.decide.route import load_rules  # noqa: E402
from service.drafts.drafter import ReplyDrafter  # noqa: E402
from service.drafts.local_model import LocalGenerator  # noqa: E402
from service.drafts.templates import Templates  # noqa: E402


def tickets(n: int, seed: int) -> list[tuple[str, str]]:
    with (ROOT / "data/banking77/test.csv").open(newline="") as fh:
        rows = [(r["text"], r["category"]) for r in csv.DictReader(fh)]
    return random.Random(seed).sample(rows, n)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--speed-tickets", type=int, default=10)
    parser.add_argument("--tickets", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rules = load_rules(ROOT / "data/routing/banking77.yaml")
    templates = Templates.load(ROOT / "data/drafts/banking77.yaml")
    generator = LocalGenerator(args.model, cache_dir=ROOT / "var/cache", threads=args.threads)
    drafter = ReplyDrafter(templates, generator, timeout_s=60.0)
    speed = tickets(args.speed_tickets, seed=1)
    ours: dict[str, list[float]] = {"tokens_per_s": [], "draft_s": []}
    bare: dict[str, list[float]] = {"tokens_per_s": [], "draft_s": []}
    for round_no in range(args.rounds):
        for who in ("ours", "bare") if round_no % 2 == 0 else ("bare", "ours"):
            for text, label in speed:
                queue = rules.label_queue.get(label, rules.default.name)
                started = time.perf_counter()
                if who == "ours":
                    result = drafter.draft(
                        ticket_id="T-1", requester="", subject="", body=text, queue=queue, label=label
                    )
                    elapsed, tokens = time.perf_counter() - started, result.tokens
                    ours["draft_s"].append(elapsed)
                    if tokens:
                        ours["tokens_per_s"].append(tokens / result.generation_s)
                else:
                    # llama.cpp itself through its Python binding: one non-streamed call, nothing around it.
                    system, user = drafter.prompt(text, queue=queue, label=label)
                    out = generator._llama.create_chat_completion(  # noqa: SLF001 - the bare baseline
                        messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
                        max_tokens=drafter.max_tokens,
                        temperature=0.2,
                        seed=0,
                    )
                    elapsed = time.perf_counter() - started
                    bare["draft_s"].append(elapsed)
                    tokens = int(out["usage"]["completion_tokens"])
                    if tokens:
                        bare["tokens_per_s"].append(tokens / elapsed)
        print(f"speed round {round_no + 1}/{args.rounds} done", file=sys.stderr)
    quality = tickets(args.tickets, seed=2)
    passed, fired, samples = 0, {}, []
    for i, (text, label) in enumerate(quality):
        queue = rules.label_queue.get(label, rules.default.name)
        result = drafter.draft(ticket_id=f"B77-{i}", requester="", subject="", body=text, queue=queue, label=label)
        if result.guard is None and result.generated:
            passed += 1
        else:
            fired[result.guard or "no output"] = fired.get(result.guard or "no output", 0) + 1
        if len(samples) < 10:
            samples.append(
                {
                    "ticket": text,
                    "label": label,
                    "generated": result.generated,
                    "guard": result.guard,
                    "draft": result.text,
                }
            )
        if (i + 1) % 25 == 0:
            print(f"quality {i + 1}/{len(quality)}", file=sys.stderr)
    med = {
        k: {m: round(statistics.median(v), 3) if v else None for m, v in d.items()}
        for k, d in (("ours", ours), ("bare_llama_cpp", bare))
    }
    result = {
        "benchmark": "drafting",
        "command": "python bench/drafting.py " + " ".join(sys.argv[1:]),
        "model": args.model,
        "runtime": generator.runtime,
        "machine": {"cpus": os.cpu_count(), "threads": args.threads, "python": platform.python_version()},
        "median": med,
        "ours_over_bare_tokens_per_s": round(med["ours"]["tokens_per_s"] / med["bare_llama_cpp"]["tokens_per_s"], 2)
        if med["ours"]["tokens_per_s"] and med["bare_llama_cpp"]["tokens_per_s"]
        else None,
        "guard_pass_rate": passed / len(quality),
        "guards_fired": fired,
        "samples": samples,
    }
    out = args.out or ROOT / f"bench/results/drafting-{args.model}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
