"""Fusion of the dense and lexical rankings (weighted reciprocal-rank fusion).

RRF (Cormack, Clarke & Büttcher, 2009) scores each passage by
`w / (K + rank_dense) + 1 / (K + rank_lexical)`; it needs no score calibration
between the two sides. The dense weight `w` lets a weak dense side count for less.
"""

from __future__ import annotations

import numpy as np

RRF_K = 60


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
