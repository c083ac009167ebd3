"""One bad record must not cost the others (issue 30): lone surrogates, duplicate ids, text cut
short, a lone unreadable file, and UTF-16 files."""

import json
import os
from io import StringIO
from pathlib import Path

import pytest
from click.testing import CliRunner

from vecsearch import Retriever
from vecsearch.cli import main
from vecsearch.corpus import CorpusReport, documents_from, iter_documents, read_corpus, read_stdin
from vecsearch.corpus import reading as corpus_module
from vecsearch.corpus.passages import MAX_RUN_CHARS
from vecsearch.errors import VecsearchError


@pytest.fixture(scope="module")
def runner():
    return CliRunner()


def read(path):
    report = CorpusReport()
    return list(iter_documents(path, report=report)), report


def index(runner, *arguments):
    result = runner.invoke(main, ["index", *map(str, arguments)])
    assert "Traceback" not in result.output
    return result


# JSON text (as it stands in the file) of records with a lone surrogate somewhere
SURROGATE_RECORDS = {
    "text": r'{"id": "a", "text": "x \ud800 y"}',
    "id": r'{"id": "a\udc00", "text": "wing flutter"}',
    "metadata value": r'{"id": "a", "text": "wing flutter", "note": "\ud83d"}',
    "metadata name": r'{"id": "a", "text": "wing flutter", "n\udfffte": 1}',
    "nested metadata": r'{"id": "a", "text": "wing flutter", "tags": ["ok", {"deep": "\ud800"}]}',
}
GOOD_RECORD = '{"id": "b", "text": "boundary layer transition on a wing"}'


@pytest.mark.parametrize("where", SURROGATE_RECORDS)
def test_a_record_with_a_lone_surrogate_is_skipped_with_its_line(tmp_path, where):
    (tmp_path / "s.jsonl").write_text(SURROGATE_RECORDS[where] + "\n" + GOOD_RECORD + "\n")
    documents, report = read(tmp_path / "s.jsonl")
    assert [d.id for d in documents] == ["b"]
    assert len(report.skipped) == 1 and report.skipped[0][0] == "s.jsonl:1"
    assert "lone surrogate" in report.skipped[0][1]
    stdin_report = CorpusReport()
    documents = read_stdin(StringIO(SURROGATE_RECORDS[where] + "\n" + GOOD_RECORD + "\n"), report=stdin_report)
    assert [d.id for d in documents] == ["b"] and stdin_report.skipped[0][0] == "stdin:1"


def test_standard_input_that_is_not_utf8_costs_its_line(runner, tmp_path):
    lines = b'{"id": "a", "text": "wing \xff"}\n{"id": "b", "text": "wing \xe2\x80\xa8 flutter \xc2\x85 x"}\n'
    result = runner.invoke(main, ["index", "-", "--index", str(tmp_path / "idx"), "--json"], input=lines)
    assert result.exit_code == 0, result.output
    assert "skipped stdin:1: invalid UTF-8: byte 26 of the line" in result.stderr
    assert Retriever.load(tmp_path / "idx").doc_ids == ["b"]  # U+2028 and U+0085 inside a string split no line
    plain = runner.invoke(main, ["index", "-", "--index", str(tmp_path / "plain")], input=b"wing \xff flutter")
    assert plain.exit_code != 0 and "invalid UTF-8: byte 5" in plain.stderr
    utf16 = runner.invoke(main, ["index", "-", "--index", str(tmp_path / "utf16"), "--json"],
                          input=GOOD_RECORD.encode("utf-16"))
    assert utf16.exit_code == 0 and Retriever.load(tmp_path / "utf16").doc_ids == ["b"]


def test_a_python_record_with_a_lone_surrogate_is_skipped():
    report = CorpusReport()
    records = [json.loads(SURROGATE_RECORDS["metadata value"]), json.loads(GOOD_RECORD)]
    assert [d.id for d in documents_from(records, report=report)] == ["b"]
    assert report.skipped[0][0] == "a" and "lone surrogate" in report.skipped[0][1]


def test_a_file_name_that_is_not_utf8_is_skipped_by_name(tmp_path):
    (tmp_path / "ok.txt").write_text("wing one")
    (Path(os.fsdecode(bytes(tmp_path) + b"/bad\xff.txt"))).write_text("wing two")
    documents, report = read(tmp_path)
    assert [d.id for d in documents] == ["ok.txt"]
    assert report.skipped == [("bad\\xff.txt", "file name is not valid UTF-8")]


