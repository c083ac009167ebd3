"""Which stopword list BM25 should use: nDCG@10 by list, BM25 alone and in the default build.

Lists: "none" (BM25's idf alone), "en" (bm25s's short Lucene list, 33 words, which keeps
"how", "do", "what") and "en+" (bm25s's NLTK list, 179 words, which also drops "with",
"is", "not", "in"). BM25 alone needs no training, so every list is scored on every
collection given, and on the natural questions over the demo corpus
(benchmarks/data/demo_questions.json, top-1/top-3). With `--full`, "en" and "en+" are also
compared in the default build (`vecsearch eval`'s settings: the base adapted, calibrated
hybrid), alternating list by list for each seed. Writes benchmarks/results/stopwords.md/.json.

    python -m benchmarks.quality.stopwords ../shared/data/cranfield ../shared/data/cisi
    python -m benchmarks.quality.stopwords ../shared/data/cranfield ../shared/data/cisi --full --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import vecsearch.search.lexical as lexical
from benchmarks.quality.demo_questions import QUESTIONS, score, topic
from benchmarks.tables import RESULTS, markdown_table
from vecsearch.corpus import read_corpus
from vecsearch.evaluation import document_ranking, load_collection, ndcg, run_eval
from vecsearch.training.config import TrainConfig

LISTS = ("none", "en", "en+")


def bm25_ndcg(collection: Path, stopwords: str) -> float:
    corpus, queries, qrels = load_collection(collection)
    _, passages = read_corpus(corpus)
    index = lexical.LexicalIndex.build([p.text for p in passages], stopwords=stopwords)
    doc_of = [p.doc_id for p in passages]
    judged = [q for q in queries if q in qrels]
    return float(np.mean([ndcg(document_ranking(index.search(queries[q], 100)[0], doc_of), qrels[q]) for q in judged]))


def demo_questions(corpus: Path, stopwords: str) -> dict:
    questions = json.loads(QUESTIONS.read_text())
    _, passages = read_corpus(corpus)
    index = lexical.LexicalIndex.build([p.text for p in passages], stopwords=stopwords)
    doc_of = [topic(p.doc_id) for p in passages]
    return score([document_ranking(index.search(q["q"], 100)[0], doc_of, 10) for q in questions], questions)


def full_build(collection: Path, stopwords: str, seed: int) -> dict:
    """The default build's figures with BM25 on `stopwords` (the encoder's adapting uses BM25 too)."""
    saved, lexical.STOPWORDS = lexical.STOPWORDS, stopwords
    try:
        started = time.perf_counter()
        result = run_eval(collection, show_progress=False, train_config=TrainConfig(seed=seed))
    finally:
        lexical.STOPWORDS = saved
    return {"collection": collection.name, "stopwords": stopwords, "seed": seed,
            **{mode: result["systems"][mode]["ndcg@10"] for mode in ("dense", "hybrid", "lexical")},
            "default_mode": result["default_mode"], "seconds": round(time.perf_counter() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("collections", nargs="+", type=Path, help="BEIR-layout collection folders")
    parser.add_argument("--demo", type=Path, default=Path("corpus/python-docs"), help="the demo corpus")
    parser.add_argument("--full", action="store_true", help="also compare en and en+ in the default build")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    args = parser.parse_args()
    bm25 = []
    for stopwords in LISTS:
        row = {"stopwords": stopwords, **{c.name: round(bm25_ndcg(c, stopwords), 4) for c in args.collections}}
        if args.demo.is_dir():
            row["demo"] = demo_questions(args.demo, stopwords)
        bm25.append(row)
        print(json.dumps(row), flush=True)
    full = []
    if args.full:
        for collection in args.collections:
            for seed in args.seeds:
                for stopwords in ("en", "en+"):
                    full.append(full_build(collection, stopwords, seed))
                    print(json.dumps(full[-1]), flush=True)
    (RESULTS / "stopwords.json").write_text(json.dumps({"bm25": bm25, "full": full}, indent=1))
    names = [c.name for c in args.collections]
    lines = ["# BM25's stopword list", "", "Command: `python -m benchmarks.quality.stopwords "
             + " ".join(str(c) for c in args.collections) + (" --full --seeds " + " ".join(map(str, args.seeds)) if args.full else "")
             + "`", "", "BM25 alone, nDCG@10 (demo: natural questions, top-1 / top-3 of 30):", "",
             markdown_table(["stopwords", *names, "demo top-1 / top-3"],
                            [[r["stopwords"], *(f"{r[n]:.4f}" for n in names),
                              f"{r['demo']['top1']} / {r['demo']['top3']}" if "demo" in r else ""] for r in bm25])]
    if full:
        groups: dict[tuple, list[dict]] = {}
        for row in full:
            groups.setdefault((row["collection"], row["stopwords"]), []).append(row)
        cell = lambda runs, key: f"{np.mean([r[key] for r in runs]):.4f}"  # noqa: E731
        lines += ["", f"Default build (base adapted, calibrated hybrid), mean of seeds {' '.join(map(str, args.seeds))}:", "",
                  markdown_table(["collection", "stopwords", "dense", "hybrid", "lexical", "default mode"],
                                 [[c, s, cell(runs, "dense"), cell(runs, "hybrid"), cell(runs, "lexical"),
                                   ",".join(sorted({r["default_mode"] for r in runs}))] for (c, s), runs in groups.items()])]
    (RESULTS / "stopwords.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
