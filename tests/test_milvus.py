"""The milvus backend: parity with FAISS, updates and deletes, export, filters, kill -9, errors.

The tests taking `milvus_uri` run twice: on Milvus Lite (a file per test) and on a Milvus
standalone server (one per session, tests/milvus_server.py; each test's collections have their own
prefix, so they share it). Three whose ground the others cover on the server run there only with
`-m slow` (a write on the server costs 3-6 s, most of it the flush). Faults of a server (stopped, restarted, hung): tests/test_milvus_server.py.
"""

import json
import os
import shutil
import subprocess
import sys
from importlib.util import find_spec

import numpy as np
import pytest
from click.testing import CliRunner

from vecsearch import Retriever
from vecsearch.serve.projection import embedding_map
from vecsearch.cli import main
from vecsearch.errors import VecsearchError
from vecsearch.storage.indexdir import STAGING_PREFIX, versions

from .conftest import collection_queries
from .milvus_server import milvus_server  # noqa: F401  (a fixture)
from .test_crash_and_concurrency import corpora  # noqa: F401  (a fixture)

needs_milvus = pytest.mark.skipif(
    find_spec("pymilvus") is None or find_spec("milvus_lite") is None,
    reason="pymilvus / milvus-lite not installed (pip install 'vecsearch[milvus]'; scripts/test.sh does)",
)


@pytest.fixture(params=["lite", "server"])
def milvus_uri(request, tmp_path) -> str:
    """Where a test's collections go: a Milvus Lite file of its own, or the session's Milvus server."""
    if request.param == "lite":
        return str(tmp_path / "lite.db")
    return request.getfixturevalue("milvus_server").uri


def contents(retriever: Retriever) -> dict:
    """(doc id, position) -> (passage text, stored vector) of every passage, on either backend."""
    rows = list(retriever.store.iter_passages())
    vectors = retriever.store.vectors(np.arange(len(rows)))
    return {(p.doc_id, p.position): (p.text, vectors[p.id]) for p in rows}


def collections(uri, prefix: str = "") -> list[str]:
    """The collections at `uri` (on a shared server: those of one index, `prefix` its --collection)."""
    from vecsearch.storage.backends.milvus import connection

    with connection(str(uri)) as client:
        return sorted(name for name in client.list_collections() if name.startswith(prefix))


@pytest.fixture
def corpus(small_corpus, tmp_path):
    return shutil.copytree(small_corpus, tmp_path / "corpus")


@needs_milvus
def test_parity_with_faiss_for_exact_search(small_corpus, small_index, tmp_path, milvus_uri):
    """Same corpus, same encoder, exact search: the same top-10 documents on >= 95% of queries."""
    faiss_side = Retriever.build(small_corpus, tmp_path / "faiss", model=small_index, index_type="flat",
                                 show_progress=False)
    milvus_side = Retriever.build(small_corpus, tmp_path / "milvus", model=small_index, index_type="flat",
                                  backend="milvus", uri=milvus_uri, show_progress=False)
    assert milvus_side.manifest.backend["index_type"] == "FLAT"
    assert milvus_side.manifest.backend["metric"] == "IP"
    assert milvus_side.store.counts() == faiss_side.store.counts() == (80, faiss_side.index.ntotal)

    queries = collection_queries()
    same = 0
    for query in queries:
        ours = [hit.id for hit in milvus_side.search(query, k=10, mode="dense")]
        theirs = [hit.id for hit in faiss_side.search(query, k=10, mode="dense")]
        same += ours == theirs
    agreement = same / len(queries)
    print(f"top-10 parity, milvus vs faiss: {same}/{len(queries)} queries ({agreement:.1%})")
    assert agreement >= 0.95, agreement

    hybrid = milvus_side.search(queries[0], k=10, mode="hybrid")
    assert [h.id for h in hybrid] == [h.id for h in faiss_side.search(queries[0], k=10, mode="hybrid")]
    first = hybrid[0]
    assert first.text and first.source and first.passage_id >= 0  # texts come from Milvus fields
    some = [first.passage_id, 0, 3]
    assert milvus_side.store.sources_of(some) == [p.source for p in faiss_side.store.passages(some)]
    assert milvus_side.store.doc_ids() == faiss_side.store.doc_ids()
    milvus_side.close()
    faiss_side.close()


