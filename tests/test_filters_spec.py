"""Metadata filters mean one thing on every backend (issue 30): the reference matcher
(storage/filters.py: `matches`), the FAISS + SQLite store and Milvus Lite keep the same
documents, for random metadata and random filters, and refuse bad filters with a clear reason."""

import json
import tempfile
from importlib.util import find_spec
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vecsearch import Retriever
from vecsearch.cli import main
from vecsearch.corpus import Document, Passage
from vecsearch.errors import VecsearchError
from vecsearch.storage.filters import kind, matches, normalise, parse_cli
from vecsearch.storage.sqlite import PassageStore, write_store

needs_milvus = pytest.mark.skipif(
    find_spec("pymilvus") is None or find_spec("milvus_lite") is None,
    reason="pymilvus / milvus-lite not installed (pip install 'vecsearch[milvus]'; scripts/test.sh does)",
)
MEMORY = "/dev/shm" if Path("/dev/shm").is_dir() else None  # a store per example: spare the disk its syncs
BACKENDS = ["faiss", pytest.param("milvus", marks=needs_milvus)]

# The issue's four documents: only a is a number >= 1960, only b text <= "zzz", none is "[1,2]".
YEARS = [{"id": "a", "text": "wing", "year": 1965}, {"id": "b", "text": "wing", "year": "unknown"},
         {"id": "c", "text": "wing", "year": [1, 2]}, {"id": "d", "text": "wing", "year": 1950}]


def build(documents, index_dir: Path, backend: str) -> Retriever:
    extra = {"backend": "milvus", "uri": index_dir.parent / f"{index_dir.name}.db"} if backend == "milvus" else {}
    return Retriever.build(documents, index_dir, index_type="flat", show_progress=False, **extra)


@pytest.fixture(scope="module", params=BACKENDS)
def years(request, tmp_path_factory):
    retriever = build(YEARS, tmp_path_factory.mktemp("years") / "idx", request.param)
    yield retriever
    retriever.close()


@pytest.mark.parametrize("where, expected", [
    ({"year": {"$gte": 1960}}, ["a"]),
    ({"year": {"$lte": "zzz"}}, ["b"]),
    ({"year": "[1,2]"}, []),
    ({"year": {"$in": [1950, "unknown", 1]}}, ["b", "d"]),
    ({"year": {"$gt": 1900, "$lt": 1960}}, ["d"]),
])
def test_a_filter_compares_like_with_like_on_every_backend(years, where, expected):
    for mode in ("dense", "lexical", "hybrid"):
        assert sorted(h.id for h in years.search("wing", k=10, mode=mode, where=where)) == expected, mode


def test_the_issues_command_lines_return_only_matching_documents(tmp_path):
    with build(YEARS, tmp_path / "mi", "faiss"):
        pass
    runner = CliRunner()
    for option, expected in (("year>=1960", ["a"]), ("year<=zzz", ["b"])):
        result = runner.invoke(main, ["query", "wing", "--index", str(tmp_path / "mi"), "-w", option, "--json"])
        assert result.exit_code == 0, result.output
        assert sorted(hit["id"] for hit in json.loads(result.output)) == expected
    # an argument that is not UTF-8 reaches Python as lone surrogates: one line, not a traceback
    result = runner.invoke(main, ["query", "wing", "--index", str(tmp_path / "mi"), "-w", "year=\udcff"])
    assert result.exit_code == 1 and "is not valid Unicode (it holds a lone surrogate, U+DCFF)" in result.output


@pytest.mark.parametrize("where, message", [
    ({"a\0b": 1}, r"field name 'a\\x00b' is invalid: it holds a NUL character"),
    ({"y": "\ud800"}, r"'y': '\\ud800' is not valid Unicode \(it holds a lone surrogate, U\+D800\)"),
    ({"y": {"$in": ["ok", "x\udfff"]}}, "not valid Unicode"),
    ({"\udc80": 1}, "field name '\\\\udc80' is not valid Unicode"),
    ({" ": 1}, "bad field name"),
])
def test_bad_field_names_and_values_are_named_not_reported_as_damage(years, where, message):
    with pytest.raises(VecsearchError, match=message) as error:
        years.search("wing", where=where)
    assert "damaged" not in str(error.value)


