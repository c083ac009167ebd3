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

from ..errors import VecsearchError
from .format import EncoderConfig, read_config, weights_path
from .tokenizer import load_tokenizer, token_ids


class _Recurrence:
    """Every reading direction at once: their weights stacked, so each step is one batched
    product and one set of gate operations for both directions (half the numpy calls).

    A query is a few dozen steps of ~1 µs numpy calls, so a step is written for few calls:
    the recurrent biases summed before an activation are folded into the input projection
    (done for all tokens at once), and the gates squashed by a sigmoid are halved in the
    weights, since σ(v) = (tanh(v/2) + 1)/2. Halving is exact in floating point. Each step's
    inputs and state are contiguous arrays: BLAS refuses strided views, and numpy's fallback
    product is ten times slower.
    """

    def __init__(self, cell: str, weights: dict[str, np.ndarray], directions: int, embed_dim: int):
        self.cell = cell
        w_input, w_hidden, b_input, b_hidden = [], [], [], []
        for d in range(directions):
            prefix = f"directions.{d}."
            if cell == "simple":
                weight, bias = weights[prefix + "cell.linear.weight"], weights[prefix + "cell.linear.bias"]
                w_input.append(weight[:, :embed_dim].T)
                w_hidden.append(weight[:, embed_dim:].T)
                b_input.append(bias)
                b_hidden.append(np.zeros_like(bias))
            else:
                w_input.append(weights[prefix + "weight_ih_l0"].T)
                w_hidden.append(weights[prefix + "weight_hh_l0"].T)
                b_input.append(weights[prefix + "bias_ih_l0"])
                b_hidden.append(weights[prefix + "bias_hh_l0"])
        w_input, w_hidden = np.stack(w_input), np.stack(w_hidden)  # (D, embed, gates*H), (D, H, gates*H)
        b_input, b_hidden = np.stack(b_input), np.stack(b_hidden)  # (D, gates*H)
        size = self.hidden_dim = w_hidden.shape[1]
        if cell == "gru":  # gates r, z, n: r and z take both biases; n's recurrent bias sits inside r ⊙ (…)
            b_input[:, : 2 * size] += b_hidden[:, : 2 * size]
            self.b_new = b_hidden[:, None, 2 * size :].copy()  # (D, 1, H)
            sigmoid_gates = np.r_[0 : 2 * size]
        elif cell == "lstm":  # gates i, f, g, o: all biases are summed before the activations
            b_input += b_hidden
            sigmoid_gates = np.r_[0 : 2 * size, 3 * size : 4 * size]
        else:
            b_input += b_hidden
            sigmoid_gates = np.r_[0:0]
        for array in (w_input, w_hidden, b_input):
            array[..., sigmoid_gates] *= 0.5
        # then σ = 0.5·tanh + 0.5 on the sigmoid gates, as two whole-array operations (an
        # operation on a slice of the gates costs ~3x one on contiguous memory)
        self.gate_scale = np.ones(w_hidden.shape[-1], dtype=np.float32)
        self.gate_shift = np.zeros(w_hidden.shape[-1], dtype=np.float32)
        self.gate_scale[sigmoid_gates] = 0.5
        self.gate_shift[sigmoid_gates] = 0.5
        self.w_input = np.ascontiguousarray(w_input)
        self.w_hidden = np.ascontiguousarray(w_hidden)
        self.b_input = b_input[:, None]  # (D, 1, G)

    def states(self, inputs: np.ndarray) -> np.ndarray:
        """(D, T, embed) inputs, one row of tokens per direction -> (D, T, H) hidden states."""
        projected = inputs @ self.w_input + self.b_input  # (D, T, gates*H), all tokens at once
        projected = np.ascontiguousarray(projected.transpose(1, 0, 2)[:, :, None])  # (T, D, 1, G): step t contiguous
        directions, steps, _ = inputs.shape
        states = np.zeros((steps + 1, directions, 1, self.hidden_dim), dtype=np.float32)  # [0]: the start state
        {"gru": self._gru, "lstm": self._lstm, "simple": self._elman}[self.cell](projected, states)
        return states[1:, :, 0].transpose(1, 0, 2)

    # Each step writes into arrays made once (out=, in-place operators): a step is ~10 numpy
    # calls on a few hundred numbers, where allocating each result costs as much as the maths
    # (~15% of a query's embedding, search_breakdown.py). states[t] is h before step t, states[t + 1] after.

    def _lstm(self, projected: np.ndarray, states: np.ndarray) -> None:
        size = self.hidden_dim
        gates, c = np.empty_like(projected[0]), np.zeros_like(states[0])
        product = np.empty_like(c)
        i, f, g, o = (gates[..., k * size : (k + 1) * size] for k in range(4))
        for t, x in enumerate(projected):
            np.matmul(states[t], self.w_hidden, out=gates)  # BLAS wants h contiguous, as states[t] is
            gates += x
            np.tanh(gates, out=gates)
            gates *= self.gate_scale
            gates += self.gate_shift  # i, f, o = σ(…) = (tanh(…/2) + 1)/2; g stays tanh
            c *= f
            c += np.multiply(i, g, out=product)  # c' = f ⊙ c + i ⊙ g
            h = np.tanh(c, out=states[t + 1])
            h *= o  # h' = o ⊙ tanh(c')

    def _gru(self, projected: np.ndarray, states: np.ndarray) -> None:
        size = self.hidden_dim
        recurrent = np.empty_like(projected[0])
        rz, hn = recurrent[..., : 2 * size], recurrent[..., 2 * size :]
        r, z = rz[..., :size], rz[..., size:]
        for t, x in enumerate(projected):
            h = states[t]
            np.matmul(h, self.w_hidden, out=recurrent)
            rz += x[..., : 2 * size]
            np.tanh(rz, out=rz)
            rz += 1.0
            rz *= 0.5  # r, z = σ(…), the halving being in the weights
            hn += self.b_new
            hn *= r
            hn += x[..., 2 * size :]
            n = np.tanh(hn, out=hn)  # n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
            new = np.subtract(h, n, out=states[t + 1])
            new *= z
            new += n  # h' = (1 - z) ⊙ n + z ⊙ h

    def _elman(self, projected: np.ndarray, states: np.ndarray) -> None:
        for t, x in enumerate(projected):
            h = np.matmul(states[t], self.w_hidden, out=states[t + 1])
            h += x
            np.tanh(h, out=h)


class NumpyEncoder:
    """Loads `encoder.safetensors` + `tokenizer.json` and encodes texts like `RNNEncoder.encode`."""

    def __init__(self, config: EncoderConfig, weights: dict[str, np.ndarray], tokenizer=None):
        self.config = config
        self.tokenizer = tokenizer
        self.embedding = weights["embedding.weight"]
        self.directions = 2 if config.bidirectional else 1
        self.recurrence = _Recurrence(config.cell, weights, self.directions, config.embed_dim)
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
        # the backward direction reads the text reversed; both run in one recurrence
        inputs = np.stack([x, x[::-1]]) if self.directions == 2 else x[None]
        states = self.recurrence.states(inputs)
        if self.directions == 2:
            finals = [states[0, -1], states[1, -1]]  # the backward reader ends on the first token
            states = [states[0], states[1, ::-1]]
        else:
            finals, states = [states[0, -1]], [states[0]]
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
