"""What a metadata filter and a batch of queries cost: search p50 on a 100k-passage index
without a filter, with one that keeps 1 % of the documents and one that keeps 50 %; and
`search([...])` of many queries at once against one call per query.

    python -m benchmarks.perf.filter_cost --work .cache/filter_cost [--passages 100000]

The corpus is benchmarks/data/synthetic_corpus.py's (real sentences, mixed topics), each
document given a field `bucket` = its number mod 100, so {"bucket": 7} keeps 1 % and
{"bucket": {"$lt": 50}} keeps 50 %. It is indexed with the shipped base as it is (no
adapting: this times search, not quality), with the default index type (HNSW at 100k).
The queries are the shared collections' (300). The three filters are timed query by
query in turn, so that a drift of the machine falls on all three alike; each filter's
passage ids are read once (timed apart: `first`) and then cached, as a Retriever does.
Writes benchmarks/results/filter_cost.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from benchmarks.data.synthetic_corpus import write_corpus
from benchmarks.tables import markdown_table, real_queries, write_results
from vecsearch import Retriever

FILTERS = {"none": None, "1 %": {"bucket": 7}, "50 %": {"bucket": {"$lt": 50}}}
MODES = ("dense", "hybrid", "lexical")


def tagged_corpus(work: Path, passages: int) -> Path:
    corpus = work / f"corpus-{passages}.jsonl"
    if not corpus.exists():
        plain = work / "plain.jsonl"
        write_corpus(plain, passages)
        with open(plain) as lines, open(corpus, "w") as out:
            for number, line in enumerate(lines):
                out.write(json.dumps({**json.loads(line), "bucket": number % 100}) + "\n")
        plain.unlink()
    return corpus


def p50(seconds: list[float]) -> float:
    return round(float(np.percentile(np.asarray(seconds) * 1000, 50)), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True, help="keeps the corpus and the index for the next run")
    parser.add_argument("--passages", type=int, default=100_000)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    index_dir = args.work / f"index-{args.passages}"
    if not index_dir.exists():
        started = time.perf_counter()
        Retriever.build(tagged_corpus(args.work, args.passages), index_dir, adapt="no", show_progress=False).close()
        print(f"built in {time.perf_counter() - started:.0f}s", flush=True)
    queries = real_queries(300)
    results: dict = {"passages": args.passages, "queries": len(queries)}
    with Retriever.load(index_dir) as retriever:
        results["index_type"] = retriever.manifest.index.type
        first = {}
        for name, where in FILTERS.items():
            if where:
                started = time.perf_counter()
                kept = retriever.store.passage_ids_where(where)  # what a filter's first search reads
                first[name] = {"ms": round((time.perf_counter() - started) * 1000, 1), "passages": int(len(kept))}
        results["filter_first_read"] = first
        for query in queries[:20]:  # warm up: encoder, BM25 arrays, the page cache
            retriever.search(query, k=10)
        latency = {}
        for mode in MODES:
            seconds = {name: [] for name in FILTERS}
            counts = {name: [] for name in FILTERS}
            for number, query in enumerate(queries):
                names = list(FILTERS)
                shift = number % len(names)  # rotate the order: no filter always first would favour nothing
                for name in names[shift:] + names[:shift]:
                    started = time.perf_counter()
                    hits = retriever.search(query, k=10, mode=mode, where=FILTERS[name])
                    seconds[name].append(time.perf_counter() - started)
                    counts[name].append(len(hits))
            latency[mode] = {name: {"p50_ms": p50(s), "mean_hits": round(float(np.mean(counts[name])), 2)}
                             for name, s in seconds.items()}
            print(mode, json.dumps(latency[mode]), flush=True)
        results["latency"] = latency
        batch = {}
        for mode in MODES:
            loop, together = [], []
            for _ in range(3):  # alternated, best of three each
                started = time.perf_counter()
                singles = [retriever.search(q, k=10, mode=mode) for q in queries]
                loop.append(time.perf_counter() - started)
                started = time.perf_counter()
                batched = retriever.search(queries, k=10, mode=mode)
                together.append(time.perf_counter() - started)
            same = np.mean([[h.id for h in a] == [h.id for h in b] for a, b in zip(singles, batched)])
            batch[mode] = {"loop_ms_per_query": round(min(loop) / len(queries) * 1000, 3),
                           "batch_ms_per_query": round(min(together) / len(queries) * 1000, 3),
                           "speedup": round(min(loop) / min(together), 2), "same_hits": round(float(same), 3)}
            print(mode, json.dumps(batch[mode]), flush=True)
        results["batch"] = batch
    rows = [[mode, *(f"{latency[mode][name]['p50_ms']:.2f}" for name in FILTERS),
             f"{latency[mode]['1 %']['p50_ms'] / latency[mode]['none']['p50_ms']:.2f}x",
             f"{latency[mode]['50 %']['p50_ms'] / latency[mode]['none']['p50_ms']:.2f}x",
             f"{latency[mode]['1 %']['mean_hits']:.1f} / {latency[mode]['50 %']['mean_hits']:.1f}"] for mode in MODES]
    batch_rows = [[mode, b["loop_ms_per_query"], b["batch_ms_per_query"], f"{b['speedup']:.2f}x", b["same_hits"]]
                  for mode, b in batch.items()]
    markdown = "\n".join([
        f"# Metadata filters and batches ({args.passages:,} passages, {results['index_type']}, {len(queries)} queries)", "",
        "Command: `python -m benchmarks.perf.filter_cost --work .cache/filter_cost`", "",
        "Search p50 (ms, k=10), by filter; filtered / unfiltered; hits returned per query (of 10):", "",
        markdown_table(["mode", *FILTERS, "1 % / none", "50 % / none", "hits 1 % / 50 %"], rows), "",
        "Reading a filter's passages the first time (then cached): "
        + ", ".join(f"{name}: {v['ms']} ms ({v['passages']:,} passages)" for name, v in first.items()) + ".", "",
        "A batch of all the queries in one `search([...])` against one call each (best of 3, ms per query):", "",
        markdown_table(["mode", "one by one", "batch", "speed-up", "same top 10"], batch_rows),
    ])
    write_results("filter_cost", results, markdown + "\n")
    print(markdown)


if __name__ == "__main__":
    main()
