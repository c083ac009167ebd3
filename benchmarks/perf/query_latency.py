"""Query latency: FAISS index types at 10k-1M vectors, `retriever.search` end to end, and a cold `vecsearch query`.

    python -m benchmarks.perf.query_latency --index DIR [--sizes 10000 100000 1000000] [--json]

1. FAISS alone, on synthetic clustered unit vectors of the encoder's dimension (a
   Gaussian mixture; held-out points of the same mixture as queries): p50/p95/p99 of
   one-query searches for exact (`flat`) and approximate (`hnsw`, `ivf`) indexes, over
   their search parameters, with each approximate setting's recall@10 against exact.
2. End to end on a real index (`--index`, e.g. the 100k-passage index
   benchmarks/perf/index_build.py leaves in its --work folder): p50/p95/p99 of
   `Retriever.search` (embed the query with the numpy encoder, search, fetch passages)
   per mode, on the queries of ../shared/data; and recall@10 of that index's passages
   against exact search over the same vectors.
3. The wall time of a cold `vecsearch query` process against that index (median of 5).
Writes benchmarks/results/query_latency.{md,json,png}.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import faiss
import numpy as np

from benchmarks.tables import RESULTS, chart, markdown_table, real_queries, save_chart, write_results  # noqa: E402

from vecsearch.storage.dense import HNSW_NEIGHBOURS, build_index, graph_of, one_openmp_thread  # noqa: E402

HNSW_EF = (16, 32, 64, 128)
REAL_HNSW_EF = (64, 128, 192, 384, 768, 1536, 3072)  # real vectors need more than synthetic ones
IVF_NPROBE = (4, 8, 16, 32)
QUERIES = 300


def percentiles(seconds: list[float]) -> dict:
    ms = np.asarray(seconds) * 1000
    return {f"p{p}_ms": round(float(np.percentile(ms, p)), 3) for p in (50, 95, 99)}


def clustered_vectors(count: int, dim: int, rng: np.random.Generator, centres: np.ndarray) -> np.ndarray:
    """Unit vectors around random centres: closer to real embeddings than uniform noise."""
    vectors = centres[rng.integers(len(centres), size=count)] + rng.normal(0, 0.06, (count, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def recall_at_10(found: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(e)) / 10 for f, e in zip(found, exact)]))


def time_searches(index, queries: np.ndarray, k: int = 10) -> tuple[dict, np.ndarray]:
    found, seconds = np.empty((len(queries), k), dtype=np.int64), []
    for row, query in enumerate(queries):
        started = time.perf_counter()
        with one_openmp_thread():  # as Retriever.search runs one query
            _, ids = index.search(query[None], k)
        seconds.append(time.perf_counter() - started)
        found[row] = ids[0]
    return percentiles(seconds), found


def faiss_sweep(sizes: list[int], dim: int, hnsw_max: int) -> list[dict]:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(2000, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    rows = []
    for size in sizes:
        vectors = clustered_vectors(size, dim, rng, centres)
        queries = clustered_vectors(QUERIES, dim, rng, centres)
        exact_index = build_index(vectors, "flat")
        latency, exact = time_searches(exact_index, queries)
        rows.append({"passages": size, "type": "flat", "parameter": "-", "recall@10": 1.0, "build_s": 0.0, **latency})
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
        for kind, parameters in (("hnsw", HNSW_EF), ("ivf", IVF_NPROBE)):
            if kind == "hnsw" and size > hnsw_max:
                continue  # building the graph takes ~10x longer per 10x passages; see --hnsw-max
            started = time.perf_counter()
            index = build_index(vectors, kind)
            build_seconds = round(time.perf_counter() - started, 1)
            for value in parameters:
                if kind == "hnsw":
                    graph_of(index.faiss).hnsw.efSearch = value
                else:
                    index.faiss.nprobe = value
                latency, found = time_searches(index, queries)
                rows.append({"passages": size, "type": kind, "parameter": f"{'efSearch' if kind == 'hnsw' else 'nprobe'}={value}",
                             "recall@10": round(recall_at_10(found, exact), 4), "build_s": build_seconds, **latency})
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
            del index
    return rows


def end_to_end(index_dir: Path, recall: bool = True, more_queries: dict[str, list[str]] | None = None) -> dict:
    """p50/p95/p99 of `Retriever.search` per mode; with `recall`, recall@10 of a FAISS index against
    exact search over its vectors (and an efSearch sweep for a graph), and the same for each set
    of `more_queries` ({name: queries}) under its name."""
    from vecsearch import Retriever

    retriever = Retriever.load(index_dir)
    queries = real_queries()
    info = retriever.info()
    result = {"index": str(index_dir), "passages": info["passages"], "index_type": info["index_type"]}
    for mode in ("dense", "lexical", "hybrid"):
        retriever.search(queries[0], 10, mode)  # warm: loads the encoder, BM25 and doc ids
        seconds = []
        for query in queries:
            started = time.perf_counter()
            retriever.search(query, 10, mode)
            seconds.append(time.perf_counter() - started)
        result[mode] = percentiles(seconds)
    if not recall:
        return result
    vectors = retriever.index.reconstruct_n(0, retriever.index.ntotal)  # read once for every set
    result.update(graph_recall(retriever, vectors, queries))
    for name, more in (more_queries or {}).items():
        result[name] = graph_recall(retriever, vectors, more)
    return result


def graph_recall(retriever, vectors: np.ndarray, queries: list[str]) -> dict:
    """recall@10 of the retriever's FAISS index against exact search over its `vectors`, for these
    queries; for a graph also its efSearch and a sweep of efSearch (recall, one-thread latency)."""
    query_vectors = retriever.query_encoder.encode(queries)
    _, exact = build_index(vectors, "flat").search(query_vectors, 10)
    _, found = retriever.index.search(query_vectors, 10)
    result = {"recall@10_vs_exact": round(recall_at_10(found, exact), 4)}
    if graph_of(retriever.index.faiss) is not None:
        graph = graph_of(retriever.index.faiss).hnsw
        result["efSearch"], result["M"] = graph.efSearch, HNSW_NEIGHBOURS
        result["centred"] = retriever.index.offset is not None
        result["efSearch_sweep"] = []
        for ef in sorted({*REAL_HNSW_EF, graph.efSearch}):
            graph.efSearch = ef
            latency, found = time_searches(retriever.index, query_vectors)
            result["efSearch_sweep"].append({"efSearch": ef, "recall@10": round(recall_at_10(found, exact), 4), **latency})
        graph.efSearch = result["efSearch"]
    return result


def cold_query(index_dir: Path, runs: int = 5) -> dict:
    command = [sys.executable, "-m", "vecsearch", "query", "--index", str(index_dir), "-k", "10",
               "boundary layer separation at high angles of attack"]
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        seconds.append(time.perf_counter() - started)
    return {"median_s": round(float(np.median(seconds)), 3), "runs_s": [round(s, 3) for s in seconds],
            "command": " ".join(["vecsearch", *command[3:]])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, help="a real index for the end-to-end and cold-process figures")
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--hnsw-max", type=int, default=100_000, help="largest size to build an HNSW graph for")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    results = {"threads": faiss.omp_get_max_threads()}
    if args.index:
        # First, in a process as fresh as a user's: after the sweep has built and freed
        # gigabytes of synthetic indexes, the same searches ran ~25% slower (dense p50 2.56
        # against 2.04 ms at 100k).
        results["end_to_end"] = end_to_end(args.index)
        results["cold_query"] = cold_query(args.index)
    results["faiss"] = faiss_sweep(args.sizes, args.dim, args.hnsw_max)
    write_results("query_latency", results, markdown(results, sys.argv), args.out)
    write_chart(results, args.out / "query_latency.png")
    if args.json:
        print(json.dumps(results))


def markdown(results: dict, argv: list[str]) -> str:
    keys = ["passages", "type", "parameter", "recall@10", "p50_ms", "p95_ms", "p99_ms", "build_s"]
    parts = [
        "# Query latency",
        f"`{' '.join(argv)}` — FAISS {faiss.__version__}; builds on {results['threads']} threads, each query on one (as `Retriever.search` runs it).",
        "## FAISS alone (synthetic clustered unit vectors; one query at a time; recall@10 against exact)",
        markdown_table(keys, [[row[k] for k in keys] for row in results["faiss"]]),
    ]
    if "end_to_end" in results:
        e2e = results["end_to_end"]
        parts += [
            f"## `Retriever.search` end to end ({e2e['passages']:,} passages, {e2e['index_type']}, "
            f"recall@10 against exact search over the same vectors: {e2e['recall@10_vs_exact']})",
            markdown_table(["mode", "p50 ms", "p95 ms", "p99 ms"],
                           [[m, e2e[m]["p50_ms"], e2e[m]["p95_ms"], e2e[m]["p99_ms"]] for m in ("dense", "lexical", "hybrid")]),
            *([markdown_table(["efSearch (real vectors)", "recall@10", "FAISS p50 ms", "p95 ms"],
                              [[r["efSearch"], r["recall@10"], r["p50_ms"], r["p95_ms"]] for r in e2e["efSearch_sweep"]])]
              if "efSearch_sweep" in e2e else []),
            f"## Cold process\n\n`{results['cold_query']['command']}`: median {results['cold_query']['median_s']} s wall "
            f"(runs: {results['cold_query']['runs_s']}).",
        ]
    return "\n\n".join(parts)


def write_chart(results: dict, path: Path) -> None:
    figure, axes = chart()
    for size in sorted({row["passages"] for row in results["faiss"]}):
        for kind, marker in (("hnsw", "o"), ("ivf", "s"), ("flat", "*")):
            rows = [r for r in results["faiss"] if r["passages"] == size and r["type"] == kind]
            if rows:
                axes.plot([r["p50_ms"] for r in rows], [r["recall@10"] for r in rows], marker=marker,
                          label=f"{kind} {size:,}")
    axes.set_xscale("log")
    axes.set_xlabel("p50 latency (ms), one query")
    axes.set_ylabel("recall@10 vs exact")
    axes.set_title("FAISS: recall against latency")
    axes.legend(fontsize=7)
    save_chart(figure, path)


if __name__ == "__main__":
    main()
