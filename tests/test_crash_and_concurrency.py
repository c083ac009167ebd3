"""Crash safety (SIGKILL at random and at chosen points) and concurrent writers and readers."""

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from vecsearch import Retriever
from vecsearch.cli import main
from vecsearch.errors import VecsearchError
from vecsearch.storage.backends import release
from vecsearch.storage.indexdir import STAGING_PREFIX, versions, writer_lock

from .conftest import collection_documents

# one torch thread per process: the test's processes share two cores, and oversubscribed
# torch threads make a run tens of times slower
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}


def text_corpus(folder: Path, documents: list[dict]) -> Path:
    folder.mkdir(parents=True)
    for document in documents:
        (folder / f"d{document['_id']}.txt").write_text(document["text"])
    return folder


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    """Three overlapping corpora A, B, C of 60 documents: B and C share half of A each."""
    documents = collection_documents()
    root = tmp_path_factory.mktemp("corpora")
    return {
        "A": text_corpus(root / "A", documents[0:60]),
        "B": text_corpus(root / "B", documents[30:90]),
        "C": text_corpus(root / "C", documents[0:30] + documents[90:120]),
    }


def content(index_dir) -> frozenset:
    """(id, content hash) of every document of the live version; also checks that it answers."""
    retriever = Retriever.load(index_dir)
    try:
        query = " ".join(next(retriever.store.iter_passages()).text.split()[:6])  # words the index holds
        assert retriever.search(query, k=3, mode="lexical")
        assert retriever.search(query, k=3, mode="dense")
        assert retriever.index.ntotal == retriever.store.counts()[1]
        return frozenset((d.id, d.content_hash) for d in retriever.store.documents().values())
    finally:
        retriever.close()


def expected_content(corpus: Path) -> frozenset:
    from vecsearch.corpus import iter_documents

    return frozenset((d.id, d.content_hash) for d in iter_documents(corpus))


def index_command(corpus, index_dir, *options) -> list[str]:
    return [sys.executable, "-m", "vecsearch", "index", str(corpus), "--index", str(index_dir), "--json", *options]


