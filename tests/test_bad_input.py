"""Every bad input of issue 5: a clear one-line message and a count, never a traceback, nothing lost."""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vecsearch import Retriever
from vecsearch import corpus as corpus_package
from vecsearch.corpus import reading as corpus_module
from vecsearch.cli import main
from vecsearch.corpus import CorpusReport, iter_documents
from vecsearch.errors import VecsearchError
from vecsearch.storage.indexdir import MANIFEST, live_version

from .conftest import collection_documents


@pytest.fixture(scope="module")
def runner():
    return CliRunner()


def invoke(runner, *arguments):
    result = runner.invoke(main, [str(a) for a in arguments])
    assert "Traceback" not in result.output
    return result


def one_line_error(result, message):
    assert result.exit_code == 1, result.output
    assert message in result.stderr, result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1


def messy_corpus(folder: Path) -> Path:
    folder.mkdir()
    (folder / "good.txt").write_text("wind tunnel measurements of drag on a slender body")
    (folder / "binary.txt").write_bytes(b"\x00\x01\x02 not text")
    (folder / "latin1.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    (folder / "empty.md").write_text("")
    (folder / "blank.rst").write_text("  \n\t\n")
    (folder / "long-line.txt").write_text(" ".join(f"word{i}" for i in range(40_000)))  # one 300 kB line
    (folder / "minified.txt").write_text("x" * 200_000)  # no spaces at all
    (folder / "records.jsonl").write_bytes(
        b'{"id": "r1", "text": "supersonic inlet buzz"}\n{broken\n[1, 2]\n'
        b'{"id": "r4", "text": "caf\xe9"}\n{"id": "r5", "text": "hypersonic heat transfer"}\n'
    )
    (folder / "loop").symlink_to(".")  # a folder that contains itself
    (folder / "self.txt").symlink_to("self.txt")  # a file link that points at itself
    (folder / "unreadable.txt").write_text("secret")
    (folder / "unreadable.txt").chmod(0)
    return folder


EXPECTED_SKIPS = {
    "binary.txt": "binary file",
    "latin1.txt": "invalid UTF-8",
    "empty.md": "empty",
    "blank.rst": "empty",
    "records.jsonl:2": "malformed JSON",
    "records.jsonl:3": "malformed JSON: not an object",
    "records.jsonl:4": "invalid UTF-8",
    "self.txt": "unreadable: Too many levels of symbolic links",
    "unreadable.txt": "unreadable: Permission denied",
}


@pytest.fixture
def unreadable_as_root(monkeypatch):
    """Root reads files whatever their mode: make a mode-000 file fail as it would for a user."""
    if os.geteuid() != 0:
        return
    original = Path.read_bytes

    def read_bytes(path):
        if path.stat().st_mode & 0o777 == 0:
            raise PermissionError(13, "Permission denied", str(path))
        return original(path)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)


