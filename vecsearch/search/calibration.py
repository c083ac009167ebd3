"""Choose the hybrid weight and the default mode without labels, at index time.

Pseudo-queries cut from the corpus (see pseudoqueries.py) are run against the dense
and lexical sides; each query's own document is its one relevant answer, and each side
is scored by how well it finds it (MRR@10).

The dense side's weight in the fusion is its score relative to BM25's (dense MRR /
lexical MRR, at most 1): a side that finds the source half as well counts half as much,
a useless one next to nothing. The weight that maximises the pseudo-queries' own hybrid
MRR is not taken: cut from the passages' text, they are BM25's easiest case (MRR ~0.9
against ~0.6 for real queries' nDCG), so that maximum sat at the smallest weight on every
index, where labelled queries, with feedback, do best anywhere in 0.35-2.0 (docs/training.md). The default mode is hybrid
if the dense side reaches `HYBRID_FLOOR` of BM25's score, else lexical.

An encoder distilled from a teacher on the corpus gets the weight its teacher would, 1:
pseudo-queries rate its dense side at two thirds of BM25's, where labelled queries put its
best weight at 1-2. The per-query shrink where BM25 leads (fusion.query_weight) stays: without
it, hybrid fell below BM25 on known-item queries (docs/training.md, "Search modes").
"""

from __future__ import annotations

import numpy as np

from ..corpus.pseudoqueries import PseudoQueries, subsample
from .fusion import FEEDBACK_PASSAGES, LEAD_POWER, fuse, query_weight, with_feedback
from .metrics import document_ranking, reciprocal_rank

WEIGHTS = (0.1, 0.2, 0.35, 0.5, 0.7, 1.0, 1.4, 2.0)  # for the record: pseudo-query hybrid MRR at each
HYBRID_FLOOR = 0.5
QUERIES = 300
DEPTH = 100
SAMPLE = 20_000  # passages the pseudo-queries are drawn from


def calibrate(encoder, dense_index, lexical, passages: list[str], doc_ids: list[str], seed: int = 12345,
              distilled: bool = False) -> dict:
    """Pick the fusion's dense weight and the default mode; returns what goes in the manifest."""
    rows = subsample(len(passages), SAMPLE, seed)
    sampler = PseudoQueries([passages[i] for i in rows], [doc_ids[i] for i in rows], np.random.default_rng(seed))
    queries, picked = sampler.sample(QUERIES)
    sources = rows[picked].tolist()
    depth = min(DEPTH, len(passages))
    vectors = encoder.encode(queries)
    _, dense_ids = dense_index.search(vectors, depth)

    def mrr(rankings) -> float:
        return sum(
            reciprocal_rank(document_ranking(ranking, doc_ids, depth=10), {doc_ids[source]: 1})
            for source, ranking in zip(sources, rankings)
        ) / len(sources)

    lexical_results = [lexical.search(query, depth) for query in queries]
    lexical_rankings = [ids for ids, _ in lexical_results]
    dense_rankings = [ids[ids >= 0] for ids in dense_ids]
    scores = {"dense": mrr(dense_rankings), "lexical": mrr(lexical_rankings)}
    # hybrid as searches run it: the dense side with the vectors BM25's best passages moved
    _, feedback_ids = dense_index.search(with_feedback(vectors, lexical_rankings, dense_index.vectors), depth)
    feedback_rankings = [ids[ids >= 0] for ids in feedback_ids]

    def hybrid_mrr(weight: float) -> float:
        return mrr([fuse((d, d), (ids, ids), query_weight(weight, scores))[0]
                    for d, (ids, scores) in zip(feedback_rankings, lexical_results)])

    relative = scores["dense"] / max(scores["lexical"], 1e-9)
    weight = 1.0 if distilled else round(min(relative, 1.0), 3)
    scores["hybrid"] = hybrid_mrr(weight)
    default_mode = "hybrid" if relative >= HYBRID_FLOOR else "lexical"
    hybrid = {w: hybrid_mrr(w) for w in WEIGHTS}
    return {
        "method": "rrf",
        "dense_weight": weight,
        "feedback_passages": FEEDBACK_PASSAGES,
        "default_mode": default_mode,
        "lead_power": LEAD_POWER,
        "calibration": {
            "queries": len(queries),
            "distilled": distilled,
            "mrr@10": {mode: round(value, 4) for mode, value in scores.items()},
            "hybrid_mrr@10_by_weight": {str(w): round(v, 4) for w, v in hybrid.items()},
        },
    }
