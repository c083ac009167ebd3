"""The HTTP API of `vecsearch serve`, through FastAPI's test client."""

import json
import random
import shutil
import threading
import time

import pytest

pytest.importorskip("fastapi", reason="needs vecsearch[serve]")

from click.testing import CliRunner  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from vecsearch import Retriever  # noqa: E402
from vecsearch.cli import main  # noqa: E402
from vecsearch.storage.indexdir import versions  # noqa: E402
from vecsearch.serve.server import MAX_K, MAX_QUERY_STRING, create_app  # noqa: E402

from .conftest import phrase_from  # noqa: E402


@pytest.fixture(scope="module")
def client(small_index):
    with TestClient(create_app(str(small_index))) as test_client:
        yield test_client


def a_phrase(small_corpus, number: int = 3) -> tuple[str, str]:
    """(a document id, 12 words copied from it)."""
    name = sorted(p.name for p in small_corpus.glob("*.txt"))[number]
    return name, phrase_from((small_corpus / name).read_text(), 12, random.Random(number))


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_search_returns_what_query_json_prints(client, small_index, small_corpus, mode):
    doc_id, phrase = a_phrase(small_corpus)
    response = client.get("/search", params={"q": phrase, "k": 5, "mode": mode})
    assert response.status_code == 200
    printed = CliRunner().invoke(main, ["query", phrase, "-k", "5", "--mode", mode, "--index", str(small_index), "--json"])
    assert printed.exit_code == 0, printed.output
    assert response.json() == json.loads(printed.stdout)
    if mode != "dense":  # the tiny test encoder is not always right; BM25 is, on a copied phrase
        assert response.json()[0]["id"] == doc_id


def test_search_without_mode_uses_the_index_default(client, small_index, small_corpus):
    _, phrase = a_phrase(small_corpus, 7)
    default = Retriever.load(small_index).default_mode
    assert client.get("/search", params={"q": phrase}).json() == client.get(
        "/search", params={"q": phrase, "mode": default}).json()
    assert len(client.get("/search", params={"q": phrase}).json()) == 10


def test_info_health_and_openapi(client, small_index):
    info = client.get("/info").json()
    assert info["documents"] == 80 and info["version"] == "v000001" and info["index_type"] == "flat"
    assert client.get("/health").json() == {"status": "ok", "version": "v000001"}
    schema = client.get("/openapi.json").json()
    assert {"/search", "/info", "/health", "/map", "/map/search"} <= set(schema["paths"])
    parameters = {p["name"]: p for p in schema["paths"]["/search"]["get"]["parameters"]}
    assert parameters["k"]["schema"]["maximum"] == MAX_K


def test_map_places_every_passage_and_the_query_near_its_hits(client, small_corpus):
    emap = client.get("/map").json()
    assert len(emap["x"]) == len(emap["y"]) == len(emap["group"]) == emap["passages"]
    assert emap["groups"] == ["(top level)"]  # the corpus has no sub-folders
    doc_id, phrase = a_phrase(small_corpus)
    found = client.get("/map/search", params={"q": phrase, "k": 3, "mode": "hybrid"}).json()
    assert found["hits"][0]["id"] == doc_id and len(found["points"]) == 3 and len(found["query"]) == 2