def test_a_messy_folder_is_indexed_with_every_problem_reported(runner, tmp_path, small_index, unreadable_as_root):
    corpus = messy_corpus(tmp_path / "messy")
    index_dir = tmp_path / "idx"
    result = invoke(runner, "index", corpus, "--index", index_dir, "--model", small_index, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["added"] == 5 and summary["skipped"] == len(EXPECTED_SKIPS) + 1  # + the symlink loop
    for where, reason in EXPECTED_SKIPS.items():
        assert f"skipped {where}: {reason}" in result.stderr, (where, result.stderr)
    assert "symlink loop" in result.stderr
    retriever = Retriever.load(index_dir)
    assert set(retriever.doc_ids) == {"good.txt", "long-line.txt", "minified.txt", "r1", "r5"}
    longest = max(len(p.text) for p in retriever.store.iter_passages())
    assert longest <= corpus_package.PASSAGE_WORDS * (corpus_package.MAX_WORD_CHARS + 1)  # long lines and runs are cut into passages
    assert retriever.search("inlet buzz", k=1)[0].id == "r1"

    human = invoke(runner, "index", corpus, "--index", index_dir)
    assert human.exit_code == 0 and "no changes" in human.stdout and "skipped 10:" in human.stdout


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl"])
def test_records_without_the_text_field_are_a_clear_error(runner, tmp_path, fmt):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    records = [{"id": "1", "body": "alpha"}, {"id": "2", "body": "beta"}]
    path = corpus / f"data.{fmt}"
    if fmt == "csv":
        path.write_text("id,body\n1,alpha\n2,beta\n")
    elif fmt == "json":
        path.write_text(json.dumps(records))
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    result = invoke(runner, "index", corpus, "--index", tmp_path / "idx")
    one_line_error(result, f"data.{fmt}: no field 'text' in its records (fields: id, body); choose one with --text-field")
    assert not (tmp_path / "idx" / "CURRENT").exists()


def test_an_empty_corpus_is_refused_and_an_existing_index_kept(runner, tmp_path, small_index, small_corpus):
    empty = tmp_path / "empty"
    empty.mkdir()
    one_line_error(invoke(runner, "index", empty, "--index", tmp_path / "new"), "no documents to index")
    index_dir = tmp_path / "idx"
    Retriever.build(small_corpus, index_dir, model=small_index, show_progress=False).close()
    (empty / "blank.txt").write_text(" ")
    result = invoke(runner, "index", empty, "--index", index_dir)
    one_line_error(result, "no documents to index")
    assert "left as it was" in result.stderr
    assert Retriever.load(index_dir).store.counts()[0] == 80


def test_empty_and_over_long_queries(runner, small_index):
    for query in ("", "   ", "\n\t"):
        one_line_error(invoke(runner, "query", query, "--index", small_index), "empty query")
    result = invoke(runner, "query", "shock waves " * 2000, "--index", small_index, "-k", "2", "--json")
    assert result.exit_code == 0
    assert "note: the query was too long and was cut to 256 words" in result.stderr
    assert len(json.loads(result.stdout)) == 2
    result = invoke(runner, "query", "x" * 100_000, "--index", small_index, "--json")
    assert result.exit_code == 0 and "cut to 1 words, 4096 characters" in result.stderr


def damage(index_dir: Path, how: str) -> None:
    version = live_version(index_dir)
    if how == "pointer to nowhere":
        (index_dir / "CURRENT").write_text("v999999\n")
    elif how == "garbage pointer":
        (index_dir / "CURRENT").write_bytes(b"\xff\xfe../../etc\n")
    elif how == "truncated faiss":
        path = version / "dense.faiss"
        path.write_bytes(path.read_bytes()[:100])
    elif how == "garbage sqlite":
        (version / "passages.sqlite").write_bytes(b"this is not a database" * 100)
    elif how == "missing sqlite":
        (version / "passages.sqlite").unlink()
    elif how == "garbage manifest":
        (version / MANIFEST).write_text("{not json")
    elif how == "foreign manifest":
        (version / MANIFEST).write_text(json.dumps({"format": "something-else"}))
    elif how == "newer format":
        manifest = json.loads((version / MANIFEST).read_text())
        (version / MANIFEST).write_text(json.dumps({**manifest, "format_version": 7}))
    elif how == "damaged bm25":
        (version / "lexical" / "params.index.json").write_text("{")


DAMAGES = {
    "pointer to nowhere": "is damaged: CURRENT names a missing version 'v999999'",
    "garbage pointer": "is damaged: CURRENT does not name a version",
    "truncated faiss": "dense.faiss is damaged or not a FAISS index",
    "garbage sqlite": "passages.sqlite is damaged or not a vecsearch store",
    "missing sqlite": "is damaged: passages.sqlite is missing",
    "garbage manifest": "cannot read",
    "foreign manifest": "is not a vecsearch manifest",
    "newer format": "index format 7",
    "damaged bm25": "lexical is damaged",
}


@pytest.mark.parametrize("how", list(DAMAGES))
def test_a_damaged_index_is_refused_with_a_clear_error(runner, tmp_path, small_index, how):
    index_dir = tmp_path / "idx"
    shutil.copytree(small_index, index_dir)
    damage(index_dir, how)
    one_line_error(invoke(runner, "query", "shock waves", "--index", index_dir, "--mode", "hybrid"), DAMAGES[how])


def test_a_damaged_or_newer_index_is_not_overwritten_by_an_update(runner, tmp_path, small_index, small_corpus):
    index_dir = tmp_path / "idx"
    shutil.copytree(small_index, index_dir)
    damage(index_dir, "newer format")
    result = invoke(runner, "index", small_corpus, "--index", index_dir)
    one_line_error(result, "upgrade vecsearch")
    assert "--retrain" in result.stderr
    assert json.loads((live_version(index_dir) / MANIFEST).read_text())["format_version"] == 7


def test_a_foreign_folder_is_not_written_into(runner, tmp_path, small_corpus):
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "holiday.jpg").write_bytes(b"\xff\xd8")
    one_line_error(invoke(runner, "index", small_corpus, "--index", foreign), "is not a vecsearch index; choose another --index")
    one_line_error(invoke(runner, "query", "x", "--index", foreign), "is not a vecsearch index")
    assert sorted(p.name for p in foreign.iterdir()) == ["holiday.jpg"]


