"""Retrieval quality on a BEIR-layout collection: nDCG@10, Recall@100, MRR@10.

A collection folder holds `corpus.jsonl`, `queries.jsonl` and `qrels/test.tsv`
(query-id, corpus-id, score). Gains are linear in the graded score, as in
trec_eval's `ndcg_cut`; a score <= 0 counts as not relevant.
"""

from __future__ import annotations

import csv
import json
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from .errors import VecsearchError
from .search.metrics import document_ranking, ndcg, recall, reciprocal_rank  # noqa: F401  (also evaluation's own names)

MODES = ("dense", "hybrid", "lexical")


def load_collection(data_dir: str | Path) -> tuple[Path, dict[str, str], dict[str, dict[str, int]]]:
    """(corpus file, queries by id, qrels: query id -> {doc id: grade}) of a BEIR folder."""
    data_dir = Path(data_dir)
    corpus, queries_file, qrels_file = data_dir / "corpus.jsonl", data_dir / "queries.jsonl", data_dir / "qrels" / "test.tsv"
    for path in (corpus, queries_file, qrels_file):
        if not path.is_file():
            raise VecsearchError(f"{data_dir} is not a BEIR collection: missing {path.relative_to(data_dir)}")
    qrels: dict[str, dict[str, int]] = {}
    with open(qrels_file, newline="") as rows:
        for row in csv.DictReader(rows, delimiter="\t"):
            qrels.setdefault(row["query-id"], {})[row["corpus-id"]] = int(float(row["score"]))
    queries = {}
    with open(queries_file) as lines:
        for line in lines:
            if line.strip():
                record = json.loads(line)
                if str(record["_id"]) in qrels:
                    queries[str(record["_id"])] = record["text"]
    return corpus, queries, qrels


def score_run(run: dict[str, list[str]], qrels: dict[str, dict[str, int]]) -> dict[str, float]:
    """Mean nDCG@10, Recall@100 and MRR@10 of `run` (query id -> ranked doc ids) over the judged queries."""
    queries = [q for q in qrels if any(g > 0 for g in qrels[q].values())]
    if not queries:
        raise VecsearchError("no query has a relevant document")
    mean = lambda metric: sum(metric(run.get(q, []), qrels[q]) for q in queries) / len(queries)  # noqa: E731
    return {"ndcg@10": mean(ndcg), "recall@100": mean(recall), "mrr@10": mean(reciprocal_rank)}


def evaluate(retriever, queries: dict[str, str], qrels: dict[str, dict[str, int]], modes=MODES) -> tuple[dict, dict]:
    """Run every query in each mode; returns (metrics by mode, seconds by mode)."""
    systems, seconds = {}, {}
    for mode in modes:
        started = time.perf_counter()
        run = {qid: [hit.id for hit in retriever.search(text, k=100, mode=mode)] for qid, text in queries.items()}
        seconds[f"query_{mode}"] = round(time.perf_counter() - started, 2)
        systems[mode] = {name: round(value, 4) for name, value in score_run(run, qrels).items()}
    return systems, seconds


def run_eval(data_dir: str | Path, show_progress: bool = True, **build_options) -> dict:
    """Index the collection's corpus (training unless `model` is given) and score every mode."""
    from .retriever import Retriever
    from .storage.backends import release

    corpus, queries, qrels = load_collection(data_dir)
    with tempfile.TemporaryDirectory(prefix="vecsearch-eval-") as index_dir:
        started = time.perf_counter()
        retriever = Retriever.build(corpus, index_dir, show_progress=show_progress, **build_options)
        build_seconds = time.perf_counter() - started
        systems, seconds = evaluate(retriever, queries, qrels)
        manifest = retriever.manifest
        retriever.close()
        release(retriever.version_dir)  # a Milvus collection would outlive the temporary folder
    timings = manifest.timings
    return {
        "collection": Path(data_dir).name,
        "queries": len(queries),
        "systems": systems,
        "default_mode": manifest.fusion.default_mode,
        "fusion": asdict(manifest.fusion),
        "encoder": manifest.encoder,
        "training": manifest.training,
        "seconds": {"train": timings["train"], "index": round(build_seconds - timings["train"], 2), **seconds},
    }