def test_the_page_and_its_scripts_are_served_without_a_cdn(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert 'src="/static/app.js"' in page.text and "http" not in page.text.replace("http-equiv", "")
    for asset in ("/static/app.js", "/static/style.css"):
        response = client.get(asset)
        assert response.status_code == 200 and "//cdn" not in response.text and "https://" not in response.text


@pytest.mark.parametrize(
    "path, params, status, message",
    [
        ("/search", {}, 422, "q: Field required"),
        ("/search", {"q": ""}, 422, "q: String should have at least 1 character"),
        ("/search", {"q": "   "}, 422, "q: empty query"),
        ("/search", {"q": "x" * 4097}, 422, "at most 4096 characters"),
        ("/search", {"q": "word " * 257}, 422, "at most 256 words"),
        ("/search", {"q": "drag", "k": 0}, 422, "k: Input should be greater than or equal to 1"),
        ("/search", {"q": "drag", "k": MAX_K + 1}, 422, f"k: Input should be less than or equal to {MAX_K}"),
        ("/search", {"q": "drag", "k": -3}, 422, "k: Input should be greater than or equal to 1"),
        ("/search", {"q": "drag", "k": "ten"}, 422, "k: Input should be a valid integer"),
        ("/search", {"q": "drag", "mode": "fuzzy"}, 422, "mode: Input should be 'dense', 'lexical' or 'hybrid'"),
        ("/map/search", {"q": " "}, 422, "q: empty query"),
        ("/map/search", {"q": "drag", "k": 1000}, 422, "k: Input should be less than or equal to"),
        ("/no/such/page", {}, 404, "Not Found"),
    ],
)
def test_bad_requests_get_a_4xx_with_a_clear_message(client, path, params, status, message):
    response = client.get(path, params=params)
    assert response.status_code == status
    assert message in response.json()["detail"]


def test_over_long_query_strings_are_refused_unread(live_server):
    import http.client  # the test client's own URL limit is lower than the server's

    host, port = live_server.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.request("GET", "/search?q=" + "a" * (MAX_QUERY_STRING + 1))
    response = connection.getresponse()
    assert response.status == 414 and "query string too long" in json.loads(response.read())["detail"]
    connection.close()


def test_bodies_are_bounded_and_only_get_is_allowed(client):
    large = client.post("/search", content=b"x" * 20_000)
    assert large.status_code == 413 and "body too large" in large.json()["detail"]
    assert client.post("/search", content=b"{}").status_code == 405
    assert client.delete("/info").status_code == 405


def _add_document(index_dir, doc_id: str, text: str) -> None:
    writer = Retriever.load(index_dir)
    writer.add([{"id": doc_id, "text": text}])
    writer.close()


NEW_TEXT = "zyxwquartz flutter of a supersonic quokka wing in a hypersonic wind tunnel"


def test_a_new_version_is_served_without_restart_while_a_request_finishes_on_the_old_one(small_index, tmp_path):
    index_dir = tmp_path / "idx"
    shutil.copytree(small_index, index_dir)
    app = create_app(str(index_dir), reload_interval=0, concurrent_searches=2)  # one held in flight, one fresh
    live = app.state.live
    started, release = threading.Event(), threading.Event()
    with live.use() as old:
        original_search = old.search

        def slow_search(*args, **kwargs):  # an in-flight request, held until the new version is live
            started.set()
            release.wait(10)
            return original_search(*args, **kwargs)

        old.search = slow_search
    with TestClient(app) as client:
        in_flight: dict = {}
        thread = threading.Thread(target=lambda: in_flight.update(
            response=client.get("/search", params={"q": "zyxwquartz quokka", "k": 3, "mode": "lexical"})))
        thread.start()
        assert started.wait(10)
        _add_document(index_dir, "new-doc", NEW_TEXT)
        fresh = client.get("/search", params={"q": "zyxwquartz quokka", "k": 3, "mode": "lexical"})
        assert fresh.json()[0]["id"] == "new-doc"
        assert client.get("/health").json()["version"] == "v000002"
        assert (index_dir / "v000001").is_dir()  # still held by the request in flight
        release.set()
        thread.join(10)
        old_hits = in_flight["response"].json()
        assert in_flight["response"].status_code == 200 and "new-doc" not in [h["id"] for h in old_hits]
    assert old._hold is None  # the old version was let go once its request ended
    _add_document(index_dir, "another", "yet another document about laminar flow")
    assert versions(index_dir) == ["v000003"] or "v000001" not in versions(index_dir)


def test_serve_without_an_index_is_one_clear_line(tmp_path):
    result = CliRunner().invoke(main, ["serve", "--index", str(tmp_path / "none")])
    assert result.exit_code == 1 and "no index at" in result.stderr and result.stderr.count("\n") == 1


def test_serve_and_plot_help_show_examples():
    for command in ("serve", "plot"):
        result = CliRunner().invoke(main, [command, "--help"])
        assert result.exit_code == 0 and "Example" in result.output and "--index" in result.output


def test_searches_run_one_at_a_time_by_default_and_health_answers_meanwhile(small_index):
    app = create_app(str(small_index))
    active, peak, lock = [0], [0], threading.Lock()
    entered, release = threading.Event(), threading.Event()
    with app.state.live.use() as retriever:
        original_search = retriever.search

        def counted_search(*args, **kwargs):
            with lock:
                active[0] += 1
                peak[0] = max(peak[0], active[0])
            entered.set()
            release.wait(5)
            try:
                return original_search(*args, **kwargs)
            finally:
                with lock:
                    active[0] -= 1

        retriever.search = counted_search
    with TestClient(app) as client:
        answers = []
        threads = [threading.Thread(target=lambda: answers.append(client.get("/search", params={"q": "flow", "k": 2})))
                   for _ in range(4)]
        for thread in threads:
            thread.start()
        try:
            assert entered.wait(10)
            time.sleep(0.3)  # the other three requests reach the server meanwhile
            assert client.get("/health").status_code == 200  # not queued behind the searches
            concurrent = peak[0]
        finally:
            release.set()
            for thread in threads:
                thread.join(10)
    assert concurrent == 1
    assert [answer.status_code for answer in answers] == [200] * 4


def _serve_process(index_dir, *options):
    import os
    import subprocess
    import sys

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "vecsearch", "serve", "--index", str(index_dir), "--port", "0", *options]
    return subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)


def _children(pid: int) -> list[int]:
    from pathlib import Path

    return [int(c) for task in Path(f"/proc/{pid}/task").iterdir() for c in (task / "children").read_text().split()]


