"""Figures for issue 5: index size before/after deleting half of a 1,000-document corpus, the cost
of an incremental update, and the memory needed to read (and index) one 200 MB text file.

    python -m benchmarks.perf.robustness size            # 1,000 Cranfield abstracts, delete half
    python -m benchmarks.perf.robustness bigfile         # read a 200 MB file: peak memory
    python -m benchmarks.perf.robustness bigfile --index # ... and index it with a reused tiny model (slow)

Everything runs the `vecsearch` CLI in subprocesses, as a user would; results are printed
and written to benchmarks/results/robustness.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CRANFIELD = ROOT.parent / "shared" / "data" / "cranfield" / "corpus.jsonl"
RESULTS = ROOT / "benchmarks" / "results" / "robustness.json"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
SIZE_MODEL = ["--steps", "40"]  # the encoder's size does not depend on how long it trains


def vecsearch(*arguments, measure: bool = False) -> tuple[str, float, float]:
    """Run the CLI; returns (stdout, seconds, peak RSS of the child in MB)."""
    command = [sys.executable, "-m", "vecsearch", *map(str, arguments)]
    started = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result = subprocess.run(command, env=ENV, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{result.stderr}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return result.stdout, seconds, (peak if peak > before else float("nan")) / 1024


def size(directory: Path) -> int:
    return sum(f.stat().st_size for f in directory.rglob("*") if f.is_file())


def by_file(version: Path) -> dict:
    return {p.name: size(p) if p.is_dir() else p.stat().st_size for p in sorted(version.iterdir())}


def data_bytes(files: dict) -> int:
    return sum(n for name, n in files.items() if name not in ("encoder.safetensors", "tokenizer.json"))


def size_benchmark(work: Path) -> dict:
    documents = [json.loads(line) for line in CRANFIELD.read_text().splitlines()][:1000]
    corpus = work / "corpus"
    corpus.mkdir()
    for document in documents:
        (corpus / f"d{document['_id']}.txt").write_text(f"{document['title']}\n\n{document['text']}")
    index_dir = work / "index"
    out, seconds, _ = vecsearch("index", corpus, "--index", index_dir, *SIZE_MODEL, "--json")
    built = json.loads(out)
    before = size(index_dir)
    before_files = by_file(index_dir / built["version"])

    ids = sorted(p.name for p in corpus.iterdir())[::2]
    out, remove_seconds, _ = vecsearch("remove", *ids, "--index", index_dir, "--json")
    removed = json.loads(out)
    after = size(index_dir)
    after_files = by_file(index_dir / removed["version"])

    # the same through re-indexing: delete the files, run `index` again (no retraining)
    for name in ids:
        (corpus / name).unlink()
    (corpus / "new.txt").write_text("a new note on the flutter of panels in supersonic flow")
    out, update_seconds, _ = vecsearch("index", corpus, "--index", index_dir, "--json")
    update = json.loads(out)
    return {
        "documents": 1000,
        "build_seconds": round(seconds, 1),
        "bytes_before": before,
        "bytes_after_removing_half": after,
        "ratio": round(after / before, 3),
        # what the documents take: everything but the encoder's weights and tokenizer, which do not shrink
        "data_ratio": round(data_bytes(after_files) / data_bytes(before_files), 3),
        "files_before": before_files,
        "files_after": after_files,
        "removed": removed["removed"],
        "remove_seconds": round(remove_seconds, 1),
        "update_after_deleting_files": {k: update[k] for k in ("added", "updated", "removed", "unchanged", "passages")},
        "update_seconds": round(update_seconds, 1),
        "bytes_after_update": size(index_dir),
    }


def bigfile_benchmark(work: Path, index: bool) -> dict:
    documents = [json.loads(line)["text"] for line in CRANFIELD.read_text().splitlines()]
    path = work / "corpus" / "big.txt"
    path.parent.mkdir()
    with open(path, "w") as big:
        written, i = 0, 0
        while written < 200_000_000:
            line = documents[i % len(documents)] + "\n"
            big.write(line)
            written += len(line)
            i += 1
    probe = (
        "import resource, sys\n"
        "from vecsearch.corpus import iter_documents, split_passages\n"
        "documents = passages = 0\n"
        "for d in iter_documents(sys.argv[1]):\n"
        "    documents += 1; passages += len(split_passages(d))\n"
        "print(documents, passages, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)\n"
    )
    baseline = subprocess.run([sys.executable, "-c", "import resource; import vecsearch.corpus, datasets; "
                               "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)"],
                              capture_output=True, text=True, env=ENV, check=True).stdout.split()
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True, text=True, env=ENV,
                         check=True).stdout.split()
    result = {
        "file_bytes": path.stat().st_size,
        "sections": int(out[0]),
        "passages": int(out[1]),
        "read_seconds": round(time.perf_counter() - started, 1),
        "read_peak_rss_mb": int(out[2]),
        "python_baseline_rss_mb": int(baseline[0]),
    }
    if index:
        model = work / "model"
        small = work / "small"
        small.mkdir()
        for n, text in enumerate(documents[:200]):
            (small / f"{n}.txt").write_text(text)
        vecsearch("train", small, "-o", model, "--steps", "30", "--hidden", "48")
        out, seconds, peak = vecsearch("index", path.parent, "--index", work / "index", "--model", model, "--json")
        result.update({"index_seconds": round(seconds, 1), "index_peak_rss_mb": round(peak),
                       "index_bytes": size(work / "index"), "index_passages": json.loads(out)["passages"]})
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["size", "bigfile"])
    parser.add_argument("--index", action="store_true", help="bigfile: also index the file (slow)")
    arguments = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vecsearch-robustness-"))
    try:
        result = size_benchmark(work) if arguments.what == "size" else bigfile_benchmark(work, arguments.index)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, indent=2))
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[arguments.what] = result
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