# Random metadata and filters. Values come from a small pool most of the time, so that filters
# hit documents: mixed kinds (numbers, text that looks like numbers, booleans), numbers at the
# edges of floats and 64-bit integers, text in several scripts and with characters that need
# escaping; field names likewise (a document may hold a name with NUL: no filter can name it).
POOL = [0, 1, -1, 2, 1.0, 0.5, -0.0, True, False, 2**53, 2**53 + 1, 9007199254740992.0, 2**63 - 1, -(2**63),
        1e308, 5e-324, "", "a", "b", "A", "é", "e\u0301", "1", "true", "中文", "مرحبا", "שלום", "😀", "a\0b",
        'q"', "back\\slash", "nl\n", "~1", "'"]
NAMES = ["year", "kind", "é", "名前", "a b", 'q"', "back\\slash", "k~1", "a/b", "a.b", "x[0]", "$x", "nl\n",
         "tab\t", "😀", "\u200f"]
pooled = st.sampled_from(POOL)
scalars = st.one_of(pooled, pooled, pooled, st.integers(-(2**63), 2**63 - 1),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=4))
json_values = st.one_of(scalars, scalars, scalars, st.none(), st.lists(scalars, max_size=3),
                        st.dictionaries(st.sampled_from(NAMES), scalars, max_size=2))
filter_names = st.one_of(st.sampled_from(NAMES), st.sampled_from(NAMES), st.text(min_size=1, max_size=3).filter(
    lambda name: name.strip(" ") and "\0" not in name))
document_names = st.one_of(filter_names, filter_names, filter_names, st.sampled_from(["n\0ul", "year\0x", ""]))
metadata = st.dictionaries(document_names, json_values, min_size=1, max_size=4)


def conditions(operand):
    comparison = st.tuples(st.sampled_from(["$eq", "$gt", "$gte", "$lt", "$lte"]), operand)
    membership = st.tuples(st.just("$in"), st.lists(operand, min_size=1, max_size=3))
    return st.one_of(operand, st.lists(st.one_of(comparison, membership), min_size=1, max_size=2).map(dict))


@st.composite
def collections(draw, documents: int, wheres: int):
    """Documents' metadata (the last without any), and filters on it: most conditions name a
    field a document holds and compare with its value or another, so that most filters keep
    some documents and drop others."""
    metadatas = [*draw(st.lists(metadata, min_size=3, max_size=documents - 1)), {}]
    filters = []
    for _ in range(draw(st.integers(1, wheres))):
        document = draw(st.sampled_from(metadatas))  # its fields, scalars first: they can match
        fields = sorted(((name, value) for name, value in document.items() if name.strip(" ") and "\0" not in name),
                        key=lambda field: kind(field[1]) is None)
        where = {}
        scalar_fields = sum(kind(value) is not None for _, value in fields)
        for field in range(draw(st.integers(1, max(1, min(2, scalar_fields))))):
            if field < len(fields) and draw(st.sampled_from([True, True, True, False])):
                name, value = fields[field]
                near = [v for v in (value if isinstance(value, list) else [value]) if kind(v)]
                operand = st.one_of(*[st.sampled_from(near)] * 3, scalars) if near else scalars
            else:
                name, operand = draw(filter_names), scalars
            where[name] = draw(conditions(operand))
        filters.append(where)
    return metadatas, filters


def documents_with(metadatas: list[dict]) -> tuple[list[Document], list[Passage]]:
    documents = [Document(f"d{i}", None, "s", "h", m or None) for i, m in enumerate(metadatas)]
    return documents, [Passage(d.id, "text", "s", 0, 0) for d in documents]


def expected(metadatas: list[dict], where) -> list[int]:
    return [i for i, m in enumerate(metadatas) if matches(m, where)]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(collections(documents=20, wheres=10))
def test_sqlite_keeps_what_the_reference_keeps(collection):
    metadatas, wheres = collection
    documents, passages = documents_with(metadatas)
    with tempfile.TemporaryDirectory(dir=MEMORY) as folder:
        write_store(folder, documents, passages)
        store = PassageStore(folder, len(passages))
        try:
            for where in wheres:
                assert store.passage_ids_where(where).tolist() == expected(metadatas, where), where
        finally:
            store.close()


