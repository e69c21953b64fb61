"""Groups of similar texts among tickets no label fits: vectors, HDBSCAN, and each group's telling terms."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.cluster import HDBSCAN
from sklearn.decomposition import PCA, TruncatedSVD
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.preprocessing import normalize as unit_length

from service.decide.normalize import normalize

# HDBSCAN's density estimates degrade in many dimensions (and its trees slow down): both representations are
# brought down to this many first, as topic-modelling practice does.
DIMENSIONS = 32
TERMS = 8
# Chosen on Banking77's training split with other intents held out (bench/intents.py --validate), never on its
# test split: leaf clusters with min_samples 3 brought back the most held-out intents in both representations.
MIN_SAMPLES = 3
SELECTION = "leaf"
# Banking and helpdesk small talk that tells no intent from another ("0" is a masked digit).
EXTRA_STOP_WORDS = (
    *("0", "00", "000", "hi", "hello", "hey", "thanks", "thank", "please", "help", "need", "want", "just", "like"),
    *("does", "did", "doing", "can", "could", "would", "will", "shall", "ll", "ve", "im", "ive", "don", "dont"),
    *("able", "possible", "way", "know", "tell", "use", "using", "used", "make", "got", "getting", "let", "going"),
    # What is left of "isn't" and the like once the apostrophe splits it.
    *("isn", "didn", "doesn", "hasn", "haven", "wasn", "weren", "aren", "couldn", "wouldn", "shouldn", "won", "can"),
)


TFIDF = "tfidf"  # the representation of tickets without a stored embedding


@dataclass(frozen=True)
class Group:
    """One cluster: positions into the input, most central first, the terms that set it apart, and the
    representation it was found in ("tfidf", or "embedding:<space>")."""

    members: list[int]
    terms: list[str]
    representation: str


def group(
    texts: Sequence[str], embeddings: Mapping[int, tuple[str, np.ndarray]], *, min_cluster_size: int
) -> tuple[list[Group], dict[str, int]]:
    """Cluster texts by their embeddings (position -> (space, vector)) where they have one, else by TF-IDF;
    return the groups and how many texts each representation held.

    Embeddings of different spaces cannot be compared, so each space's texts are clustered apart; a space with
    too few texts to make one cluster leaves them to TF-IDF with the texts that have no embedding.
    """
    by_space: dict[str, list[int]] = {}
    for position, (space, _) in sorted(embeddings.items()):
        by_space.setdefault(space, []).append(position)
    parts: list[tuple[str, list[int], np.ndarray]] = []
    rest = set(range(len(texts)))
    for space, positions in sorted(by_space.items()):
        vectors = [embeddings[p][1] for p in positions]
        if len(positions) < min_cluster_size or len({v.shape for v in vectors}) != 1:
            continue
        parts.append((f"embedding:{space}", positions, reduce(np.stack(vectors))))
        rest -= set(positions)
    if len(rest) >= min_cluster_size:
        positions = sorted(rest)
        parts.append((TFIDF, positions, text_vectors([texts[p] for p in positions])))
    found = [
        (name, [positions[i] for i in members])
        for name, positions, vectors in parts
        for members in cluster(vectors, min_cluster_size=min_cluster_size)
    ]
    terms = key_terms(texts, [members for _, members in found])
    groups = [Group(members, t, name) for (name, members), t in zip(found, terms, strict=True)]
    return groups, {name: len(positions) for name, positions, _ in parts}


def text_vectors(texts: Sequence[str]) -> np.ndarray:
    """Unit-length LSA vectors of TF-IDF over character 3-5-grams: the stand-in when no embedding is stored.

    Character n-grams match "dog" with "dogs" and "mortgage" with "mortgages", which word counts of one-line
    tickets do not; on planted groups among Banking77 questions they found every group where words found two.
    """
    tfidf = TfidfVectorizer(
        preprocessor=normalize, analyzer="char_wb", ngram_range=(3, 5), min_df=2, sublinear_tf=True, max_features=50000
    )
    try:
        matrix = tfidf.fit_transform(texts)
    except ValueError:  # no n-gram occurs twice: nothing to group by
        return np.zeros((len(texts), 1), dtype=np.float32)
    # Few dimensions for few tickets: LSA keeps the shared topics and drops each ticket's own wording.
    components = min(DIMENSIONS, max(5, len(texts) // 10), matrix.shape[1] - 1, len(texts) - 1)
    if components < 2:
        return np.asarray(unit_length(matrix).toarray(), dtype=np.float32)
    reduced = TruncatedSVD(n_components=components, random_state=0).fit_transform(matrix)
    return np.asarray(unit_length(reduced), dtype=np.float32)


def reduce(vectors: np.ndarray) -> np.ndarray:
    """Embeddings brought to DIMENSIONS by PCA, unit length (so Euclidean distance ranks as cosine does)."""
    vectors = unit_length(np.asarray(vectors, dtype=np.float32))
    components = min(DIMENSIONS, vectors.shape[1], len(vectors) - 1)
    if components < 2 or components >= vectors.shape[1]:
        return np.asarray(vectors, dtype=np.float32)
    return np.asarray(unit_length(PCA(n_components=components, random_state=0).fit_transform(vectors)), np.float32)


def cluster(
    vectors: np.ndarray, *, min_cluster_size: int, min_samples: int = MIN_SAMPLES, selection: str = SELECTION
) -> list[list[int]]:
    """HDBSCAN over unit-length vectors: each cluster's positions, closest to its centre first; noise left out."""
    if len(vectors) < max(min_cluster_size, 2):
        return []
    found = HDBSCAN(
        min_cluster_size=min_cluster_size,
        min_samples=min(min_samples, min_cluster_size),
        cluster_selection_method=selection,
        copy=True,
    ).fit(vectors)
    groups = []
    for label in sorted(set(found.labels_) - {-1}):
        members = np.flatnonzero(found.labels_ == label)
        centre = vectors[members].mean(axis=0)
        closeness = vectors[members] @ centre
        groups.append([int(i) for i in members[np.argsort(-closeness, kind="stable")]])
    return groups


