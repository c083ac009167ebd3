from dataclasses import replace

import numpy as np
import pytest
import torch

from vecsearch.model.encoder import (
    CELLS,
    ENCODE_BATCH,
    POOLINGS,
    ElmanCell,
    EncoderConfig,
    RNNEncoder,
    pad_batch,
)
from vecsearch.model.tokenizer import load_tokenizer, save_tokenizer, train_tokenizer, token_ids
from vecsearch.training.config import TrainConfig
from vecsearch.training.self_supervised import fit
from vecsearch.training.loop import new_encoder

from .conftest import SHORT_TEXTS


def test_tokenizer_lowercases_and_round_trips(tokenizer, tmp_path):
    assert tokenizer.encode("SHOCK Waves").tokens == tokenizer.encode("shock waves").tokens
    assert tokenizer.token_to_id("[PAD]") == 0 and tokenizer.token_to_id("[UNK]") == 1
    assert train_tokenizer(SHORT_TEXTS, vocab_size=300).to_str() == tokenizer.to_str()  # reproducible
    save_tokenizer(tokenizer, tmp_path)
    assert load_tokenizer(tmp_path).encode("shock waves").ids == tokenizer.encode("shock waves").ids
    assert token_ids(tokenizer, ["", "shock waves " * 100], max_length=7)[1].__len__() == 7
    assert token_ids(tokenizer, [""], max_length=7) == [[tokenizer.token_to_id("[UNK]")]]


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("bidirectional", [True, False])
def test_every_cell_and_pooling_gives_unit_vectors_independent_of_batching(tokenizer, cell, pooling, bidirectional):
    torch.manual_seed(0)
    config = EncoderConfig(tokenizer.get_vocab_size(), embed_dim=16, hidden_dim=12, cell=cell,
                           pooling=pooling, bidirectional=bidirectional)
    encoder = RNNEncoder(config, tokenizer)
    vectors = encoder.encode(SHORT_TEXTS, batch_size=3)
    assert vectors.dtype == np.float32 and vectors.shape == (len(SHORT_TEXTS), config.dim)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    # Padding must not leak into a text's vector: alone or batched, the same result.
    alone = np.stack([encoder.encode([t])[0] for t in SHORT_TEXTS[:5]])
    assert np.allclose(alone, vectors[:5], atol=1e-5)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("output_dim", [None, 24])
def test_bfloat16_encoding_stays_near_float32(tokenizer, cell, output_dim):
    torch.manual_seed(0)
    config = EncoderConfig(tokenizer.get_vocab_size(), embed_dim=16, hidden_dim=12, cell=cell, output_dim=output_dim)
    encoder = RNNEncoder(config, tokenizer)
    exact, fast = encoder.encode(SHORT_TEXTS, batch_size=3), encoder.encode(SHORT_TEXTS, batch_size=3, bfloat16=True)
    assert fast.dtype == np.float32 and np.allclose(np.linalg.norm(fast, axis=1), 1, atol=1e-5)
    assert float((exact * fast).sum(axis=1).min()) > 0.99  # bfloat16 keeps ~3 significant digits
    assert not torch.is_autocast_enabled("cpu")  # the setting does not outlive the call


@pytest.mark.parametrize("bfloat16", [False, True])
def test_the_default_batch_size_is_the_same_in_both_precisions(tokenizer, monkeypatch, bfloat16):
    encoder = RNNEncoder(EncoderConfig(tokenizer.get_vocab_size(), embed_dim=8, hidden_dim=8, cell="lstm"), tokenizer)
    sizes = []
    forward = RNNEncoder.forward
    monkeypatch.setattr(RNNEncoder, "forward", lambda self, ids, lengths: sizes.append(len(ids)) or forward(self, ids, lengths))
    encoder.encode(SHORT_TEXTS * 20, bfloat16=bfloat16)  # 400 texts
    assert max(sizes) == ENCODE_BATCH and sum(sizes) == 400


def test_simple_cell_is_the_textbook_elman_cell():
    torch.manual_seed(0)
    cell = ElmanCell(3, 4)
    x, h = torch.randn(2, 3), torch.randn(2, 4)
    weight, bias = cell.linear.weight, cell.linear.bias
    expected = torch.tanh(torch.cat([x, h], 1) @ weight.T + bias)
    assert torch.allclose(cell(x, h), expected)


def test_last_pooling_is_the_final_hidden_state(tokenizer):
    torch.manual_seed(0)
    config = EncoderConfig(tokenizer.get_vocab_size(), embed_dim=8, hidden_dim=6, cell="simple",
                           pooling="last", bidirectional=False)
    encoder = RNNEncoder(config, tokenizer).eval()
    ids = encoder.tokenize(["heat transfer in laminar flow"])[0]
    h = torch.zeros(1, 6)
    with torch.no_grad():
        for token in ids:
            h = encoder.directions[0].cell(encoder.embedding(torch.tensor([token])), h)
        expected = torch.nn.functional.normalize(h, dim=-1)
        assert torch.allclose(encoder(*pad_batch([ids])), expected, atol=1e-6)


def test_save_and_load_give_the_same_vectors(tokenizer, tmp_path):
    encoder = RNNEncoder(EncoderConfig(tokenizer.get_vocab_size(), embed_dim=8, hidden_dim=8, cell="lstm",
                                       output_dim=5), tokenizer)
    encoder.save(tmp_path)
    assert (tmp_path / "encoder.safetensors").is_file()
    loaded = RNNEncoder.load(tmp_path)
    assert loaded.config == encoder.config
    assert np.array_equal(loaded.encode(SHORT_TEXTS), encoder.encode(SHORT_TEXTS))


