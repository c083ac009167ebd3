"""Base encoders side by side, each used as it is (no adapting): nDCG@10 on the shared
collections, natural questions answered (the demo's and the Factbook's batteries), and how
many texts a second it embeds against all-MiniLM-L6-v2: what choosing a base's data and width
weighs.

    python examples/python_docs.py corpus/python-docs
    python -m benchmarks.data.make_factbook_corpus --out .cache/factbook
    python -m benchmarks.quality.base_candidates default ~/.cache/vecsearch-base/pilot/out [--speed]

A candidate is `default` (the shipped base) or a folder written by scripts/build_base.py.
--speed times every candidate and the teacher on the same 2,048 Cranfield passages, rounds
alternating: run it with nothing else on the machine. Writes
benchmarks/results/base_candidates.{md,json} (--output to name them otherwise).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchmarks.quality.demo_questions import QUESTIONS, score, vecsearch_rankings
from benchmarks.tables import DATA, RESULTS, markdown_table

from vecsearch.evaluation import run_eval

FACTBOOK_QUESTIONS = QUESTIONS.parent / "factbook_questions.json"


def label(candidate: str) -> str:
    if candidate == "default":
        return "shipped"
    recipe = Path(candidate).expanduser() / "recipe.json"
    return Path(candidate).name if not recipe.exists() else f"{Path(candidate).name} ({json.loads(recipe.read_text())['steps']} steps)"


def quality(candidate: str, collections: list[Path], batteries: list[tuple[Path, Path]]) -> dict:
    row: dict = {}
    for data in collections:
        systems = run_eval(data, show_progress=False, base=candidate, adapt="no")["systems"]
        row[f"{data.name} dense"] = systems["dense"]["ndcg@10"]
        row[f"{data.name} hybrid"] = systems["hybrid"]["ndcg@10"]
    for corpus, battery in batteries:
        questions = json.loads(battery.read_text())
        rankings, _ = vecsearch_rankings(corpus, questions, candidate, seed=0)
        for mode, ranking in rankings.items():
            if mode == "dense" or mode.startswith("default"):
                scores = score(ranking, questions)
                row[f"{battery.stem} {mode.split(' ')[0]}"] = f"{scores['top1']}/{scores['top3']}"
    return row


def speeds(candidates: list[str], rounds: int = 3, count: int = 2048) -> dict[str, float]:
    """Texts a second, each candidate as `vecsearch index` embeds, and the teacher in bfloat16
    (as "all-MiniLM-L6-v2"): the best of `rounds` alternating rounds (benchmarks.perf.base_speed)."""
    from benchmarks.perf.base_speed import MINILM, timed_rounds
    from vecsearch.corpus import read_corpus
    from vecsearch.model.bases import BASE_DIR

    texts = [p.text for p in read_corpus(DATA / "cranfield" / "corpus.jsonl")[1]][:count]
    folders = {c: BASE_DIR if c == "default" else Path(c).expanduser() for c in candidates}
    seconds = timed_rounds(folders, texts, rounds)
    seconds["all-MiniLM-L6-v2"] = seconds.pop(MINILM)
    return {name: len(texts) / min(values) for name, values in seconds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("candidates", nargs="+", help="default (the shipped base) or folders of base encoders")
    parser.add_argument("--collections", nargs="+", default=["cranfield", "cisi"])
    parser.add_argument("--demo", type=Path, default=Path("corpus/python-docs"))
    parser.add_argument("--factbook", type=Path, default=Path(".cache/factbook"))
    parser.add_argument("--speed", action="store_true", help="also time each candidate against the teacher")
    parser.add_argument("--output", default="base_candidates")
    args = parser.parse_args()
    collections = [Path(c) if "/" in c else DATA / c for c in args.collections]
    batteries = [(corpus, battery) for corpus, battery in ((args.demo, QUESTIONS), (args.factbook, FACTBOOK_QUESTIONS))
                 if corpus.exists()]
    rows = []
    for candidate in args.candidates:
        rows.append({"base": label(candidate), "path": candidate, **quality(candidate, collections, batteries)})
        print(json.dumps(rows[-1]), flush=True)
    if args.speed:
        rate = speeds(args.candidates)
        for row in rows:
            row["texts/s"] = round(rate[row["path"]])
            row["x MiniLM"] = round(rate[row["path"]] / rate["all-MiniLM-L6-v2"], 1)
    (RESULTS / f"{args.output}.json").write_text(json.dumps({"command": sys.argv[1:], "rows": rows}, indent=1) + "\n")
    columns = [c for c in rows[0] if c != "path"]
    lines = ["# Base encoders as they are", "",
             "nDCG@10 (dense, hybrid) with the base used as it is (`--adapt no`), natural questions answered "
             "top-1/top-3 (dense, and the default mode), and encoding speed. Command: "
             "`python -m benchmarks.quality.base_candidates " + " ".join(sys.argv[1:]) + "`", "",
             markdown_table(columns, [[row.get(c, "") for c in columns] for row in rows])]
    (RESULTS / f"{args.output}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
