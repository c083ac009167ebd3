import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vecsearch.corpus import (
    MAX_WORD_CHARS,
    CorpusReport,
    Document,
    content_hash,
    iter_documents,
    read_corpus,
    read_stdin,
    split_passages,
)
from vecsearch.errors import VecsearchError


def documents(path, **kwargs):
    report = CorpusReport()
    return list(iter_documents(path, report=report, **kwargs)), report


@pytest.mark.parametrize("suffix", [".txt", ".md", ".rst"])
def test_text_files_are_one_document_each(tmp_path, suffix):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / f"a{suffix}").write_text("Wind tunnels measure drag.")
    found, _ = documents(tmp_path)
    assert [(d.id, d.text, d.source) for d in found] == [(f"sub/a{suffix}", "Wind tunnels measure drag.", f"sub/a{suffix}")]


def write_records(path, records, fmt):
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    elif fmt == "json":
        path.write_text(json.dumps(records))
    elif fmt == "csv":
        import csv

        with open(path, "w", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=list(records[0]))
            writer.writeheader()
            writer.writerows(records)
    elif fmt == "parquet":
        import datasets

        datasets.Dataset.from_list(records).to_parquet(str(path))


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "parquet"])
def test_record_files_hold_one_document_per_record(tmp_path, fmt):
    records = [{"id": "x1", "title": "Heat", "text": "transfer in slabs"}, {"id": "x2", "title": "", "text": "shock waves"}]
    write_records(tmp_path / f"data.{fmt}", records, fmt)
    found, report = documents(tmp_path)
    assert [d.id for d in found] == ["x1", "x2"]
    assert found[0].text == "Heat\n\ntransfer in slabs"  # the title is prepended
    assert found[1].text == "shock waves"
    assert all(d.source == f"data.{fmt}" for d in found)
    assert not report.skipped


def test_stdin_records_read_as_a_jsonl_file_reads_them(tmp_path):
    records = [{"id": "x1", "title": "Heat", "text": "transfer in slabs"}, {"id": "x2", "title": "", "text": "shock waves"}]
    write_records(tmp_path / "data.jsonl", records, "jsonl")
    from_file, _ = documents(tmp_path)
    from_stdin = read_stdin(io.StringIO((tmp_path / "data.jsonl").read_text()))
    assert [(d.id, d.text) for d in from_stdin] == [(d.id, d.text) for d in from_file]


def test_text_field_option_and_generated_ids(tmp_path):
    write_records(tmp_path / "r.jsonl", [{"body": "alpha beta"}, {"body": "gamma"}], "jsonl")
    found, _ = documents(tmp_path, text_field="body")
    assert [d.id for d in found] == ["r.jsonl#1", "r.jsonl#2"]


def test_missing_text_field_is_a_clear_error(tmp_path):
    write_records(tmp_path / "r.csv", [{"body": "alpha"}], "csv")
    with pytest.raises(VecsearchError, match="no field 'text'.*--text-field"):
        documents(tmp_path)


def test_bad_files_are_skipped_and_counted(tmp_path):
    (tmp_path / "good.txt").write_text("a real document")
    (tmp_path / "binary.txt").write_bytes(b"\x00\x01\x02abc")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (tmp_path / "empty.md").write_text("   \n")
    (tmp_path / "ignored.bin").write_bytes(b"whatever")
    (tmp_path / "lines.jsonl").write_text('{"text": "fine"}\n{broken\n{"text": "also fine"}\n')
    found, report = documents(tmp_path)
    assert sorted(d.text for d in found) == ["a real document", "also fine", "fine"]
    reasons = dict(report.skipped)
    assert reasons["binary.txt"] == "binary file"
    assert reasons["latin1.txt"].startswith("invalid UTF-8")
    assert reasons["empty.md"] == "empty"
    assert reasons["lines.jsonl:2"].startswith("malformed JSON")


def test_missing_path_and_empty_corpus_are_errors(tmp_path):
    with pytest.raises(VecsearchError, match="does not exist"):
        documents(tmp_path / "nope")
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(VecsearchError, match="no documents to index"):
        read_corpus(tmp_path)


def test_long_documents_become_overlapping_passages():
    text = " ".join(f"w{i}" for i in range(300))
    passages = split_passages(Document("d", text, "d.txt", content_hash(text)), words=128, overlap=32)
    assert [p.position for p in passages] == [0, 1, 2]
    assert [p.text.split()[0] for p in passages] == ["w0", "w96", "w192"]
    assert passages[-1].text.split()[-1] == "w299"
    assert all(text[p.start :].startswith(p.text) for p in passages)


@settings(max_examples=200, deadline=None)
@given(st.text(), st.integers(2, 40), st.integers(0, 39))
def test_passages_cover_every_character_on_arbitrary_unicode(text, words, overlap):
    overlap = min(overlap, words - 1)
    passages = split_passages(Document("d", text, "s", content_hash(text)), words, overlap)
    covered = [False] * len(text)
    for p in passages:
        assert text[p.start : p.start + len(p.text)] == p.text
        pieces = p.text.split()
        assert len(pieces) <= words or all(len(w) > MAX_WORD_CHARS for w in pieces)
        covered[p.start : p.start + len(p.text)] = [True] * len(p.text)
    assert all(covered[i] for i, c in enumerate(text) if not c.isspace())
    assert [p.position for p in passages] == list(range(len(passages)))


def test_a_run_without_spaces_is_cut_into_words():
    text = "a" * 1000 + " tail"
    passages = split_passages(Document("d", text, "s", content_hash(text)), words=4, overlap=1)
    assert passages[0].text == "a" * (4 * MAX_WORD_CHARS) and passages[-1].text.endswith("tail")
