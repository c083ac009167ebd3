"""Do semantic snippets show the answer? (issue 33) And what does explaining cost?

A battery (benchmarks/data/explain_questions.json) holds {"q", "doc", "answer"}: a question
worded the way a newcomer asks, the demo corpus's document that answers it, and the sentence
of that document that does (marked by hand, whitespace aside verbatim). For each question and
mode (dense, hybrid), when the answering document is among the 10 hits and its hit's passage
holds the sentence, does the 200-character snippet window hold the whole sentence?
  - opening:  the passage's first 200 characters
  - today:    the window with the most query words (`search()`, as before this issue)
  - semantic: the window whose words carry the most of the cosine (`search(explain=True)`)
Then the cost: per query, search(explain=True) against search() for 10 hits (p50 ms, and
the p50 of the per-query difference), and whether a search without explain is slower than
with the encoder before this issue (its numpy_encoder.py read from git at BEFORE; same run,
searches alternated; ratio of p50s). Writes benchmarks/results/explain_snippets.md and .json.

    python examples/python_docs.py corpus/python-docs
    vecsearch index corpus/python-docs --index indexes/python-docs
    python -m benchmarks.quality.explain_snippets --index indexes/python-docs
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from vecsearch import Retriever
from vecsearch.search.snippets import make_snippet
from vecsearch.search.lexical import stemmer

from benchmarks.tables import RESULTS

HERE = Path(__file__).resolve().parent
QUESTIONS = HERE.parent / "data" / "explain_questions.json"
BEFORE = "5b0cc93"  # the commit before issue 33's changes to the numpy encoder
MODES = ("dense", "hybrid")


def normal(text: str) -> str:
    return " ".join(text.split())


def holds(text: str, start: int, end: int, answer: str) -> bool:
    return normal(answer) in normal(text[start:end])


def snippet_rates(retriever: Retriever, questions: list[dict]) -> dict:
    """Per mode: how many answering passages were found, and in how many the window held the answer."""
    rates = {}
    for mode in MODES:
        counts = {"questions": len(questions), "found": 0, "opening": 0, "today": 0, "semantic": 0}
        misses = []
        for question in questions:
            plain = retriever.search(question["q"], k=10, mode=mode)
            explained = retriever.search(question["q"], k=10, mode=mode, explain=True)
            hit = next((h for h in plain if h.id == question["doc"]), None)
            if hit is None or not holds(hit.text, 0, len(hit.text), question["answer"]):
                continue
            semantic = next(h for h in explained if h.id == question["doc"]).snippet
            opening = make_snippet(hit.text, set(), stemmer())
            counts["found"] += 1
            counts["opening"] += holds(hit.text, opening.start, opening.end, question["answer"])
            counts["today"] += holds(hit.text, hit.snippet.start, hit.snippet.end, question["answer"])
            shown = holds(hit.text, semantic.start, semantic.end, question["answer"])
            counts["semantic"] += shown
            if not shown:
                misses.append(question["q"])
        rates[mode] = {**counts, "semantic_misses": misses}
    return rates


def encoder_before(version_dir: Path):
    """The NumpyEncoder class as it was at BEFORE, loaded from git beside today's."""
    source = subprocess.run(["git", "show", f"{BEFORE}:vecsearch/model/numpy_encoder.py"], capture_output=True,
                            text=True, check=True, cwd=HERE.parent.parent).stdout
    spec = importlib.util.spec_from_loader("vecsearch.model._numpy_encoder_before", loader=None)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "vecsearch.model"
    exec(compile(source, "numpy_encoder_before.py", "exec"), module.__dict__)
    return module.NumpyEncoder.load(version_dir)


def timings(retriever: Retriever, questions: list[dict], repeats: int) -> dict:
    """p50 ms of search() and search(explain=True), per mode; and of search() with the encoder before."""
    today, before = retriever.query_encoder, encoder_before(retriever.version_dir)
    samples: dict[str, list[float]] = {}

    def timed(name, function):
        started = time.perf_counter()
        function()
        samples.setdefault(name, []).append(1000 * (time.perf_counter() - started))

    for question in questions[:3]:  # warm up: caches, BLAS, the tokenizer
        retriever.search(question["q"], k=10, explain=True)
    for repeat in range(repeats):
        for question in questions:
            q = question["q"]
            for mode in MODES:
                runs = [("before", before, False), ("plain", today, False), ("explain", today, True)]
                for kind, encoder, explain in runs if repeat % 2 else runs[::-1]:  # neither always first
                    retriever._query_encoder = encoder
                    timed(f"{mode} {kind}", lambda: retriever.search(q, k=10, mode=mode, explain=explain))
                retriever._query_encoder = today
    out = {}
    for mode in MODES:
        plain, explain, old = (np.array(samples[f"{mode} {kind}"]) for kind in ("plain", "explain", "before"))
        out[mode] = {
            "search_p50_ms": float(np.median(plain)),
            "search_explain_p50_ms": float(np.median(explain)),
            "explain_cost_p50_ms": float(np.median(explain - plain)),
            "search_before_p50_ms": float(np.median(old)),
            "no_explain_ratio": float(np.median(plain) / np.median(old)),
            "samples": len(plain),
        }
    return out


def write(results: dict, path: Path) -> None:
    path.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [
        "# Semantic snippets (issue 33)",
        "",
        f"{results['questions']} questions over the demo corpus (Python {results['python']}'s help topics), each with the",
        "sentence that answers it marked (benchmarks/data/explain_questions.json). Counted: questions whose",
        "answering document is among the 10 hits with the sentence in its hit's passage; shown: those",
        "whose 200-character snippet window holds the whole sentence.",
        "",
        "| mode | answering passages found | opening | today (most query words) | semantic |",
        "|---|---|---|---|---|",
    ]
    for mode, rate in results["snippets"].items():
        found = rate["found"]
        cells = [f"{rate[k]}/{found} ({100 * rate[k] / max(found, 1):.0f}%)" for k in ("opening", "today", "semantic")]
        lines.append(f"| {mode} | {found}/{rate['questions']} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Cost per query, 10 hits, p50 over {results['timing']['dense']['samples']} searches each "
        f"({results['machine']}):",
        "",
        "| mode | search() ms | search(explain=True) ms | explaining 10 hits ms (p50 of the difference) "
        "| search() with the encoder before | no-explain ratio (today / before) |",
        "|---|---|---|---|---|---|",
    ]
    for mode, t in results["timing"].items():
        lines.append(f"| {mode} | {t['search_p50_ms']:.2f} | {t['search_explain_p50_ms']:.2f} | {t['explain_cost_p50_ms']:.2f} "
                     f"| {t['search_before_p50_ms']:.2f} | {t['no_explain_ratio']:.3f} |")
    lines += ["", f"Command: `{results['command']}`", ""]
    path.with_suffix(".md").write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", default="indexes/python-docs")
    parser.add_argument("--questions", default=str(QUESTIONS))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=str(RESULTS / "explain_snippets"))
    args = parser.parse_args()
    questions = json.loads(Path(args.questions).read_text())
    with Retriever.load(args.index) as retriever:
        retriever.keep_in_memory()
        results = {
            "questions": len(questions),
            "python": ".".join(map(str, sys.version_info[:2])),
            "index": args.index,
            "machine": "2 cores, shared with other jobs",
            "command": "python -m benchmarks.quality.explain_snippets " + " ".join(sys.argv[1:]),
            "snippets": snippet_rates(retriever, questions),
            "timing": timings(retriever, questions, args.repeats),
        }
    write(results, Path(args.out))
    print(Path(args.out).with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