@needs_milvus
def test_cli_index_query_info_remove_on_milvus(corpus, small_index, tmp_path, milvus_uri):
    runner = CliRunner()
    index_dir, uri = str(tmp_path / "idx"), milvus_uri
    result = runner.invoke(main, ["index", str(corpus), "--index", index_dir, "--model", str(small_index),
                                  "--backend", "milvus", "--uri", uri, "--collection", "docs", "--json"],
                           env={"MILVUS_TOKEN": "root:s3cret"})  # Milvus Lite ignores it; it must not be stored
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["documents"] == 80
    assert not (tmp_path / "idx" / "v000001" / "dense.faiss").exists()
    assert not (tmp_path / "idx" / "v000001" / "passages.sqlite").exists()  # no second store

    info = json.loads(runner.invoke(main, ["info", "--index", index_dir, "--json"]).stdout)
    assert info["backend"] == {"name": "milvus", "uri": uri, "collection_name": "docs_v000001"}
    assert (info["documents"], info["index_type"]) == (80, "flat")
    assert "milvus " + uri in runner.invoke(main, ["info", "--index", index_dir]).stdout
    assert not [p for p in (tmp_path / "idx").rglob("*") if p.is_file() and b"s3cret" in p.read_bytes()]

    (corpus / "extra.txt").write_text("ablation of graphite nose cones in hypersonic re-entry")
    result = runner.invoke(main, ["index", str(corpus), "--index", index_dir, "--json"])  # stays on milvus
    assert result.exit_code == 0, result.output
    assert (json.loads(result.stdout)["added"], json.loads(result.stdout)["unchanged"]) == (1, 80)
    hits = json.loads(runner.invoke(main, ["query", "graphite nose cones ablation", "--index", index_dir,
                                           "--mode", "lexical", "--json"]).stdout)
    assert hits[0]["id"] == "extra.txt" and "graphite" in hits[0]["text"]
    for mode in ("dense", "hybrid"):
        result = runner.invoke(main, ["query", "pressure distribution", "--index", index_dir, "--mode", mode])
        assert result.exit_code == 0 and result.stdout.startswith("  1  "), result.output

    result = runner.invoke(main, ["remove", "extra.txt", "ghost", "--index", index_dir, "--json"])
    assert result.exit_code == 0, result.output
    assert (json.loads(result.stdout)["removed"], json.loads(result.stdout)["not_found"]) == (1, 1)
    assert versions(index_dir) == ["v000003"]
    assert collections(uri, "docs_") == ["docs_v000003"]  # superseded versions' collections are dropped


@needs_milvus
@pytest.mark.parametrize("milvus_uri", ["lite", pytest.param("server", marks=pytest.mark.slow)], indirect=True)
def test_incremental_update_on_milvus_equals_a_fresh_build(corpus, small_index, tmp_path, milvus_uri):
    uri = milvus_uri
    index_dir = tmp_path / "idx"
    first = Retriever.build(corpus, index_dir, model=small_index, backend="milvus", uri=uri, show_progress=False)
    fusion = first.manifest.fusion
    first.close()

    texts = sorted(corpus.glob("*.txt"))
    texts[0].unlink()
    texts[1].write_text("a changed document about transonic flutter of swept wings")
    (corpus / "new.md").write_text("a new document on hypersonic heat shields and ablation")

    second = Retriever.build(corpus, index_dir, show_progress=False)  # keeps its encoder and its backend
    update = second.last_update
    assert (update.added, update.updated, update.removed, update.unchanged) == (1, 1, 1, 78)
    assert second.manifest.backend["name"] == "milvus" and second.manifest.fusion == fusion
    assert second.search("hypersonic heat shields ablation", k=1)[0].id == "new.md"
    assert texts[0].name not in set(second.doc_ids)
    assert second.lexical.bm25.scores["num_docs"] == second.index.ntotal == update.passages

    fresh = Retriever.build(corpus, tmp_path / "fresh", model=small_index, backend="milvus", uri=uri,
                            show_progress=False)
    incremental, rebuilt = contents(second), contents(fresh)
    assert incremental.keys() == rebuilt.keys()
    for key, (text, vector) in incremental.items():
        assert text == rebuilt[key][0]
        assert float(vector @ rebuilt[key][1]) > 0.999, key  # int8 encoding varies a little with the batch
    documents = second.store.documents()
    assert documents["new.md"].content_hash == fresh.store.documents()["new.md"].content_hash

    assert Retriever.build(corpus, index_dir, show_progress=False).last_update.version is None  # no change
    second.close()
    fresh.close()


