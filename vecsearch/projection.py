"""A 2-D map of the embedding space: PCA of the passage vectors, with numpy.

The map is computed once per index version from the vectors FAISS stores (a seeded
sample of at most `MAX_POINTS` passages, so a large index costs no more than a small
one), and any other vector - a query's, a hit's - is placed on it with the same
projection. Passages are grouped by the folder of their source file, for colouring.
"""

from __future__ import annotations

import posixpath
from collections import Counter
from dataclasses import dataclass

import numpy as np


MAX_POINTS = 5000
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
    """Sampled passages placed in 2-D: `points` (n, 2), their `passage_ids`, and a `group`
    number for each (an index into `groups`, the source folders)."""

    projection: Projection
    passage_ids: np.ndarray
    points: np.ndarray
    group: np.ndarray
    groups: list[str]
    passages: int  # in the whole index


def sample_ids(count: int, limit: int = MAX_POINTS, seed: int = 0) -> np.ndarray:
    """All of 0..count-1 if at most `limit`, else a seeded sample of `limit`, sorted."""
    if count <= limit:
        return np.arange(count, dtype=np.int64)
    return np.sort(np.random.default_rng(seed).choice(count, size=limit, replace=False)).astype(np.int64)


def source_group(source: str) -> str:
    """The folder a passage's source file is in (TOP_LEVEL for files at the top of the corpus)."""
    return posixpath.dirname(source.replace("\\", "/")) or TOP_LEVEL


def embedding_map(retriever, limit: int = MAX_POINTS) -> EmbeddingMap:
    """The map of `retriever`'s index: PCA of a sample of at most `limit` passage vectors."""
    total = retriever.index.ntotal
    ids = sample_ids(total, limit)
    vectors = retriever.index.vectors(ids)  # FAISS or Milvus, by id
    projection = Projection.fit(vectors) if len(ids) else Projection(np.zeros(retriever.index.d), np.zeros((2, retriever.index.d)))
    folders = [source_group(s) for s in retriever.store.sources_of(ids.tolist())]
    groups, group = _number_groups(folders)
    return EmbeddingMap(projection, ids, projection.project(vectors), group, groups, total)


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
