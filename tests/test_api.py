"""The Python API as chroma's or llm's users expect it: documents from Python objects, metadata
and `where=` filters, batches of queries, `similar`, a context manager, the names exported."""

import json
import sqlite3
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

import vecsearch.storage.dense as dense_index
from vecsearch import Document, Retriever, VecsearchError
from vecsearch.cli import main
from vecsearch.storage.filters import matches, parse_cli
from vecsearch.search.lexical import ANALYZER_FILE, DIRECTORY, LexicalIndex

from .conftest import collection_documents, collection_queries, with_metadata

def test_build_takes_strings_dicts_documents_and_a_dataframe(tmp_path):
    texts = [d["text"] for d in collection_documents()[:30]]
    with Retriever.build(texts, tmp_path / "strings", show_progress=False) as retriever:
        assert retriever.store.counts()[0] == 30 and retriever.last_update.added == 30
        hit = retriever.search(texts[7][:200], k=1, mode="lexical")[0]
        assert (hit.id, hit.metadata) == ("7", None)  # ids by position
    assert retriever._hold is None  # the context manager closed it

    documents = [Document(f"doc-{i}", text, f"doc-{i}.txt", "h") for i, text in enumerate(texts)]
    with Retriever.build(documents, tmp_path / "documents", show_progress=False) as retriever:
        assert retriever.search(texts[3][:200], k=1, mode="lexical")[0].id == "doc-3"

    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame({"key": [f"k{i}" for i in range(30)], "body": texts, "year": range(2000, 2030)})
    with Retriever.build(frame, tmp_path / "frame", text_field="body", id_field="key", show_progress=False) as retriever:
        hit = retriever.search(texts[4][:200], k=1, mode="lexical")[0]
        assert (hit.id, hit.metadata) == ("k4", {"year": 2004})

    with pytest.raises(VecsearchError, match="no text in field 'body'"):
        Retriever.build([{"id": 1, "text": "x"}], tmp_path / "bad", text_field="body", show_progress=False)
    with pytest.raises(VecsearchError, match="a document must be a string, a dict or a Document"):
        Retriever.build([3.5], tmp_path / "bad", show_progress=False)


def test_metadata_comes_back_on_hits_and_survives_updates(tagged, tmp_path):
    index_dir, metadata = tagged
    with Retriever.load(index_dir) as retriever:
        for hit in retriever.search(collection_queries()[0], k=10):
            assert hit.metadata == metadata[hit.id] and hit.to_dict()["metadata"] == metadata[hit.id]

    copy = tmp_path / "copy"
    with Retriever.build(with_metadata(collection_documents()[:200]), copy, show_progress=False) as retriever:
        first = retriever.search(collection_documents()[0]["text"][:200], k=1, mode="lexical")[0]
        assert first.metadata["kind"] == "plant"
        changed = {"id": first.id, "text": collection_documents()[0]["text"], "year": 1990, "kind": "mineral", "pages": 0}
        assert retriever.add([changed]).updated == 1  # only the metadata changed: still an update
        assert retriever.add([{"id": "new", "text": "a brand new text about glaciers"}]).added == 1
        hits = retriever.search(collection_documents()[0]["text"][:200], k=1, mode="lexical", where={"kind": "mineral"})
        assert [h.id for h in hits] == [first.id]
        carried = retriever.search(collection_documents()[5]["text"][:200], k=1, mode="lexical")[0]
        assert carried.metadata == metadata[carried.id]  # carried into the new versions unchanged


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_where_keeps_matching_documents_only_and_still_returns_k(tagged, mode):
    index_dir, metadata = tagged
    filters = [{"kind": "tool"}, {"year": {"$gte": 2010, "$lte": 2012}}, {"kind": {"$in": ["plant", "tool"]}, "pages": {"$lt": 50}}]
    with Retriever.load(index_dir) as retriever:
        for query in collection_queries()[:8]:
            unfiltered = retriever.search(query, k=200, mode=mode)
            for where in filters:
                hits = retriever.search(query, k=5, mode=mode, where=where)
                assert all(matches(metadata[h.id], where) for h in hits), where
                available = [h.id for h in unfiltered if matches(metadata[h.id], where)]
                assert len(hits) == min(5, len(available)) if mode == "lexical" else len(hits) == 5
                if mode != "hybrid":  # one side alone: the filtered ranking is the full one, filtered
                    assert [h.id for h in hits] == available[:5]
        assert retriever.search(collection_queries()[0], k=5, mode=mode, where={"kind": "mineral"}) == []
        assert retriever.search(collection_queries()[0], k=5, mode=mode, where={"colour": "red"}) == []


def test_a_broad_filter_searched_deeper_gives_the_exact_answer(tagged, monkeypatch):
    index_dir, metadata = tagged
    with Retriever.load(index_dir) as retriever:
        queries = collection_queries()[:10]
        exact = [[h.id for h in hits] for hits in retriever.search(queries, k=10, mode="dense", where={"kind": "plant"})]
        monkeypatch.setattr(dense_index, "EXACT_FILTER_PASSAGES", 0)  # every filter takes the deeper-search path
        retriever._filtered.clear()
        deeper = [[h.id for h in hits] for hits in retriever.search(queries, k=10, mode="dense", where={"kind": "plant"})]
    assert deeper == exact