@needs_milvus
@pytest.mark.parametrize("milvus_uri", ["lite", pytest.param("server", marks=pytest.mark.slow)], indirect=True)
def test_add_and_delete_in_python_on_milvus(small_corpus, small_index, tmp_path, milvus_uri):
    retriever = Retriever.build(small_corpus, tmp_path / "idx", model=small_index, backend="milvus",
                                uri=milvus_uri, show_progress=False)
    prefix = retriever.manifest.backend["collection"]
    before = retriever.version_dir
    summary = retriever.add([{"id": "x1", "text": "cryogenic propellant tanks sloshing"}])
    assert (summary.added, summary.documents) == (1, 81)
    assert retriever.version_dir != before and not before.exists()
    assert retriever.search("cryogenic propellant sloshing", k=1, mode="lexical")[0].id == "x1"
    assert retriever.search("cryogenic propellant tanks sloshing", k=1, mode="dense")[0].id == "x1"
    assert retriever.add([{"id": "x1", "text": "magnetohydrodynamic generators"}]).updated == 1
    assert retriever.search("magnetohydrodynamic generators", k=1, mode="lexical")[0].text == "magnetohydrodynamic generators"

    summary = retriever.delete(["x1", "no-such-id"])
    assert (summary.removed, summary.not_found, summary.documents) == (1, 1, 80)
    assert "x1" not in set(retriever.doc_ids)
    with pytest.raises(VecsearchError, match="empty"):
        retriever.delete(list(set(retriever.doc_ids)))
    assert retriever.store.counts()[0] == 80
    assert collections(milvus_uri, prefix) == [retriever.manifest.backend["collection_name"]]
    with pytest.raises(VecsearchError, match="over Milvus's 65,535 bytes"):  # a field Milvus cannot hold
        retriever.add([{"id": "wide", "text": "gap" + " " * 70_000 + "here"}])
    assert collections(milvus_uri, prefix) == [retriever.manifest.backend["collection_name"]]
    retriever.close()


@needs_milvus
def test_export_faiss_to_milvus_and_back_without_re_embedding(small_corpus, small_index, tmp_path, milvus_uri,
                                                               monkeypatch):
    import vecsearch.progress
    from vecsearch.storage.backends import milvus as milvus_store

    index_dir = tmp_path / "idx"
    retriever = Retriever.build(small_corpus, index_dir, model=small_index, show_progress=False)
    on_faiss = contents(retriever)
    queries = collection_queries()[:20]
    results = [[h.to_dict() for h in retriever.search(q, k=10, mode="hybrid")] for q in queries]
    faiss_points = embedding_map(retriever).points
    bm25_files = bm25_inodes(retriever)
    retriever.close()

    runner = CliRunner()
    uri = milvus_uri
    args = ["export", "--backend", "milvus", "--uri", uri, "--index", str(index_dir), "--json"]
    monkeypatch.setattr(milvus_store, "INSERT_BATCH", 50)
    monkeypatch.setattr(vecsearch.progress, "LOG_SECONDS", 0.0)  # a line at every update, not every 5 s
    result = runner.invoke(main, args, env={"MILVUS_TOKEN": ""})
    assert result.exit_code == 0, result.output
    assert any(line.startswith("Milvus insert: ") for line in result.stderr.splitlines()), result.stderr
    exported = json.loads(result.stdout)
    assert exported["written"] and exported["backend"]["name"] == "milvus" and exported["passages"] == len(on_faiss)
    assert "already" in runner.invoke(main, args[:-1]).stdout  # same backend again: nothing to do

    moved = Retriever.load(index_dir)
    assert bm25_inodes(moved) == bm25_files  # the same passages in the same places: BM25's files shared, not built again
    prefix = moved.manifest.backend["collection"]
    assert collections(uri, prefix) == [moved.manifest.backend["collection_name"]]
    on_milvus = contents(moved)
    assert on_milvus.keys() == on_faiss.keys()
    for key, (text, vector) in on_milvus.items():
        assert text == on_faiss[key][0] and np.array_equal(vector, on_faiss[key][1]), key  # the same floats
    for query, expected in zip(queries, results):
        got = [h.to_dict() for h in moved.search(query, k=10, mode="hybrid")]
        assert [h["id"] for h in got] == [h["id"] for h in expected]
    # the search page's map reads the same vectors from the collection
    assert np.allclose(embedding_map(moved).points, faiss_points, atol=1e-5)

    summary = moved.export("faiss")
    assert summary.version is not None and moved.manifest.backend == {"name": "faiss"}
    back = contents(moved)
    assert all(np.array_equal(vector, on_faiss[key][1]) for key, (_, vector) in back.items())
    moved.close()
    assert collections(uri, prefix) == []  # the Milvus version was superseded, its collection dropped


