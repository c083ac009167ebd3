"""Choose the hybrid weight and the default mode without labels, at index time.

Pseudo-queries cut from the corpus (see pseudoqueries.py) are run against the dense
and lexical sides; each query's own document is its one relevant answer. The dense
weight of the fusion that ranks those documents best (MRR@10) is kept, and the
default mode is whichever of dense, lexical and hybrid scored best - so a weak
dense side gets little weight, and never makes the default worse than BM25 on
this check.
"""

from __future__ import annotations

import numpy as np

from .evaluation import document_ranking, reciprocal_rank
from .fusion import fuse
from .pseudoqueries import PseudoQueries, subsample

WEIGHTS = (0.1, 0.2, 0.35, 0.5, 0.7, 1.0, 1.4, 2.0)
QUERIES = 300
DEPTH = 100
SAMPLE = 20_000  # passages the pseudo-queries are drawn from


def calibrate(encoder, dense_index, lexical, passages: list[str], doc_ids: list[str], seed: int = 12345) -> dict:
    """Pick the fusion's dense weight and the default mode; returns what goes in the manifest."""
    rows = subsample(len(passages), SAMPLE, seed)
    sampler = PseudoQueries([passages[i] for i in rows], [doc_ids[i] for i in rows], np.random.default_rng(seed))
    queries, picked = sampler.sample(QUERIES)
    sources = rows[picked].tolist()
    depth = min(DEPTH, len(passages))
    _, dense_ids = dense_index.search(encoder.encode(queries), depth)

    def mrr(rankings) -> float:
        return sum(
            reciprocal_rank(document_ranking(ranking, doc_ids, depth=10), {doc_ids[source]: 1})
            for source, ranking in zip(sources, rankings)
        ) / len(sources)

    lexical_rankings = [lexical.search(query, depth)[0] for query in queries]
    dense_rankings = [ids[ids >= 0] for ids in dense_ids]
    scores = {"dense": mrr(dense_rankings), "lexical": mrr(lexical_rankings)}
    hybrid = {}
    for weight in WEIGHTS:
        fused = [fuse((d, d), (l, l), weight)[0] for d, l in zip(dense_rankings, lexical_rankings)]
        hybrid[weight] = mrr(fused)
    best_weight = max(hybrid, key=lambda w: (hybrid[w], -abs(w - 1.0)))
    scores["hybrid"] = hybrid[best_weight]
    default_mode = max(("hybrid", "lexical", "dense"), key=lambda mode: scores[mode])  # ties: first listed
    return {
        "method": "rrf",
        "dense_weight": best_weight,
        "default_mode": default_mode,
        "calibration": {
            "queries": len(queries),
            "mrr@10": {mode: round(value, 4) for mode, value in scores.items()},
            "hybrid_mrr@10_by_weight": {str(w): round(v, 4) for w, v in hybrid.items()},
        },
    }
