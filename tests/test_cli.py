import json
import random

import pytest
from click.testing import CliRunner

from vecsearch import Retriever
from vecsearch.cli import main

from .conftest import TINY_STEPS, phrase_from


@pytest.fixture(scope="module")
def runner():
    return CliRunner()


@pytest.fixture(scope="module")
def cli_index(runner, small_corpus, tmp_path_factory):
    index_dir = tmp_path_factory.mktemp("cli") / "idx"
    result = runner.invoke(main, ["index", str(small_corpus), "--index", str(index_dir), "--steps", str(TINY_STEPS), "--base", "none",
                                  "--hidden", "48", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["documents"] == 80 and summary["passages"] >= 80 and summary["skipped"] == 0
    return index_dir


def test_query_json_returns_the_document_a_phrase_came_from(runner, cli_index, small_corpus):
    name = sorted(p.name for p in small_corpus.glob("*.txt"))[5]
    phrase = phrase_from((small_corpus / name).read_text(), 12, random.Random(2))
    result = runner.invoke(main, ["query", phrase, "--index", str(cli_index), "-k", "3", "--json", "--mode", "dense"])
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)
    assert hits[0]["id"] == name and hits[0]["rank"] == 1
    assert {"rank", "score", "id", "source", "text"} <= set(hits[0])


def test_human_output_and_info(runner, cli_index):
    result = runner.invoke(main, ["query", "pressure distribution on wings", "--index", str(cli_index), "-k", "2"])
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0].lstrip().startswith("1 ")
    info = runner.invoke(main, ["info", "--index", str(cli_index)])
    assert info.exit_code == 0 and "documents" in info.stdout and "80" in info.stdout
    details = json.loads(runner.invoke(main, ["info", "--index", str(cli_index), "--json"]).stdout)
    assert details["documents"] == 80 and details["index_type"] == "flat"
    hybrid = f"dense weight {details['fusion']['dense_weight']}, query vector moved toward BM25's top 3 passages"
    assert hybrid in info.stdout


def test_index_directory_comes_from_the_environment(runner, cli_index):
    result = runner.invoke(main, ["query", "drag", "--json"], env={"VECSEARCH_INDEX": str(cli_index)})
    assert result.exit_code == 0 and json.loads(result.stdout)


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["index", "/no/such/corpus"], "does not exist"),
        (["query", "   "], "empty query"),
        (["query", "drag", "--index", "/no/such/index"], "no index at"),
        (["info", "--index", "/no/such/index"], "no index at"),
    ],
)
def test_errors_are_one_line_without_traceback(runner, cli_index, arguments, message):
    if arguments[0] == "query" and "--index" not in arguments:
        arguments = arguments + ["--index", str(cli_index)]
    result = runner.invoke(main, arguments)
    assert result.exit_code == 1
    assert message in result.stderr and "Traceback" not in result.output
    assert result.stderr.count("\n") == 1


def test_empty_corpus_is_an_error(runner, tmp_path):
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "blank.txt").write_text("\n")
    result = runner.invoke(main, ["index", str(tmp_path / "corpus"), "--index", str(tmp_path / "idx")])
    assert result.exit_code == 1 and "no documents to index" in result.stderr
    assert not (tmp_path / "idx" / "CURRENT").exists()


