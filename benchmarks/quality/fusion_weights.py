"""What calibration picks against what the labels would: hybrid nDCG@10 by dense weight,
for the product's fusion (weighted RRF, its dense side searching with the query vector
moved toward BM25's top passages), for RRF without that feedback, and for
normalised-score combinations.

    python -m benchmarks.quality.fusion_weights MODEL_DIR ../shared/data/cranfield [--json]

MODEL_DIR is a trained encoder (`vecsearch train COLLECTION/corpus.jsonl -o MODEL_DIR`).
The collection is indexed with it (no training), which runs the label-free calibration
as `vecsearch index` does; then the collection's real queries are fused at each of
calibration's weights and scored with their qrels, with and without feedback, and at
the weight calibration chose (`hybrid_at_calibrated_weight`, what `vecsearch eval`
reports as hybrid); and, for comparison, fused by a convex
combination α·dense + (1 - α)·BM25 of scores normalised per query (min-max or z-score over
each side's top 100), at each α. Beside them, the pseudo-query MRR@10
that calibration maximised, and that of inverse-cloze pseudo-queries (the query's span
or keywords cut out of its passage before the passage is indexed, so that BM25 cannot
match it verbatim), a less lexically biased probe.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from vecsearch import Retriever
from vecsearch.search.calibration import WEIGHTS
from vecsearch.model.encoder import RNNEncoder
from vecsearch.evaluation import document_ranking, load_collection, ndcg, reciprocal_rank
from vecsearch.search.fusion import fuse, query_weight, with_feedback
from vecsearch.storage.dense import build_index
from vecsearch.search.lexical import LexicalIndex
from vecsearch.corpus.pseudoqueries import PseudoQueries

DEPTH = 100
ALPHAS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
NORMALISATIONS = {
    "minmax": lambda s: (s - s.min()) / max(s.max() - s.min(), 1e-9),
    "zscore": lambda s: (s - s.mean()) / max(s.std(), 1e-9),
}


def combine(dense: tuple, lexical: tuple, alpha: float, normalise) -> np.ndarray:
    """Passage ids ranked by α·dense + (1 - α)·lexical, each side's scores normalised over
    its own list; a passage missing from one list gets that side's lowest score."""
    sides = []
    for weight, (ids, scores) in ((alpha, dense), (1.0 - alpha, lexical)):
        if len(ids):
            normalised = normalise(np.asarray(scores, dtype=np.float64))
            sides.append((weight, dict(zip(ids.tolist(), normalised.tolist())), float(normalised.min())))
    candidates = sorted(set().union(*(side for _, side, _ in sides)))
    fused = np.array([sum(w * side.get(p, floor) for w, side, floor in sides) for p in candidates])
    ids = np.array(candidates, dtype=np.int64)
    return ids[np.lexsort((ids, -fused))]


def nearest(retriever, vector: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(passage ids, scores) nearest to one query vector, best first: the dense side of a search."""
    scores, ids = retriever.index.search(vector, min(DEPTH, retriever.index.ntotal))
    keep = ids[0] >= 0
    return ids[0][keep], scores[0][keep]


def labelled(retriever, queries, qrels, doc_of) -> dict:
    judged = [q for q in qrels if q in queries]
    vectors = {q: retriever.query_encoder.encode([queries[q]]) for q in judged}
    dense = {q: nearest(retriever, vectors[q]) for q in judged}
    lexical = {q: retriever.lexical.search(queries[q], DEPTH) for q in judged}
    moved = {q: nearest(retriever, with_feedback(vectors[q], [lexical[q][0]], retriever.index.vectors))
             for q in judged}

    def score(ranked_ids) -> float:
        """Mean nDCG@10 of a ranking (passage ids, best first) per query."""
        return round(float(np.mean([ndcg(document_ranking(ranked_ids(q), doc_of, 10), qrels[q]) for q in judged])), 4)

    calibrated, power = retriever.manifest.fusion.dense_weight, retriever.manifest.fusion.lead_power
    result = {"dense": score(lambda q: dense[q][0]), "lexical": score(lambda q: lexical[q][0]),
              "dense_with_feedback": score(lambda q: moved[q][0]),
              "hybrid_at_calibrated_weight": score(lambda q: fuse(moved[q], lexical[q], query_weight(calibrated, lexical[q][1], power))[0]),
              "rrf_feedback": {str(w): score(lambda q: fuse(moved[q], lexical[q], w)[0]) for w in WEIGHTS},
              "rrf_feedback_by_lead": {str(w): score(lambda q: fuse(moved[q], lexical[q], query_weight(w, lexical[q][1]))[0])
                                       for w in WEIGHTS},
              "rrf": {str(w): score(lambda q: fuse(dense[q], lexical[q], w)[0]) for w in WEIGHTS}}
    for name, normalise in NORMALISATIONS.items():
        result[name] = {str(a): score(lambda q: combine(dense[q], lexical[q], a, normalise)) for a in ALPHAS}
    return result


def without(passage: str, query: str) -> str:
    """The passage with the query cut out: its span if it is one, else one occurrence of each of its words."""
    words, cut = passage.split(), query.split()
    for start in range(len(words) - len(cut) + 1):
        if words[start : start + len(cut)] == cut:
            return " ".join(words[:start] + words[start + len(cut) :])
    left, kept = set(cut), []
    for word in words:
        if word in left:
            left.discard(word)
        else:
            kept.append(word)
    return " ".join(kept)


def inverse_cloze(model: Path, vectors: np.ndarray, texts: list[str], doc_of: list[str], seed: int = 12345) -> dict:
    sampler = PseudoQueries(texts, doc_of, np.random.default_rng(seed))
    queries, sources = sampler.sample(300)
    changed = list(texts)
    for query, source in zip(queries, sources):
        changed[source] = without(texts[source], query)
    encoder = RNNEncoder.load(model)
    vectors = vectors.copy()
    vectors[sources] = encoder.encode([changed[s] for s in sources])
    dense = [ids[ids >= 0] for ids in build_index(vectors, "flat").search(encoder.encode(queries), DEPTH)[1]]
    lexical_index = LexicalIndex.build(changed)
    lexical = [lexical_index.search(q, DEPTH)[0] for q in queries]

    def mrr(rankings) -> float:
        return round(float(np.mean([reciprocal_rank(document_ranking(r, doc_of, 10), {doc_of[s]: 1})
                                    for s, r in zip(sources, rankings)])), 4)

    return {"dense": mrr(dense), "lexical": mrr(lexical),
            **{str(w): mrr([fuse((d, d), (l, l), w)[0] for d, l in zip(dense, lexical)]) for w in WEIGHTS}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path)
    parser.add_argument("collection", type=Path)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    corpus, queries, qrels = load_collection(args.collection)
    with tempfile.TemporaryDirectory(prefix="vecsearch-weights-") as index_dir:
        retriever = Retriever.build(corpus, index_dir, model=args.model, show_progress=False)
        texts = [p.text for p in retriever.store.iter_passages()]
        doc_of = retriever.doc_ids
        calibration = retriever.manifest.fusion
        result = {
            "collection": args.collection.name,
            "model": str(args.model),
            "calibration": {"dense_weight": calibration.dense_weight, "default_mode": calibration.default_mode,
                            **calibration.calibration},
            "labelled_ndcg@10": labelled(retriever, queries, qrels, doc_of),
            "inverse_cloze_mrr@10": inverse_cloze(args.model, retriever.index.reconstruct_n(0, len(texts)), texts, doc_of),
        }
        retriever.close()
    print(json.dumps(result) if args.json else json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