@pytest.mark.parametrize("trials", [pytest.param(3, id="3"), pytest.param(24, id="24", marks=pytest.mark.slow)])
def test_sigkill_at_random_moments_leaves_an_index_that_loads(corpora, small_index, tmp_path, trials):
    """Kill `vecsearch index` at random moments of incremental and full (--model) runs."""
    index_dir = tmp_path / "idx"
    Retriever.build(corpora["A"], index_dir, model=small_index, show_progress=False).close()
    states = {name: expected_content(corpora[name]) for name in ("A", "B")}
    started = time.perf_counter()
    subprocess.run(index_command(corpora["B"], index_dir, "--model", str(small_index)), env=ENV, check=True,
                   capture_output=True)
    duration = time.perf_counter() - started
    assert content(index_dir) == states["B"]

    rng = random.Random(5)
    outcomes = {"killed": 0, "finished": 0}
    for trial in range(trials):
        now = "A" if content(index_dir) == states["B"] else "B"
        options = ["--model", str(small_index)] if trial % 2 else []  # full re-embed / incremental
        process = subprocess.Popen(index_command(corpora[now], index_dir, *options), env=ENV,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.05, 1.1) * duration)
        process.send_signal(signal.SIGKILL)
        process.communicate()
        outcomes["killed" if process.returncode == -signal.SIGKILL else "finished"] += 1
        assert content(index_dir) in (states["A"], states["B"]), f"trial {trial}"
    print(f"\n{trials}/{trials} kills survived ({outcomes}; a run takes {duration:.1f}s)")

    finished = subprocess.run(index_command(corpora["A"], index_dir), env=ENV, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    assert content(index_dir) == states["A"]
    leftovers = [p.name for p in index_dir.iterdir() if p.name.startswith(STAGING_PREFIX) or p.name == "CURRENT.tmp"]
    assert not leftovers and len(versions(index_dir)) == 1  # the next run cleaned up


CRASH_POINTS = {
    # name: (function patched in vecsearch.storage.indexdir, which call crashes)
    "while writing the staging folder": ("_fsync_tree", 1),
    "after renaming the version into place": ("_replace_pointer", 1),
    "after swapping CURRENT, before cleanup": ("remove_leftovers", 2),
    "while removing the old version": ("_remove_unless_read", 1),
}


@pytest.mark.parametrize("point", list(CRASH_POINTS))
def test_sigkill_at_each_step_of_publishing(corpora, small_index, tmp_path, point):
    """Kill a writer exactly at each step of publishing a version; the index stays whole."""
    index_dir = tmp_path / "idx"
    Retriever.build(corpora["A"], index_dir, model=small_index, show_progress=False).close()
    before = content(index_dir)
    doomed = sorted(d for d, _ in before)[:5]
    function, call = CRASH_POINTS[point]
    script = textwrap.dedent(f"""
        import os, signal
        from vecsearch import Retriever
        from vecsearch.storage import indexdir
        original, calls = indexdir.{function}, []
        def crash(*args, **kwargs):
            calls.append(1)
            if len(calls) == {call}:
                os.kill(os.getpid(), signal.SIGKILL)
            return original(*args, **kwargs)
        indexdir.{function} = crash
        Retriever.load({str(index_dir)!r}).delete({doomed!r})
    """)
    process = subprocess.run([sys.executable, "-c", script], env=ENV, capture_output=True, text=True)
    assert process.returncode == -signal.SIGKILL, process.stderr
    after = content(index_dir)
    assert after in (before, frozenset(d for d in before if d[0] not in doomed))
    summary = Retriever.load(index_dir).delete(doomed[:1])  # the next writer recovers
    assert len(versions(index_dir)) == 1
    assert not list(index_dir.glob(STAGING_PREFIX + "*"))
    assert summary.removed in (0, 1)


def test_a_second_writer_stops_with_the_first_ones_pid_or_waits(corpora, small_index, tmp_path):
    index_dir = tmp_path / "idx"
    Retriever.build(corpora["A"], index_dir, model=small_index, show_progress=False).close()
    runner = CliRunner()
    with writer_lock(index_dir, release=release):
        result = runner.invoke(main, ["index", str(corpora["B"]), "--index", str(index_dir)])
        assert result.exit_code == 1
        assert f"index is being written by another process (pid {os.getpid()})" in result.stderr
        assert "--wait" in result.stderr and result.stderr.count("\n") == 1
        result = runner.invoke(main, ["remove", "d1.txt", "--index", str(index_dir)])
        assert result.exit_code == 1 and "being written by another process" in result.stderr
        assert content(index_dir) == expected_content(corpora["A"])  # readers are not blocked

    holder_done = threading.Event()

    def hold_briefly():
        with writer_lock(index_dir, release=release):
            holder_done.wait(0.8)

    holder = threading.Thread(target=hold_briefly)
    holder.start()
    time.sleep(0.1)
    started = time.perf_counter()
    result = runner.invoke(main, ["remove", "d1.txt", "--index", str(index_dir), "--wait", "30", "--json"])
    holder.join()
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["removed"] == 1 and time.perf_counter() - started > 0.5


def test_concurrent_adds_lose_nothing(corpora, small_index, tmp_path):
    """Two writers adding at once (threads, each with its own Retriever): both documents end up indexed."""
    index_dir = tmp_path / "idx"
    Retriever.build(corpora["A"], index_dir, model=small_index, show_progress=False).close()
    errors = []

    def add(doc_id):
        try:
            retriever = Retriever.load(index_dir)
            retriever.add([{"id": doc_id, "text": f"document {doc_id} on rarefied gas dynamics"}], wait=60)
            retriever.close()
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=add, args=(name,)) for name in ("new-1", "new-2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    ids = {d for d, _ in content(index_dir)}
    assert {"new-1", "new-2"} <= ids and len(ids) == 62


def test_two_writer_processes_and_a_reader(corpora, small_index, tmp_path):
    """Two `vecsearch index` processes on one index while this process keeps querying it."""
    index_dir = tmp_path / "idx"
    Retriever.build(corpora["A"], index_dir, model=small_index, show_progress=False).close()
    states = {name: expected_content(corpora[name]) for name in corpora}
    writers = [
        subprocess.Popen(index_command(corpora[name], index_dir, "--wait", "120"), env=ENV,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for name in ("B", "C")
    ]
    seen, reads = set(), 0
    while any(w.poll() is None for w in writers) or reads == 0:
        state = content(index_dir)
        assert state in states.values()  # never a half-written index
        seen.add(next(name for name, s in states.items() if s == state))
        reads += 1
    results = [w.communicate() for w in writers]
    assert [w.returncode for w in writers] == [0, 0], results
    summaries = [json.loads(out) for out, _ in results]
    final = next(name for name, s in states.items() if s == content(index_dir))
    assert final in ("B", "C")
    # the writers ran one after the other: the first changed A (30 added), the second changed
    # the first one's result (60 added), not A
    assert sorted(s["added"] for s in summaries) == [30, 60]
    assert len(versions(index_dir)) <= 2  # the live one, and perhaps one this reader had open at the last write
    print(f"\n{reads} reads during two writes, states seen: {sorted(seen)}, final {final}")


def test_a_version_in_use_is_kept_until_released(corpora, small_index, tmp_path):
    index_dir = tmp_path / "idx"
    Retriever.build(corpora["A"], index_dir, model=small_index, show_progress=False).close()
    reader = Retriever.load(index_dir)
    writer = Retriever.load(index_dir)
    writer.delete(["d1.txt"])
    writer.delete(["d2.txt"])
    assert reader.version_dir.exists() and len(reader.search("shock", k=2, mode="hybrid")) == 2
    reader.close()
    writer.delete(["d3.txt"])
    assert versions(index_dir) == [writer.version_dir.name]
    with pytest.raises(VecsearchError, match="version folder"):
        Retriever.load(writer.version_dir).delete(["d4.txt"])


def test_a_killed_first_build_leaves_a_clear_message_and_the_next_run_recovers(corpora, small_index, tmp_path):
    index_dir = tmp_path / "idx"
    process = subprocess.Popen(index_command(corpora["A"], index_dir, "--model", str(small_index)), env=ENV,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    while not (index_dir / "lock").exists() and process.poll() is None:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    if not (index_dir / "CURRENT").exists():
        with pytest.raises(VecsearchError, match="no index at .* yet"):
            Retriever.load(index_dir)
    finished = subprocess.run(index_command(corpora["A"], index_dir, "--model", str(small_index)), env=ENV,
                              capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    assert content(index_dir) == expected_content(corpora["A"])
    assert [p.name for p in index_dir.iterdir() if p.name.startswith(".")] == []
