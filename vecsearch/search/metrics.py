"""Ranking metrics, in a leaf module: evaluation scores real queries with them, calibration
scores pseudo-queries. Gains are linear in the graded score, as in trec_eval's `ndcg_cut`;
a score <= 0 counts as not relevant."""

from __future__ import annotations

import math


def ndcg(ranking: list[str], judged: dict[str, int], k: int = 10) -> float:
    gains = [max(judged.get(doc, 0), 0) for doc in ranking[:k]]
    dcg = sum(g / math.log2(rank + 2) for rank, g in enumerate(gains))
    ideal = sorted((g for g in judged.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(rank + 2) for rank, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall(ranking: list[str], judged: dict[str, int], k: int = 100) -> float:
    relevant = {doc for doc, g in judged.items() if g > 0}
    return len(relevant.intersection(ranking[:k])) / len(relevant) if relevant else 0.0


def reciprocal_rank(ranking: list[str], judged: dict[str, int], k: int = 10) -> float:
    for rank, doc in enumerate(ranking[:k], 1):
        if judged.get(doc, 0) > 0:
            return 1.0 / rank
    return 0.0


def document_ranking(passage_ids, doc_of, depth: int = 100) -> list[str]:
    """The documents of a ranked list of passages, each at its best passage's rank; the first `depth`."""
    return list(dict.fromkeys(doc_of[p] for p in passage_ids))[:depth]
