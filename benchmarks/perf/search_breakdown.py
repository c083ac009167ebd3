"""Where a query's time goes: `Retriever.search` p50 per mode, and a dense query in its parts.

    python -m benchmarks.perf.search_breakdown INDEX_DIR [--label NAME]

On the first 300 queries of ../shared/data (one at a time, after a warm-up): the median
time of `Retriever.search` for dense, lexical and hybrid; then, for dense, the median of
each step - tokenizing, the numpy embedding, the FAISS search (depth 100, as search
asks for), and grouping the candidates into documents and fetching their passages.
Prints one JSON line, so that runs of two checkouts can be put side by side:

    cd /tmp && PYTHONPATH=/path/to/checkout python /path/to/benchmarks/search_breakdown.py INDEX --label old
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.tables import real_queries  # noqa: E402


def median_ms(seconds: list[float]) -> float:
    return round(float(np.median(seconds)) * 1000, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("index", type=Path)
    parser.add_argument("--label", default="")
    args = parser.parse_args()

    from vecsearch import Retriever
    from vecsearch.model.tokenizer import token_ids

    try:
        from vecsearch.storage.dense import one_openmp_thread
    except ImportError:  # a checkout from before it existed: FAISS's default thread team
        from contextlib import nullcontext as one_openmp_thread

    queries = real_queries()
    retriever = Retriever.load(args.index)
    result = {"label": args.label, "passages": retriever.index.ntotal, "search_p50_ms": {}}
    for mode in ("dense", "lexical", "hybrid"):
        retriever.search(queries[0], 10, mode)  # warm: loads the encoder, BM25
        seconds = []
        for query in queries:
            started = time.perf_counter()
            retriever.search(query, 10, mode)
            seconds.append(time.perf_counter() - started)
        result["search_p50_ms"][mode] = median_ms(seconds)

    encoder, steps = retriever.query_encoder, {"tokenize": [], "embed": [], "faiss": [], "hits": []}
    for query in queries:
        t0 = time.perf_counter()
        ids = token_ids(encoder.tokenizer, [query], encoder.config.max_length)[0]
        t1 = time.perf_counter()
        vector = encoder.embed_ids(ids)[None]
        t2 = time.perf_counter()
        with one_openmp_thread():  # as Retriever.search does
            scores, found = retriever.index.search(vector, 100)
        t3 = time.perf_counter()
        keep = found[0] >= 0
        retriever.hits(found[0][keep], scores[0][keep], 10)
        t4 = time.perf_counter()
        for step, (start, end) in zip(steps, ((t0, t1), (t1, t2), (t2, t3), (t3, t4))):
            steps[step].append(end - start)
    result["dense_steps_p50_ms"] = {step: median_ms(seconds) for step, seconds in steps.items()}
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
