"""Per-token contributions (issue 33): a passage's cosine with a query split among its tokens
and words by the numpy encoder, for every cell and pooling."""

import numpy as np
import pytest
import torch

from vecsearch.model.encoder import CELLS, POOLINGS, EncoderConfig, RNNEncoder
from vecsearch.model.numpy_encoder import NumpyEncoder
from vecsearch.model.tokenizer import token_ids

from .conftest import SHORT_TEXTS


def twin(tokenizer, tmp_path, cell="lstm", pooling="mean", bidirectional=True, output_dim=10):
    torch.manual_seed(3)
    config = EncoderConfig(tokenizer.get_vocab_size(), embed_dim=16, hidden_dim=12, cell=cell,
                           pooling=pooling, bidirectional=bidirectional, output_dim=output_dim)
    encoder = RNNEncoder(config, tokenizer)
    with torch.no_grad():  # random biases too, so the projection's bias has a share
        for parameter in encoder.parameters():
            parameter.normal_(0, 0.5)
    encoder.save(tmp_path)
    return NumpyEncoder.load(tmp_path)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("bidirectional,output_dim", [(True, None), (False, None), (True, 10)])
def test_contributions_add_up_to_the_score(tokenizer, tmp_path, cell, pooling, bidirectional, output_dim):
    encoder = twin(tokenizer, tmp_path, cell, pooling, bidirectional, output_dim)
    texts = SHORT_TEXTS[:5] + ["ünïcödé   ταυ"]
    query = encoder.encode(["flow over a plate"])[0]
    scores = encoder.encode(texts) @ query
    shares = encoder.contributions(token_ids(tokenizer, texts, 256), query)
    for text, share, score in zip(texts, shares, scores):
        assert len(share.tokens) == len(token_ids(tokenizer, [text], 256)[0])
        assert share.score == pytest.approx(float(score), abs=1e-5)
        assert (share.bias == 0.0) == (output_dim is None)
    for explanation, score in zip(encoder.explain(texts, query), scores):  # and by word
        assert sum(w[2] for w in explanation.words) + explanation.rest == pytest.approx(float(score), abs=1e-5)


def test_mean_pooling_shares_are_each_tokens_projected_state(tokenizer, tmp_path):
    """Mean pooling: a token's share is q·P h_t / (T |u|), whatever the other tokens are."""
    encoder = twin(tokenizer, tmp_path)
    query = encoder.encode(["shock waves"])[0]
    [ids] = token_ids(tokenizer, [SHORT_TEXTS[0]], 256)
    [states] = encoder.token_states([ids])
    weight, bias = encoder.projection
    u = states.mean(axis=0) @ weight + bias
    [shares] = encoder.contributions([ids], query)
    expected = (states @ weight) @ query / len(ids) / np.linalg.norm(u)
    np.testing.assert_allclose(shares.tokens, expected, atol=1e-6)
    assert shares.bias == pytest.approx(float(bias @ query / np.linalg.norm(u)), abs=1e-6)


def test_texts_read_side_by_side_have_the_states_they_have_alone(tokenizer, tmp_path):
    encoder = twin(tokenizer, tmp_path, cell="gru")
    sequences = token_ids(tokenizer, SHORT_TEXTS[:5], 256)
    together = encoder.token_states(sequences)
    for sequence, states in zip(sequences, together):
        np.testing.assert_allclose(states, encoder.token_states([sequence])[0], atol=1e-6)


def test_words_are_the_texts_words_with_their_tokens_summed(tokenizer, tmp_path):
    encoder = twin(tokenizer, tmp_path)
    text = "Buckling of thin-walled shells"
    query = encoder.encode(["shells"])[0]
    [explanation] = encoder.explain([text], query)
    assert [text[a:b] for a, b, _ in explanation.words] == ["Buckling", "of", "thin", "-", "walled", "shells"]
    [ids] = token_ids(tokenizer, [text], 256)
    [shares] = encoder.contributions([ids], query)
    assert sum(w[2] for w in explanation.words) == pytest.approx(float(shares.tokens.sum()), abs=1e-6)


def test_words_past_the_tokens_read_get_no_share(tokenizer, tmp_path):
    encoder = twin(tokenizer, tmp_path)
    encoder.config.max_length = 4
    text = "the boundary layer separates at high angles of attack"
    [explanation] = encoder.explain([text], encoder.encode(["layer"])[0])
    assert explanation.words[-1][1] <= len("the boundary layer separates")
    assert explanation.score == pytest.approx(float(encoder.encode([text])[0] @ encoder.encode(["layer"])[0]), abs=1e-5)


# Semantic snippets, Retriever.explain and `vecsearch query --explain`, on an index of the shipped base.

