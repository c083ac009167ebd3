"""Natural questions over a folder corpus: is the right document first, or in the top 3?

A battery is a JSON list of {"q", "topics"}: a question worded the way a newcomer asks,
mostly without the document's own words, and the file stem(s) of the document(s) that answer
it. The default battery (benchmarks/data/demo_questions.json) is over the README's demo corpus
(Python's help topics); benchmarks/data/factbook_questions.json is over country profiles from
the CIA World Factbook (benchmarks/data/make_factbook_corpus.py), a domain nothing trains on.
Scores vecsearch's default mode, dense, lexical and hybrid, with the index built by default
settings (and, as configs, with the base adapted to the corpus, or from scratch), beside
all-MiniLM-L6-v2 over the same passages (exact search, each document at its best passage). Writes
benchmarks/results/<battery>.md and .json, the battery named by its file (demo_questions, factbook_questions).

    python examples/python_docs.py corpus/python-docs
    python -m benchmarks.quality.demo_questions --corpus corpus/python-docs --configs default adapted none --seeds 0 1 2
    python -m benchmarks.data.make_factbook_corpus --out .cache/factbook
    python -m benchmarks.quality.demo_questions --corpus .cache/factbook --questions benchmarks/data/factbook_questions.json --configs default
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from vecsearch import Retriever
from vecsearch.corpus import read_corpus
from vecsearch.evaluation import document_ranking

from benchmarks.tables import RESULTS

HERE = Path(__file__).resolve().parent
QUESTIONS = HERE.parent / "data" / "demo_questions.json"


def topic(doc_id: str) -> str:
    return Path(doc_id).stem


def score(rankings: list[list[str]], questions: list[dict]) -> dict:
    top1 = sum(r[:1] != [] and r[0] in q["topics"] for r, q in zip(rankings, questions))
    top3 = sum(any(t in q["topics"] for t in r[:3]) for r, q in zip(rankings, questions))
    return {"top1": top1, "top3": top3}


def minilm_rankings(corpus: Path, questions: list[dict]) -> list[list[str]]:
    from vecsearch.training.teacher import load_teacher

    _, passages = read_corpus(corpus)
    teacher = load_teacher("all-MiniLM-L6-v2")
    vectors = teacher.encode([p.text for p in passages], batch_size=64, normalize_embeddings=True)
    queries = teacher.encode([q["q"] for q in questions], batch_size=64, normalize_embeddings=True)
    doc_of = [topic(p.doc_id) for p in passages]
    return [document_ranking(np.argsort(-(vectors @ v), kind="stable"), doc_of, 10) for v in queries]


# The configs that train, and how each builds; any other config names a base (default or a folder).
TRAINING_CONFIGS = {"none": {"base": "none"}, "adapted": {"adapt": "yes"}}


def vecsearch_rankings(corpus: Path, questions: list[dict], config: str, seed: int) -> tuple[dict, dict]:
    from vecsearch.training.config import TrainConfig

    settings = TRAINING_CONFIGS.get(config, {"base": config})
    with tempfile.TemporaryDirectory(prefix="vecsearch-demo-") as index_dir:
        started = time.perf_counter()
        retriever = Retriever.build(corpus, index_dir, train_config=TrainConfig(seed=seed), show_progress=False, **settings)
        seconds = time.perf_counter() - started
        modes = {"default (" + retriever.default_mode + ")": None, "dense": "dense", "lexical": "lexical", "hybrid": "hybrid"}
        rankings = {name: [[topic(h.id) for h in retriever.search(q["q"], k=10, mode=mode)] for q in questions]
                    for name, mode in modes.items()}
        retriever.close()
    return rankings, {"build_seconds": round(seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=Path("corpus/python-docs"))
    parser.add_argument("--questions", type=Path, default=QUESTIONS,
                        help="the battery: a JSON list of {q, topics}; results are named after its file")
    parser.add_argument("--configs", nargs="+", default=["default", "none"],
                        help="how to build: a base (default, none, a folder), or 'adapted' (the default base adapted to the corpus)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0], help="seeds (matter only where training runs)")
    parser.add_argument("--no-minilm", action="store_true")
    args = parser.parse_args()
    questions = json.loads(args.questions.read_text())
    battery = args.questions.stem
    rows, details = [], {}
    for config in args.configs:
        for seed in args.seeds if config in TRAINING_CONFIGS else args.seeds[:1]:
            rankings, extra = vecsearch_rankings(args.corpus, questions, config, seed)
            for name, ranking in rankings.items():
                rows.append({"system": f"vecsearch {config} seed={seed}", "mode": name, **score(ranking, questions), **extra})
                details[f"{config}/{seed}/{name}"] = ranking
            print(rows[-4:], flush=True)
    if not args.no_minilm:
        ranking = minilm_rankings(args.corpus, questions)
        rows.append({"system": "all-MiniLM-L6-v2", "mode": "dense", **score(ranking, questions)})
        details["minilm"] = ranking
    (RESULTS / f"{battery}.json").write_text(json.dumps({"questions": questions, "rows": rows, "rankings": details}, indent=1))
    lines = [f"# Natural questions: {battery} ({len(questions)} questions over {args.corpus.name})", "",
             "Command: `python -m benchmarks.quality.demo_questions " + " ".join(sys.argv[1:]) + "`", "",
             "| system | mode | top-1 | top-3 | build s |", "|---|---|---:|---:|---:|"]
    lines += [f"| {r['system']} | {r['mode']} | {r['top1']} | {r['top3']} | {r.get('build_seconds', '')} |" for r in rows]
    (RESULTS / f"{battery}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