def key_terms(texts: Sequence[str], groups: Sequence[Sequence[int]], *, top: int = TERMS) -> list[list[str]]:
    """Each group's terms by class-based TF-IDF: frequent in the group, rare in the others and in the rest.

    The texts outside every group form one more class, so a term common to all unsure tickets ranks low.
    Reference: Grootendorst, BERTopic (2022), c-TF-IDF: tf(t, c) * log(1 + A / f(t)).
    """
    if not groups:
        return []
    grouped = {i for g in groups for i in g}
    rest = [i for i in range(len(texts)) if i not in grouped]
    classes = [" ".join(texts[i] for i in g) for g in groups] + [" ".join(texts[i] for i in rest)]
    counter = CountVectorizer(preprocessor=normalize, ngram_range=(1, 2), stop_words=_stop_words())
    try:
        counts = counter.fit_transform(classes).toarray().astype(np.float64)
    except ValueError:  # only stop words
        return [[] for _ in groups]
    words = counter.get_feature_names_out()
    tf = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
    average_words = counts.sum() / len(classes)
    idf = np.log(1.0 + average_words / np.maximum(counts.sum(axis=0), 1.0))
    scores = tf * idf
    out = []
    for row, group in zip(scores[: len(groups)], groups, strict=True):
        # A term must come from at least two of the group's tickets (or all of a tiny one): one chatty ticket
        # must not name the group.
        seen = _document_counts(counter, [texts[i] for i in group])
        least = min(2, len(group))
        ranked = [words[j] for j in np.argsort(-row, kind="stable") if row[j] > 0 and seen.get(words[j], 0) >= least]
        out.append(_without_overlaps(ranked, top))
    return out


def _document_counts(counter: CountVectorizer, texts: Sequence[str]) -> dict[str, int]:
    """In how many of the texts each of the counter's terms occurs."""
    present = (counter.transform(texts) > 0).sum(axis=0).A1
    return dict(zip(counter.get_feature_names_out(), present.tolist(), strict=True))


def _without_overlaps(ranked: Sequence[str], top: int) -> list[str]:
    """The best terms, skipping a word already shown inside a chosen pair (and a pair made of chosen words)."""
    chosen: list[str] = []
    for term in ranked:
        parts = term.split()
        if any(term in c.split() or (len(parts) > 1 and all(p in chosen for p in parts)) for c in chosen):
            continue
        chosen.append(term)
        if len(chosen) == top:
            break
    return chosen


def _stop_words() -> list[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return sorted(ENGLISH_STOP_WORDS.union(EXTRA_STOP_WORDS))
