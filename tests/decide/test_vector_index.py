"""The persisted HNSW index of ticket embeddings: built, published, reopened by readers, topped up, locked."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from service.decide.vector_index import IndexReader, IndexStore, add_rows, new_index, search, slug


def unit(rng: np.random.Generator, n: int, ndim: int = 16) -> np.ndarray:
    v = rng.standard_normal((n, ndim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def rows(vectors: np.ndarray, start: int = 1) -> list[tuple[int, bytes]]:
    return [(start + i, v.tobytes()) for i, v in enumerate(vectors)]


def test_the_nearest_tickets_come_back_with_their_cosine_similarity_nearest_first():
    rng = np.random.default_rng(0)
    vectors = unit(rng, 200)
    index = new_index(16)
    assert add_rows(index, rows(vectors)) == 200
    [hits] = search(index, vectors[41][None, :], 5)
    assert hits[0][0] == 42 and abs(hits[0][1] - 1.0) < 1e-3
    exact = vectors @ vectors[41]
    expected = [int(i) + 1 for i in np.argsort(-exact)[:5]]
    assert [k for k, _ in hits] == expected
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)


def test_a_search_asking_for_more_than_the_index_holds_returns_only_what_is_there():
    index = new_index(16)
    add_rows(index, rows(unit(np.random.default_rng(1), 3)))
    [hits] = search(index, unit(np.random.default_rng(2), 1), 25)
    assert sorted(k for k, _ in hits) == [1, 2, 3]


def test_a_ticket_embedded_again_replaces_its_vector_and_a_vector_of_another_size_is_left_out():
    rng = np.random.default_rng(3)
    first, second = unit(rng, 2)
    index = new_index(16)
    add_rows(index, [(7, first.tobytes())])
    add_rows(index, [(7, second.tobytes()), (8, np.ones(8, dtype=np.float32).tobytes())])
    assert len(index) == 1
    [hits] = search(index, second[None, :], 1)
    assert hits[0][0] == 7 and hits[0][1] > 0.999


def test_readers_open_the_published_generation_and_follow_a_newer_one(tmp_path):
    rng = np.random.default_rng(4)
    store = IndexStore(tmp_path)
    space = "encoder@20261201T000000-abc/def"
    assert store.published(space) is None
    vectors = unit(rng, 50)
    index = new_index(16)
    add_rows(index, rows(vectors))
    watermark = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
    published = store.publish(space, index, watermark)
    assert published.count == 50 and published.watermark == watermark and "/" not in published.path.name
    assert published.path.name.startswith(slug(space))

    reader = IndexReader(store)
    view, info = reader.get(space)
    assert info.path == published.path and len(view) == 50
    [hits] = search(view, vectors[9][None, :], 1)
    assert hits[0][0] == 10

    # The writer tops up a writable copy and publishes a new generation; the reader moves to it.
    copy, _ = store.load(space)
    extra = unit(rng, 10)
    add_rows(copy, rows(extra, start=100))
    newer = store.publish(space, copy, watermark)
    view, info = reader.get(space)
    assert info.path == newer.path != published.path and len(view) == 60
    [hits] = search(view, extra[3][None, :], 1)
    assert hits[0][0] == 103


def test_old_generations_are_removed_but_the_last_few_are_kept_for_readers_still_using_them(tmp_path):
    store = IndexStore(tmp_path)
    index = new_index(16)
    add_rows(index, rows(unit(np.random.default_rng(5), 5)))
    for _ in range(4):
        store.publish("frozen", index, None)
    assert len(list(tmp_path.glob("frozen.*.usearch"))) == 2


def test_only_one_process_writes_at_a_time(tmp_path):
    store = IndexStore(tmp_path)
    with store.writer() as first:
        assert first
        # A second holder (another process, or another open file in this one) finds the lock taken.
        with IndexStore(tmp_path).writer() as second:
            assert not second
    with store.writer() as again:
        assert again


def test_an_index_can_be_made_before_the_model_runtime_is_loaded(tmp_path):
    """usearch loads a library globally that crashes onnxruntime imported after it: the index module orders them."""
    import subprocess
    import sys

    script = (
        "from service.decide.vector_index import new_index\n"
        "new_index(8)\n"
        "import onnxruntime\n"
        "print(onnxruntime.get_device())\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-500:]
    assert result.stdout.strip() == "CPU"