def test_a_semantic_snippet_is_the_window_whose_words_carry_most():
    from vecsearch.search.snippets import SEMANTIC_MARKS, make_snippet, render

    text = " ".join(f"w{i}" for i in range(200))
    words, at = [], 0
    for i in range(200):
        end = at + len(f"w{i}")
        words.append((at, end, 1.0 if 120 <= i < 130 else (-0.1 if i == 125 else 0.0)))
        at = end + 1
    words[125] = (words[125][0], words[125][1], -0.5)
    snippet = make_snippet(text, {"w0"}, lambda ws: ws, width=60, shares=words)
    # 12 words fit: the earliest window holding all of w120-w129 starts at w118
    assert snippet.start == text.index("w118") and snippet.end >= text.index("w129") + 4
    assert snippet.marks == []  # w0, the query's word, is elsewhere
    assert len(snippet.semantic) == SEMANTIC_MARKS
    assert all(snippet.start <= a < b <= snippet.end and text[a:b] != "w125" for a, b in snippet.semantic)
    shown = render(text, snippet, lambda w: f"*{w}*", lambda w: f"_{w}_")
    assert shown.startswith("... w118") and shown.count("_") == 2 * SEMANTIC_MARKS
    # without shares: the opening, as before
    assert make_snippet(text, set(), lambda ws: ws, width=60).start == 0


def test_semantic_marks_leave_the_query_words_to_marks():
    from vecsearch.search.snippets import make_snippet

    text = "reading files line by line is what this passage is about"
    shares = [(m.start(), m.end(), 1.0) for m in __import__("re").finditer(r"\w+", text)]
    snippet = make_snippet(text, {"line"}, lambda ws: ws, shares=shares)
    assert snippet.marks == [(14, 18), (22, 26)]
    assert not set(snippet.semantic) & set(snippet.marks) and len(snippet.semantic) == 3


@pytest.fixture(scope="module")
def based_index(tmp_path_factory):
    from tests.conftest import collection_documents
    from vecsearch import Retriever

    index_dir = tmp_path_factory.mktemp("explain") / "idx"
    Retriever.build([{"id": d["_id"], "text": d["text"]} for d in collection_documents()[:120]], index_dir,
                    show_progress=False).close()
    return index_dir


QUERY = "a tool for cutting wood"


@pytest.mark.parametrize("mode", ["dense", "hybrid"])
def test_search_with_explain_splits_each_hits_cosine_among_its_words(based_index, mode):
    from vecsearch import Retriever

    with Retriever.load(based_index) as retriever:
        plain = retriever.search(QUERY, k=5, mode=mode)
        explained = retriever.search(QUERY, k=5, mode=mode, explain=True)
        assert [h.id for h in plain] == [h.id for h in explained]
        for hit in explained:
            explanation = hit.explanation
            assert sum(share for _, _, share in explanation.words) + explanation.rest == pytest.approx(explanation.score, abs=1e-5)
            if mode == "dense":  # the score the index found, up to how it stored the passage's vector
                assert explanation.score == pytest.approx(hit.score, abs=2e-3)
            assert retriever.explain(QUERY, hit).score == pytest.approx(explanation.score, abs=1e-6)
            alone = retriever.explain(QUERY, hit.passage_id).words  # read alone, not beside the other hits
            assert [w[:2] for w in alone] == [w[:2] for w in explanation.words]
            np.testing.assert_allclose([w[2] for w in alone], [w[2] for w in explanation.words], atol=1e-6)
            assert 1 <= len(hit.snippet.semantic) <= 3
            data = hit.to_dict()
            assert data["explanation"]["words"][0] == list(explanation.words[0])
            assert [list(m) for m in data["snippet"]["marks"]] == [list(m) for m in hit.snippet.marks]
        for hit in plain:  # without explain: as before, one key more in the snippet (empty)
            assert hit.explanation is None and hit.snippet.semantic == [] and "explanation" not in hit.to_dict()


def test_explain_refuses_a_passage_the_index_lacks(based_index):
    from vecsearch import Retriever
    from vecsearch.errors import VecsearchError

    with Retriever.load(based_index) as retriever:
        with pytest.raises(VecsearchError, match="no passage 99999"):
            retriever.explain(QUERY, 99999)
        assert all(hit.explanation is None for hit in retriever.search(QUERY, k=3, mode="lexical", explain=True))


@pytest.mark.parametrize("mode", ["dense", "hybrid", "lexical"])
def test_query_explain_prints_the_carrying_words(based_index, mode):
    import json

    from click.testing import CliRunner

    from vecsearch.cli import main

    runner = CliRunner()
    done = runner.invoke(main, ["query", QUERY, "-k", "3", "--mode", mode, "--explain", "--index", str(based_index)])
    assert done.exit_code == 0, done.output
    whys = [line for line in done.output.splitlines() if line.strip().startswith("why: ")]
    assert len(whys) == (0 if mode == "lexical" else 3)
    assert all("= cosine" in line and "bias" in line for line in whys)
    done = runner.invoke(main, ["query", QUERY, "-k", "3", "--mode", mode, "--explain", "--json", "--index", str(based_index)])
    hits = json.loads(done.stdout if hasattr(done, "stdout") else done.output)
    assert all(("explanation" in hit) == (mode != "lexical") and "semantic" in hit["snippet"] for hit in hits)
