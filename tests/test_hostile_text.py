"""Hostile text stays harmless (issue 30): control characters in ids, text, metadata, sources and
file names reach the terminal escaped, never raw; `--json` stays exact JSON."""

import json
import re

import pytest
from click.testing import CliRunner

from vecsearch.cli import main

TITLE = "\u001b]0;PWNED\u0007\u001b[2Jevil"  # sets the window title, clears the screen
RECORDS = [
    {"id": TITLE, "text": "wing flutter \u001b[31mred\u001b[0m and \u009b2J beyond\u007f", "note": "\u001b]0;meta\u0007",
     "\u001b[1mkey": [1, "\u0085x"]},
    {"id": "plain", "text": "wing flutter of a plain record"},
]
FILE_NAME = "line\nbreak\u001b[2J.txt"
BINARY_NAME = "bin\n\u001b[5m.txt"
# what must never reach a terminal: C0 controls but the line break, DEL, C1 controls
RAW_CONTROL = re.compile("[\u0000-\u0009\u000b-\u001f\u007f-\u009f]")


def harmless(output: str) -> bool:
    return RAW_CONTROL.search(output) is None


def invoke(runner, *arguments, **keywords):
    result = runner.invoke(main, [str(a) for a in arguments], **keywords)
    assert "Traceback" not in result.output, result.output
    return result


@pytest.fixture(scope="module")
def runner():
    return CliRunner()


@pytest.fixture(scope="module")
def hostile(runner, tmp_path_factory):
    """An index (in a folder whose name has an escape in it) of records and files with control
    characters in ids, text, metadata and file names; and the index command's result."""
    corpus = tmp_path_factory.mktemp("corpus")
    (corpus / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    (corpus / FILE_NAME).write_text("wing flutter named by a file with a line break")
    (corpus / BINARY_NAME).write_bytes(b"\x00\x01\x02 binary")
    index_dir = tmp_path_factory.mktemp("index") / "idx\u001b[2J"
    result = invoke(runner, "index", corpus, "--index", index_dir)
    assert result.exit_code == 0, result.output
    return index_dir, result


def test_query_output_escapes_control_characters(runner, hostile):
    index_dir, _ = hostile
    result = invoke(runner, "query", "wing flutter", "--index", index_dir, "-k", "5", "--mode", "lexical")
    assert result.exit_code == 0, result.output
    assert harmless(result.output), repr(result.output)
    assert "\\x1b]0;PWNED\\x07\\x1b[2Jevil" in result.stdout
    assert "line\\nbreak\\x1b[2J.txt" in result.stdout  # one line, not two
    assert 'note="\\u001b]0;meta\\u0007"' in result.stdout  # metadata values as JSON, escapes and all
    assert '\\x1b[1mkey=[1, "\\x85x"]' in result.stdout
    assert "\\x9b2J" in result.stdout and "\\x1b[31mred" in result.stdout
    hit_lines = [line for line in result.stdout.splitlines() if not line.startswith("     ")]
    assert len(hit_lines) == 3 and all(re.match(r"\s+\d+\s", line) for line in hit_lines), hit_lines


def test_query_json_stays_exact(runner, hostile):
    index_dir, _ = hostile
    result = invoke(runner, "query", "wing flutter", "--index", index_dir, "-k", "5", "--mode", "lexical", "--json")
    assert result.exit_code == 0, result.output
    assert harmless(result.stdout.rstrip("\n")), repr(result.stdout)  # C1 and DEL as \u escapes too
    hits = {hit["id"]: hit for hit in json.loads(result.stdout)}
    assert set(hits) == {TITLE, "plain", FILE_NAME}
    assert hits[TITLE]["text"] == RECORDS[0]["text"]
    assert hits[TITLE]["metadata"] == {"note": RECORDS[0]["note"], "\u001b[1mkey": [1, "\u0085x"]}


def test_index_output_and_skipped_files_are_escaped(hostile):
    _, result = hostile
    assert harmless(result.output), repr(result.output)
    assert "skipped bin\\n\\x1b[5m.txt: binary file" in result.stderr


def test_info_and_remove_are_escaped(runner, hostile):
    index_dir, _ = hostile
    info = invoke(runner, "info", "--index", index_dir)
    assert info.exit_code == 0 and harmless(info.output), repr(info.output)
    assert "idx\\x1b[2J" in info.stdout
    removed = invoke(runner, "remove", "\u001b[2Jnot-there", "--index", index_dir)
    assert removed.exit_code == 0 and harmless(removed.output), repr(removed.output)
    assert "not in the index: \\x1b[2Jnot-there" in removed.stderr


@pytest.mark.parametrize("arguments", [
    ["index", "/no/such\n\u001b[2Jcorpus"],
    ["query", "wing", "--index", "/no/such\n\u001b]0;x\u0007index"],
    ["query", "wing", "--index", "/no/such\u009b2Jindex"],
])
def test_errors_naming_files_are_one_escaped_line(runner, arguments, tmp_path):
    result = invoke(runner, *arguments)
    assert result.exit_code != 0
    assert harmless(result.output), repr(result.output)
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")


def test_marked_words_stay_marked_once_the_text_is_escaped():
    from vecsearch.cli import _escaped_snippet
    from vecsearch.search.snippets import Snippet, render

    text = "\u001b[2J\u001b]0;x\u0007 wing\tflutter \u009b beyond"
    start = text.index("wing")
    snippet = Snippet(0, len(text), [(start, start + 4), (start + 5, start + 12)])
    shown = render(*_escaped_snippet(text, snippet), lambda word: f"<{word}>")
    assert shown == "\\x1b[2J\\x1b]0;x\\x07 <wing> <flutter> \\x9b beyond"