def test_the_index_command_skips_a_surrogate_record_and_indexes_the_rest(runner, tmp_path):
    (tmp_path / "s.jsonl").write_text(SURROGATE_RECORDS["text"] + "\n" + GOOD_RECORD + "\n")
    result = index(runner, tmp_path / "s.jsonl", "--index", tmp_path / "idx", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["added"] == 1
    assert "skipped s.jsonl:1: lone surrogate" in result.stderr
    piped = runner.invoke(main, ["index", "-", "--index", str(tmp_path / "piped"), "--json"],
                          input=SURROGATE_RECORDS["id"] + "\n" + GOOD_RECORD + "\n")
    assert piped.exit_code == 0, piped.output
    assert "skipped stdin:1: lone surrogate" in piped.stderr
    assert Retriever.load(tmp_path / "piped").doc_ids == ["b"]


def test_removals_follow_a_file_whatever_its_duplicate_ids(runner, tmp_path):
    records = tmp_path / "d.jsonl"
    lines = {i: json.dumps({"id": i, "text": f"{i} wing flutter"}) for i in "ab"}
    records.write_text("\n".join([lines["a"], lines["b"], lines["a"]]) + "\n")
    assert index(runner, records, "--index", tmp_path / "idx").exit_code == 0
    records.write_text("\n".join([lines["a"], lines["a"]]) + "\n")
    result = index(runner, records, "--index", tmp_path / "idx", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["removed"] == 1
    assert Retriever.load(tmp_path / "idx").doc_ids == ["a"]


def test_characters_cut_counts_what_passages_leave_out():
    from vecsearch.corpus import characters_cut

    assert characters_cut("short words only " * 1000) == 0
    assert characters_cut("x" * MAX_RUN_CHARS) == 0
    assert characters_cut("a " + "x" * (MAX_RUN_CHARS + 5) + " b " + "y" * (MAX_RUN_CHARS * 2)) == 5 + MAX_RUN_CHARS


def test_text_cut_short_is_reported(runner, tmp_path):
    cell = "x" * 100_000
    (tmp_path / "big.csv").write_text(f"id,text\nbig,{cell}\nsmall,wing text\n")
    result = index(runner, tmp_path / "big.csv", "--index", tmp_path / "idx", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["cut"] == 1
    assert (f"note: big: {100_000 - MAX_RUN_CHARS:,} characters left out (of a run without spaces only the first "
            f"{MAX_RUN_CHARS:,} are indexed)" in result.stderr)
    (tmp_path / "big.csv").write_text(f"id,text\nbig,{cell}\nsmall,wing text again\n")
    people = index(runner, tmp_path / "big.csv", "--index", tmp_path / "idx")
    assert people.exit_code == 0 and "note: big" not in people.stderr  # unchanged: not read again


def test_a_lone_unreadable_file_says_why(runner, tmp_path):
    pyarrow = pytest.importorskip("pyarrow")
    import pyarrow.parquet as parquet

    table = pyarrow.table({"id": ["a"], "text": ["wing"], "m": pyarrow.array([[("k", 1)]], pyarrow.map_(pyarrow.string(), pyarrow.int64()))})
    parquet.write_table(table, tmp_path / "map.parquet")
    result = index(runner, tmp_path / "map.parquet", "--index", tmp_path / "idx")
    assert result.exit_code == 1 and result.stderr.count("\n") == 1, result.stderr
    assert "map.parquet: unreadable parquet file: Arrow type map<string, int64" in result.stderr
    with pytest.raises(VecsearchError, match="unreadable parquet file"):
        read_corpus(tmp_path / "map.parquet")


TEXT = "Wind tunnel drag on a slender body, caf\u00e9 \u2603 \u4e2d\u6587.\nSecond line.\n"
ENCODINGS = {"utf-16 with BOM": "utf-16", "utf-16-le": "utf-16-le", "utf-16-be": "utf-16-be",
             "utf-32 with BOM": "utf-32", "utf-8 with BOM": "utf-8-sig"}


@pytest.mark.parametrize("encoding", ENCODINGS.values(), ids=ENCODINGS)
def test_utf16_text_files_are_read(tmp_path, encoding):
    (tmp_path / "note.txt").write_bytes(TEXT.encode(encoding))
    documents, report = read(tmp_path)
    assert report.skipped == [] and [d.text for d in documents] == [TEXT]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le"])
def test_large_utf16_text_files_are_read_in_sections(tmp_path, monkeypatch, encoding):
    monkeypatch.setattr(corpus_module, "LARGE_FILE_BYTES", 10_000)
    monkeypatch.setattr(corpus_module, "SECTION_CHARS", 3_000)
    monkeypatch.setattr(corpus_module, "_BLOCK_BYTES", 1_001)  # odd: a block ends inside a character
    text = TEXT * 400
    (tmp_path / "big.txt").write_bytes(text.encode(encoding))
    documents, report = read(tmp_path)
    assert report.skipped == [] and "".join(d.text for d in documents) == text and len(documents) > 3


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le"])
def test_utf16_record_files_are_read(tmp_path, encoding):
    records = [{"id": "a", "text": TEXT}, {"id": "b", "text": "wing"}]
    (tmp_path / "r.jsonl").write_bytes("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode(encoding))
    (tmp_path / "r.csv").write_bytes('id,text\nc,"caf\u00e9 wing"\n'.encode(encoding))
    (tmp_path / "r.json").write_bytes(json.dumps([{"id": "d", "text": "\u4e2d wing"}], ensure_ascii=False).encode(encoding))
    documents, report = read(tmp_path)
    assert report.skipped == []
    assert {d.id: d.text for d in documents} == {"a": TEXT, "b": "wing", "c": "caf\u00e9 wing", "d": "\u4e2d wing"}


@pytest.mark.parametrize("content", [b"\x00\x01\x02 not text", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)),
                                     "odd \u0100\u0101".encode("utf-16-le") + b"\x00"])
def test_binary_files_are_still_binary(tmp_path, content):
    (tmp_path / "blob.txt").write_bytes(content)
    documents, report = read(tmp_path)
    assert documents == [] and report.skipped == [("blob.txt", "binary file")]
