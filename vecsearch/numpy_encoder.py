"""The encoder's inference twin in numpy: the same weights and maths, without importing torch.

`import torch` alone takes ~2.4 s on a small machine, longer than a whole query should.
A query is one short text, so its recurrence is a few small matrix-vector products per
token, which numpy does in well under a millisecond; torch stays for training and for
encoding corpora in bulk. Tests check this twin against `RNNEncoder` to ~1e-5.

The recurrences are torch's, gate for gate:
  GRU:  r, z = σ(W_ir x + b_ir + W_hr h + b_hr), σ(W_iz x + … );  n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn));
        h' = (1 - z) ⊙ n + z ⊙ h
  LSTM: i, f, g, o = σ, σ, tanh, σ of (W_ih x + b_ih + W_hh h + b_hh);  c' = f ⊙ c + i ⊙ g;  h' = o ⊙ tanh(c')
  Elman: h' = tanh(W·[x; h] + b)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

from .encoder_format import EncoderConfig, read_config, weights_path
from .errors import VecsearchError
from .tokenizer import load_tokenizer, token_ids


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (np.tanh(0.5 * x) + 1.0)  # overflow-free, and exact to float rounding


class _Direction:
    """One reading direction: precomputes the input projection for all tokens, then recurs."""

    def __init__(self, cell: str, weights: dict[str, np.ndarray], prefix: str, embed_dim: int):
        self.cell = cell
        if cell == "simple":
            weight, bias = weights[prefix + "cell.linear.weight"], weights[prefix + "cell.linear.bias"]
            self.w_input, self.w_hidden = weight[:, :embed_dim].T.copy(), weight[:, embed_dim:].T.copy()
            self.b_input, self.b_hidden = bias, np.zeros_like(bias)
        else:
            self.w_input = weights[prefix + "weight_ih_l0"].T.copy()
            self.w_hidden = weights[prefix + "weight_hh_l0"].T.copy()
            self.b_input, self.b_hidden = weights[prefix + "bias_ih_l0"], weights[prefix + "bias_hh_l0"]
        self.hidden_dim = self.w_hidden.shape[0]

    def states(self, x: np.ndarray) -> np.ndarray:
        """(T, embed) inputs -> (T, hidden) hidden states."""
        inputs = x @ self.w_input + self.b_input
        h = np.zeros(self.hidden_dim, dtype=np.float32)
        c = np.zeros_like(h)
        out = np.empty((len(x), self.hidden_dim), dtype=np.float32)
        size = self.hidden_dim
        for t, projected in enumerate(inputs):
            recurrent = h @ self.w_hidden + self.b_hidden
            if self.cell == "gru":
                r = _sigmoid(projected[:size] + recurrent[:size])
                z = _sigmoid(projected[size : 2 * size] + recurrent[size : 2 * size])
                n = np.tanh(projected[2 * size :] + r * recurrent[2 * size :])
                h = (1.0 - z) * n + z * h
            elif self.cell == "lstm":
                gates = projected + recurrent
                i, f, o = _sigmoid(gates[:size]), _sigmoid(gates[size : 2 * size]), _sigmoid(gates[3 * size :])
                c = f * c + i * np.tanh(gates[2 * size : 3 * size])
                h = o * np.tanh(c)
            else:
                h = np.tanh(projected + recurrent)
            out[t] = h
        return out


class NumpyEncoder:
    """Loads `encoder.safetensors` + `tokenizer.json` and encodes texts like `RNNEncoder.encode`."""

    def __init__(self, config: EncoderConfig, weights: dict[str, np.ndarray], tokenizer=None):
        self.config = config
        self.tokenizer = tokenizer
        self.embedding = weights["embedding.weight"]
        self.directions = [
            _Direction(config.cell, weights, f"directions.{d}.", config.embed_dim)
            for d in range(2 if config.bidirectional else 1)
        ]
        self.projection = None
        if config.output_dim:
            self.projection = (weights["projection.weight"].T.copy(), weights["projection.bias"])

    @classmethod
    def load(cls, directory: str | Path) -> "NumpyEncoder":
        path = weights_path(directory)
        try:
            return cls(read_config(path), load_file(str(path)), load_tokenizer(directory))
        except VecsearchError:
            raise
        except Exception as error:
            raise VecsearchError(f"cannot load the encoder in {directory}: {error}") from None

    def encode(self, texts: list[str] | str) -> np.ndarray:
        """Embed `texts`; float32 unit vectors of shape (len(texts), dim)."""
        if isinstance(texts, str):
            texts = [texts]
        if self.tokenizer is None:
            raise VecsearchError("this encoder has no tokenizer attached")
        ids = token_ids(self.tokenizer, list(texts), self.config.max_length)
        vectors = np.empty((len(ids), self.config.dim), dtype=np.float32)
        for row, sequence in enumerate(ids):
            vectors[row] = self.embed_ids(sequence)
        return vectors

    def embed_ids(self, sequence: list[int]) -> np.ndarray:
        """One text's token ids -> its unit vector."""
        x = self.embedding[np.asarray(sequence)]
        forward = self.directions[0].states(x)
        states, finals = [forward], [forward[-1]]
        if len(self.directions) == 2:
            backward = self.directions[1].states(x[::-1])
            states.append(backward[::-1])
            finals.append(backward[-1])  # the backward reader ends on the first token
        if self.config.pooling == "last":
            vector = np.concatenate(finals)
        elif self.config.pooling == "max":
            vector = np.concatenate(states, axis=1).max(axis=0)
        else:
            vector = np.concatenate(states, axis=1).mean(axis=0)
        if self.projection is not None:
            vector = vector @ self.projection[0] + self.projection[1]
        norm = np.linalg.norm(vector)
        return (vector / max(norm, 1e-12)).astype(np.float32)
