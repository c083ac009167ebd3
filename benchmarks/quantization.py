"""Does int8 dynamic quantization of the encoder cost retrieval quality, and what does it buy?

    python benchmarks/quantization.py MODEL_DIR ../shared/data/cranfield [--json]

MODEL_DIR is a trained encoder (`vecsearch train COLLECTION/corpus.jsonl -o MODEL_DIR`).
The collection's passages are encoded by the float32 model and by its int8 copy
(`RNNEncoder.quantized()`), queries by the float32 numpy twin as at query time, and
each is scored with exact search: nDCG@10, Recall@100, and encoding speed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from vecsearch.corpus import read_corpus
from vecsearch.encoder import RNNEncoder
from vecsearch.evaluation import document_ranking, load_collection, score_run
from vecsearch.numpy_encoder import NumpyEncoder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path)
    parser.add_argument("collection", type=Path)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    corpus, queries, qrels = load_collection(args.collection)
    _, passages = read_corpus(corpus)
    texts, doc_of = [p.text for p in passages], [p.doc_id for p in passages]
    encoder = RNNEncoder.load(args.model)
    query_ids = list(queries)
    query_vectors = NumpyEncoder.load(args.model).encode([queries[q] for q in query_ids])
    results = {"collection": args.collection.name, "passages": len(texts), "batch_size": args.batch_size}
    for name, model in (("float32", encoder), ("int8", encoder.quantized())):
        model.encode(texts[:256], batch_size=args.batch_size)  # warm-up
        started = time.perf_counter()
        vectors = model.encode(texts, batch_size=args.batch_size)
        seconds = time.perf_counter() - started
        run = {}
        for qid, scores in zip(query_ids, query_vectors @ vectors.T):
            run[qid] = document_ranking(np.argsort(-scores, kind="stable")[:400], doc_of)
        results[name] = {**{k: round(v, 4) for k, v in score_run(run, qrels).items()},
                         "encode_seconds": round(seconds, 3), "texts_per_s": round(len(texts) / seconds, 1)}
        print(json.dumps({name: results[name]}), file=sys.stderr, flush=True)
    results["ndcg_change_pct"] = round(100 * (results["int8"]["ndcg@10"] / results["float32"]["ndcg@10"] - 1), 2)
    results["speedup"] = round(results["float32"]["encode_seconds"] / results["int8"]["encode_seconds"], 2)
    print(json.dumps(results) if args.json else json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
