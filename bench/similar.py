"""Similar and duplicate tickets: the index at 1,000,000 tickets, and duplicate detection on Banking77.

Part 1, scale: N synthetic unit vectors of the served embeddings' dimension (384, all-MiniLM-L6-v2), drawn
around topic centres so that, like real ticket embeddings, they cluster (uniform random vectors in 384
dimensions have no neighbours worth the name and would measure nothing a helpdesk has). Built with the
service's own index settings (service/decide/vector_index.py), saved, and reopened as the workers do (a
memory-mapped view); then one query at a time, as a worker asks for each ticket: p50/p95 latency, and
recall@5 against exact search on a sample.

Part 2, duplicates: pairs of Banking77 tickets. A duplicate is a near paraphrase: the same intent in largely
the same words (word TF-IDF cosine >= 0.5), as when a requester writes again. Not duplicates: lookalikes (the
same words, another intent: "top up by card" against "top up by card failed") and random tickets of other
intents. Same-intent pairs in other words are reported apart (whether they are duplicates depends on who asks).
The embedding's cosine decides; the threshold is the lowest that keeps --precision on pairs from the train
split, reported on pairs from the test split. Embeddings are the base MiniLM's, as the frozen family serves them.

    .venv/bin/python bench/similar.py [--n 1000000] [--queries 2000] [--pairs 2000] [--out FILE]
    .venv/bin/python bench/similar.py --encoder-cost --out bench/results/similar-encoder.json
"""

from __future__ import annotations

import argparse
import csv
import gc
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import machine, publish  # noqa: E402
from service.decide.vector_index import (  # noqa: E402
    CONNECTIVITY,
    DTYPE,
    EXPANSION_ADD,
    EXPANSION_SEARCH,
    new_index,
    search,
    usearch_index,
)

