"""A 2-D map of the embedding space a person can read: neighbours kept together, clusters
found in the vectors, each labelled with its most distinctive words.

The map is computed once per index version from the stored vectors (a seeded sample of
at most `MAX_POINTS` passages, so a large index costs no more than a small one).
- Layout: t-SNE (van der Maaten & Hinton, 2008; scikit-learn's, from the [plot] or [serve]
  extra) over the vectors cut to 50 dimensions by PCA, which keeps neighbours together
  where two principal axes mix them; at most `TSNE_POINTS` passages, as it costs ~8 s per
  2,000 here. Without scikit-learn, or for very few passages, PCA of the vectors (numpy).
- Placing a query or a passage not drawn: PCA projects it; t-SNE has no projection, so it
  goes to the weighted mean of its `NEIGHBOURS` nearest drawn passages (by cosine).
- Clusters: spherical k-means (FAISS) over the vectors, as many as the palette has colours.
- Labels: c-TF-IDF (Grootendorst, 2022, BERTopic): a word's share of its cluster's words
  times log(1 + mean words per cluster / the word's count in all clusters); the top three,
  stopwords (NLTK's list) and words of fewer than three letters left out.
Passages are also grouped by the folder of their source file, as before clusters existed.
"""

from __future__ import annotations

import math
import posixpath
import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

MAX_POINTS = 5000
TSNE_POINTS = 2000
TSNE_MIN_POINTS = 30  # fewer: PCA (t-SNE needs a perplexity below a third of the points)
NEIGHBOURS = 5
MAX_CLUSTERS = 12  # the page's palette
LABEL_WORDS = 3
_LABEL_WORD = re.compile(r"[^\W\d_][\w'-]*[^\W_]")
MAX_GROUPS = 12  # colours a reader can tell apart; the rest are "other"
OTHER = "other"
TOP_LEVEL = "(top level)"


@dataclass
class Projection:
    """PCA to two dimensions: `mean` (d,), `axes` (2, d); `project(vectors)` -> (n, 2)."""

    mean: np.ndarray
    axes: np.ndarray

    @classmethod
    def fit(cls, vectors: np.ndarray) -> "Projection":
        """The two principal axes of `vectors` (n, d); signs fixed so the map is reproducible."""
        vectors = np.asarray(vectors, dtype=np.float64)
        mean = vectors.mean(axis=0)
        _, _, right = np.linalg.svd(vectors - mean, full_matrices=False)
        axes = np.zeros((2, vectors.shape[1]))
        axes[: min(2, len(right))] = right[:2]
        for axis in axes:  # SVD may flip an axis; make its largest weight positive
            if axis[np.argmax(np.abs(axis))] < 0:
                axis *= -1
        return cls(mean, axes)

    def project(self, vectors: np.ndarray) -> np.ndarray:
        return ((np.asarray(vectors, dtype=np.float64) - self.mean) @ self.axes.T).astype(np.float32)


@dataclass
class EmbeddingMap:
    """Sampled passages placed in 2-D: `points` (n, 2), their `passage_ids` and `doc_ids`, a
    `cluster` number for each (an index into `clusters`, their labels), and a `group` number
    (an index into `groups`, the source folders). `place` puts other vectors on the map."""

    projection: Projection
    passage_ids: np.ndarray
    points: np.ndarray
    group: np.ndarray
    groups: list[str]
    passages: int  # in the whole index
    layout: str = "pca"  # or "tsne"
    cluster: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    clusters: list[str] = field(default_factory=list)
    doc_ids: list[str] = field(default_factory=list)
    vectors: np.ndarray | None = None  # the drawn passages' (unit) vectors, to place others by

    def place(self, vectors: np.ndarray, passage_ids=None) -> np.ndarray:
        """Map points (m, 2) of `vectors`; a passage drawn on the map (by `passage_ids`) keeps its point."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if self.layout == "pca" or self.vectors is None or len(self.points) == 0:
            return self.projection.project(vectors)
        similarity = vectors @ self.vectors.T
        nearest = np.argsort(-similarity, axis=1)[:, :NEIGHBOURS]
        weights = np.exp((np.take_along_axis(similarity, nearest, axis=1) - similarity.max(axis=1, keepdims=True)) / 0.05)
        placed = (weights[:, :, None] * self.points[nearest]).sum(axis=1) / weights.sum(axis=1, keepdims=True)
        if passage_ids is not None:
            row_of = {int(p): i for i, p in enumerate(self.passage_ids.tolist())}
            for row, passage_id in enumerate(passage_ids):
                if int(passage_id) in row_of:
                    placed[row] = self.points[row_of[int(passage_id)]]
        return placed.astype(np.float32)


def sample_ids(count: int, limit: int = MAX_POINTS, seed: int = 0) -> np.ndarray:
    """All of 0..count-1 if at most `limit`, else a seeded sample of `limit`, sorted."""
    if count <= limit:
        return np.arange(count, dtype=np.int64)
    return np.sort(np.random.default_rng(seed).choice(count, size=limit, replace=False)).astype(np.int64)


def source_group(source: str) -> str:
    """The folder a passage's source file is in (TOP_LEVEL for files at the top of the corpus)."""
    return posixpath.dirname(source.replace("\\", "/")) or TOP_LEVEL


