"""Choose the hybrid weight and the default mode without labels, at index time.

A label-free check needs queries whose answers are known. Two kinds are cut from the
corpus itself, each with its own document as the one relevant answer:

- **known-item** queries (see pseudoqueries.py): a short span of a passage, or a
  handful of its rarer words, searched in the index as it is;
- **cloze** queries (the Inverse Cloze Task of Lee et al., 2019): a sentence-length
  span is cut *out* of a passage and searched for among a sample of passages in which
  that passage has lost it. The answer no longer holds the query's words verbatim, as
  with real queries and the documents judged relevant to them, so the check is not
  rigged for exact-term matching.

Known-item queries alone always favour BM25 (the query's words are in its answer), so
the fusion is chosen on both sets together: the dense weight with the best mean
MRR@10, and the default mode that scored best. A weak dense side still gets little
weight, or none: lexical stays the default when it wins on the check.
"""

from __future__ import annotations

import numpy as np

from .evaluation import document_ranking, reciprocal_rank
from .fusion import fuse
from .pseudoqueries import PseudoQueries, cloze_queries, subsample

WEIGHTS = (0.1, 0.2, 0.35, 0.5, 0.7, 1.0, 1.4, 2.0)
QUERIES = 300  # of each kind
DEPTH = 100
SAMPLE = 20_000  # passages the known-item queries are drawn from
CLOZE_SAMPLE = 4_000  # passages the cloze queries are searched among (re-embedded with their spans cut)
CLOZE_WORDS = (8, 16)  # length range of a cloze span


def calibrate(encoder, dense_index, lexical, passages: list[str], doc_ids: list[str], seed: int = 12345) -> dict:
    """Pick the fusion's dense weight and the default mode; returns what goes in the manifest."""
    known = _known_item_rankings(encoder, dense_index, lexical, passages, doc_ids, seed)
    cloze = _cloze_rankings(encoder, passages, doc_ids, seed)
    sets = {"known_item": known, "cloze": cloze} if cloze else {"known_item": known}

    def score(fused_weight: float | None, mode: str) -> dict[str, float]:
        """MRR@10 of each query set."""
        means = {}
        for name, (answers, dense_rankings, lexical_rankings, doc_of) in sets.items():
            total = 0.0
            for answer, d, l in zip(answers, dense_rankings, lexical_rankings):
                ranking = {"dense": d, "lexical": l}.get(mode)
                if ranking is None:
                    ranking = fuse((d, d), (l, l), fused_weight)[0]
                total += reciprocal_rank(document_ranking(ranking, doc_of, depth=10), {answer: 1})
            means[name] = total / len(answers)
        return means

    by_set = {"dense": score(None, "dense"), "lexical": score(None, "lexical")}
    hybrid_by_set = {weight: score(weight, "hybrid") for weight in WEIGHTS}
    hybrid = {weight: float(np.mean(list(means.values()))) for weight, means in hybrid_by_set.items()}
    best_weight = max(hybrid, key=lambda w: (hybrid[w], -abs(w - 1.0)))
    by_set["hybrid"] = hybrid_by_set[best_weight]
    scores = {mode: float(np.mean(list(means.values()))) for mode, means in by_set.items()}  # sets weigh alike
    default_mode = max(("hybrid", "lexical", "dense"), key=lambda mode: scores[mode])  # ties: first listed
    return {
        "method": "rrf",
        "dense_weight": best_weight,
        "default_mode": default_mode,
        "calibration": {
            "queries": {name: len(answers) for name, (answers, *_) in sets.items()},
            "mrr@10": {mode: round(value, 4) for mode, value in scores.items()},
            "mrr@10_by_set": {name: {mode: round(by_set[mode][name], 4) for mode in by_set} for name in sets},
            "hybrid_mrr@10_by_weight": {str(w): round(v, 4) for w, v in hybrid.items()},
        },
    }


def _known_item_rankings(encoder, dense_index, lexical, passages, doc_ids, seed):
    """Known-item queries against the index itself: (answers, dense rankings, lexical rankings, doc_of)."""
    rows = subsample(len(passages), SAMPLE, seed)
    sampler = PseudoQueries([passages[i] for i in rows], [doc_ids[i] for i in rows], np.random.default_rng(seed))
    queries, picked = sampler.sample(QUERIES)
    answers = [doc_ids[rows[p]] for p in picked]
    depth = min(DEPTH, len(passages))
    _, dense_ids = dense_index.search(encoder.encode(queries), depth)
    dense_rankings = [ids[ids >= 0] for ids in dense_ids]
    lexical_rankings = [lexical.search(query, depth)[0] for query in queries]
    return answers, dense_rankings, lexical_rankings, doc_ids


def _cloze_rankings(encoder, passages, doc_ids, seed):
    """Cloze queries among a sample of passages with the queries' spans cut out; None if too few."""
    from .lexical import LexicalIndex

    rows = subsample(len(passages), CLOZE_SAMPLE, seed + 1)
    doc_of = [doc_ids[i] for i in rows]
    cut = cloze_queries([passages[i] for i in rows], doc_of, np.random.default_rng(seed + 1), QUERIES, CLOZE_WORDS)
    if len(cut.queries) < 20:
        return None
    depth = min(DEPTH, len(cut.texts))
    similarities = encoder.encode(cut.queries) @ encoder.encode(cut.texts).T
    dense_rankings = [np.argsort(-row, kind="stable")[:depth] for row in similarities]
    lexical = LexicalIndex.build(cut.texts)
    lexical_rankings = [lexical.search(query, depth)[0] for query in cut.queries]
    return [doc_of[t] for t in cut.targets], dense_rankings, lexical_rankings, doc_of
