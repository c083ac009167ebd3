import json
import random

import pytest
from click.testing import CliRunner

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
