"""A million passages on one machine: build, update, kill -9, queries, and the Milvus server.

    python -m benchmarks.perf.scale --work ~/.cache/vecsearch-scale [--passages 1000000]
        [--stages corpus build update kill queries milvus] [--again]

Each stage leaves its figures in WORK/<passages>/<stage>.json and is skipped when that file
exists (--again redoes the stages named), so an interrupted run resumes at the stage it was
in; the corpus and the index stay in WORK (outside the work tree: gigabytes).

1. corpus: documents of 250-450 words of real English sentences drawn (seeded) from the
   prose gathered for the base encoder (benchmarks/data/synthetic_corpus.py --pool prose),
   until they make PASSAGES passages. For timing and memory, not quality.
2. build: `vecsearch index CORPUS` with default settings in a fresh process: wall time,
   peak RSS (wait4), the resident memory every half second beside the progress lines
   (which phase holds what), the manifest's phase timings, the index's size on disk.
3. update: 1 % of the documents changed (a sentence appended) and `vecsearch index` run on
   the whole corpus again, as a user would: wall time against the build's, and its phases.
4. kill: a rebuild of the same index (`--model INDEX`: everything embedded again) killed
   with SIGKILL halfway through its encoding; then the previous version must still verify
   and answer.
5. queries: `Retriever.search` per mode (p50/p95/p99 ms) and recall@10 of the graph
   against exact search over the same vectors (benchmarks/perf/query_latency.end_to_end).
6. milvus: the `milvus` package's standalone server (tests/milvus_server.py): `vecsearch
   export --backend milvus` of the index to it (wall time), then `Retriever.search` per mode
   on it. Leaves the server stopped.

Writes benchmarks/results/scale.{md,json,png}. Run nothing else meanwhile (2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from benchmarks.data.synthetic_corpus import write_corpus
from benchmarks.tables import RESULTS, chart, markdown_table, save_chart, write_results

from vecsearch.storage.indexdir import STAGING_PREFIX, live_version, size_on_disk

STAGES = ("corpus", "build", "update", "kill", "queries", "milvus")
PHASES = ("read", "carry", "lexical", "train", "encode", "index", "calibrate", "write")
UPDATED_SHARE = 0.01
SAMPLE_SECONDS = 0.5


class Memory(threading.Thread):
    """The resident memory of a process (MiB) every SAMPLE_SECONDS, until it exits."""

    def __init__(self, pid: int, started: float):
        super().__init__(daemon=True)
        self.pid, self.started, self.samples = pid, started, []

    def run(self) -> None:
        status = Path(f"/proc/{self.pid}/status")
        while True:
            try:
                line = next(l for l in status.read_text().splitlines() if l.startswith("VmRSS:"))
            except (OSError, StopIteration):  # exited (or a zombie without memory)
                return
            self.samples.append((round(time.perf_counter() - self.started, 1), int(line.split()[1]) // 1024))
            time.sleep(SAMPLE_SECONDS)


def run_vecsearch(arguments: list[str], log: Path, kill_when: str | None = None) -> dict:
    """`vecsearch ARGUMENTS` in a fresh process, its stderr (progress lines) timestamped into `log`;
    wall seconds, peak RSS, the memory samples. `kill_when`: SIGKILL it at the first stderr line
    holding this text, halfway through that phase's progress."""
    command = [sys.executable, "-m", "vecsearch", *arguments]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    memory = Memory(process.pid, started)
    memory.start()
    killed = None
    with log.open("w") as out:
        out.write(f"$ {' '.join(['vecsearch', *arguments])}\n")
        for line in process.stderr:
            stamp = time.perf_counter() - started
            out.write(f"{stamp:8.1f} s  {line}")
            out.flush()
            print(f"{stamp:8.1f} s  {line}", end="", file=sys.stderr, flush=True)
            if kill_when and killed is None and kill_when in line and _past_half(line):
                process.send_signal(signal.SIGKILL)
                killed = {"at_seconds": round(stamp, 1), "line": line.strip()}
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    memory.join()
    stdout = process.stdout.read()
    if killed is None and status != 0:
        raise SystemExit(f"vecsearch {' '.join(arguments)} failed (status {status}); see {log}")
    return {"wall_seconds": round(wall, 1), "peak_rss_mib": round(usage.ru_maxrss / 1024),
            "memory_mib": memory.samples, "stdout": stdout, "killed": killed}


