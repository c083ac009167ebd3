"""efConstruction of the product's graph, on real vectors: recall@10 against exact search, build time.

    python -m benchmarks.perf.graph_construction INDEX_DIR [--passages 200000] [--subsets 0 1 2]
        [--ef-construction 100 200] [--json]

INDEX_DIR is a large built index (e.g. the million-passage one benchmarks/perf/scale.py leaves
in ~/.cache/vecsearch-scale/1000000/index). For each subset, `--passages` of its stored
vectors are drawn (seeded), and the product's graph (`build_index(..., "hnsw")`: centred, walked
over PCA to half the dimension, candidates re-ranked by float16 copies) is built once per
efConstruction given, the arms in turn. Each is searched with the first 300 queries of
../shared/data embedded as at query time, at several efSearch, and compared with exact search
over the same vectors. Why: FAISS prunes a node's candidate links with a heuristic made for
true distances only when it has more candidates than the bottom layer's 2 x M links, and
inner products are not distances. Writes benchmarks/results/graph_construction.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from benchmarks.perf.query_latency import recall_at_10
from benchmarks.tables import markdown_table, real_queries, write_results

import vecsearch.storage.dense as dense
from vecsearch import Retriever

EF_SEARCH = (192, 384)


def run(index_dir: Path, passages: int, subsets: list[int], constructions: list[int]) -> dict:
    with Retriever.load(index_dir) as retriever:
        queries = retriever.query_encoder.encode(real_queries()).astype(np.float32)
        total = retriever.index.ntotal
        rows = []
        for subset in subsets:
            ids = np.sort(np.random.default_rng(subset).choice(total, min(passages, total), replace=False))
            vectors = retriever.index.reconstruct_batch(ids)
            _, exact = dense.build_index(vectors, "flat").search(queries, 10)
            for construction in constructions:
                dense.HNSW_EF_CONSTRUCTION = construction  # read by the graph as it is made
                started = time.perf_counter()
                graph = dense.build_index(vectors, "hnsw")
                row = {"subset": subset, "efConstruction": construction,
                       "build_s": round(time.perf_counter() - started, 1)}
                for ef in EF_SEARCH:
                    dense.graph_of(graph.faiss).hnsw.efSearch = ef
                    row[f"recall@10 ef{ef}"] = round(recall_at_10(graph.search(queries, 10)[1], exact), 4)
                rows.append(row)
                print(json.dumps(row), flush=True)
                del graph
    return {"index": str(index_dir), "passages": passages, "neighbours": dense.HNSW_NEIGHBOURS, "rows": rows}


def markdown(results: dict, command: str) -> str:
    headers = ["subset", "efConstruction", "build s", *[f"recall@10, efSearch {ef}" for ef in EF_SEARCH]]
    rows = [[r["subset"], r["efConstruction"], r["build_s"], *[r[f"recall@10 ef{ef}"] for ef in EF_SEARCH]]
            for r in results["rows"]]
    return "\n\n".join([
        f"# efConstruction on {results['passages']:,} real vectors (M {results['neighbours']})",
        f"`{command}`: recall@10 against exact search of the 300 queries of ../shared/data; "
        "build seconds with FAISS's threads, the arms in turn on each subset.",
        markdown_table(headers, rows),
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("index", type=Path)
    parser.add_argument("--passages", type=int, default=200_000)
    parser.add_argument("--subsets", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--ef-construction", type=int, nargs="+", default=[100, 200])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = run(args.index.expanduser(), args.passages, args.subsets, args.ef_construction)
    command = ("python -m benchmarks.perf.graph_construction " + str(args.index) + f" --passages {args.passages}"
               + " --subsets " + " ".join(map(str, args.subsets))
               + " --ef-construction " + " ".join(map(str, args.ef_construction)))
    write_results("graph_construction", results, markdown(results, command))
    if args.json:
        print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
