"""Any language on every backend (issue 30): ids, texts, metadata names and values in Latin with
accents, CJK, Arabic, Hebrew and emoji are indexed, searched, filtered on, fetched (`document`,
`similar`) and served alike on FAISS + SQLite and on Milvus Lite. Milvus refused every filter
holding such a character (`unknown escape sequence`: json.dumps wrote \\u escapes), so a
document whose id held an emoji broke each search that would return it."""

from importlib.util import find_spec

import pytest

from vecsearch import Retriever

needs_milvus = pytest.mark.skipif(
    find_spec("pymilvus") is None or find_spec("milvus_lite") is None,
    reason="pymilvus / milvus-lite not installed (pip install 'vecsearch[milvus]'; scripts/test.sh does)",
)

DOCUMENTS = [
    {"id": "café-crème", "text": "Le café crème de la brasserie près de la gare, servi très chaud à l'aube.",
     "année": 1965, "langue": "français", "ville": "Besançon"},
    {"id": "東京の駅", "text": "東京駅は日本の鉄道の中心であり、毎日多くの列車が発着する。 train station Tokyo",
     "年": 1914, "言語": "日本語", "都市": "東京"},
    {"id": "مكتبة", "text": "مكتبة الإسكندرية هي واحدة من أشهر المكتبات في التاريخ. library Alexandria",
     "السنة": 2002, "اللغة": "العربية", "المدينة": "الإسكندرية"},
    {"id": "ספרייה", "text": "הספרייה הלאומית בירושלים שומרת כתבי יד עתיקים. library Jerusalem manuscripts",
     "שנה": 1892, "שפה": "עברית", "עיר": "ירושלים"},
    {"id": "e2😀", "text": "Emoji everywhere 😀🎉 in a cheerful message about trains and libraries.",
     "😀": "🎉", "mood": "happy 😀"},
    {"id": "plain", "text": "A plain English note about coffee, trains and old libraries.", "mood": "calm"},
]
# For each document: a filter on a field name and value in its own script, keeping it alone
OWN_FILTERS = {
    "café-crème": {"ville": "Besançon", "année": {"$gte": 1960}},
    "東京の駅": {"言語": "日本語", "都市": {"$in": ["東京", "大阪"]}},
    "مكتبة": {"اللغة": "العربية", "السنة": {"$lt": 2010}},
    "ספרייה": {"שפה": "עברית", "עיר": {"$lte": "ירושלים"}},
    "e2😀": {"😀": "🎉", "mood": {"$gte": "happy 😀"}},
    "plain": {"mood": "calm"},
}


@pytest.fixture(scope="module", params=["faiss", pytest.param("milvus", marks=needs_milvus)])
def scripts_index(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"scripts-{request.param}")
    extra = {"backend": "milvus", "uri": folder / "m.db"} if request.param == "milvus" else {}
    with Retriever.build(DOCUMENTS, folder / "idx", index_type="flat", show_progress=False, **extra):
        pass
    return folder / "idx"


@pytest.fixture(scope="module")
def scripts(scripts_index):
    with Retriever.load(scripts_index) as retriever:
        yield retriever


@pytest.mark.parametrize("doc_id", OWN_FILTERS)
def test_a_filter_in_any_script_keeps_its_document(scripts, doc_id):
    for mode in ("dense", "lexical", "hybrid"):
        hits = scripts.search("trains libraries coffee station", k=6, mode=mode, where=OWN_FILTERS[doc_id])
        assert [hit.id for hit in hits] in ([doc_id], []) if mode == "lexical" else [hit.id for hit in hits] == [doc_id]


def test_every_document_is_found_fetched_and_has_neighbours(scripts):
    expected = {d["id"]: {k: v for k, v in d.items() if k not in ("id", "text")} for d in DOCUMENTS}
    for mode in ("dense", "hybrid"):  # every document comes back, the emoji one included
        hits = scripts.search("trains libraries coffee station", k=10, mode=mode)
        assert sorted(hit.id for hit in hits) == sorted(expected)
        assert all(hit.metadata == expected[hit.id] for hit in hits)
    for document in DOCUMENTS:
        found = scripts.document(document["id"])
        assert found["id"] == document["id"] and found["text"] == document["text"]
        assert found["metadata"] == expected[document["id"]]
        neighbours = [hit.id for hit in scripts.similar(document["id"], k=3)]
        assert len(neighbours) == 3 and document["id"] not in neighbours
    assert [hit.id for hit in scripts.search("café crème", k=1, mode="lexical")] == ["café-crème"]
    assert [hit.id for hit in scripts.search("הספרייה הלאומית", k=1, mode="lexical")] == ["ספרייה"]
    assert [hit.id for hit in scripts.similar("e2😀", k=5, where={"mood": "calm"})] == ["plain"]


def test_the_api_serves_any_script(scripts_index):
    pytest.importorskip("fastapi", reason="needs vecsearch[serve]")
    from fastapi.testclient import TestClient

    from vecsearch.serve.server import create_app

    with TestClient(create_app(str(scripts_index))) as client:
        for where, expected in (("ville=Besançon", ["café-crème"]), ("😀=🎉", ["e2😀"]), ("言語=日本語", ["東京の駅"]),
                                ("السنة<=2005", ["مكتبة"]), ("שנה>=1800", ["ספרייה"]), ("mood=happy 😀,calm", ["e2😀", "plain"])):
            response = client.get("/search", params={"q": "trains libraries", "k": 6, "mode": "dense", "where": where})
            assert response.status_code == 200, response.text
            assert sorted(hit["id"] for hit in response.json()) == sorted(expected), where
        document = client.get("/document", params={"id": "e2😀"})
        assert document.status_code == 200 and document.json()["metadata"] == {"😀": "🎉", "mood": "happy 😀"}


@needs_milvus
def test_milvus_string_literals_hold_any_character(tmp_path):
    """Every ASCII character (NUL and the controls included) and some beyond, in a VARCHAR and in
    a JSON field's key and value, found again by an expression written with string_literal."""
    import numpy as np
    from pymilvus import DataType

    from vecsearch.storage.backends.milvus import METADATA_FIELD, connection, string_literal

    characters = [chr(c) for c in range(128)] + ["é", "中", "ع", "ש", "😀", "\u2028", "\ufeff", "\U0010ffff"]
    with connection(str(tmp_path / "literals.db")) as client:
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("doc_id", DataType.VARCHAR, max_length=64)
        schema.add_field(METADATA_FIELD, DataType.JSON)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=2)
        index = client.prepare_index_params()
        index.add_index(field_name="vector", index_type="FLAT", metric_type="IP")
        client.create_collection("literals", schema=schema, index_params=index, consistency_level="Strong")
        client.insert("literals", [{"id": i, "doc_id": f"d{c}", METADATA_FIELD: {f"k{c}": f"v{c}"},
                                    "vector": np.ones(2, dtype=np.float32)} for i, c in enumerate(characters)])
        for i, c in enumerate(characters):
            for expression in (f"doc_id == {string_literal(f'd{c}')}", f"doc_id in [{string_literal(f'd{c}')}]",
                               f"{METADATA_FIELD}[{string_literal(f'k{c}')}] == {string_literal(f'v{c}')}"):
                assert [row["id"] for row in client.query("literals", filter=expression, output_fields=["id"])] == [i], (
                    repr(c), expression)