def test_training_is_deterministic_for_a_seed_and_lowers_the_loss():
    texts = [f"{t} number {i}" for i, t in enumerate(SHORT_TEXTS * 3)]
    doc_ids = [str(i) for i in range(len(texts))]
    config = TrainConfig(steps=12, batch_size=8, seed=3)
    settings = {"hidden_dim": 16, "embed_dim": 16}
    first, result = fit(texts, doc_ids, settings, config, show_progress=False)
    second, _ = fit(texts, doc_ids, settings, config, show_progress=False)
    assert np.array_equal(first.encode(texts), second.encode(texts))
    assert np.mean(result.losses[-3:]) < np.mean(result.losses[:3])
    other, _ = fit(texts, doc_ids, settings, TrainConfig(steps=12, batch_size=8, seed=4), show_progress=False)
    assert not np.array_equal(first.encode(texts), other.encode(texts))


@pytest.mark.parametrize("cell, fast, requested, expected", [
    ("lstm", True, None, True), ("lstm", False, None, False), ("gru", True, None, False), ("lstm", True, False, False),
])
def test_training_runs_forward_passes_in_bfloat16_where_encoding_would(tokenizer, monkeypatch, cell, fast, requested, expected):
    monkeypatch.setattr(RNNEncoder, "bfloat16_is_fast", staticmethod(lambda: fast))
    config = EncoderConfig(tokenizer.get_vocab_size(), embed_dim=8, hidden_dim=8, cell=cell)
    _, settled = new_encoder(SHORT_TEXTS, [str(i) for i in range(len(SHORT_TEXTS))], config, tokenizer,
                             TrainConfig(steps=1, bfloat16=requested, embedding_init="random"))
    assert settled.bfloat16 is expected


@pytest.mark.parametrize("bfloat16, steps", [(True, 225), (False, 150)])
def test_distillation_takes_more_steps_when_its_forward_passes_run_in_bfloat16(tokenizer, bfloat16, steps):
    from vecsearch.training.distillation import BFLOAT16_STEPS, WINDOW_STEPS

    config = EncoderConfig(tokenizer.get_vocab_size(), embed_dim=8, hidden_dim=8, cell="lstm")
    doc_ids = [str(i) for i in range(len(SHORT_TEXTS))]
    train = TrainConfig(bfloat16=bfloat16, embedding_init="random")
    _, settled = new_encoder(SHORT_TEXTS, doc_ids, config, tokenizer, train, BFLOAT16_STEPS)
    assert settled.steps == steps  # 150, the fewest the rule gives, times 1.5 in bfloat16
    _, usual = new_encoder(SHORT_TEXTS, doc_ids, config, tokenizer, train)
    assert usual.steps == 150
    _, fixed = new_encoder(SHORT_TEXTS, doc_ids, config, tokenizer, replace(train, steps=7), BFLOAT16_STEPS)
    assert fixed.steps == 7  # steps asked for are kept
    _, windowed = new_encoder(SHORT_TEXTS, doc_ids, config, tokenizer, train, BFLOAT16_STEPS, WINDOW_STEPS)
    assert windowed.steps == round(WINDOW_STEPS * steps) > steps  # distillation on windows: steps cost half


def test_bfloat16_training_follows_float32_training():
    texts = [f"{t} number {i}" for i, t in enumerate(SHORT_TEXTS * 3)]
    doc_ids = [str(i) for i in range(len(texts))]
    settings = {"hidden_dim": 16, "embed_dim": 16, "cell": "lstm"}
    runs = {}
    for bfloat16 in (False, True):
        _, runs[bfloat16] = fit(texts, doc_ids, settings, TrainConfig(steps=30, batch_size=8, seed=3, bfloat16=bfloat16),
                                show_progress=False)
    assert runs[True].bfloat16 and not runs[False].bfloat16
    assert runs[True].losses != runs[False].losses  # the forward passes did run in another precision
    late = [np.mean(runs[b].losses[-10:]) for b in (False, True)]
    assert abs(late[1] - late[0]) < 0.05 * late[0]  # and learned as float32 did
    assert np.mean(runs[True].losses[-10:]) < np.mean(runs[True].losses[:10])


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("bidirectional,output_dim", [(True, None), (False, None), (True, 10)])
def test_numpy_twin_matches_the_torch_encoder(tokenizer, tmp_path, cell, pooling, bidirectional, output_dim):
    from vecsearch.model.numpy_encoder import NumpyEncoder

    torch.manual_seed(1)
    config = EncoderConfig(tokenizer.get_vocab_size(), embed_dim=16, hidden_dim=12, cell=cell,
                           pooling=pooling, bidirectional=bidirectional, output_dim=output_dim)
    encoder = RNNEncoder(config, tokenizer)
    with torch.no_grad():  # random biases too, so every weight of the file is exercised
        for parameter in encoder.parameters():
            parameter.normal_(0, 0.5)
    encoder.save(tmp_path)
    twin = NumpyEncoder.load(tmp_path)
    texts = SHORT_TEXTS[:5] + ["", "ünïcödé   ταυ"]
    expected = encoder.encode(texts)
    got = twin.encode(texts)
    assert got.dtype == np.float32 and got.shape == expected.shape
    assert np.abs(got - expected).max() < 1e-5


def test_numpy_twin_never_imports_torch(tmp_path, tokenizer):
    import subprocess
    import sys

    RNNEncoder(EncoderConfig(tokenizer.get_vocab_size(), embed_dim=8, hidden_dim=8), tokenizer).save(tmp_path)
    code = (
        "import sys; from vecsearch.model.numpy_encoder import NumpyEncoder; "
        f"v = NumpyEncoder.load({str(tmp_path)!r}).encode(['shock waves']); "
        "assert 'torch' not in sys.modules, 'torch was imported'; print(v.shape)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(1, 16)"
