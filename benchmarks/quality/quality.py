"""Retrieval quality of vecsearch on every BEIR collection in ../shared/data.

For each collection, each track (self-supervised; distilled from a teacher) and each
seed, runs the same code as `vecsearch eval` and records nDCG@10, Recall@100 and
MRR@10 of dense, hybrid and lexical (BM25) search. With --reference, also scores the
teacher itself (all-MiniLM-L6-v2, dense and fused with BM25) on the same queries.
Writes benchmarks/results/quality.md, quality.json and quality.png.

    python -m benchmarks.quality.quality --seeds 0 1 2 --tracks self distill --reference
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from benchmarks.tables import DATA, RESULTS, chart, save_chart

from vecsearch.corpus import PASSAGE_WORDS
from vecsearch.evaluation import document_ranking, load_collection, run_eval, score_run

DEFAULT_DATA = DATA
TEACHER = "all-MiniLM-L6-v2"


def teacher_reference(data_dir: Path, passage_words: int = PASSAGE_WORDS) -> dict:
    """The teacher as a retriever: MiniLM vectors of the same passages, exact search, and RRF with BM25,
    plain and as the product's hybrid runs it (the query vector moved toward BM25's top passages
    first); BM25 alone on those passages too."""
    from vecsearch.corpus import read_corpus
    from vecsearch.training.teacher import load_teacher
    from vecsearch.search.fusion import fuse, with_feedback
    from vecsearch.search.lexical import LexicalIndex

    corpus, queries, qrels = load_collection(data_dir)
    _, passages = read_corpus(corpus, words=passage_words)
    texts, doc_of = [p.text for p in passages], [p.doc_id for p in passages]
    teacher = load_teacher(TEACHER)
    started = time.perf_counter()
    passage_vectors = teacher.encode(texts, batch_size=64, normalize_embeddings=True)
    encode_seconds = time.perf_counter() - started
    query_ids = list(queries)
    query_vectors = teacher.encode([queries[q] for q in query_ids], batch_size=64, normalize_embeddings=True)
    lexical = LexicalIndex.build(texts)

    nearest = lambda vector: np.argsort(-(passage_vectors @ vector), kind="stable")[:400]
    dense_run, hybrid_run, feedback_run, lexical_run = {}, {}, {}, {}
    for qid, vector in zip(query_ids, query_vectors):
        dense_ids = nearest(vector)
        dense_run[qid] = document_ranking(dense_ids, doc_of)
        lexical_ids, lexical_scores = lexical.search(queries[qid], 400)
        lexical_run[qid] = document_ranking(lexical_ids, doc_of)
        hybrid_run[qid] = document_ranking(fuse((dense_ids, dense_ids), (lexical_ids, lexical_scores))[0], doc_of)
        moved = with_feedback(vector[None], [lexical_ids], lambda ids: passage_vectors[ids])[0]
        moved_ids = nearest(moved)
        fused = fuse((moved_ids, moved_ids), (lexical_ids, lexical_scores))[0]
        feedback_run[qid] = document_ranking(fused, doc_of)
    rounded = lambda metrics: {k: round(v, 4) for k, v in metrics.items()}
    return {
        "dense": rounded(score_run(dense_run, qrels)),
        "hybrid": rounded(score_run(hybrid_run, qrels)),
        "hybrid_feedback": rounded(score_run(feedback_run, qrels)),
        "lexical": rounded(score_run(lexical_run, qrels)),
        "encode_seconds": round(encode_seconds, 1),
        "passages": len(texts),
    }


def run(data: Path, seeds: list[int], tracks: list[str], reference: bool, names: list[str] | None = None) -> dict:
    from vecsearch.training.config import TrainConfig

    results = {"runs": [], "reference": {}}
    collections = sorted(p for p in data.iterdir() if (p / "corpus.jsonl").is_file())
    for collection in (c for c in collections if not names or c.name in names):
        for track in tracks:
            for seed in seeds:
                report = run_eval(
                    collection, teacher=TEACHER if track == "distill" else None,
                    train_config=TrainConfig(seed=seed), show_progress=False,
                )
                row = {"collection": collection.name, "track": track, "seed": seed, **report}
                results["runs"].append(row)
                print(json.dumps({k: row[k] for k in ("collection", "track", "seed", "systems", "seconds")}), flush=True)
        if reference:
            results["reference"][collection.name] = teacher_reference(collection)
            print(json.dumps({"collection": collection.name, "reference": results["reference"][collection.name]}), flush=True)
    return results


def merge(parts: list[dict]) -> dict:
    """One result from several runs' quality.json (runs concatenated, references joined)."""
    runs = sorted((row for part in parts for row in part["runs"]), key=lambda r: (r["collection"], r["track"], r["seed"]))
    return {
        "runs": runs,
        "reference": {name: ref for part in parts for name, ref in part["reference"].items()},
        "commands": [command for part in parts for command in part.get("commands", [part.get("command")])],
        "machine": parts[0]["machine"],
    }