def bm25_inodes(retriever) -> dict[str, int]:
    return {path.name: path.stat().st_ino for path in (retriever.version_dir / "lexical").iterdir()}


@needs_milvus
@pytest.mark.parametrize("milvus_uri", ["lite", pytest.param("server", marks=pytest.mark.slow)], indirect=True)
def test_a_failed_milvus_write_leaves_the_live_version_and_no_stray_collection(small_corpus, small_index, tmp_path,
                                                                               monkeypatch, milvus_uri):
    from vecsearch.storage.backends import milvus as milvus_store

    uri = milvus_uri
    index_dir = tmp_path / "idx"
    retriever = Retriever.build(small_corpus, index_dir, model=small_index, backend="milvus", uri=uri,
                                show_progress=False)
    live, prefix = retriever.manifest.backend["collection_name"], retriever.manifest.backend["collection"]

    monkeypatch.setattr(milvus_store, "INSERT_BATCH", 10)
    calls = []
    original = milvus_store._Connections.acquire

    def failing_client(self, uri):
        client = original(self, uri)

        class Failing:
            def __getattr__(self, name):
                return getattr(client, name)

            def insert(self, *args, **kwargs):
                calls.append(1)
                if len(calls) == 3:
                    raise RuntimeError("connection lost")
                return client.insert(*args, **kwargs)

        return Failing()

    monkeypatch.setattr(milvus_store._Connections, "acquire", failing_client)
    with pytest.raises(RuntimeError, match="connection lost"):
        retriever.add([{"id": "x1", "text": "cryogenic propellant tanks sloshing"}])
    monkeypatch.undo()
    assert retriever.search("pressure distribution", k=3, mode="dense")  # still on the live version
    assert collections(uri, prefix) == [live]
    assert not list(index_dir.glob(STAGING_PREFIX + "*"))

    # a writer killed after creating its collection leaves a staging folder with the marker: the next cleans up
    staging = index_dir / f"{STAGING_PREFIX}v000009"
    staging.mkdir()
    orphan = f"{prefix}_v000009"
    section = {**retriever.manifest.backend, "collection_name": orphan}
    (staging / milvus_store.MARKER).write_text(json.dumps(section))
    from vecsearch.storage.backends.milvus import connection

    with connection(str(uri)) as client:
        client.create_collection(orphan, dimension=4)
    assert collections(uri, prefix) == [live, orphan]
    assert retriever.add([{"id": "x1", "text": "cryogenic propellant tanks sloshing"}]).added == 1
    assert collections(uri, prefix) == [retriever.manifest.backend["collection_name"]]
    assert not staging.exists()
    retriever.close()


@needs_milvus
def test_milvus_lite_file_held_by_another_process_gives_a_clear_error(small_corpus, small_index, tmp_path):
    index_dir = tmp_path / "idx"
    retriever = Retriever.build(small_corpus, index_dir, model=small_index, backend="milvus",
                                uri=tmp_path / "lite.db", show_progress=False)  # holds the file while open
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "vecsearch", "query", "pressure", "--index", str(index_dir)],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "another process has it open" in result.stderr, result.stderr
    retriever.close()  # lets the file go: another process can now open it
    result = subprocess.run([sys.executable, "-m", "vecsearch", "query", "pressure", "--index", str(index_dir),
                             "--mode", "dense", "--json"], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)) == 10
    assert "torch" not in result.stderr


def test_without_the_extra_the_milvus_backend_names_it(small_corpus, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pymilvus", None)  # `import pymilvus` now raises ImportError
    result = CliRunner().invoke(main, ["index", str(small_corpus), "--index", str(tmp_path / "idx"),
                                       "--backend", "milvus", "--uri", str(tmp_path / "m.db")])
    assert result.exit_code == 1
    assert result.stderr == "error: the milvus backend needs: pip install 'vecsearch[milvus]'\n"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--backend", "milvus"], "needs --uri"),
        (["--uri", "x.db"], "for the milvus backend"),
        (["--backend", "milvus", "--uri", "milvus.txt"], "neither a Milvus Lite file"),
        (["--backend", "milvus", "--uri", "x.db", "--collection", "9bad-name"], "invalid collection name"),
    ],
)
def test_backend_options_are_checked_before_any_work(small_corpus, tmp_path, args, message):
    result = CliRunner().invoke(main, ["index", str(small_corpus), "--index", str(tmp_path / "idx"), *args])
    assert result.exit_code == 1 and message in result.stderr, result.output