def test_two_workers_each_listen_and_answer_and_stop_on_sigterm(small_index):
    import signal
    import urllib.request

    server = _serve_process(small_index, "--workers", "2")
    try:
        ready = server.stderr.readline()
        assert ready.startswith(f"serving {small_index}") and "http://127.0.0.1:" in ready
        url = ready.split(" at ")[1].split()[0]
        deadline, answered = time.monotonic() + 60, 0
        while answered < 20 and time.monotonic() < deadline:  # workers start after the ready line
            try:
                with urllib.request.urlopen(url + "search?q=flow&k=2", timeout=5) as response:  # a new connection each
                    answered += response.status == 200 and len(json.load(response)) == 2
            except OSError:
                time.sleep(0.2)
        assert answered == 20
        workers = [pid for pid in _children(server.pid) if "spawn_main" in open(f"/proc/{pid}/cmdline").read()]
        assert len(workers) == 2
        server.send_signal(signal.SIGTERM)
        assert server.wait(20) == 0
    finally:
        server.kill()


def test_a_port_in_use_is_one_clear_line(small_index):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["serve", "--index", str(small_index), "--port", str(port)])
    assert result.exit_code == 1 and f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert result.stderr.count("\n") == 1


def test_search_filters_by_metadata_and_info_matches_the_cli(tmp_path):
    from .conftest import collection_documents, collection_queries, with_metadata

    index_dir = tmp_path / "tagged"
    Retriever.build(with_metadata(collection_documents()[:60]), index_dir, show_progress=False).close()
    with TestClient(create_app(str(index_dir))) as client:
        query = collection_queries()[1]
        hits = client.get("/search", params=[("q", query), ("k", 4), ("where", "kind=tool"), ("where", "year>=1995")]).json()
        assert len(hits) == 4 and all(h["metadata"]["kind"] == "tool" and h["metadata"]["year"] >= 1995 for h in hits)
        printed = CliRunner().invoke(main, ["query", query, "-k", "4", "-w", "kind=tool", "-w", "year>=1995",
                                            "-i", str(index_dir), "--json"])
        assert hits == json.loads(printed.stdout)
        placed = client.get("/map/search", params={"q": query, "k": 3, "where": "kind=plant"}).json()
        assert [h["metadata"]["kind"] for h in placed["hits"]] == ["plant"] * 3
        bad = client.get("/search", params={"q": query, "where": "kind"})
        assert bad.status_code == 422 and "should match pattern" in bad.json()["detail"]
        info = client.get("/info").json()
        printed = json.loads(CliRunner().invoke(main, ["info", "-i", str(index_dir), "--json"]).stdout)
        assert info == printed  # every field `info --json` shows, /info shows too


def test_the_response_models_have_exactly_the_fields_of_hit_snippet_and_info(small_index):
    """The API's models are written out for the OpenAPI schema; this keeps them one fact with the dataclasses."""
    from dataclasses import fields

    from vecsearch.retriever import Hit
    from vecsearch.search.snippets import Snippet
    from vecsearch.serve.server import HitOut, Info, SnippetOut

    assert list(HitOut.model_fields) == [f.name for f in fields(Hit)]
    assert list(SnippetOut.model_fields) == [f.name for f in fields(Snippet)]
    with Retriever.load(small_index) as retriever:
        assert list(Info.model_fields) == list(retriever.info())


def test_the_map_takes_where_as_docs_serve_md_says(tmp_path):
    """/map?where=... keeps the points of the matching documents, on the same map (issue 30: it
    ignored `where`); a bad filter is a 422 naming the problem."""
    from .conftest import collection_documents, with_metadata

    documents = with_metadata(collection_documents()[:40])
    kinds, pages = {d["id"]: d["kind"] for d in documents}, {d["id"]: d["pages"] for d in documents}
    index_dir = tmp_path / "tagged"
    Retriever.build(documents, index_dir, show_progress=False).close()
    with TestClient(create_app(str(index_dir))) as client:
        whole = client.get("/map").json()
        tools = client.get("/map", params=[("where", "kind=tool"), ("where", "pages<=30")]).json()
        assert tools["doc_id"] and set(tools["doc_id"]) < set(whole["doc_id"])
        assert {kinds[doc_id] for doc_id in tools["doc_id"]} == {"tool"}
        assert all(pages[doc_id] <= 30 for doc_id in tools["doc_id"])
        point = {pid: (x, y, c) for pid, x, y, c in zip(whole["passage_id"], whole["x"], whole["y"], whole["cluster"])}
        assert all(point[pid] == (x, y, c) for pid, x, y, c in zip(tools["passage_id"], tools["x"], tools["y"], tools["cluster"]))
        assert {k: tools[k] for k in ("clusters", "groups", "layout", "passages")} == {
            k: whole[k] for k in ("clusters", "groups", "layout", "passages")}
        assert client.get("/map", params={"where": "kind=mineral"}).json()["doc_id"] == []
        for where, message in (("ki\0nd=tool", "is invalid: it holds a NUL character"), ("kind", "should match pattern")):
            bad = client.get("/map", params={"where": where})
            assert bad.status_code == 422 and message in bad.json()["detail"], bad.text
        assert client.get("/search", params={"q": "x", "where": "ki\0nd=tool"}).status_code == 422
