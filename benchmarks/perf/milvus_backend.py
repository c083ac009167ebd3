"""The milvus backend (Milvus Lite) next to FAISS + SQLite, in the same run: writing a version's
vectors and passages, and the store's part of a dense query.

    python -m benchmarks.perf.milvus_backend [--passages 100000] [--types flat hnsw] [--json]

Synthetic store data: passages of 128 words of real sentences (drawn, seeded, from the
shared collections, as benchmarks/data/synthetic_corpus.py does), three to a document, and
clustered unit vectors of the default encoder's dimension (256) - the encoder plays no
part in what is measured here, and both backends get exactly the same rows. For each
backend and index type:

1. write: what one index version costs the backend - FAISS: build the index, save it,
   write passages.sqlite; Milvus Lite: create the collection, insert in batches of
   milvus_store.INSERT_BATCH, flush (milvus_store.write_collection). Throughput in
   passages (vectors with their text and metadata) per second.
2. query, warm, one at a time, 300 held-out vectors: search alone (k=100, the depth
   Retriever.search asks for) and the store's whole part of a dense query (search k=100,
   the candidates' document ids, the top 10 passages' texts); p50/p95. Embedding the
   query (numpy, ~1 ms) is the same for both and left out. recall@10 against exact search.
3. cold open: a new Python process that imports the backend, opens the version and answers
   one query (what a `vecsearch query` process pays before its search); median of 3.

Writes benchmarks/results/milvus_backend.{md,json,png}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.data.synthetic_corpus import sentences  # noqa: E402
from benchmarks.tables import RESULTS, chart, markdown_table, save_chart, write_results  # noqa: E402

from vecsearch.storage.backends import open_backend, write_backend  # noqa: E402
from vecsearch.storage.manifest import Counts, IndexSettings, Manifest  # noqa: E402
from vecsearch.corpus import Passage  # noqa: E402
from vecsearch.storage.dense import build_index  # noqa: E402
from vecsearch.corpus import Document  # noqa: E402

QUERIES = 300
DEPTH = 100  # candidates per query, as Retriever.search asks for k=10
PASSAGES_PER_DOCUMENT = 3

COLD_OPEN = """
import json, sys, time
started = time.perf_counter()
from pathlib import Path
import numpy as np
from vecsearch.storage.backends import open_backend
from vecsearch.storage.manifest import Manifest
imported = time.perf_counter()
version = Path(sys.argv[1])
index, store = open_backend(version, Manifest.read(version))
opened = time.perf_counter()
query = np.load(version.parent / "query.npy")
_, ids = index.search(query[None], 100)
store.passages(ids[0][:10].tolist())
done = time.perf_counter()
print(json.dumps({"import_s": imported - started, "open_s": opened - imported, "first_query_s": done - opened}))
"""


def synthetic_rows(count: int, dim: int, seed: int = 0):
    """(documents, passages, vectors, query vectors): the same for both backends."""
    rng = np.random.default_rng(seed)
    pool = sentences()
    passages, documents = [], []
    for row in range(count):
        words: list[str] = []
        while len(words) < 128:
            words.extend(pool[rng.integers(len(pool))].split())
        doc_id = f"doc{row // PASSAGES_PER_DOCUMENT:06d}.txt"
        passages.append(Passage(doc_id, " ".join(words[:128]), doc_id, row % PASSAGES_PER_DOCUMENT, 0))
        if row % PASSAGES_PER_DOCUMENT == 0:
            documents.append(Document(doc_id, None, doc_id, f"{row:032x}"))
    centres = rng.normal(size=(2000, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)

    def clustered(n: int) -> np.ndarray:
        vectors = centres[rng.integers(len(centres), size=n)] + rng.normal(0, 0.06, (n, dim)).astype(np.float32)
        return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)

    return documents, passages, clustered(count), clustered(QUERIES)


def percentiles(seconds: list[float]) -> dict:
    ms = np.asarray(seconds) * 1000
    return {f"p{p}_ms": round(float(np.percentile(ms, p)), 3) for p in (50, 95)}


def measure(backend: str, index_type: str, rows, work: Path, exact: np.ndarray) -> dict:
    documents, passages, vectors, queries = rows
    version = work / f"{backend}_{index_type}" / "v000001"
    version.mkdir(parents=True)
    settings = {"name": "faiss"}
    if backend == "milvus":
        settings = {"name": "milvus", "uri": str(work / "milvus.db"), "collection": f"bench_{index_type}"}

    started = time.perf_counter()
    dense = build_index(vectors, index_type) if backend == "faiss" else None
    section = write_backend(version, settings, dense, documents, passages, vectors, index_type)
    write_seconds = time.perf_counter() - started
    del dense
    manifest = Manifest(created="", counts=Counts(documents=len(documents), passages=len(passages)), encoder={},
                        index=IndexSettings(index_type, vectors.shape[1]), backend=section)
    manifest.write(version)
    result = {"backend": backend, "index_type": section.get("index_type", index_type), "passages": len(passages),
              "write_s": round(write_seconds, 2), "write_per_s": round(len(passages) / write_seconds)}
    print(json.dumps(result), file=sys.stderr, flush=True)

    index, store = open_backend(version, manifest)
    try:
        index.search(queries[:1], DEPTH)  # warm
        search_only, store_path, found = [], [], []
        for query in queries:
            started = time.perf_counter()
            _, ids = index.search(query[None], DEPTH)
            searched = time.perf_counter()
            candidates = ids[0][ids[0] >= 0].tolist()
            store.documents_of(candidates)
            store.passages(candidates[:10])
            finished = time.perf_counter()
            search_only.append(searched - started)
            store_path.append(finished - started)
            found.append(ids[0][:10])
        result["search_k100"] = percentiles(search_only)
        result["store_path"] = percentiles(store_path)
        result["recall@10"] = round(float(np.mean([len(set(f) & set(e)) / 10 for f, e in zip(found, exact)])), 4)
    finally:
        store.close()  # Milvus Lite: lets the file go, so the cold process below can open it

    np.save(version.parent / "query.npy", queries[0])
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        output = subprocess.run([sys.executable, "-c", COLD_OPEN, str(version)], capture_output=True, text=True,
                                check=True, env={**os.environ, "OMP_NUM_THREADS": "1"}).stdout
        runs.append({"wall_s": time.perf_counter() - started, **json.loads(output.strip().splitlines()[-1])})
    result["cold"] = {key: round(float(np.median([r[key] for r in runs])), 3) for key in runs[0]}
    print(json.dumps(result), file=sys.stderr, flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--types", nargs="+", default=["flat", "hnsw"], choices=["flat", "hnsw", "ivf"])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    import faiss
    import milvus_lite
    import pymilvus

    load_before = os.getloadavg()[0]
    rows = synthetic_rows(args.passages, args.dim)
    vectors, queries = rows[2], rows[3]
    exact = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
    work = Path(tempfile.mkdtemp(prefix="milvus_backend_"))
    try:
        measured = [measure(backend, kind, rows, work, exact) for kind in args.types for backend in ("faiss", "milvus")]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results = {
        "command": " ".join(["python", "benchmarks/perf/milvus_backend.py", *sys.argv[1:]]),
        "passages": args.passages, "dim": args.dim, "cpus": os.cpu_count(), "python": platform.python_version(),
        "versions": {"faiss": faiss.__version__, "pymilvus": pymilvus.__version__,
                     "milvus_lite": getattr(milvus_lite, "__version__", "?")},
        "omp_threads": os.environ.get("OMP_NUM_THREADS", "default"),
        "load_average": f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after (1-minute, the whole machine)",
        "runs": measured, "ratios": ratios(measured),
    }
    write_results("milvus_backend", results, markdown(results), args.out)
    write_chart(results, args.out / "milvus_backend.png")
    if args.json:
        print(json.dumps(results))


def ratios(measured: list[dict]) -> dict:
    """Milvus Lite / FAISS for each index type: write throughput, query p50/p95, cold open."""
    by = {(r["backend"], r["index_type"].lower().replace("ivf_flat", "ivf")): r for r in measured}
    found = {}
    for (backend, kind), milvus in by.items():
        faiss_run = by.get(("faiss", kind))
        if backend != "milvus" or faiss_run is None:
            continue
        found[kind] = {
            "write_throughput_faiss_over_milvus": round(faiss_run["write_per_s"] / milvus["write_per_s"], 2),
            **{f"{part}_{p}_milvus_over_faiss": round(milvus[part][p] / faiss_run[part][p], 1)
               for part in ("search_k100", "store_path") for p in ("p50_ms", "p95_ms")},
            "cold_wall_milvus_over_faiss": round(milvus["cold"]["wall_s"] / faiss_run["cold"]["wall_s"], 2),
        }
    return found


def markdown(results: dict) -> str:
    headers = ["backend", "index", "write s", "passages/s", "search p50 ms", "p95 ms", "store path p50 ms", "p95 ms",
               "recall@10", "cold process s (import / open / 1st query)"]
    table = [
        [r["backend"], r["index_type"], r["write_s"], f"{r['write_per_s']:,}", r["search_k100"]["p50_ms"],
         r["search_k100"]["p95_ms"], r["store_path"]["p50_ms"], r["store_path"]["p95_ms"], r["recall@10"],
         f"{r['cold']['wall_s']} ({r['cold']['import_s']} / {r['cold']['open_s']} / {r['cold']['first_query_s']})"]
        for r in results["runs"]
    ]
    ratio_rows = [[kind, v["write_throughput_faiss_over_milvus"], v["search_k100_p50_ms_milvus_over_faiss"],
                   v["search_k100_p95_ms_milvus_over_faiss"], v["store_path_p50_ms_milvus_over_faiss"],
                   v["store_path_p95_ms_milvus_over_faiss"], v["cold_wall_milvus_over_faiss"]]
                  for kind, v in results["ratios"].items()]
    versions = ", ".join(f"{k} {v}" for k, v in results["versions"].items())
    return "\n\n".join([
        "# Milvus Lite next to FAISS + SQLite",
        f"`{results['command']}` — {results['passages']:,} passages, dimension {results['dim']}, "
        f"{results['cpus']} CPUs (shared; load average {results.get('load_average', '?')}), "
        f"OMP_NUM_THREADS={results['omp_threads']}; {versions}.",
        "Synthetic store data (real sentences, clustered unit vectors); the same rows on both backends. "
        "write = one version's vectors and passages (FAISS: build + save the index, write SQLite; Milvus Lite: "
        "create the collection, batched inserts, flush). search = one query, k=100; store path = search + "
        "the candidates' document ids + the top 10 passages' texts (Retriever.search's dense path without "
        "embedding the query). cold = a new process: import, open the version, one query (median of 3).",
        markdown_table(headers, table),
        "## Ratios (Milvus Lite relative to FAISS)",
        markdown_table(["index", "write throughput FAISS/Milvus", "search p50 M/F", "search p95 M/F",
                        "store path p50 M/F", "store path p95 M/F", "cold process M/F"], ratio_rows),
    ])


def write_chart(results: dict, path: Path) -> None:
    figure, _ = chart((10, 4))
    figure.clf()
    left, right = figure.subplots(1, 2)
    runs = results["runs"]
    labels = [f"{r['backend']}\n{r['index_type']}" for r in runs]
    colours = ["tab:blue" if r["backend"] == "faiss" else "tab:orange" for r in runs]
    left.bar(labels, [r["write_per_s"] for r in runs], color=colours)
    left.set_yscale("log")
    left.set_ylabel("passages written per second")
    left.set_title(f"write, {results['passages']:,} passages")
    positions = np.arange(len(runs))
    right.bar(positions - 0.2, [r["store_path"]["p50_ms"] for r in runs], 0.4, color=colours, label="p50")
    right.bar(positions + 0.2, [r["store_path"]["p95_ms"] for r in runs], 0.4, color=colours, alpha=0.5, label="p95")
    right.set_xticks(positions, labels)
    right.set_yscale("log")
    right.set_ylabel("ms per query (store path)")
    right.set_title("query: p50 (solid), p95 (light)")
    save_chart(figure, path)


if __name__ == "__main__":
    main()
