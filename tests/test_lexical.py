"""BM25 built a chunk at a time: the very arrays bm25s builds, in a fraction of its memory."""

import bm25s
import numpy as np
import pytest

from vecsearch.search import lexical
from vecsearch.search.lexical import LexicalIndex, analyze


def bm25s_reference(texts: list[str]) -> bm25s.BM25:
    """bm25s's own index of `texts` (as vecsearch built it before: term ids, then BM25.index)."""
    vocabulary: dict[str, int] = {}
    ids = [np.array([vocabulary.setdefault(t, len(vocabulary)) for t in terms], dtype=np.int32)
           for terms in analyze(texts)]
    reference = bm25s.BM25()
    reference.index((ids, vocabulary), show_progress=False)
    return reference


def random_texts(count: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    words = [f"term{i}" for i in range(400)] + ["the", "of", "and", "what", "how"]
    weights = 1 / np.arange(1, len(words) + 1)  # Zipf-like: some terms in most passages, many rare
    weights /= weights.sum()
    return [" ".join(rng.choice(words, size=int(rng.integers(0, 60)), p=weights)) for _ in range(count)]


@pytest.mark.parametrize("chunk", [7, 4096])  # many chunks, or one
def test_the_arrays_are_bm25s_own_bit_for_bit(chunk, monkeypatch):
    monkeypatch.setattr(lexical, "_ANALYZE_CHUNK", chunk)
    texts = random_texts(300) + ["", "the of and", "term1 " * 300]  # empty, stopwords only, a count over 255
    ours, reference = LexicalIndex.build(texts).bm25, bm25s_reference(texts)
    for name in ("data", "indices", "indptr"):
        assert ours.scores[name].dtype == reference.scores[name].dtype
        np.testing.assert_array_equal(ours.scores[name], reference.scores[name])
    assert ours.scores["num_docs"] == reference.scores["num_docs"] == len(texts)
    assert ours.vocab_dict == reference.vocab_dict


def test_it_saves_loads_and_scores_as_bm25s_does(tmp_path):
    texts = random_texts(200, seed=1)
    built = LexicalIndex.build(texts)
    built.save(tmp_path)
    loaded, reference = LexicalIndex.load(tmp_path), bm25s_reference(texts)
    for query in ("term3 term17", "term250", "the what", "unknownword"):
        terms = analyze([query])[0]
        expected = reference.get_scores(terms) if terms else np.zeros(len(texts))
        np.testing.assert_array_equal(loaded.scores(query), expected)
    assert loaded.search("term3 term17", 5)[0].tolist() == built.search("term3 term17", 5)[0].tolist()


def test_a_corpus_of_stopwords_only_has_an_index_that_matches_nothing():
    index = LexicalIndex.build(["the and of", "what"])
    assert index.scores("the").tolist() == [0.0, 0.0]
    assert index.search("anything", 3)[0].tolist() == []


def test_it_reads_any_sequence_a_chunk_at_a_time(monkeypatch):
    """The indexer hands it a sequence backed by a file; only slices of a chunk are asked for."""
    monkeypatch.setattr(lexical, "_ANALYZE_CHUNK", 50)
    texts = random_texts(120, seed=2)
    asked = []

    class Slices:
        def __len__(self):
            return len(texts)

        def __getitem__(self, key):
            assert isinstance(key, slice) and key.stop - key.start <= 50
            asked.append(key.start)
            return texts[key]

    np.testing.assert_array_equal(LexicalIndex.build(Slices()).bm25.scores["data"],
                                  LexicalIndex.build(texts).bm25.scores["data"])
    assert asked == [0, 50, 100]
