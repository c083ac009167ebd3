"""The pipeline issue's acceptance check, with default settings (slow: run with -m slow).

200 .txt files and a 100-record .jsonl file from the test collection; 12-word phrases copied
from 20 random documents must bring their own document back first at least 16 times,
through the CLI (--json) and through Retriever.search, in the index's default mode. The
figures of each mode are printed (run with -s).
"""

import json
import random

import pytest
from click.testing import CliRunner

from vecsearch import Retriever
from vecsearch.cli import main

from .conftest import collection_documents, phrase_from, write_corpus


@pytest.mark.slow
def test_copied_phrases_find_their_documents_with_default_settings(tmp_path):
    documents = collection_documents()
    random.Random(7).shuffle(documents)
    corpus = write_corpus(tmp_path / "corpus", documents[:300], text_files=200)
    index_dir = tmp_path / "index"
    runner = CliRunner()
    built = runner.invoke(main, ["index", str(corpus), "--index", str(index_dir), "--json"])
    assert built.exit_code == 0, built.output
    assert json.loads(built.stdout.strip().splitlines()[-1])["documents"] == 300

    rng = random.Random(11)
    expected = {f"doc{d['_id']}.txt": d["text"] for d in documents[:200]}
    expected.update({f"rec{d['_id']}": d["text"] for d in documents[200:300]})
    sample = rng.sample(sorted(expected), 20)
    phrases = {doc_id: phrase_from(expected[doc_id], 12, rng) for doc_id in sample}

    retriever = Retriever.load(index_dir)
    found = {mode: sum(retriever.search(p, k=1, mode=mode)[0].id == d for d, p in phrases.items())
             for mode in ("dense", "lexical", "hybrid")}
    api_hits = sum(retriever.search(p, k=1)[0].id == d for d, p in phrases.items())  # the default mode
    cli_hits = 0
    for doc_id, phrase in phrases.items():
        result = runner.invoke(main, ["query", phrase, "--index", str(index_dir), "--json", "-k", "1"])
        cli_hits += json.loads(result.stdout)[0]["id"] == doc_id
    print(f"rank-1 hits, default mode ({retriever.default_mode}): API {api_hits}/20, CLI {cli_hits}/20; by mode: {found}")
    assert api_hits >= 16 and cli_hits >= 16