def embedding_map(retriever, limit: int = MAX_POINTS, layout: str = "auto") -> EmbeddingMap:
    """The map of `retriever`'s index; `layout` "tsne", "pca" or "auto" (t-SNE where scikit-learn is installed)."""
    total = retriever.index.ntotal
    if layout == "auto":
        layout = "tsne" if _has_sklearn() and min(total, limit) >= TSNE_MIN_POINTS else "pca"
    ids = sample_ids(total, min(limit, TSNE_POINTS) if layout == "tsne" else limit)
    vectors = retriever.index.vectors(ids)  # FAISS or Milvus, by id
    projection = Projection.fit(vectors) if len(ids) else Projection(np.zeros(retriever.index.d), np.zeros((2, retriever.index.d)))
    passages = retriever.store.passages(ids.tolist())
    groups, group = _number_groups([source_group(p.source) for p in passages])
    cluster = clusters_of(vectors)
    points = tsne(vectors) if layout == "tsne" else projection.project(vectors)
    return EmbeddingMap(projection, ids, points, group, groups, total, layout, cluster,
                        cluster_labels([p.text for p in passages], cluster), [p.doc_id for p in passages],
                        np.asarray(vectors, dtype=np.float32))


def _has_sklearn() -> bool:
    from importlib.util import find_spec

    return find_spec("sklearn") is not None


def tsne(vectors: np.ndarray, seed: int = 0) -> np.ndarray:
    """t-SNE of the vectors (first cut to 50 dimensions by PCA), seeded."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    vectors = np.asarray(vectors, dtype=np.float32)
    reduced = PCA(min(50, *vectors.shape), random_state=seed).fit_transform(vectors) if vectors.shape[1] > 50 else vectors
    perplexity = min(30.0, (len(vectors) - 1) / 3)
    points = TSNE(2, init="pca", perplexity=perplexity, random_state=seed, n_jobs=1).fit_transform(reduced)
    return points.astype(np.float32)


def clusters_of(vectors: np.ndarray, seed: int = 0) -> np.ndarray:
    """A cluster number for each vector: spherical k-means, k = sqrt(n / 4) within 1..MAX_CLUSTERS."""
    count = len(vectors)
    k = max(1, min(MAX_CLUSTERS, round(math.sqrt(count / 4))))
    if count == 0 or k == 1:
        return np.zeros(count, dtype=np.int32)
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    kmeans = faiss.Kmeans(vectors.shape[1], k, niter=25, seed=seed + 1, spherical=True, min_points_per_centroid=1)
    kmeans.train(vectors)
    _, assigned = kmeans.index.search(vectors, 1)
    # numbered by size, largest first, so that colours and the legend read from the main topics down
    order = np.argsort(-np.bincount(assigned[:, 0], minlength=k), kind="stable")
    renumber = np.empty(k, dtype=np.int32)
    renumber[order] = np.arange(k, dtype=np.int32)
    return renumber[assigned[:, 0]]


def cluster_labels(texts: list[str], cluster: np.ndarray, words: int = LABEL_WORDS) -> list[str]:
    """Each cluster's most distinctive words by c-TF-IDF (see the top of this file), joined by ", "."""
    from bm25s.stopwords import STOPWORDS_EN_PLUS

    stop = set(STOPWORDS_EN_PLUS)
    count = int(cluster.max()) + 1 if len(cluster) else 0
    counts = [Counter() for _ in range(count)]
    passages_with = [Counter() for _ in range(count)]
    for text, number in zip(texts, cluster.tolist()):
        found = [w for w in (m.group().lower() for m in _LABEL_WORD.finditer(text)) if len(w) >= 3 and w not in stop]
        counts[number].update(found)
        passages_with[number].update(set(found))
    overall = Counter()
    for c in counts:
        overall.update(c)
    average = sum(overall.values()) / max(count, 1)
    labels = []
    for c, seen in zip(counts, passages_with):
        total = sum(c.values()) or 1
        scores = {w: n / total * math.log(1 + average / overall[w]) for w, n in c.items() if seen[w] >= 2 or len(seen) < 20}
        best = sorted(scores, key=lambda w: (-scores[w], w))[:words]
        labels.append(", ".join(best) or "(no words)")
    return labels


def _number_groups(folders: list[str]) -> tuple[list[str], np.ndarray]:
    """Groups by size (the largest MAX_GROUPS - 1 by name, the rest as OTHER) and each item's number."""
    counts = Counter(folders)
    if len(counts) <= MAX_GROUPS:
        kept = sorted(counts)
    else:
        kept = sorted(name for name, _ in counts.most_common(MAX_GROUPS - 1))
    names = kept + ([OTHER] if len(kept) < len(counts) else [])
    number = {name: i for i, name in enumerate(kept)}
    other = len(kept)
    return names, np.fromiter((number.get(f, other) for f in folders), dtype=np.int32, count=len(folders))
