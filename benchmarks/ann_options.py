"""Which FAISS graph for a real index's vectors: raw or centred, neighbours per node, efSearch.

    python benchmarks/ann_options.py INDEX_DIR [--neighbours 32 48 64 96] [--json]

INDEX_DIR is a built index (e.g. the 100k-passage one benchmarks/index_build.py leaves in
its --work folder). Its stored vectors are read back, the first 300 queries of
../shared/data embedded as at query time, and for each graph - HNSW over float16 copies,
efConstruction as the product builds it, over the raw vectors (M 32, as before) and over
the vectors minus their mean (each M given) - recall@10 against exact search and the
median time of one search on one thread, asking for 100 results as `Retriever.search`
does. Writes benchmarks/results/ann_options.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from query_latency import recall_at_10, time_searches  # noqa: E402
from tables import markdown_table, real_queries, write_results  # noqa: E402

from vecsearch import Retriever  # noqa: E402
from vecsearch.index import HNSW_EF_CONSTRUCTION  # noqa: E402

EF_SEARCH = (128, 160, 192, 256)
DEPTH = 100  # candidates Retriever.search asks for


def graph(vectors: np.ndarray, neighbours: int) -> tuple[faiss.Index, float]:
    index = faiss.IndexHNSWSQ(vectors.shape[1], faiss.ScalarQuantizer.QT_fp16, neighbours, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    started = time.perf_counter()
    index.add(vectors)
    return index, round(time.perf_counter() - started, 1)


def sweep(index: faiss.Index, queries: np.ndarray, exact: np.ndarray) -> list[dict]:
    rows = []
    for ef in EF_SEARCH:
        index.hnsw.efSearch = ef
        latency, found = time_searches(index, queries, DEPTH)
        rows.append({"efSearch": ef, "recall@10": round(recall_at_10(found[:, :10], exact), 4), **latency})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("index", type=Path)
    parser.add_argument("--neighbours", type=int, nargs="+", default=[32, 48, 64, 96])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    retriever = Retriever.load(args.index)
    vectors = np.ascontiguousarray(retriever.index.reconstruct_n(0, retriever.index.ntotal), dtype=np.float32)
    queries = retriever.query_encoder.encode(real_queries())
    exact_index = faiss.IndexFlatIP(vectors.shape[1])
    exact_index.add(vectors)
    _, exact = exact_index.search(queries, 10)
    mean = vectors.mean(axis=0)
    results = {"index": str(args.index), "passages": len(vectors), "dimension": vectors.shape[1],
               "mean_vector_norm": round(float(np.linalg.norm(mean)), 3), "graphs": []}
    centred = np.ascontiguousarray(vectors - mean)
    for name, data, neighbours in [("raw", vectors, 32), *[("centred", centred, m) for m in args.neighbours]]:
        index, build_seconds = graph(data, neighbours)
        results["graphs"].append({"vectors": name, "M": neighbours, "build_s": build_seconds, "sweep": sweep(index, queries, exact)})
        print(json.dumps(results["graphs"][-1]), file=sys.stderr, flush=True)
        del index
    rows = [[g["vectors"], g["M"], g["build_s"], *[f"{r['recall@10']} ({r['p50_ms']} ms)" for r in g["sweep"]]]
            for g in results["graphs"]]
    table = markdown_table(["vectors", "M", "build s", *[f"efSearch {ef}" for ef in EF_SEARCH]], rows)
    text = (f"# HNSW options on {results['passages']:,} real vectors ({results['dimension']}-d; norm of their mean "
            f"{results['mean_vector_norm']})\n\n`python benchmarks/ann_options.py {args.index}`: recall@10 against exact "
            f"search of 300 real queries (one search p50, one thread, {DEPTH} results)\n\n{table}\n")
    write_results("ann_options", results, text)
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