def test_help_shows_examples(runner):
    for command in ("index", "query", "train", "info", "eval"):
        result = runner.invoke(main, [command, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output


def test_long_work_prints_progress_lines_when_stderr_is_not_a_terminal(small_corpus, tmp_path, monkeypatch):
    import vecsearch.progress as progress

    monkeypatch.setattr(progress, "LOG_SECONDS", 0.0)  # a line at every update, not every 5 s
    result = CliRunner().invoke(main, ["index", str(small_corpus), "-i", str(tmp_path / "idx"), "--base", "none",
                                       "--hidden", "16", "--steps", "6"])
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert any(line.startswith("training: 6/6 steps (100%)") for line in lines), lines
    assert any(line.startswith("reading: 80 documents") for line in lines), lines
    assert not any("\r" in line for line in lines)


def test_an_update_shows_progress_while_it_carries_passages_and_vectors_over(small_index, tmp_path, monkeypatch):
    import shutil

    import vecsearch.indexing as indexing
    import vecsearch.progress as progress

    index_dir = tmp_path / "idx"
    shutil.copytree(small_index, index_dir)
    monkeypatch.setattr(progress, "LOG_SECONDS", 0.0)  # a line at every update, not every 5 s
    monkeypatch.setattr(indexing, "CARRY_ROWS", 10)  # as large as a million passages are, by this measure
    added = json.dumps({"id": "new", "text": "glaciers carve valleys into mountains"}) + "\n"
    result = CliRunner().invoke(main, ["index", "-", "-i", str(index_dir)], input=added)
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    passages = Retriever.load(index_dir).manifest.counts.passages - 1
    assert any(line.startswith(f"carrying over: {passages}/{passages} passages (100%)") for line in lines), lines
    assert any(line.startswith(f"copying vectors: {passages}/{passages} vectors (100%)") for line in lines), lines


def test_stdin_globs_and_files_of_other_types(tmp_path):
    runner = CliRunner()
    folder = tmp_path / "mixed"
    (folder / "src").mkdir(parents=True)
    (folder / "notes.md").write_text("glaciers carve valleys into mountains")
    (folder / "src" / "tool.py").write_text("def melt(glacier):\n    return glacier.water\n")
    (folder / "paper.pdf").write_bytes(b"%PDF-1.4")
    (folder / "page.html").write_text("<p>x</p>")
    (folder / "other.pdf").write_bytes(b"%PDF-1.4")
    index_dir = str(tmp_path / "idx")
    result = runner.invoke(main, ["index", str(folder), "-i", index_dir, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["documents"] == 1
    assert "4 files of other types not read: .pdf (2), .html (1), .py (1)" in result.stderr
    picked = runner.invoke(main, ["index", str(folder), "-i", str(tmp_path / "py"), "--glob", "*.py", "--json"])
    assert picked.exit_code == 0, picked.output
    assert json.loads(picked.stdout)["documents"] == 1
    hits = json.loads(runner.invoke(main, ["query", "melt glacier", "-i", str(tmp_path / "py"), "--json"]).stdout)
    assert [h["id"] for h in hits] == ["src/tool.py"]

    lines = "\n".join(json.dumps(r) for r in [{"id": "a", "text": "volcanoes erupt lava", "year": 2001},
                                               {"text": "the tide rises twice a day"}]) + "\nnot json\n"
    added = runner.invoke(main, ["index", "-", "-i", index_dir, "--json"], input=lines)
    assert added.exit_code == 0, added.output
    assert json.loads(added.stdout)["added"] == 2 and json.loads(added.stdout)["documents"] == 3  # added, nothing replaced
    assert "skipped stdin:3: invalid JSON" in added.stderr
    hits = json.loads(runner.invoke(main, ["query", "tide", "-i", index_dir, "-m", "lexical", "--json"]).stdout)
    assert hits[0]["id"] == "stdin#2"
    plain = runner.invoke(main, ["index", "-", "-i", str(tmp_path / "plain")], input="just some plain text\n")
    assert plain.exit_code == 0 and "1 added" in plain.stdout
    assert runner.invoke(main, ["index", "-", "-i", index_dir], input="\n").exit_code == 2  # nothing on stdin


def test_remove_names_unknown_ids_and_export_and_train_say_what_they_need(small_index, small_corpus, tmp_path):
    import shutil

    runner = CliRunner()
    copy = shutil.copytree(small_index, tmp_path / "copy", symlinks=True)
    result = runner.invoke(main, ["remove", "no-such-doc", "-i", str(copy)])
    assert result.exit_code == 0 and "not in the index: no-such-doc" in result.stderr
    assert "removed 0 documents; 80 documents remain; the index was left as it was" in result.stdout
    assert "[required]" in runner.invoke(main, ["export", "--help"]).output
    assert "Missing option '--backend'" in runner.invoke(main, ["export", "-i", str(copy)]).output
    trained = runner.invoke(main, ["train", str(small_corpus), "-o", str(tmp_path / "m"), "--base", "none",
                                   "--hidden", "16", "--steps", "3", "--json"])
    assert trained.exit_code == 0, trained.output
    report = json.loads(trained.stdout)
    assert report["steps"] == 3 and report["passages"] > 80 and report["output"] == str(tmp_path / "m")
