"""Hybrid search: the dense and lexical rankings, fused by weighted reciprocal-rank fusion,
the dense side searching with a query vector that BM25's best passages have moved.

RRF (Cormack, Clarke & Büttcher, 2009) scores each passage by
`w / (K + rank_dense) + 1 / (K + rank_lexical)`; it needs no score calibration
between the two sides. The dense weight `w` lets a weak dense side count for less.

Pseudo-relevance feedback (Rocchio, 1971, on vectors): before the dense search, the query
vector is moved toward the mean of the vectors of BM25's top `FEEDBACK_PASSAGES` passages,
q' = q + mean(v_1..v_m), renormalised. The RNN then searches for what those passages are
about as well as for the query's words, and the two sides of the fusion disagree less
often by accident. It costs no extra search: BM25 runs first, and the dense side reads
three stored vectors (what it gains: `benchmarks/quality/fusion_weights.py`, docs/training.md).

BM25's confidence, per query: where its best passage scores far above its sixth, the query
names its answer in words (a known item), and a dense side that disagrees is more often
wrong than not; the dense weight shrinks there by (1 - lead)^LEAD_POWER, lead being the top
score's margin over the sixth as a share of it. It lifted hybrid above BM25 on a known-item
collection where a fixed weight fell below it, and kept the gain on the shared two
(docs/training.md, "Search modes").
"""

from __future__ import annotations

from typing import Callable

import numpy as np

RRF_K = 60
FEEDBACK_PASSAGES = 3
LEAD_RANK = 5  # BM25's lead: its best passage's score over the one at this (0-based) rank
LEAD_POWER = 2.0


def with_feedback(
    query_vectors: np.ndarray,
    lexical_ids: list[np.ndarray],
    vectors_of: Callable[[np.ndarray], np.ndarray],
    passages: int = FEEDBACK_PASSAGES,
) -> np.ndarray:
    """Each query vector (a row) moved toward the stored vectors of the top `passages` of its
    BM25 ranking (`vectors_of(ids)` reads them), renormalised; a query that BM25 found
    nothing for keeps its vector."""
    expanded = np.array(query_vectors, dtype=np.float32)
    for row, ids in enumerate(lexical_ids):
        top = np.asarray(ids[:passages], dtype=np.int64)
        if len(top):
            expanded[row] += vectors_of(top).mean(axis=0)
    return expanded / np.maximum(np.linalg.norm(expanded, axis=1, keepdims=True), 1e-12)


def lexical_lead(scores: np.ndarray, rank: int = LEAD_RANK) -> float:
    """How far BM25's best passage stands above the one at `rank`, as a share of its score
    (0 when it found fewer, or nothing)."""
    if len(scores) <= rank or scores[0] <= 0:
        return 0.0
    return float((scores[0] - scores[rank]) / scores[0])


def query_weight(dense_weight: float, lexical_scores: np.ndarray, lead_power: float = LEAD_POWER) -> float:
    """The dense weight for one query: less where BM25 is sure of its answer (lead_power 0: unchanged)."""
    if not lead_power:
        return dense_weight
    return dense_weight * (1.0 - lexical_lead(lexical_scores)) ** lead_power


def fuse(
    dense: tuple[np.ndarray, np.ndarray],
    lexical: tuple[np.ndarray, np.ndarray],
    dense_weight: float = 1.0,
    k: int = RRF_K,
) -> tuple[np.ndarray, np.ndarray]:
    """Fuse two rankings, each (ids best first, scores); returns (ids, fused scores) best first."""
    fused: dict[int, float] = {}
    for weight, (ids, _) in ((dense_weight, dense), (1.0, lexical)):
        for rank, passage_id in enumerate(ids.tolist(), 1):
            fused[passage_id] = fused.get(passage_id, 0.0) + weight / (k + rank)
    if not fused:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
    ids = np.fromiter(fused.keys(), dtype=np.int64, count=len(fused))
    scores = np.fromiter(fused.values(), dtype=np.float64, count=len(fused))
    order = np.lexsort((ids, -scores))  # ties broken by id, for determinism
    return ids[order], scores[order].astype(np.float32)
