"""Clustering unsure tickets: planted groups come back as clusters, named by their own words."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from service.review import clustering
from tests.support.intents import PLANTED, TOPIC_WORDS, planted


def best_cluster(groups, truth, name):
    """The cluster holding most of a planted group, with its purity; (None, 0.0) when none holds any."""
    scored = [(sum(truth[i] == name for i in g.members), g) for g in groups]
    n, group = max(scored, key=lambda s: s[0], default=(0, None))
    return (group, n / len(group.members)) if group is not None and n else (None, 0.0)


def test_planted_groups_among_real_questions_come_back_as_pure_clusters_named_by_their_topic():
    texts, truth = planted(per_group=10, n_noise=30)
    groups, used = clustering.group(texts, {}, min_cluster_size=5)
    assert used == {"tfidf": len(texts)}
    for name in PLANTED:
        group, purity = best_cluster(groups, truth, name)
        assert group is not None, f"{name} was not found"
        assert purity >= 0.8, (name, purity, [texts[i] for i in group.members])
        assert sum(truth[i] == name for i in group.members) >= 7, name
        assert TOPIC_WORDS[name] & set(" ".join(group.terms[:3]).split()), (name, group.terms)
        assert all(g.representation == "tfidf" for g in groups)


def test_noise_alone_makes_no_cluster_of_a_planted_topic_and_too_few_texts_make_none():
    texts, _ = planted(per_group=0, n_noise=40)
    groups, _ = clustering.group(texts, {}, min_cluster_size=5)
    words = {w for g in groups for t in g.terms for w in t.split()}
    assert not words & {"bitcoin", "crypto", "mortgage", "pet"}
    assert clustering.group(texts[:4], {}, min_cluster_size=5) == ([], {})


def test_stored_embeddings_are_clustered_in_their_own_space_and_the_rest_by_text():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(2, 24))
    vectors = [centres[i % 2] + rng.normal(scale=0.05, size=24) for i in range(16)]
    texts, truth = planted(per_group=10, n_noise=10)
    # The first 16 texts have embeddings planted in two tight groups; the text of these is ignored.
    embeddings = {i: ("space-a", v.astype(np.float32)) for i, v in enumerate(vectors)}
    groups, used = clustering.group(texts, embeddings, min_cluster_size=5)
    assert used == {"embedding:space-a": 16, "tfidf": len(texts) - 16}
    in_space = [g for g in groups if g.representation == "embedding:space-a"]
    assert sorted(Counter(i % 2 for i in g.members).most_common(1)[0][1] for g in in_space) == [8, 8]
    assert all(len(g.members) == 8 for g in in_space)
    assert all(all(i >= 16 for i in g.members) for g in groups if g.representation == "tfidf")


def test_a_space_with_too_few_embeddings_leaves_its_texts_to_tfidf():
    texts, _ = planted(per_group=10, n_noise=10)
    embeddings = {0: ("space-b", np.ones(8, np.float32)), 1: ("space-b", np.ones(8, np.float32))}
    _, used = clustering.group(texts, embeddings, min_cluster_size=5)
    assert used == {"tfidf": len(texts)}


def test_members_are_listed_closest_to_the_centre_first():
    rng = np.random.default_rng(3)
    vectors = np.concatenate([rng.normal(c, 0.1, size=(8, 3)) for c in ([3, 0, 0], [0, 3, 0])]).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    found = clustering.cluster(vectors, min_cluster_size=5)
    assert len(found) == 2
    for members in found:
        centre = vectors[members].mean(axis=0)
        closeness = list(vectors[members] @ centre)
        assert closeness == sorted(closeness, reverse=True) and closeness[0] > closeness[-1]


@pytest.mark.parametrize(
    ("ranked", "kept"),
    [
        (["pet insurance", "pet", "insurance", "dog"], ["pet insurance", "dog"]),
        (["pet", "insurance", "pet insurance", "dog"], ["pet", "insurance", "dog"]),
        (["mortgage", "rate"], ["mortgage", "rate"]),
    ],
)
def test_key_terms_never_repeat_a_word_a_chosen_pair_already_shows(ranked, kept):
    assert clustering._without_overlaps(ranked, 8) == kept


def test_key_terms_prefer_words_of_the_cluster_over_words_every_unsure_ticket_uses():
    texts = [f"my card and the {w} please" for w in ["bitcoin"] * 5] + ["my card is broken"] * 10
    (terms,) = clustering.key_terms(texts, [list(range(5))])
    assert terms[0] == "bitcoin" and "card" not in terms[:1]