def write_table(results: dict, path: Path) -> None:
    lines = [
        "# Retrieval quality (nDCG@10 / Recall@100 / MRR@10)",
        "",
        "Produced by "
        + " and ".join(f"`python -m benchmarks.quality.quality {c}`" for c in results.get("commands", [results.get("command")]))
        + " on " + results["machine"] + ".",
        "",
        "| collection | track | seed | dense | hybrid | lexical (BM25) | default mode | dense weight | train s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    fmt = lambda m: f"{m['ndcg@10']:.3f} / {m['recall@100']:.3f} / {m['mrr@10']:.3f}"
    for row in results["runs"]:
        systems = row["systems"]
        lines.append(
            f"| {row['collection']} | {row['track']} | {row['seed']} | {fmt(systems['dense'])} | {fmt(systems['hybrid'])} "
            f"| {fmt(systems['lexical'])} | {row['default_mode']} | {row['fusion']['dense_weight']} | {row['seconds']['train']:.0f} |"
        )
    if results["reference"]:
        lines += ["", ("Teacher reference (all-MiniLM-L6-v2 on the same passages; hybrid = RRF with BM25, weight 1, "
                   "without and with the query vector moved toward BM25's top 3 passages):"), "",
                  "| collection | dense | hybrid | hybrid with feedback | teacher encode s |", "|---|---|---|---|---|"]
        for name, ref in results["reference"].items():
            feedback = fmt(ref["hybrid_feedback"]) if "hybrid_feedback" in ref else "-"
            lines.append(f"| {name} | {fmt(ref['dense'])} | {fmt(ref['hybrid'])} | {feedback} | {ref['encode_seconds']} |")
    lines += ["", "Mean nDCG@10 over seeds:", "", "| collection | track | dense | hybrid | lexical |", "|---|---|---|---|---|"]
    for (collection, track), rows in _groups(results).items():
        means = {s: statistics.mean(r["systems"][s]["ndcg@10"] for r in rows) for s in ("dense", "hybrid", "lexical")}
        lines.append(f"| {collection} | {track} | {means['dense']:.3f} | {means['hybrid']:.3f} | {means['lexical']:.3f} |")
    path.write_text("\n".join(lines) + "\n")


def _groups(results: dict) -> dict:
    groups: dict = {}
    for row in results["runs"]:
        groups.setdefault((row["collection"], row["track"]), []).append(row)
    return groups


def write_chart(results: dict, path: Path) -> None:
    collections = sorted({r["collection"] for r in results["runs"]})
    bars: dict[str, list[float]] = {}
    for collection in collections:
        rows = [r for r in results["runs"] if r["collection"] == collection]
        bars.setdefault("BM25", []).append(statistics.mean(r["systems"]["lexical"]["ndcg@10"] for r in rows))
        for track in sorted({r["track"] for r in rows}):
            tracked = [r for r in rows if r["track"] == track]
            for system in ("dense", "hybrid"):
                bars.setdefault(f"RNN {track} {system}", []).append(statistics.mean(r["systems"][system]["ndcg@10"] for r in tracked))
        if collection in results["reference"]:
            for system in ("dense", "hybrid"):
                bars.setdefault(f"MiniLM {system}", []).append(results["reference"][collection][system]["ndcg@10"])
    figure, axes = chart((max(6, 2.2 * len(collections) + 3), 4))
    width = 0.8 / len(bars)
    for offset, (label, values) in enumerate(bars.items()):
        positions = np.arange(len(values)) + offset * width
        axes.bar(positions, values, width, label=label)
    axes.set_xticks(np.arange(len(collections)) + 0.4 - width / 2, collections)
    axes.set_ylabel("nDCG@10 (mean over seeds)")
    axes.set_title("vecsearch retrieval quality")
    axes.legend(fontsize=7, ncol=2)
    save_chart(figure, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--tracks", nargs="+", choices=["self", "distill"], default=["self", "distill"])
    parser.add_argument("--reference", action="store_true", help="also score the teacher itself")
    parser.add_argument("--collections", nargs="+", help="only these collections (folder names in --data)")
    parser.add_argument("--merge", type=Path, nargs="+", metavar="JSON",
                        help="write the table and chart from the quality.json files of earlier (e.g. parallel) runs")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--json", action="store_true", help="print the results as JSON at the end")
    args = parser.parse_args()
    import os
    import platform

    if args.merge:
        results = merge([json.loads(path.read_text()) for path in args.merge])
    else:
        results = run(args.data, args.seeds, args.tracks, args.reference, args.collections)
        results["command"] = " ".join(
            ["--seeds", *map(str, args.seeds), "--tracks", *args.tracks]
            + (["--reference"] if args.reference else [])
            + (["--collections", *args.collections] if args.collections else [])
        )
        results["machine"] = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "quality.json").write_text(json.dumps(results, indent=1))
    write_table(results, args.out / "quality.md")
    write_chart(results, args.out / "quality.png")
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
