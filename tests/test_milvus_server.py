"""The milvus backend when its server goes away: stopped and restarted between writes (one clear
line, nothing lost, and it carries on once the server is back), hung (every call has a deadline);
and the test server itself never outlives the tests (tests/milvus_server.py)."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from importlib.util import find_spec

import pytest

from vecsearch import Retriever
from vecsearch.errors import VecsearchError
from vecsearch.storage.backends.milvus import default_prefix
from vecsearch.storage.indexdir import STAGING_PREFIX, versions

from .conftest import collection_queries
from .milvus_server import RECORDS, milvus_server, servers_in, stop_stale_servers  # noqa: F401  (a fixture)
from .test_milvus import collections, contents

pytestmark = pytest.mark.skipif(find_spec("pymilvus") is None, reason="pymilvus not installed (vecsearch[milvus])")
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
MODES = ("dense", "lexical", "hybrid")


def vecsearch(*args: str) -> tuple[subprocess.CompletedProcess, float]:
    """`vecsearch ARGS` in a new process, and how long it took."""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "vecsearch", *args], capture_output=True, text=True, env=ENV,
                            timeout=300)
    return result, time.perf_counter() - started


def answers(retriever: Retriever) -> dict:
    return {(query, mode): [(h.id, h.passage_id, round(h.score, 5)) for h in retriever.search(query, k=5, mode=mode)]
            for query in collection_queries()[:3] for mode in MODES}


def test_a_stopped_server_is_reported_in_one_line_loses_nothing_and_is_used_again_once_back(
        milvus_server, small_corpus, small_index, tmp_path):
    assert milvus_server.version.startswith("v2.3."), milvus_server.version  # the extra's server
    corpus = shutil.copytree(small_corpus, tmp_path / "corpus")
    index_dir, uri = tmp_path / "idx", milvus_server.uri
    retriever = Retriever.build(corpus, index_dir, model=small_index, backend="milvus", uri=uri, show_progress=False)
    prefix, live = retriever.manifest.backend["collection"], retriever.version_dir.name
    stored, answered = contents(retriever), answers(retriever)
    (corpus / "new.txt").write_text("ablation of graphite nose cones in hypersonic re-entry")

    milvus_server.stop()
    try:
        for mode in MODES:  # an open Retriever (vecsearch serve, a notebook): an error, not a hang
            with pytest.raises(VecsearchError, match=f"^cannot reach Milvus at {uri} "):
                retriever.search("pressure distribution", k=5, mode=mode)
        for args in (["query", "pressure distribution", "--mode", "dense"], ["index", str(corpus)],
                     ["remove", "new.txt"], ["info"]):
            result, seconds = vecsearch(*args, "--index", str(index_dir))
            print(f"{args[0]} with the server stopped: {seconds:.1f} s: {result.stderr.strip()}")
            assert result.returncode == 1, result.stdout
            assert result.stderr.startswith(f"error: cannot reach Milvus at {uri} ") and \
                result.stderr.count("\n") == 1, result.stderr  # one line, no traceback, no pymilvus log
            assert seconds < 60
        assert versions(index_dir) == [live] and not list(index_dir.glob(STAGING_PREFIX + "*"))
    finally:
        milvus_server.start()
    print(f"restart: {milvus_server.start_seconds:.1f} s")

    assert answers(retriever) == answered  # the open Retriever carries on, with the same answers
    retriever.close()
    result, _ = vecsearch("query", "pressure distribution", "--index", str(index_dir), "--json")
    assert result.returncode == 0 and len(json.loads(result.stdout)) == 10, result.stderr
    result, _ = vecsearch("index", str(corpus), "--index", str(index_dir), "--json")  # the write that failed
    assert result.returncode == 0, result.stderr
    assert (json.loads(result.stdout)["added"], json.loads(result.stdout)["unchanged"]) == (1, 80)
    updated = Retriever.load(index_dir)
    after = contents(updated)
    assert {key: value for key, value in after.items() if key[0] != "new.txt"}.keys() == stored.keys()
    assert all(after[key][0] == text and (after[key][1] == vector).all() for key, (text, vector) in stored.items())
    assert updated.search("graphite nose cones ablation", k=1, mode="lexical")[0].id == "new.txt"
    assert collections(uri, prefix) == [updated.manifest.backend["collection_name"]]  # the old one dropped
    updated.close()


def test_export_from_milvus_lite_to_the_server_and_back_to_faiss(milvus_server, small_corpus, small_index, tmp_path):
    """`vecsearch export` between the backends by the command line: Lite -> server -> FAISS, the stored
    vectors bit for bit, the same answers in every mode."""
    index_dir = tmp_path / "idx"
    lite = Retriever.build(small_corpus, index_dir, model=small_index, backend="milvus", uri=tmp_path / "lite.db",
                           show_progress=False)
    stored, answered = contents(lite), answers(lite)
    lite.close()
    for target in (["--backend", "milvus", "--uri", milvus_server.uri], ["--backend", "faiss"]):
        result, _ = vecsearch("export", *target, "--index", str(index_dir), "--json")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["written"] and json.loads(result.stdout)["passages"] == len(stored)
        moved = Retriever.load(index_dir)
        assert moved.manifest.backend["name"] == target[1]
        after = contents(moved)
        assert after.keys() == stored.keys()
        assert all(text == stored[key][0] and (vector == stored[key][1]).all() for key, (text, vector) in after.items())
        assert answers(moved) == answered
        moved.close()
    prefix = default_prefix(index_dir) + "_"  # superseded versions' collections are dropped, on both
    assert collections(milvus_server.uri, prefix) == [] and collections(tmp_path / "lite.db", prefix) == []


def test_a_hung_server_fails_a_call_at_its_deadline(milvus_server, small_corpus, small_index, tmp_path, monkeypatch):
    """SIGSTOP the server: a search fails after CALL_SECONDS with the one-line error, and works again after SIGCONT."""
    from vecsearch.storage.backends import milvus as milvus_store

    retriever = Retriever.build(small_corpus, tmp_path / "idx", model=small_index, backend="milvus",
                                uri=milvus_server.uri, show_progress=False)
    expected = [h.id for h in retriever.search("pressure distribution", k=5, mode="dense")]
    monkeypatch.setattr(milvus_store, "CALL_SECONDS", 2)
    os.kill(milvus_server.pid, signal.SIGSTOP)  # briefly: its etcd sessions live 10 s
    try:
        started = time.perf_counter()
        with pytest.raises(VecsearchError, match=f"^cannot reach Milvus at {milvus_server.uri} "):
            retriever.search("pressure distribution", k=5, mode="dense")
        waited = time.perf_counter() - started
    finally:
        os.kill(milvus_server.pid, signal.SIGCONT)
    print(f"a search on a hung server failed after {waited:.1f} s")
    assert 1.5 < waited < 8
    assert [h.id for h in retriever.search("pressure distribution", k=5, mode="dense")] == expected
    retriever.close()


def test_a_server_that_never_answers_fails_the_connection_at_its_deadline(tmp_path, monkeypatch):
    """A port that accepts TCP connections but never speaks gRPC: CONNECT_SECONDS, then one line."""
    from vecsearch.storage.backends import milvus as milvus_store

    monkeypatch.setattr(milvus_store, "CONNECT_SECONDS", 2)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel completes the handshakes; nothing ever answers
        uri = f"http://127.0.0.1:{silent.getsockname()[1]}"
        started = time.perf_counter()
        with pytest.raises(VecsearchError, match=f"^cannot reach Milvus at {uri} "):
            Retriever.build(["some text", "more text"], tmp_path / "idx", backend="milvus", uri=uri,
                            show_progress=False)
        waited = time.perf_counter() - started
    print(f"connecting to a silent port failed after {waited:.1f} s")
    assert waited < 30
    assert not (tmp_path / "idx" / "CURRENT").exists()


def test_a_killed_test_session_takes_its_milvus_server_along(tmp_path):
    """kill -9 of the process that started a server (pytest, say): the server goes too (PR_SET_PDEATHSIG).
    The child starts a stand-in through the same Popen that MilvusTestServer gives the `milvus` package
    (a second real server beside the session's would fight it for ports)."""
    base_dir = tmp_path / "server"
    base_dir.mkdir()
    starter = ("import sys, time; from tests.milvus_server import _Subprocess; "
               "child = _Subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)', 'run', 'standalone'], "
               f"cwd={str(base_dir)!r}); print(child.pid, flush=True); time.sleep(120)")
    process = subprocess.Popen([sys.executable, "-c", starter], stdout=subprocess.PIPE, text=True,
                               cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        server_pid = int(process.stdout.readline())
        assert servers_in(base_dir) == [server_pid]
    finally:
        process.kill()
        process.wait()
    deadline = time.monotonic() + 10
    while servers_in(base_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert servers_in(base_dir) == [], "the server outlived the process that started it"


def test_the_session_server_is_started_so_that_it_dies_with_pytest(milvus_server):
    import milvus

    from .milvus_server import _Subprocess

    assert milvus.subprocess is _Subprocess  # how the package starts `milvus run standalone`
    assert servers_in(milvus_server.base_dir) == [milvus_server.pid]
    assert json.loads((RECORDS / f"{milvus_server.pid}.json").read_text())["owner"] == os.getpid()


def test_a_stale_server_from_a_dead_session_is_stopped(tmp_path):
    """A recorded `milvus run standalone` whose owner has died is stopped at the next session's start
    (a stand-in process with the same command line tail and folder)."""
    base_dir = tmp_path / "server"
    base_dir.mkdir()
    stand_in = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "run", "standalone"],
                                cwd=base_dir)
    dead_owner = subprocess.Popen(["true"])
    dead_owner.wait()
    live_owner_record = None
    try:
        RECORDS.mkdir(exist_ok=True)
        record = RECORDS / f"{stand_in.pid}.json"
        record.write_text(json.dumps({"pid": stand_in.pid, "owner": dead_owner.pid, "base_dir": str(base_dir)}))
        # a server whose owner lives (another session running now) is left alone
        live_owner_record = RECORDS / "999999999.json"
        live_owner_record.write_text(json.dumps({"pid": stand_in.pid, "owner": os.getpid(), "base_dir": str(base_dir)}))
        assert servers_in(base_dir) == [stand_in.pid]
        assert stand_in.pid in stop_stale_servers()
        assert stand_in.wait(15) == -signal.SIGTERM
        assert not record.exists() and live_owner_record.exists()
    finally:
        stand_in.kill()
        if live_owner_record is not None:
            live_owner_record.unlink(missing_ok=True)
