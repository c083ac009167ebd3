"""Do int8 dynamic quantization and bfloat16 cost retrieval quality, and what do they buy?

    python -m benchmarks.perf.quantization MODEL_DIR ../shared/data/cranfield [--json]

MODEL_DIR is a trained encoder (`vecsearch train COLLECTION/corpus.jsonl -o MODEL_DIR`).
The collection's passages are encoded by the float32 model, by its int8 copy
(`RNNEncoder.quantized()`) and by the model under bfloat16 autocast
(`encode(bfloat16=True)`), queries by the float32 numpy twin as at query time, and
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
from vecsearch.model.encoder import RNNEncoder
from vecsearch.evaluation import document_ranking, load_collection, score_run
from vecsearch.model.numpy_encoder import NumpyEncoder


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
    quantized = encoder.quantized()
    variants = {
        "float32": lambda batch: encoder.encode(batch, batch_size=args.batch_size),
        "int8": lambda batch: quantized.encode(batch, batch_size=args.batch_size),
        "bfloat16": lambda batch: encoder.encode(batch, batch_size=args.batch_size, bfloat16=True),
    }
    for name, encode in variants.items():
        encode(texts[:256])  # warm-up
        started = time.perf_counter()
        vectors = encode(texts)
        seconds = time.perf_counter() - started
        run = {}
        for qid, scores in zip(query_ids, query_vectors @ vectors.T):
            run[qid] = document_ranking(np.argsort(-scores, kind="stable")[:400], doc_of)
        results[name] = {**{k: round(v, 4) for k, v in score_run(run, qrels).items()},
                         "encode_seconds": round(seconds, 3), "texts_per_s": round(len(texts) / seconds, 1)}
        print(json.dumps({name: results[name]}), file=sys.stderr, flush=True)
    for name in ("int8", "bfloat16"):
        results[name]["ndcg_change_pct"] = round(100 * (results[name]["ndcg@10"] / results["float32"]["ndcg@10"] - 1), 2)
        results[name]["speedup"] = round(results["float32"]["encode_seconds"] / results[name]["encode_seconds"], 2)
    print(json.dumps(results) if args.json else json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
