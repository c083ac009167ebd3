"""The base encoder on corpora of every size: as it is, adapted to the corpus, or none (from scratch).

For each collection in ../shared/data and each size (seeded random slices of N documents,
with the queries that have a relevant document in the slice; "all" = the whole collection),
builds an index in each arm - `base` (`--adapt no`: the base as it is), `distilled`
(`--adapt yes`: the base distilled from all-MiniLM-L6-v2 on the slice, the default adapting),
`adapted` (`--adapt yes --teacher none`: trained further self-supervised), `scratch`
(`--base none`), `default` (whatever the size rule picks) - and records nDCG@10 of dense,
hybrid and lexical, the default mode the index chose and the build's seconds. This is the
table that places `base.ADAPT_MIN_PASSAGES`. Writes benchmarks/results/base_encoder.md and
.json (rows are appended per run, keyed by arm).

    python -m benchmarks.quality.base_encoder --sizes 50 200 1000 all --arms base distilled --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.tables import DATA, RESULTS, markdown_table

from vecsearch.evaluation import load_collection, run_eval
from vecsearch.training.config import TrainConfig

ARMS = {"base": {"adapt": "no"}, "distilled": {"adapt": "yes"}, "adapted": {"adapt": "yes", "teacher": "none"},
        "scratch": {"base": "none"}, "default": {}}


def write_slice(data_dir: Path, size: int | None, seed: int, target: Path) -> Path:
    """A BEIR folder holding `size` random documents of `data_dir` and the queries judged on them."""
    corpus, queries, qrels = load_collection(data_dir)
    records = [json.loads(line) for line in corpus.open() if line.strip()]
    if size is not None and size < len(records):
        rows = np.random.default_rng(seed).permutation(len(records))[:size]
        records = [records[i] for i in sorted(rows)]
    kept = {str(r["_id"]) for r in records}
    (target / "qrels").mkdir(parents=True, exist_ok=True)
    with open(target / "corpus.jsonl", "w") as out:
        out.writelines(json.dumps(r) + "\n" for r in records)
    judged = {q: {d: g for d, g in docs.items() if d in kept and g > 0} for q, docs in qrels.items()}
    judged = {q: docs for q, docs in judged.items() if docs and q in queries}
    with open(target / "queries.jsonl", "w") as out:
        out.writelines(json.dumps({"_id": q, "text": queries[q]}) + "\n" for q in judged)
    with open(target / "qrels" / "test.tsv", "w") as out:
        out.write("query-id\tcorpus-id\tscore\n")
        out.writelines(f"{q}\t{d}\t{g}\n" for q, docs in judged.items() for d, g in docs.items())
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--collections", nargs="+", default=["cranfield", "cisi"])
    parser.add_argument("--sizes", nargs="+", default=["50", "200", "1000", "all"])
    parser.add_argument("--arms", nargs="+", default=["base", "adapted", "scratch"], choices=list(ARMS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0], help="slice and training seeds")
    parser.add_argument("--output", default="base_encoder")
    args = parser.parse_args()
    out_json = RESULTS / f"{args.output}.json"
    rows = json.loads(out_json.read_text()) if out_json.exists() else []
    for collection in args.collections:
        for size in args.sizes:
            for seed in args.seeds:
                with tempfile.TemporaryDirectory() as folder:
                    data = write_slice(DATA / collection, None if size == "all" else int(size), seed, Path(folder))
                    for arm in args.arms:
                        started = time.perf_counter()
                        result = run_eval(data, show_progress=False, train_config=TrainConfig(seed=seed), **ARMS[arm])
                        row = {"collection": collection, "size": size, "seed": seed, "arm": arm,
                               "queries": result["queries"], "default_mode": result["default_mode"],
                               "dense_weight": result["fusion"].get("dense_weight"),
                               "calibration": result["fusion"].get("calibration", {}).get("mrr@10"),
                               **{mode: result["systems"][mode]["ndcg@10"] for mode in ("dense", "hybrid", "lexical")},
                               "default": result["systems"][result["default_mode"]]["ndcg@10"],
                               "train_steps": (result["training"] or {}).get("steps"),
                               "teacher": (result["training"] or {}).get("teacher"),
                               "build_seconds": round(result["seconds"]["train"] + result["seconds"]["index"], 1),
                               "seconds": round(time.perf_counter() - started, 1)}
                        rows = [r for r in rows if (r["collection"], r["size"], r["seed"], r["arm"]) != (collection, size, seed, arm)]
                        rows.append(row)
                        print(json.dumps(row), flush=True)
                        out_json.write_text(json.dumps(rows, indent=1))
    write_table(rows, RESULTS / f"{args.output}.md")


def write_table(rows: list[dict], path: Path) -> None:
    """Mean over seeds (and the range) of each collection x size x arm."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["collection"], row["size"], row["arm"]), []).append(row)
    order = {"50": 0, "200": 1, "1000": 2, "all": 3}
    table = []
    for (collection, size, arm), runs in sorted(groups.items(), key=lambda g: (g[0][0], order.get(g[0][1], 9), g[0][2])):
        cell = lambda key, runs=runs: (f"{np.mean([r[key] for r in runs]):.3f}" + (
            f" ({min(r[key] for r in runs):.3f}-{max(r[key] for r in runs):.3f})" if len(runs) > 1 else ""))
        modes = ",".join(sorted({r["default_mode"] for r in runs}))
        queries = sorted({r["queries"] for r in runs})  # a slice of each seed holds other documents
        queried = f"{queries[0]}-{queries[-1]}" if len(queries) > 1 else str(queries[0])
        table.append([collection, size, arm, len(runs), queried, cell("dense"), cell("hybrid"), cell("lexical"),
                      f"{modes}: {cell('default')}", _seconds(runs, "build_seconds"), _seconds(runs, "seconds")])
    headers = ["collection", "docs", "arm", "seeds", "queries", "dense nDCG@10", "hybrid", "lexical (BM25)",
               "default mode", "build s", "build+eval s"]
    path.write_text("# The base encoder by corpus size\n\nCommand: `python -m benchmarks.quality.base_encoder` "
                    "(see its docstring). nDCG@10, mean over seeds (range).\n\n" + markdown_table(headers, table) + "\n")


def _seconds(runs: list[dict], key: str) -> str:
    """The mean of `key` over the runs that recorded it (rows from before build_seconds have none)."""
    values = [r[key] for r in runs if r.get(key) is not None]
    return f"{np.mean(values):.0f}" if values else ""


if __name__ == "__main__":
    main()