BANKING77 = ROOT / "data" / "banking77"
NDIM = 384
LEXICAL = 0.5  # word TF-IDF cosine from which two tickets share most of their words


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def clustered(n: int, ndim: int, rng: np.random.Generator, *, topics: int = 5000, spread: float = 0.6) -> np.ndarray:
    """Unit vectors around random topic centres, in chunks so the float64 temporaries stay small."""
    centres = rng.standard_normal((topics, ndim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    out = np.empty((n, ndim), dtype=np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        noise = rng.standard_normal((m, ndim)).astype(np.float32) * (spread / np.sqrt(ndim))
        chunk = centres[rng.integers(0, topics, m)] + noise
        out[start : start + m] = chunk / np.linalg.norm(chunk, axis=1, keepdims=True)
    return out


def exact_top(data: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """The k most similar rows of data for each query, by brute force in chunks (ground truth for recall)."""
    best_ids = np.empty((len(queries), 0), dtype=np.int64)
    best_sims = np.empty((len(queries), 0), dtype=np.float32)
    for start in range(0, len(data), 100_000):
        sims = queries @ data[start : start + 100_000].T
        top = np.argpartition(-sims, k, axis=1)[:, :k]
        best_ids = np.concatenate([best_ids, top + start], axis=1)
        best_sims = np.concatenate([best_sims, np.take_along_axis(sims, top, axis=1)], axis=1)
    order = np.argsort(-best_sims, axis=1)[:, :k]
    return np.take_along_axis(best_ids, order, axis=1)


def lookups(path: Path, probes: np.ndarray, sample: np.ndarray, truth: np.ndarray, data: np.ndarray, ef: int) -> dict:
    """One query at a time through a memory-mapped view (as IndexReader opens it) with search beam `ef`."""
    view = usearch_index()(
        ndim=NDIM,
        metric="cos",
        dtype=DTYPE,
        connectivity=CONNECTIVITY,
        expansion_add=EXPANSION_ADD,
        expansion_search=ef,
    )
    started = time.perf_counter()
    view.view(str(path))
    open_s = time.perf_counter() - started
    for q in probes[:200]:  # warm the page cache, as a worker that has served a while has
        search(view, q[None, :], 5)
    latencies = []
    for q in probes:
        t = time.perf_counter()
        search(view, q[None, :], 5)
        latencies.append((time.perf_counter() - t) * 1000)
    found = [[k for k, _ in hits] for hits in search(view, sample, 5)]
    del view
    recall = float(np.mean([len(set(f) & set(t.tolist())) / 5 for f, t in zip(found, truth, strict=True)]))
    # How much less similar the five found are than the true five, on average (0: as similar).
    gap = float(
        np.mean(
            [
                (data[t] @ q).mean() - (data[f] @ q).mean()
                for f, t, q in zip(found, truth, sample, strict=True)
                if len(f) == 5
            ]
        )
    )
    lat = np.array(latencies)
    return {
        "expansion_search": ef,
        "open_view_s": round(open_s, 3),
        "queries": len(lat),
        "query_ms": {
            "p50": round(float(np.percentile(lat, 50)), 3),
            "p95": round(float(np.percentile(lat, 95)), 3),
            "p99": round(float(np.percentile(lat, 99)), 3),
            "mean": round(float(lat.mean()), 3),
        },
        "recall_at_5": round(recall, 4),
        "similarity_gap_at_5": round(gap, 4),
    }


def scale(n: int, queries: int, recall_sample: int, seed: int, beams: list[int]) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    data = clustered(n + queries, NDIM, rng)
    data, probes = data[:n], data[n:]
    generate_s = time.perf_counter() - started
    sample = probes[:recall_sample]
    truth = exact_top(data, sample, 5)
    index = new_index(NDIM)
    started = time.perf_counter()
    index.add(np.arange(n, dtype=np.uint64), data, threads=2)
    build_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.usearch"
        started = time.perf_counter()
        index.save(str(path))
        save_s = time.perf_counter() - started
        file_mb = path.stat().st_size / 2**20
        in_memory_mb = index.memory_usage / 2**20
        del index
        gc.collect()
        by_beam = [lookups(path, probes, sample, truth, data, ef) for ef in beams]
    return {
        "vectors": n,
        "ndim": NDIM,
        "index": {
            "kind": "usearch HNSW",
            "metric": "cos",
            "dtype": DTYPE,
            "connectivity": CONNECTIVITY,
            "expansion_add": EXPANSION_ADD,
            "service_expansion_search": EXPANSION_SEARCH,
        },
        "synthetic": "unit vectors around 5,000 random topic centres (noise 0.6)",
        "generate_s": round(generate_s, 1),
        "build_s": round(build_s, 1),
        "build_per_s": round(n / build_s),
        "save_s": round(save_s, 1),
        "file_mb": round(file_mb),
        "index_memory_mb": round(in_memory_mb),
        "peak_rss_mb": round(rss_mb()),
        "recall_sample": len(sample),
        "by_search_beam": by_beam,
    }


def banking77(split: str) -> tuple[list[str], list[str]]:
    with (BANKING77 / f"{split}.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return [r["text"] for r in rows], [r["category"] for r in rows]


def embedder() -> Any:
    import onnxruntime as ort
    from tokenizers import Tokenizer

    from service.decide.classify import run_encoder
    from training.onnx_bert import default_base_model, encoder_graph

    base = default_base_model()
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(encoder_graph(base).SerializeToString(), options, providers=["CPUExecutionProvider"])
    tokenizer = Tokenizer.from_file(str(base / "tokenizer.json"))
    tokenizer.enable_truncation(128)
    tokenizer.no_padding()
    return lambda texts: run_encoder(session, tokenizer, 0, texts, output="embedding")


def pairs(texts: list[str], labels: list[str], rng: np.random.Generator, n: int) -> dict[str, list[tuple[int, int]]]:
    """Pairs of tickets of one split, by kind, each kind at most n (drawn at random).

    near_paraphrase: the same intent in largely the same words (word TF-IDF cosine >= LEXICAL), as when a
    requester writes again; lookalike: the same words, another intent (the hard negatives); different: two
    tickets of different intents at random; reworded: the same intent in other words (below LEXICAL), reported
    apart since whether it is a duplicate depends on who asks."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    tfidf = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit_transform(texts)
    lexical = (tfidf @ tfidf.T).toarray()
    np.fill_diagonal(lexical, 0.0)
    same = np.equal.outer(np.array(labels), np.array(labels))
    upper = np.triu(np.ones_like(same, dtype=bool), k=1)
    kinds = {
        "near_paraphrase": np.argwhere(upper & same & (lexical >= LEXICAL)),
        "lookalike": np.argwhere(upper & ~same & (lexical >= LEXICAL)),
        "different": np.argwhere(upper & ~same),
        "reworded": np.argwhere(upper & same & (lexical < LEXICAL)),
    }
    out = {}
    for kind, found in kinds.items():
        chosen = found[rng.choice(len(found), min(n, len(found)), replace=False)] if len(found) else found
        out[kind] = [(int(a), int(b)) for a, b in chosen]
    return out


def scored(vectors: np.ndarray, found: dict[str, list[tuple[int, int]]]) -> dict[str, np.ndarray]:
    return {kind: np.array([float(vectors[a] @ vectors[b]) for a, b in ps]) for kind, ps in found.items()}


def rates(scores: dict[str, np.ndarray], threshold: float) -> dict[str, float]:
    """Duplicates are the near paraphrases; lookalikes and different tickets are not."""
    hits = int((scores["near_paraphrase"] >= threshold).sum())
    false = int((scores["lookalike"] >= threshold).sum() + (scores["different"] >= threshold).sum())
    return {
        "threshold": round(float(threshold), 3),
        "precision": round(hits / (hits + false), 4) if hits + false else 1.0,
        "recall": round(hits / max(len(scores["near_paraphrase"]), 1), 4),
        "lookalikes_flagged": round(float((scores["lookalike"] >= threshold).mean()), 4),
        "reworded_flagged": round(float((scores["reworded"] >= threshold).mean()), 4),
    }


def duplicates(n_pairs: int, target: float, seed: int) -> dict[str, Any]:
    embed = embedder()
    rng = np.random.default_rng(seed)
    result: dict[str, Any] = {"embedding": "all-MiniLM-L6-v2 mean-pooled (base, as the frozen family serves it)"}
    split_scores, counts = {}, {}
    started = time.perf_counter()
    for split in ("train", "test"):
        texts, labels = banking77(split)
        keep = rng.choice(len(texts), min(len(texts), 3000), replace=False)
        texts, labels = [texts[i] for i in keep], [labels[i] for i in keep]
        found = pairs(texts, labels, rng, n_pairs)
        counts[split] = {kind: len(ps) for kind, ps in found.items()}
        split_scores[split] = scored(embed(texts), found)
    result["embed_s"] = round(time.perf_counter() - started, 1)
    grid = np.round(np.arange(0.5, 0.995, 0.005), 3)
    tuned = [rates(split_scores["train"], t) for t in grid]
    meeting = [r for r in tuned if r["precision"] >= target]
    chosen = min(meeting, key=lambda r: r["threshold"]) if meeting else max(tuned, key=lambda r: r["precision"])
    best_f1 = max(tuned, key=lambda r: 2 * r["precision"] * r["recall"] / max(r["precision"] + r["recall"], 1e-9))
    result.update(
        {
            "set": "pairs from 3,000 tickets of each split: near paraphrases (same intent, word TF-IDF cosine >= "
            f"{LEXICAL}) against lookalikes (other intent, same cosine) and random tickets of other intents",
            "pairs": counts,
            "target_precision": target,
            "chosen_on": "train split pairs (lowest threshold keeping the target precision)",
            "chosen": chosen,
            "test": rates(split_scores["test"], chosen["threshold"]),
            "best_f1_on_train": best_f1,
            "test_at_best_f1": rates(split_scores["test"], best_f1["threshold"]),
            "test_curve": [rates(split_scores["test"], t) for t in (0.7, 0.75, 0.8, 0.85, 0.9, 0.95)],
        }
    )
    return result


def encoder_cost(similar_dir: Path, n: int = 300) -> dict[str, Any]:
    """What the base encoder adds per baseline ticket: one ticket at a time (a quiet worker) and 16 at a time (a
    busy one's batch), on Banking77 test questions, through the service's own BaseEncoder."""
    from service.decide.base_encoder import ENCODER_DIR, base_encoder
    from training.base_encoder import build

    started = time.perf_counter()
    build(similar_dir / ENCODER_DIR)
    build_s = time.perf_counter() - started
    started = time.perf_counter()
    encoder = base_encoder(similar_dir)
    assert encoder is not None
    load_s = time.perf_counter() - started
    texts = banking77("test")[0][:n]
    encoder.embed(texts[:20])  # warm-up
    single = []
    for text in texts:
        t = time.perf_counter()
        encoder.embed([text])
        single.append((time.perf_counter() - t) * 1000)
    started = time.perf_counter()
    for i in range(0, len(texts), 16):
        encoder.embed(texts[i : i + 16])
    batched_ms = (time.perf_counter() - started) * 1000 / len(texts)
    lat = np.array(single)
    return {
        "texts": len(texts),
        "build_s": round(build_s, 1),
        "load_s": round(load_s, 2),
        "graph_mb": round((similar_dir / ENCODER_DIR / "model.onnx").stat().st_size / 2**20),
        "one_at_a_time_ms": {
            "p50": round(float(np.percentile(lat, 50)), 2),
            "p95": round(float(np.percentile(lat, 95)), 2),
        },
        "batches_of_16_ms_per_ticket": round(batched_ms, 2),
        "rss_mb_after": round(rss_mb()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000, help="synthetic vectors in the index")
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--recall-sample", type=int, default=500)
    parser.add_argument("--pairs", type=int, default=2000, help="pairs of each kind per split (at most)")
    parser.add_argument("--precision", type=float, default=0.95, help="precision the threshold must keep (train split)")
    parser.add_argument("--beams", type=int, nargs="+", default=[64, 128, 256], help="search beams (ef) measured")
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--skip-duplicates", action="store_true")
    parser.add_argument("--encoder-cost", action="store_true", help="only what the baseline's base encoder costs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "similar.json")
    args = parser.parse_args()
    result: dict[str, Any] = {"machine": machine(), "load_average": os.getloadavg()}
    if args.encoder_cost:
        with tempfile.TemporaryDirectory() as tmp:
            result["base_encoder"] = encoder_cost(Path(tmp))
        publish(result, args.out)
        return
    if not args.skip_duplicates:
        result["duplicates"] = duplicates(args.pairs, args.precision, args.seed)
    if not args.skip_scale:
        result["scale"] = scale(args.n, args.queries, args.recall_sample, args.seed, args.beams)
    publish(result, args.out)


if __name__ == "__main__":
    main()