def _past_half(line: str) -> bool:
    """A progress line ("encoding: 510000/1000000 passages (51%) ...") at 50 % or more."""
    if "%)" not in line:
        return False
    return int(line.split("%)")[0].rsplit("(", 1)[-1]) >= 50


def manifest_of(index: Path) -> dict:
    return json.loads((live_version(index) / "manifest.json").read_text())


def stage_corpus(work: Path, passages: int) -> dict:
    path = work / "corpus.jsonl"
    started = time.perf_counter()
    counts = write_corpus(path.with_suffix(".partial"), passages, pool="prose")
    path.with_suffix(".partial").replace(path)
    return {**counts, "bytes": path.stat().st_size, "seconds": round(time.perf_counter() - started, 1)}


def stage_build(work: Path) -> dict:
    index = work / "index"
    shutil.rmtree(index, ignore_errors=True)
    run = run_vecsearch(["index", str(work / "corpus.jsonl"), "--index", str(index), "--json"], work / "build.log")
    manifest = manifest_of(index)
    return {**_summary(run, manifest), "disk_mib": round(size_on_disk(live_version(index)) / 2**20),
            "index_type": manifest["index"]["type"], "adapted_by": (manifest.get("training") or {}).get("teacher")}


def _summary(run: dict, manifest: dict) -> dict:
    return {"wall_seconds": run["wall_seconds"], "peak_rss_mib": run["peak_rss_mib"],
            "passages": manifest["counts"]["passages"], "documents": manifest["counts"]["documents"],
            "phases": {p: manifest["timings"].get(p) for p in PHASES}, "memory_mib": run["memory_mib"],
            "result": json.loads(run["stdout"]) if run["stdout"].strip() else None}


def stage_update(work: Path) -> dict:
    """1 % of the documents get a sentence more (one more each time this runs); the whole corpus is
    indexed again."""
    # the same file name: a record's source is its file's, and a document from another file is another one
    updated = work / "updated" / "corpus.jsonl"
    corpus = updated if updated.exists() else work / "corpus.jsonl"
    updated.parent.mkdir(exist_ok=True)
    changed = 0
    with corpus.open() as source, updated.with_suffix(".partial").open("w") as out:
        for number, line in enumerate(source):
            if number % round(1 / UPDATED_SHARE) == 0:
                document = json.loads(line)
                document["text"] += " This sentence was added by the update."
                line, changed = json.dumps(document) + "\n", changed + 1
            out.write(line)
    updated.with_suffix(".partial").replace(updated)
    before, left = manifest_of(work / "index"), _leftovers(work / "index")
    run = run_vecsearch(["index", str(updated), "--index", str(work / "index"), "--json"], work / "update.log")
    manifest = manifest_of(work / "index")
    build = json.loads((work / "build.json").read_text())
    return {**_summary(run, manifest), "documents_changed": changed, "version_before": before["updated"],
            "left_before": left, "left_after": _leftovers(work / "index"),
            "of_build_wall": round(run["wall_seconds"] / build["wall_seconds"], 3)}


def stage_kill(work: Path) -> dict:
    """A rebuild of the live index (every passage embedded again, by the index's own encoder: --model)
    killed halfway through encoding: the live version must survive, and the next write clean up."""
    index = work / "index"
    before = live_version(index).name
    corpus = work / "updated" / "corpus.jsonl"
    run = run_vecsearch(["index", str(corpus), "--index", str(index), "--model", str(index)], work / "kill.log",
                        kill_when="encoding")
    if run["killed"] is None:
        raise SystemExit("the retrain ended before it could be killed; see kill.log")
    verified = subprocess.run([sys.executable, "-m", "vecsearch", "verify", "--index", str(index)],
                              capture_output=True, text=True)
    answered = subprocess.run([sys.executable, "-m", "vecsearch", "query", "--index", str(index), "--json",
                               "the king rode north with his army"], capture_output=True, text=True)
    hits = json.loads(answered.stdout) if answered.returncode == 0 else []  # a JSON list of hits
    return {"killed": run["killed"], "peak_rss_mib": run["peak_rss_mib"], "version_before": before,
            "version_after": live_version(index).name, "verify_exit": verified.returncode,
            "verify": verified.stdout.strip().splitlines()[-1:], "query_exit": answered.returncode,
            "hits": len(hits), "left_by_the_kill": _leftovers(index)}  # the next write removes them (update)


