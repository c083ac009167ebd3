import math

import numpy as np
import pytest

from vecsearch.evaluation import ndcg, recall, reciprocal_rank, score_run
from vecsearch.search.fusion import LEAD_RANK, fuse, lexical_lead, query_weight, with_feedback


def test_metrics_match_a_hand_computed_case():
    judged = {"a": 3, "b": 1, "c": 2, "z": 0}
    ranking = ["x", "a", "z", "b"]
    # DCG = 3/log2(3) + 1/log2(5); ideal order a(3), c(2), b(1)
    dcg = 3 / math.log2(3) + 1 / math.log2(5)
    idcg = 3 / math.log2(2) + 2 / math.log2(3) + 1 / math.log2(4)
    assert ndcg(ranking, judged) == pytest.approx(dcg / idcg)
    assert recall(ranking, judged) == pytest.approx(2 / 3)
    assert reciprocal_rank(ranking, judged) == pytest.approx(1 / 2)
    assert ndcg(["a", "c", "b"], judged) == pytest.approx(1.0)
    assert ndcg(["a"] + ["x"] * 9 + ["c"], judged, k=10) == pytest.approx(3 / idcg)


def test_score_run_averages_over_judged_queries():
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}}
    metrics = score_run({"q1": ["a"], "q2": ["x", "b"]}, qrels)
    assert metrics["mrr@10"] == pytest.approx(0.75)
    assert metrics["recall@100"] == pytest.approx(1.0)


def test_feedback_moves_the_query_toward_bm25s_best_passages():
    stored = np.eye(6, dtype=np.float32)
    query = np.array([[1, 0, 0, 0, 0, 0]], dtype=np.float32)
    lexical = [np.array([2, 3, 4, 5])]  # BM25's ranking: only the first FEEDBACK_PASSAGES count
    moved = with_feedback(query, lexical, lambda ids: stored[ids], passages=3)
    expected = np.array([1, 0, 1 / 3, 1 / 3, 1 / 3, 0])  # q + mean(v2, v3, v4)
    assert np.allclose(moved[0], expected / np.linalg.norm(expected))
    assert np.allclose(with_feedback(query, [np.array([], dtype=np.int64)], lambda ids: stored[ids]), query)


def test_fusion_rewards_agreement_and_respects_the_dense_weight():
    dense = (np.array([1, 2, 3]), np.zeros(3))
    lexical = (np.array([3, 4, 1]), np.zeros(3))
    ids, scores = fuse(dense, lexical, dense_weight=1.0)
    assert ids[0] in (1, 3) and set(ids[:2]) == {1, 3}
    ids, _ = fuse(dense, lexical, dense_weight=0.0)
    assert ids[:3].tolist() == [3, 4, 1]
    assert np.all(np.diff(scores) <= 0)


def test_the_dense_weight_shrinks_where_bm25s_best_passage_stands_out():
    flat = np.array([10.0, 9.9, 9.8, 9.7, 9.6, 9.5, 9.4])
    peaked = np.array([10.0, 4.0, 3.0, 2.5, 2.0, 1.0, 0.5])
    assert lexical_lead(peaked) == pytest.approx((10.0 - peaked[LEAD_RANK]) / 10.0)
    assert query_weight(0.8, peaked) < query_weight(0.8, flat) < 0.8
    assert query_weight(0.8, flat) == pytest.approx(0.8 * (1 - 0.05) ** 2)
    # too few passages, no match at all, or an index calibrated before the rule: the weight as calibrated
    assert query_weight(0.8, peaked[:LEAD_RANK]) == query_weight(0.8, np.zeros(7)) == 0.8
    assert query_weight(0.8, peaked, lead_power=0.0) == 0.8


def test_an_index_calibrated_before_the_lead_rule_keeps_one_weight_for_every_query():
    from vecsearch.storage.manifest import Fusion

    assert Fusion().lead_power == 0.0
    assert Fusion(**{"method": "rrf", "dense_weight": 0.5, "feedback_passages": 3, "default_mode": "hybrid"}).lead_power == 0.0