def test_bad_filters_are_refused_with_a_reason(tagged):
    with Retriever.load(tagged[0]) as retriever:
        for where, reason in [({"year": {"$near": 3}}, "unknown operator"), ({"year": {"$in": []}}, "non-empty list"),
                              ({"year": {"$gte": [1]}}, "string or a number"), ("year=3", "must be a dict"),
                              ({"": 1}, "bad field name")]:
            with pytest.raises(VecsearchError, match=reason):
                retriever.search("x", where=where)
    assert parse_cli(["year>=2000", "year<=2010", "kind=plant,tool", "title=a=b"]) == {
        "year": {"$gte": 2000, "$lte": 2010}, "kind": {"$in": ["plant", "tool"]}, "title": "a=b"}
    with pytest.raises(VecsearchError, match="expected field=value"):
        parse_cli(["year"])


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_a_batch_of_queries_answers_as_each_query_alone(tagged, mode):
    queries = collection_queries()[:12]
    with Retriever.load(tagged[0]) as retriever:
        batch = retriever.search(queries, k=5, mode=mode)
        alone = [retriever.search(query, k=5, mode=mode) for query in queries]
        filtered = retriever.search(queries[:3], k=2, mode=mode, where={"kind": "tool"})
        filtered_alone = [retriever.search(q, k=2, mode=mode, where={"kind": "tool"}) for q in queries[:3]]
        for together, single in [*zip(batch, alone), *zip(filtered, filtered_alone)]:
            assert [h.id for h in together] == [h.id for h in single]
            # a batch's vectors come out of one matrix product: the same to float32 rounding
            assert np.allclose([h.score for h in together], [h.score for h in single], atol=1e-5)
        with pytest.raises(VecsearchError, match="empty query \\(number 1 of the batch\\)"):
            retriever.search(["fine", " "], mode=mode)
        with pytest.raises(VecsearchError, match="1 to"):
            retriever.search([], mode=mode)


def test_similar_finds_neighbours_of_a_stored_document_without_itself(tagged):
    index_dir, metadata = tagged
    with Retriever.load(index_dir) as retriever:
        first = retriever.search(collection_queries()[0], k=1, mode="dense")[0].id
        hits = retriever.similar(first, k=5)
        assert len(hits) == 5 and first not in {h.id for h in hits} and [h.rank for h in hits] == [1, 2, 3, 4, 5]
        assert all(metadata[h.id]["kind"] == "animal" for h in retriever.similar(first, k=3, where={"kind": "animal"}))
        with pytest.raises(VecsearchError, match="no document 'nope'"):
            retriever.similar("nope")


def test_an_index_from_before_metadata_and_stopword_lists_still_answers(tagged, tmp_path):
    import shutil

    old = shutil.copytree(tagged[0], tmp_path / "old", symlinks=True)
    with Retriever.load(old) as retriever:
        version = retriever.version_dir
    with sqlite3.connect(version / "passages.sqlite") as connection:  # the store's schema before metadata
        connection.execute("ALTER TABLE documents DROP COLUMN metadata")
    (version / DIRECTORY / ANALYZER_FILE).unlink()
    manifest = json.loads((version / "manifest.json").read_text())
    manifest.pop("files", None)  # as an index written before checksums
    (version / "manifest.json").write_text(json.dumps(manifest))
    with Retriever.load(old) as retriever:
        assert retriever.lexical.stopwords == "en"  # what it was built with then
        hits = retriever.search(collection_queries()[0], k=3)
        assert len(hits) == 3 and all(h.metadata is None for h in hits)
        assert retriever.search(collection_queries()[0], k=3, where={"kind": "plant"}) == []
    assert LexicalIndex.build(["how do I catch it"], stopwords="en+").terms("how do I catch it") == ["catch"]
    assert LexicalIndex.build(["how do I catch it"], stopwords="en").terms("how do I catch it") == ["how", "do", "catch"]


def test_the_cli_filters_labels_scores_and_names_stopword_only_queries(tagged):
    index_dir, metadata = tagged
    runner = CliRunner()
    query = collection_queries()[0]
    result = runner.invoke(main, ["query", query, "-i", str(index_dir), "-m", "dense", "-w", "kind=tool", "--json", "-k", "4"])
    assert result.exit_code == 0, result.output
    hits = json.loads(result.output)
    assert len(hits) == 4 and {h["score_kind"] for h in hits} == {"cosine"}
    assert all(metadata[h["id"]]["kind"] == "tool" == h["metadata"]["kind"] for h in hits)
    shown = runner.invoke(main, ["query", query, "-i", str(index_dir), "--mode", "hybrid", "--where", "year>=2015"])
    assert shown.exit_code == 0 and "rrf" in shown.output and "year=20" in shown.output
    none = runner.invoke(main, ["query", query, "-i", str(index_dir), "-w", "kind=mineral"])
    assert "none of the documents matches --where" in none.output
    stop = runner.invoke(main, ["query", "is it the", "-i", str(index_dir), "-m", "lexical"])
    assert stop.exit_code == 0 and "every word of the query is a stopword" in stop.output


def test_the_public_names_import_without_torch():
    code = ("import sys, vecsearch\n"
            "from vecsearch import Document, TrainConfig, UpdateSummary, Retriever, Hit, VecsearchError\n"
            "TrainConfig(seed=1)\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True)