@needs_milvus
def test_eval_on_milvus_scores_as_on_faiss_and_leaves_no_collection(small_index, tmp_path):
    from .conftest import collection_documents

    collection = tmp_path / "beir"
    (collection / "qrels").mkdir(parents=True)
    documents = collection_documents()[:60]
    with open(collection / "corpus.jsonl", "w") as corpus:
        for document in documents:
            corpus.write(json.dumps({"_id": document["_id"], "title": document["title"], "text": document["text"]}) + "\n")
    with open(collection / "queries.jsonl", "w") as queries:
        for number, document in enumerate(documents[:15]):
            queries.write(json.dumps({"_id": str(number), "text": " ".join(document["text"].split()[5:15])}) + "\n")
    (collection / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{n}\t{d['_id']}\t1\n" for n, d in enumerate(documents[:15]))
    )
    runner = CliRunner()
    uri = tmp_path / "eval.db"
    results = {}
    for backend in (["--backend", "faiss"], ["--backend", "milvus", "--uri", str(uri)]):
        result = runner.invoke(main, ["eval", str(collection), "--model", str(small_index), *backend, "--json"])
        assert result.exit_code == 0, result.output
        results[backend[1]] = json.loads(result.stdout)["systems"]
    assert results["milvus"] == results["faiss"]  # rounded to 4 places: exact search on both
    assert collections(uri) == []


@needs_milvus
def test_sigkill_at_random_moments_on_milvus_leaves_an_index_that_loads(corpora, small_index, tmp_path, milvus_uri):
    """Kill `vecsearch index` (on Milvus) at random moments; the next run cleans up every stray collection."""
    import random
    import signal
    import time

    from .test_crash_and_concurrency import ENV, content, expected_content, index_command

    index_dir, uri = tmp_path / "idx", milvus_uri
    Retriever.build(corpora["A"], index_dir, model=small_index, backend="milvus", uri=uri, show_progress=False).close()
    states = {name: expected_content(corpora[name]) for name in ("A", "B")}
    started = time.perf_counter()
    subprocess.run(index_command(corpora["B"], index_dir), env=ENV, check=True, capture_output=True)
    duration = time.perf_counter() - started
    assert content(index_dir) == states["B"]

    rng = random.Random(3)
    for trial in range(3):
        now = "A" if content(index_dir) == states["B"] else "B"
        process = subprocess.Popen(index_command(corpora[now], index_dir), env=ENV, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.3, 1.0) * duration)
        process.send_signal(signal.SIGKILL)
        process.communicate()
        assert content(index_dir) in (states["A"], states["B"]), f"trial {trial}"

    finished = subprocess.run(index_command(corpora["A"], index_dir), env=ENV, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    assert content(index_dir) == states["A"]
    assert len(versions(index_dir)) == 1 and not list(index_dir.glob(STAGING_PREFIX + "*"))
    live = json.loads((index_dir / versions(index_dir)[0] / "manifest.json").read_text())["backend"]
    assert collections(uri, live["collection"]) == [live["collection_name"]]  # what killed writers created was dropped


@needs_milvus
def test_metadata_and_filters_match_faiss(tmp_path, milvus_uri):
    """The same documents with metadata on both backends: the same hits, filtered or not, in every mode."""
    from .conftest import collection_documents, with_metadata

    documents = with_metadata(collection_documents()[:120])
    faiss_side = Retriever.build(documents, tmp_path / "faiss", index_type="flat", show_progress=False)
    milvus_side = Retriever.build(documents, tmp_path / "milvus", index_type="flat", backend="milvus",
                                  uri=milvus_uri, show_progress=False)
    assert milvus_side.store.documents()["1"].metadata == faiss_side.store.documents()["1"].metadata
    for where in (None, {"kind": "tool"}, {"year": {"$gte": 2000}, "kind": {"$in": ["plant", "animal"]}}):
        for mode in ("dense", "lexical", "hybrid"):
            for query in collection_queries()[:4]:
                ours, theirs = (side.search(query, k=5, mode=mode, where=where) for side in (milvus_side, faiss_side))
                assert [(h.id, h.metadata) for h in ours] == [(h.id, h.metadata) for h in theirs], (where, mode)
    first = faiss_side.search(collection_queries()[0], k=1)[0].id
    assert [h.id for h in milvus_side.similar(first, k=4)] == [h.id for h in faiss_side.similar(first, k=4)]
    milvus_side.close()
    faiss_side.close()
