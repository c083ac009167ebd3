"""Per-token contributions (issue 33): a passage's cosine with a query split among its tokens
and words by the numpy encoder, for every cell and pooling."""

import numpy as np
import pytest
import torch

from vecsearch.model.encoder import CELLS, POOLINGS, EncoderConfig, RNNEncoder
from vecsearch.model.numpy_encoder import NumpyEncoder
from vecsearch.model.tokenizer import token_ids, train_tokenizer

TEXTS = [
    "the boundary layer separates at high angles of attack",
    "heat transfer in laminar flow over a flat plate",
    "Shock waves in supersonic flow",
    "a",
    "buckling of thin cylindrical shells under axial compression and pressure",
] * 4


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(TEXTS, vocab_size=300)


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
    texts = TEXTS[:5] + ["ünïcödé   ταυ"]
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
    [ids] = token_ids(tokenizer, [TEXTS[0]], 256)
    [states] = encoder.token_states([ids])
    weight, bias = encoder.projection
    u = states.mean(axis=0) @ weight + bias
    [shares] = encoder.contributions([ids], query)
    expected = (states @ weight) @ query / len(ids) / np.linalg.norm(u)
    np.testing.assert_allclose(shares.tokens, expected, atol=1e-6)
    assert shares.bias == pytest.approx(float(bias @ query / np.linalg.norm(u)), abs=1e-6)


def test_texts_read_side_by_side_have_the_states_they_have_alone(tokenizer, tmp_path):
    encoder = twin(tokenizer, tmp_path, cell="gru")
    sequences = token_ids(tokenizer, TEXTS[:5], 256)
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
