"""Which FAISS graph for a real index's vectors: raw or centred, neighbours per node, codes, efSearch.

    python -m benchmarks.perf.ann_options INDEX_DIR [--neighbours 32 48 64 96] [--rounds 2] [--json]

INDEX_DIR is a built index (e.g. the 100k-passage one benchmarks/perf/index_build.py leaves in
its --work folder). Its stored vectors are read back, the first 300 queries of
../shared/data embedded as at query time, and these graphs built, with efConstruction as
the product builds them: HNSW over float16 codes of the raw vectors (M 32, as before)
and of the vectors minus their mean (each M given; the product's is M 64); and, tried,
a graph walked over 8-bit codes of the centred vectors whose candidates (all efSearch
of them) are re-ranked by float16 copies (faiss IndexRefine); and the product's graph,
walked over the centred vectors reduced by PCA to half their dimension, whose
candidates (all efSearch of them) are re-ranked by float16 copies of the whole vectors (`build_index`).
For each, recall@10 against exact search and the median time of one search on one
thread, asking for 100 results as `Retriever.search` does. The graphs are
timed in turns, --rounds times, so that a slow spell of the machine falls on all of them;
each round's median is reported. Writes benchmarks/results/ann_options.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import faiss
import numpy as np

from benchmarks.perf.query_latency import recall_at_10, time_searches  # noqa: E402
from benchmarks.tables import markdown_table, real_queries, write_results  # noqa: E402

from vecsearch import Retriever  # noqa: E402
from vecsearch.storage.dense import HNSW_EF_CONSTRUCTION, build_index, graph_of  # noqa: E402

EF_SEARCH = (128, 160, 192, 224, 256)
DEPTH = 100  # candidates Retriever.search asks for


def float16_graph(vectors: np.ndarray, neighbours: int) -> faiss.Index:
    index = faiss.IndexHNSWSQ(vectors.shape[1], faiss.ScalarQuantizer.QT_fp16, neighbours, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    index.add(vectors)
    return index


def reranked_8bit_graph(vectors: np.ndarray, neighbours: int) -> faiss.Index:
    walk = faiss.IndexHNSWSQ(vectors.shape[1], faiss.ScalarQuantizer.QT_8bit, neighbours, faiss.METRIC_INNER_PRODUCT)
    walk.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    index = faiss.IndexRefine(walk, faiss.IndexScalarQuantizer(vectors.shape[1], faiss.ScalarQuantizer.QT_fp16,
                                                                  faiss.METRIC_INNER_PRODUCT))
    index.train(vectors)
    index.add(vectors)
    return index


def timed(build) -> tuple[object, float]:
    started = time.perf_counter()
    index = build()
    return index, round(time.perf_counter() - started, 1)


def sweep(index, queries: np.ndarray, exact: np.ndarray, rerank_all: bool = False) -> list[dict]:
    """Recall@10 and search p50 at each efSearch."""
    hnsw = graph_of(index).hnsw
    rows = []
    for ef in EF_SEARCH:
        hnsw.efSearch = ef
        if rerank_all:
            index.k_factor = max(1.0, ef / DEPTH)  # the graph's whole candidate list is re-ranked
        latency, found = time_searches(index, queries, DEPTH)
        rows.append({"efSearch": ef, "recall@10": round(recall_at_10(found[:, :10], exact), 4), **latency})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("index", type=Path)
    parser.add_argument("--neighbours", type=int, nargs="+", default=[32, 48, 64, 96])
    parser.add_argument("--rounds", type=int, default=2, help="times each graph is timed, in turns")
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
    configurations = [("raw", "float16", 32, lambda: float16_graph(vectors, 32))]
    configurations += [("centred", "float16", m, lambda m=m: float16_graph(centred, m)) for m in args.neighbours]
    configurations.append(("centred", "8-bit, float16 re-rank", 64, lambda: reranked_8bit_graph(centred, 64)))
    half = vectors.shape[1] // 2
    configurations.append((f"centred, PCA to {half}", "float16, float16 re-rank (product)", 64,
                           lambda: build_index(vectors, "hnsw").faiss))
    built = []
    for name, codes, neighbours, build in configurations:
        index, build_seconds = timed(build)
        built.append(index)
        results["graphs"].append({"vectors": name, "codes": codes, "M": neighbours, "build_s": build_seconds, "rounds": []})
        print(f"built {name} {codes} M {neighbours} in {build_seconds} s", file=sys.stderr, flush=True)
    for _ in range(args.rounds):
        for entry, index in zip(results["graphs"], built):
            entry["rounds"].append(sweep(index, queries, exact, rerank_all="re-rank" in entry["codes"]))
            print(json.dumps({k: entry[k] for k in ("vectors", "codes", "M")} | {"sweep": entry["rounds"][-1]}),
                  file=sys.stderr, flush=True)

    def cell(entry: dict, column: int) -> str:
        runs = [sweep_[column] for sweep_ in entry["rounds"]]
        return f"{runs[0]['recall@10']} ({' / '.join(str(r['p50_ms']) for r in runs)} ms)"

    rows = [[g["vectors"], g["codes"], g["M"], g["build_s"], *[cell(g, c) for c in range(len(EF_SEARCH))]]
            for g in results["graphs"]]
    table = markdown_table(["vectors", "codes", "M", "build s", *[f"efSearch {ef}" for ef in EF_SEARCH]], rows)
    text = (f"# HNSW options on {results['passages']:,} real vectors ({results['dimension']}-d; norm of their mean "
            f"{results['mean_vector_norm']})\n\n`python -m benchmarks.perf.ann_options {args.index}`: recall@10 against exact "
            f"search of 300 real queries (one search p50 per round, one thread, {DEPTH} results)\n\n{table}\n")
    write_results("ann_options", results, text)
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