def _leftovers(index: Path) -> list[str]:
    """What killed writers left in the index folder (staging and work folders)."""
    return sorted(p.name for p in index.iterdir() if p.name.startswith(STAGING_PREFIX))


def stage_queries(work: Path) -> dict:
    """Latency and recall for the shared collections' queries (out of the corpus's domain), and
    recall for natural questions in the prose's own register, when the base's raw files are here."""
    from benchmarks.perf.query_latency import end_to_end

    questions = natural_questions()
    result = end_to_end(work / "index", more_queries={"questions": questions} if questions else None)
    if questions:
        result["questions"]["queries"] = f"{len(questions)} NQG questions (seeded sample)"
    return result


def natural_questions(count: int = 300, seed: int = 0) -> list[str]:
    """`count` of NQG's questions (written of Wikipedia sentences), or none without the raw files."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    from text_sources import RAW, nqg_pairs

    if not (RAW / "nqg").is_dir():
        return []
    questions = [question for _, question, _ in nqg_pairs(RAW)]
    rng = np.random.default_rng(seed)
    return [questions[i] for i in sorted(rng.choice(len(questions), min(count, len(questions)), replace=False))]


def stage_milvus(work: Path) -> dict:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
    from milvus_server import MilvusTestServer, other_servers, stop_stale_servers

    stop_stale_servers()
    if other_servers():
        raise SystemExit("another Milvus server is running (its etcd holds port 2380); stop it first")
    # a fresh server: a run killed half-way leaves its collection there, and its index copy (whose
    # staging folder names that collection, for the next writer to drop) is replaced below
    shutil.rmtree(work / "milvus-server", ignore_errors=True)
    server = MilvusTestServer(work / "milvus-server")
    server.start()
    try:
        milvus_index = work / "index-milvus"
        shutil.rmtree(milvus_index, ignore_errors=True)
        shutil.copytree(work / "index", milvus_index, symlinks=True,
                        copy_function=os.link)  # versions are immutable: hard links, no copy
        run = run_vecsearch(["export", "--backend", "milvus", "--uri", server.uri, "--index", str(milvus_index),
                             "--collection", "scale", "--json"], work / "milvus.log")
        from benchmarks.perf.query_latency import end_to_end

        queries = end_to_end(milvus_index, recall=False)
        return {"server": server.version, "export_seconds": run["wall_seconds"],
                "export_peak_rss_mib": run["peak_rss_mib"], "queries": queries}
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path.home() / ".cache" / "vecsearch-scale")
    parser.add_argument("--passages", type=int, default=1_000_000)
    parser.add_argument("--stages", nargs="*", choices=STAGES, default=list(STAGES))
    parser.add_argument("--again", action="store_true", help="redo the stages named even if done")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    work = args.work.expanduser() / str(args.passages)
    work.mkdir(parents=True, exist_ok=True)
    runners = {"corpus": lambda: stage_corpus(work, args.passages), "build": lambda: stage_build(work),
               "update": lambda: stage_update(work), "kill": lambda: stage_kill(work),
               "queries": lambda: stage_queries(work), "milvus": lambda: stage_milvus(work)}
    for stage in args.stages:
        done = work / f"{stage}.json"
        if done.exists() and not args.again:
            print(f"{stage}: done before ({done})", file=sys.stderr)
            continue
        print(f"{stage}: ...", file=sys.stderr, flush=True)
        figures = runners[stage]()
        done.write_text(json.dumps(figures, indent=1) + "\n")
        print(f"{stage}: {json.dumps({k: v for k, v in figures.items() if k != 'memory_mib'})[:600]}", file=sys.stderr)
    results = {stage: json.loads((work / f"{stage}.json").read_text())
               for stage in STAGES if (work / f"{stage}.json").exists()}
    results["command"] = " ".join(["python -m benchmarks.perf.scale", *sys.argv[1:]])
    name = "scale" if args.passages == 1_000_000 else f"scale-{args.passages}"
    write_results(name, results, markdown(results), args.out)
    if "build" in results:
        write_chart(results, args.out / f"{name}.png")


def markdown(results: dict) -> str:
    parts = ["# A million passages on one machine", f"`{results['command']}`"]
    if corpus := results.get("corpus"):
        parts.append(f"Corpus: {corpus['documents']:,} documents, {corpus['passages']:,} passages, "
                     f"{corpus['bytes'] / 2**20:,.0f} MiB of JSON Lines; sentences drawn from a pool of "
                     f"{corpus['pool_sentences']:,} distinct ones (benchmarks/data/synthetic_corpus.py --pool prose).")
    rows = []
    for stage in ("build", "update"):
        if figures := results.get(stage):
            phases = figures["phases"]
            rows.append([stage, f"{figures['passages']:,}", figures["wall_seconds"], figures["peak_rss_mib"],
                         *[phases.get(p) for p in PHASES]])
    if rows:
        parts.append(markdown_table(["run", "passages", "wall s", "peak RSS MiB", *[f"{p} s" for p in PHASES]], rows))
    if build := results.get("build"):
        parts.append(f"Index on disk: {build['disk_mib']:,} MiB ({build['index_type']}); adapted by: {build['adapted_by']}.")
    if update := results.get("update"):
        parts.append(f"Update: {update['documents_changed']:,} documents changed (1 %), "
                     f"{update['of_build_wall']}x the build's wall time; left by killed writers before it: "
                     f"{update.get('left_before')}, after it: {update.get('left_after')}.")
    if kill := results.get("kill"):
        parts.append(f"kill -9 at {kill['killed']['at_seconds']} s ({kill['killed']['line']}): live version "
                     f"{kill['version_before']} -> {kill['version_after']}; verify exit {kill['verify_exit']}, "
                     f"query exit {kill['query_exit']} with {kill['hits']} hits; left by the kill: "
                     f"{kill['left_by_the_kill']}.")
    if queries := results.get("queries"):
        parts.append(_latency_table(queries, f"Queries, FAISS ({queries['index_type']}), "
                                             f"recall@10 against exact search: {queries['recall@10_vs_exact']} "
                                             f"(efSearch {queries.get('efSearch')})"))
        parts.append(_recall_table(queries))
    if milvus := results.get("milvus"):
        parts.append(f"Milvus server {milvus['server']}: export {milvus['export_seconds']} s "
                     f"(peak RSS {milvus['export_peak_rss_mib']} MiB).")
        parts.append(_latency_table(milvus["queries"], "Queries, Milvus server"))
    return "\n\n".join(parts)


def _recall_table(queries: dict) -> str:
    """recall@10 against exact search across efSearch, per query set, with the graph's own latency."""
    sets = [("shared collections' queries", queries)]
    if "questions" in queries:
        sets.append((queries["questions"]["queries"], queries["questions"]))
    rows = [[name, row["efSearch"], row["recall@10"], row["p50_ms"], row["p99_ms"]]
            for name, figures in sets for row in figures.get("efSearch_sweep", [])]
    return "The graph alone (one thread), by efSearch\n\n" + markdown_table(
        ["queries", "efSearch", "recall@10", "p50 ms", "p99 ms"], rows)


def _latency_table(figures: dict, title: str) -> str:
    return f"{title}\n\n" + markdown_table(
        ["mode", "p50 ms", "p95 ms", "p99 ms"],
        [[m, figures[m]["p50_ms"], figures[m]["p95_ms"], figures[m]["p99_ms"]] for m in ("dense", "lexical", "hybrid")])


def write_chart(results: dict, path: Path) -> None:
    figure, axes = chart()
    for stage in ("build", "update"):
        if figures := results.get(stage):
            seconds, mib = zip(*figures["memory_mib"]) if figures["memory_mib"] else ((), ())
            axes.plot(seconds, [m / 1024 for m in mib], label=f"{stage} ({figures['wall_seconds']:.0f} s)")
    axes.axhline(4, color="grey", linestyle="--", linewidth=1, label="4 GiB")
    axes.set_xlabel("seconds")
    axes.set_ylabel("resident memory (GiB)")
    axes.set_title(f"vecsearch index, {results['build']['passages']:,} passages")
    axes.legend()
    save_chart(figure, path)


if __name__ == "__main__":
    main()
