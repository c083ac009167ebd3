"""Wall time and peak memory of `vecsearch index` as the corpus grows, phase by phase.

    python -m benchmarks.perf.index_build [--passages 1000 10000 100000] [--json]

For each size, writes a corpus of real sentences (synthetic_corpus.py), runs
`vecsearch index` on it in a fresh process, and reads the child's peak RSS (wait4) and
the phase timings the manifest records (read, lexical, train, encode, index,
calibrate). Writes benchmarks/results/index_build.{md,json,png}.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from benchmarks.data.synthetic_corpus import write_corpus  # noqa: E402
from benchmarks.tables import RESULTS, chart, markdown_table, save_chart, write_results  # noqa: E402

PHASES = ("read", "lexical", "train", "encode", "index", "calibrate")


def build(passages: int, work: Path) -> dict:
    corpus, index_dir = work / f"corpus-{passages}.jsonl", work / f"index-{passages}"
    counts = write_corpus(corpus, passages)
    command = [sys.executable, "-m", "vecsearch", "index", str(corpus), "--index", str(index_dir)]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"vecsearch index failed on {passages} passages: {process.stderr.read().decode()[-2000:]}")
    version = (index_dir / "CURRENT").read_text().strip()
    manifest = json.loads((index_dir / version / "manifest.json").read_text())
    return {
        "passages": manifest["counts"]["passages"],
        "documents": counts["documents"],
        "wall_seconds": round(wall, 1),
        "peak_rss_mib": round(usage.ru_maxrss / 1024),  # Linux reports KiB
        "phases": {phase: manifest["timings"].get(phase) for phase in PHASES},
        "index_type": manifest["index"]["type"],
        "train_steps": (manifest["training"] or {}).get("steps"),  # None: the base as it is
        "index_dir": str(index_dir),
    }


def write_chart(results: dict, path: Path) -> None:
    runs = results["runs"]
    labels = [f"{r['passages']:,}\n" + textwrap.fill(r.get("label", ""), 18) for r in runs]
    figure, axes = chart()
    bottom = [0.0] * len(runs)
    for phase in PHASES:
        values = [r["phases"][phase] or 0 for r in runs]
        axes.bar(labels, values, bottom=bottom, label=phase)
        bottom = [b + v for b, v in zip(bottom, values)]
    axes.tick_params(axis="x", labelsize=7)
    axes.set_xlabel("passages")
    axes.set_ylabel("seconds")
    axes.set_title(f"vecsearch index: time by phase ({results['threads']} threads)")
    axes.legend()
    save_chart(figure, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--work", type=Path, default=None, help="keep corpora and indexes here")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--label", default="", help="a note for these rows, e.g. the commit measured")
    parser.add_argument("--append", action="store_true", help="add these rows to the results already in --out")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="vecsearch-build-"))
    work.mkdir(parents=True, exist_ok=True)
    results = {"threads": os.cpu_count(), "runs": []}
    if args.append and (args.out / "index_build.json").exists():
        results = json.loads((args.out / "index_build.json").read_text())
    for passages in args.passages:
        results["runs"].append({**build(passages, work), "label": args.label, "command": " ".join(sys.argv)})
        print(json.dumps(results["runs"][-1]), file=sys.stderr, flush=True)
    results["runs"].sort(key=lambda r: r["passages"])
    rows = [
        [f"{r['passages']:,}", r["wall_seconds"], *[r["phases"][p] for p in PHASES], r["peak_rss_mib"], r["index_type"],
         r.get("label", "")]
        for r in results["runs"]
    ]
    headers = ["passages", "wall s", *[f"{p} s" for p in PHASES], "peak RSS MiB", "index", "run"]
    table = markdown_table(headers, rows)
    commands = "\n".join(sorted({f"- `{r.get('command', '')}` ({r.get('label', '')})" for r in results["runs"]}))
    write_results("index_build", results, f"# Index build\n\n{commands}\n\n{table}\n", args.out)
    write_chart(results, args.out / "index_build.png")
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