@pytest.fixture(scope="module")
def milvus_lite(tmp_path_factory):
    """A Milvus Lite database, open for the whole module (starting its server costs seconds)."""
    from vecsearch.storage.backends.milvus import connection

    folder = tmp_path_factory.mktemp("milvus")
    with connection(str(folder / "filters.db")) as client:
        yield SimpleNamespace(folder=folder, uri=str(folder / "filters.db"), client=client, versions=iter(range(1, 10**6)))


def milvus_collection(milvus_lite, documents, passages):
    """The milvus backend's store and index over these passages (one each, random unit vectors)."""
    from vecsearch.storage.backends.milvus import MilvusCollection, write_collection

    version_dir = milvus_lite.folder / f"v{next(milvus_lite.versions):06d}"
    version_dir.mkdir()
    vectors = np.random.default_rng(0).normal(size=(len(passages), 4)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    section = write_collection(version_dir, {"uri": milvus_lite.uri, "collection": "filters"}, documents, passages,
                               vectors, "flat")
    counts = SimpleNamespace(passages=len(passages), documents=len(documents))
    return MilvusCollection(section, SimpleNamespace(index=SimpleNamespace(dimension=4), counts=counts)), vectors


@needs_milvus
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(collections(documents=25, wheres=25))
def test_milvus_lite_keeps_what_the_reference_keeps(milvus_lite, collection):
    metadatas, wheres = collection
    documents, passages = documents_with(metadatas)
    collection, vectors = milvus_collection(milvus_lite, documents, passages)
    try:
        for where in wheres:
            kept = expected(metadatas, where)
            allowed = collection.passage_ids_where(where)
            assert allowed.tolist() == kept, where
            _, ids = collection.search_filtered(vectors[:1], len(passages), where, allowed)  # filtered by Milvus itself
            assert sorted(ids[0][ids[0] >= 0].tolist()) == kept, where
    finally:
        collection.close()
        milvus_lite.client.drop_collection(collection.name)


def test_the_reference_follows_the_specification():
    """The rules docs/filters.md states, one example each."""
    assert matches({"year": 1965}, {"year": 1965.0}) and not matches({"year": "1965"}, {"year": 1965})
    assert matches({"flag": True}, {"flag": 1}) and matches({"flag": False}, {"flag": {"$lt": 0.5}})
    assert not matches({"tags": ["a", "b"]}, {"tags": "a"}) and not matches({"tags": ["a"]}, {"tags": '["a"]'})
    assert not matches({"year": None}, {"year": {"$gte": 0}}) and not matches({}, {"year": {"$gte": 0}})
    assert not matches({"o": {"a": 1}}, {"o": {"$gte": ""}}) and not matches(None, {"year": 1})
    assert matches({"w": "é"}, {"w": {"$gt": "z"}}) and not matches({"w": "B"}, {"w": {"$gt": "a"}})  # code points
    assert matches({"a": 2, "b": "x"}, {"a": {"$in": [1, 2]}, "b": {"$gte": "x", "$lte": "y"}})
    assert normalise({'q"': 1, "é": {"$in": ["中文", 2]}}) == [('q"', "$eq", 1), ("é", "$in", ["中文", 2])]


def test_the_table_in_docs_filters_md_is_what_filters_do():
    import re

    lines = (Path(__file__).resolve().parent.parent / "docs" / "filters.md").read_text().splitlines()
    header = next(line for line in lines if line.startswith("| document's"))
    wheres = [parse_cli([cell.strip(" `")]) for cell in header.strip("|").split("|")[1:]]
    rows = [line.strip("|").split("|") for line in lines if line.startswith("| `")]
    assert len(wheres) == 5 and len(rows) == 6
    for first, *answers in rows:
        values = [json.loads(value) for value in re.findall(r"`([^`]*)`", first)]
        documents = [{"year": value} for value in values] + ([{}] if "missing" in first else [])
        for where, answer in zip(wheres, answers):
            assert all(matches(document, where) == (answer.strip() == "yes") for document in documents), (first, where)
