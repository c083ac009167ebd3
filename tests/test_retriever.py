import json
import random

import numpy as np
import pytest

from vecsearch import Hit, Retriever
from vecsearch.model.encoder import RNNEncoder
from vecsearch.errors import VecsearchError
from vecsearch.storage.indexdir import MANIFEST, live_version, versions

from .conftest import phrase_from


def test_copied_sentences_bring_their_documents_back(small_index, small_corpus):
    # The test encoder is tiny (48 units, 60 steps), so one phrase is too few to judge it
    # by: of 20 copied phrases, most must find their document near the top of 80, where
    # chance would put 1 in the top five.
    retriever = Retriever.load(small_index)
    names = sorted(p.name for p in small_corpus.glob("*.txt"))[:20]
    ranks = []
    for seed, name in enumerate(names):
        hits = retriever.search(phrase_from((small_corpus / name).read_text(), 12, random.Random(seed)), k=5, mode="dense")
        assert all(isinstance(hit, Hit) for hit in hits)
        assert [h.rank for h in hits] == [1, 2, 3, 4, 5]
        assert len({h.id for h in hits}) == len(hits)  # one hit per document
        assert all(a.score >= b.score for a, b in zip(hits, hits[1:]))
        ranks.append(next((hit.rank for hit in hits if hit.id == name), None))
    assert sum(rank is not None for rank in ranks) >= 14, ranks
    assert sum(rank == 1 for rank in ranks) >= 5, ranks


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_every_mode_finds_record_documents(small_index, small_corpus, mode):
    record = json.loads((small_corpus / "records.jsonl").read_text().splitlines()[3])
    hits = Retriever.load(small_index).search(phrase_from(record["text"], 12, random.Random(1)), k=3, mode=mode)
    assert hits[0].id == record["id"]
    assert hits[0].source == "records.jsonl"


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """In float64: float32 unit vectors' own dot product is off 1 by ~1e-7."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_encoder_is_exposed_and_vectors_match_the_index(small_index):
    retriever = Retriever.load(small_index)
    vectors = retriever.encoder.encode(["heat transfer", "shock waves"])
    assert vectors.shape == (2, retriever.index.d) and vectors.dtype == np.float32
    stored = retriever.index.reconstruct(0)
    text = retriever.store.passages([0])[0].text
    # the default LSTM: bfloat16 on a CPU with bfloat16 units, float32 elsewhere (see encoding_precision)
    if RNNEncoder.bfloat16_is_fast():
        assert retriever.manifest.index.precision == "bfloat16"
        # In bfloat16 neither a text's neighbours in its batch nor its padding change its vector, but a
        # batch of one text runs other kernels than a batch of several: alone, a text is off the vector
        # the index stored by up to 4.6e-5 a component, 1 - cosine <= 3.1e-9 (measured over 6 tiny
        # encoders x 96 passages; any batch of 2-128 texts gave the stored bits). Encoded in float32
        # instead, a passage is 1 - cosine 1.4e-6 to 9e-6 away: the bound below tells the two apart.
        alone = retriever.encoder.encode([text], bfloat16=True)[0]
        assert 1 - cosine(alone, stored) < 1e-7
        longest = max((p.text for p in retriever.store.iter_passages()), key=len)
        beside_a_longer_text = retriever.encoder.encode([text, longest], bfloat16=True)[0]
        np.testing.assert_allclose(beside_a_longer_text, stored, atol=1e-6)  # measured: equal
        assert cosine(retriever.encoder.encode([text])[0], stored) > 0.999  # near the float32 vector
    else:
        assert retriever.manifest.index.precision == "float32"
        np.testing.assert_allclose(retriever.encoder.encode([text])[0], stored, atol=1e-5)


@pytest.mark.parametrize("fast", [True, False])
def test_auto_precision_follows_the_cpu_for_an_lstm(monkeypatch, fast):
    from vecsearch.indexing import encoding_precision

    monkeypatch.setattr(RNNEncoder, "bfloat16_is_fast", staticmethod(lambda: fast))
    assert encoding_precision("auto", "lstm") == ("bfloat16" if fast else "float32")
    assert encoding_precision("auto", "gru") == "int8"
    assert encoding_precision("float32", "lstm") == "float32"


def test_auto_precision_encodes_a_gru_in_int8(small_corpus, tmp_path):
    from vecsearch.training.config import TrainConfig

    from .conftest import TINY_ENCODER

    retriever = Retriever.build(
        small_corpus, tmp_path / "idx", base="none", encoder_config={**TINY_ENCODER, "cell": "gru"},
        train_config=TrainConfig(steps=2, batch_size=8), show_progress=False,
    )
    assert retriever.manifest.index.precision == "int8"
    stored = retriever.index.reconstruct(0)
    # the same vector up to quantization
    assert float(retriever.encoder.encode([retriever.store.passages([0])[0].text])[0] @ stored) > 0.995


def test_an_unknown_precision_fails_before_training(small_corpus, tmp_path):
    with pytest.raises(VecsearchError, match="unknown precision 'int4'"):
        Retriever.build(small_corpus, tmp_path / "idx", precision="int4", show_progress=False)
    assert not (tmp_path / "idx").exists()


def test_bad_queries_and_options_are_clear_errors(small_index):
    retriever = Retriever.load(small_index)
    for query in ("", "   \n"):
        with pytest.raises(VecsearchError, match="empty query"):
            retriever.search(query)
    with pytest.raises(VecsearchError, match="unknown mode"):
        retriever.search("drag", mode="psychic")
    with pytest.raises(VecsearchError, match="k must be"):
        retriever.search("drag", k=0)


def test_loading_checks_the_format_version(small_index, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(small_index, copy)
    manifest_path = live_version(copy) / MANIFEST
    manifest = json.loads(manifest_path.read_text())
    manifest["format_version"] = 99
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(VecsearchError, match="format 99.*upgrade"):
        Retriever.load(copy)
    with pytest.raises(VecsearchError, match="no index at"):
        Retriever.load(tmp_path / "missing")
    (tmp_path / "foreign").mkdir()
    with pytest.raises(VecsearchError, match="not a vecsearch index"):
        Retriever.load(tmp_path / "foreign")


def test_rebuilding_with_a_model_replaces_the_version_once_released(small_index, small_corpus, tmp_path):
    index_dir = tmp_path / "reuse"
    first = Retriever.build(small_corpus, index_dir, model=small_index, show_progress=False)
    second = Retriever.build(small_corpus, index_dir, model=small_index, show_progress=False)
    assert first.version_dir.name == "v000001" and second.version_dir.name == "v000002"
    assert second.last_update.unchanged == 80 and second.manifest.training is None
    assert first.version_dir.exists() and first.search("water", mode="lexical")  # still open: kept, still answers
    first.close()
    summary = second.delete(["records.jsonl"])  # not an id: nothing to change, nothing written
    assert (summary.removed, summary.not_found, summary.version) == (0, 1, None)
    second.delete([second.doc_ids[0]])
    assert versions(index_dir) == ["v000003"]  # superseded versions are removed once released
    assert np.array_equal(second.encoder.encode(["drag"]), Retriever.load(small_index).encoder.encode(["drag"]))