def test_large_text_files_are_read_in_sections(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus_module, "LARGE_FILE_BYTES", 10_000)
    monkeypatch.setattr(corpus_module, "SECTION_CHARS", 3_000)
    monkeypatch.setattr(corpus_module, "_BLOCK_BYTES", 1_000)
    text = "".join(f"line {i} of a long log, caf\u00e9 \u2603\n" for i in range(2_000))
    (tmp_path / "big.txt").write_text(text)
    (tmp_path / "big-one-line.txt").write_text(text.replace("\n", " "))
    (tmp_path / "big-bad.txt").write_bytes(text.encode() + b"\xff")
    report = CorpusReport()
    documents = list(iter_documents(tmp_path, report=report))
    for name, expected in (("big.txt", text), ("big-one-line.txt", text.replace("\n", " "))):
        sections = [d for d in documents if d.source == name]
        assert [d.id for d in sections] == [f"{name}#{i}" for i in range(1, len(sections) + 1)]
        assert "".join(d.text for d in sections) == expected and len(sections) > 10
        assert all(len(d.text) <= 3_000 for d in sections)
    assert dict(report.skipped)["big-bad.txt"].startswith("invalid UTF-8: byte ")


# --- property-based tests ---------------------------------------------------------------------

unicode_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=300)  # NUL: binary


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=unicode_text)
def test_text_files_round_trip_arbitrary_unicode(tmp_path, text):
    path = tmp_path / "doc.txt"
    path.write_bytes(text.encode("utf-8"))
    report = CorpusReport()
    found = list(iter_documents(path, report=report))
    if text.lstrip("\ufeff").strip():
        assert [d.text for d in found] == [text.removeprefix("\ufeff")]
    else:
        assert found == [] and report.skipped


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(st.tuples(st.text(min_size=1, max_size=20), unicode_text), min_size=1, max_size=5,
                        unique_by=lambda r: r[0]))
def test_jsonl_records_round_trip_arbitrary_unicode(tmp_path, records):
    path = tmp_path / "records.jsonl"
    path.write_text("".join(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n" for i, t in records))
    report = CorpusReport()
    found = {d.id: d.text for d in iter_documents(path, report=report)}
    expected = {i: t for i, t in records if t.strip()}
    assert found == expected
    assert len(report.skipped) == len(records) - len(expected)


@pytest.fixture(scope="module")
def tiny_encoder():
    import torch

    from vecsearch.model.encoder import EncoderConfig, RNNEncoder
    from vecsearch.model.tokenizer import train_tokenizer

    tokenizer = train_tokenizer(["shock waves in supersonic flow", "heat transfer at a wall"] * 5, vocab_size=100)
    torch.manual_seed(0)
    return RNNEncoder(EncoderConfig(tokenizer.get_vocab_size(), embed_dim=8, hidden_dim=8, max_length=32), tokenizer)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(st.text(max_size=200), min_size=1, max_size=4))
def test_encode_gives_unit_vectors_for_arbitrary_unicode(tiny_encoder, texts):
    vectors = tiny_encoder.encode(texts)
    assert vectors.shape == (len(texts), tiny_encoder.config.dim) and vectors.dtype == np.float32
    assert np.all(np.isfinite(vectors)) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-4)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=st.text(max_size=300))
def test_search_answers_or_refuses_any_unicode_query(small_index, query):
    retriever = _open(small_index)
    if not query.strip():
        with pytest.raises(VecsearchError, match="empty query"):
            retriever.search(query)
        return
    hits = retriever.search(query, k=3, mode="hybrid")
    assert len(hits) <= 3 and all(np.isfinite(h.score) for h in hits)


_opened = {}


def _open(index_dir):
    if index_dir not in _opened:
        _opened[index_dir] = Retriever.load(index_dir)
    return _opened[index_dir]


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # bm25s on a corpus of stopwords
def test_bm25_built_from_term_ids_equals_bm25s_from_tokens():
    import bm25s

    from vecsearch.search import lexical

    texts = [d["text"] for d in collection_documents()[:300]] + ["the a an of", ""]
    reference = bm25s.BM25()
    reference.index(lexical.analyze(texts), show_progress=False)
    ours = lexical.LexicalIndex.build(texts)
    assert ours.bm25.vocab_dict.keys() == reference.vocab_dict.keys()
    for query in ("boundary layer flow", "heat transfer", "shock waves supersonic", "nothing-like-it"):
        terms = lexical.analyze([query])[0]
        assert np.allclose(ours.scores(query), reference.get_scores(terms) if terms else 0, atol=1e-6)
    assert lexical.LexicalIndex.build(["the", "a"]).search("the", 2)[0].size == 0  # only stopwords


def test_no_pickle_anywhere(small_index):
    version = live_version(small_index)
    for path in version.rglob("*"):
        if path.is_file():
            assert path.read_bytes()[:1] != b"\x80", path  # the opcode every pickle (protocol 2+) starts with
            if path.suffix == ".npy":
                np.load(path, allow_pickle=False)
    sources = Path(corpus_package.__file__).parents[1].rglob("*.py")
    assert not [p.name for p in sources if "pickle" in p.read_text() or "torch.load" in p.read_text()]
