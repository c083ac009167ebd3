"""The encoder's inference twin in numpy: the same weights and maths, without importing torch.

`import torch` alone takes ~2.4 s on a small machine, longer than a whole query should.
A query is one short text, so its recurrence is a few small matrix-vector products per
token, which numpy does in well under a millisecond. Passages are embedded in bulk the way
`RNNEncoder.encode` does it - tokenized a chunk at a time, sorted by length, read a batch at a
time, batches side by side on the cores - so an install without torch indexes too; torch stays
for training. Tests check this twin against `RNNEncoder` to ~1e-5.

The recurrences are torch's, gate for gate:
  GRU:  r, z = σ(W_ir x + b_ir + W_hr h + b_hr), σ(W_iz x + … );  n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn));
        h' = (1 - z) ⊙ n + z ⊙ h
  LSTM: i, f, g, o = σ, σ, tanh, σ of (W_ih x + b_ih + W_hh h + b_hh);  c' = f ⊙ c + i ⊙ g;  h' = o ⊙ tanh(c')
  Elman: h' = tanh(W·[x; h] + b)
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

from ..errors import VecsearchError
from .format import WEIGHTS, EncoderConfig, config_metadata, read_config, weights_path
from .tokenizer import load_tokenizer, save_tokenizer, token_ids

ENCODE_CHUNK = 16_384  # texts tokenized at a time by `encode`, as RNNEncoder does
# Texts read side by side in one batch: each step is then one (batch x hidden) by (hidden x
# gates) product per direction, big enough that numpy's ~1 µs per call stops mattering, and
# small enough that a step's gates stay in the core's cache; 32 was a little faster than 16
# and 64 (benchmarks/perf/numpy_bulk.py times batch sizes).
ENCODE_BATCH = 32


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
        return self.batch_states(inputs[:, None])[:, 0]

    def batch_states(self, inputs: np.ndarray) -> np.ndarray:
        """(D, B, T, embed) inputs, B texts read side by side (each step one product for all of
        them) -> (D, B, T, H). A text shorter than T is padded at the end: its states up to its
        length are its own."""
        directions, batch, steps, embed = inputs.shape
        # (D, T, B, embed): no copy when the inputs were laid out time-major, as `_inputs` lays them
        time_major = np.ascontiguousarray(inputs.transpose(0, 2, 1, 3))
        projected = np.empty((directions, steps, batch, self.w_input.shape[-1]), dtype=np.float32)
        for d in range(directions):  # every token's input projection in one product per direction
            np.matmul(time_major[d].reshape(-1, embed), self.w_input[d], out=projected[d].reshape(steps * batch, -1))
        projected += self.b_input[:, None]
        states = np.zeros((steps + 1, directions, batch, self.hidden_dim), dtype=np.float32)  # [0]: the start state
        # step t's inputs, projected[:, t], are D contiguous blocks: fine for the additions that read them
        {"gru": self._gru, "lstm": self._lstm, "simple": self._elman}[self.cell](projected.transpose(1, 0, 2, 3), states)
        return states[1:].transpose(1, 2, 0, 3)

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
        self.weights = weights  # as read: `save` writes them back unchanged
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

    def save(self, directory: str | Path) -> None:
        """Write `encoder.safetensors` (weights + config) and `tokenizer.json` to `directory`, as
        `RNNEncoder.save` does: either class loads what the other saved."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_file({name: np.ascontiguousarray(array) for name, array in self.weights.items()},
                  str(directory / WEIGHTS), metadata=config_metadata(self.config))
        if self.tokenizer is not None:
            save_tokenizer(self.tokenizer, directory)

    def encode(self, texts: list[str] | str, batch_size: int | None = None, show_progress: bool = False) -> np.ndarray:
        """Embed `texts`; float32 unit vectors of shape (len(texts), dim).

        One text is read alone (a query: the fewest numpy calls). More are tokenized a chunk at
        a time (memory does not grow with the corpus), sorted by length so that a batch of
        `batch_size` (default ENCODE_BATCH) holds texts of about one length and little work goes
        on padding, and the batches are read side by side, one per core (see `_side_by_side`).
        """
        if isinstance(texts, str):
            texts = [texts]
        if self.tokenizer is None:
            raise VecsearchError("this encoder has no tokenizer attached")
        texts = list(texts)
        vectors = np.empty((len(texts), self.config.dim), dtype=np.float32)
        if len(texts) == 1:
            vectors[0] = self.embed_ids(token_ids(self.tokenizer, texts, self.config.max_length)[0])
            return vectors
        batch_size = batch_size or ENCODE_BATCH
        progress = None
        if show_progress:
            from ..progress import progress as progress_bar

            progress = progress_bar(total=len(texts), description="encoding", unit="text")
        with _side_by_side() as run:
            for offset in range(0, len(texts), ENCODE_CHUNK):
                ids = token_ids(self.tokenizer, texts[offset : offset + ENCODE_CHUNK], self.config.max_length)
                order = np.argsort([len(sequence) for sequence in ids], kind="stable")
                batches = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
                for rows, batch_vectors in zip(batches, run(self.embed_batch, [[ids[r] for r in rows] for rows in batches])):
                    vectors[offset + rows] = batch_vectors
                    if progress is not None:
                        progress.update(len(rows))
        if progress is not None:
            progress.close()
        return vectors

    def embed_batch(self, sequences: list[list[int]]) -> np.ndarray:
        """Several texts' token ids -> their unit vectors (len(sequences), dim), read side by side."""
        lengths = np.array([len(sequence) for sequence in sequences])
        states = self.recurrence.batch_states(self._inputs(sequences, lengths))  # (D, B, T, H)
        steps = np.arange(states.shape[2])
        if self.config.pooling == "last":  # each reader's state after its last step (the backward one's is at token 0)
            pooled = states[:, np.arange(len(sequences)), lengths - 1]  # (D, B, H)
        elif self.config.pooling == "max":
            pooled = np.where((steps < lengths[:, None])[None, :, :, None], states, -np.inf).max(axis=2)
        else:  # a reader's states over a text's tokens are the same set in either order: their mean
            mask = (steps < lengths[:, None]).astype(np.float32)
            pooled = np.einsum("dbth,bt->dbh", states, mask) / lengths[None, :, None].astype(np.float32)
        pooled = np.concatenate(list(pooled), axis=1)  # (B, D·H): the forward reader's first, as token_states
        vectors = self._project(pooled)
        norms = np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return (vectors / norms).astype(np.float32)

    def _inputs(self, sequences: list[list[int]], lengths: np.ndarray) -> np.ndarray:
        """(D, B, T, embed) token embeddings, right-padded: row 0 each text as read, row 1 (when
        bidirectional) each text reversed within its own length, the padding still at the end."""
        steps = np.arange(int(lengths.max()))
        ids = np.full((len(sequences), len(steps)), self.config.pad_id, dtype=np.int64)
        for row, sequence in enumerate(sequences):
            ids[row, : len(sequence)] = sequence
        readings = [ids]
        if self.directions == 2:
            reversed_steps = np.where(steps < lengths[:, None], lengths[:, None] - 1 - steps, steps)
            readings.append(np.take_along_axis(ids, reversed_steps, axis=1))
        # looked up time-major, so that batch_states reads each direction's tokens as one block
        return self.embedding[np.stack(readings).transpose(0, 2, 1)].transpose(0, 2, 1, 3)

    def embed_ids(self, sequence: list[int]) -> np.ndarray:
        """One text's token ids -> its unit vector."""
        return _unit(self._project(self._pool(self.token_states([sequence])[0])))

    def token_states(self, sequences: list[list[int]]) -> list[np.ndarray]:
        """Each text's hidden states, one (T, H·directions) array per text: row t holds every
        direction's state at token t (the forward reader's after reading up to t, the backward
        reader's after reading from the end back to t). Texts are read side by side."""
        lengths = np.array([len(sequence) for sequence in sequences])
        inputs = self._inputs(sequences, lengths)
        if len(sequences) == 1:
            states = self.recurrence.states(inputs[:, 0])[:, None]
        else:
            with _one_blas_thread():
                states = self.recurrence.batch_states(inputs)
        aligned = []
        for row, length in enumerate(lengths):
            per_direction = [states[0, row, :length]]
            if self.directions == 2:
                per_direction.append(states[1, row, :length][::-1])
            aligned.append(np.concatenate(per_direction, axis=1))
        return aligned

    def _pool(self, states: np.ndarray) -> np.ndarray:
        if self.config.pooling == "last":  # the backward reader ends on the first token
            size = self.recurrence.hidden_dim
            return np.concatenate([states[-1, :size], states[0, size:]])
        if self.config.pooling == "max":
            return states.max(axis=0)
        return states.mean(axis=0)

    def _project(self, pooled: np.ndarray) -> np.ndarray:
        return pooled if self.projection is None else pooled @ self.projection[0] + self.projection[1]

    def contributions(self, sequences: list[list[int]], query: np.ndarray) -> list[TokenShares]:
        """Each text's cosine with the unit vector `query`, split into one share per token.

        With the projection `P` and bias `b`, a text's vector is `u = P·pool(h) + b` and its score
        `q·u / |u|`. The bias's share `q·b / |u|` is no token's (`TokenShares.bias`); the rest is
        split by pooling, each split exact (the shares and the bias add up to the score):
          mean: `u - b` is the mean of the tokens' projected states, so token t's share is
                `q·P h_t / (T |u|)` - what its state adds to the average;
          max:  each dimension of the pooled state is one token's; a token's share is that of
                the dimensions it holds the maximum of (which token won, not what it would have
                been without it);
          last: a final state is the sum of the steps' changes to it, so token t's share is
                `q·P (h_t - h_before_t) / |u|` in each reading direction - how far reading t
                moved the final state toward the query.
        """
        query = np.asarray(query, dtype=np.float32).reshape(-1)
        if self.projection is None:
            toward, bias_term = query, 0.0  # q·(P h) = h·(P^T q), so one product per token
        else:
            toward, bias_term = self.projection[0] @ query, float(self.projection[1] @ query)
        shares = []
        for states in self.token_states(sequences):
            norm = max(float(np.linalg.norm(self._project(self._pool(states)))), 1e-12)
            shares.append(TokenShares(self._token_terms(states, toward) / norm, bias_term / norm))
        return shares

    def _token_terms(self, states: np.ndarray, toward: np.ndarray) -> np.ndarray:
        """Each token's part of `pool(states)·toward`, the parts adding up to it."""
        pooling = self.config.pooling
        if pooling == "mean":
            return states @ toward / len(states)
        if pooling == "max":
            holder = states.argmax(axis=0)  # the token holding each dimension's maximum
            return np.bincount(holder, weights=states.max(axis=0) * toward, minlength=len(states))
        size = self.recurrence.hidden_dim  # last: each step's change in each reader, in its reading order
        forward = np.diff(states[:, :size], axis=0, prepend=0.0)
        terms = forward @ toward[:size]
        if self.directions == 2:
            backward = np.diff(states[::-1, size:], axis=0, prepend=0.0)[::-1]
            terms = terms + backward @ toward[size:]
        return terms

    def explain(self, texts: list[str], query: np.ndarray) -> list[Explanation]:
        """For each text, its cosine with the unit vector `query` split among its words (a word's
        share is that of the tokens it is made of): what `contributions` gives, on the text's words.
        Words past the `max_length` tokens the encoder reads get no share."""
        if self.tokenizer is None:
            raise VecsearchError("this encoder has no tokenizer attached")
        encodings = [self.tokenizer.encode(text) for text in texts]
        sequences = [encoding.ids[: self.config.max_length] or [self.tokenizer.token_to_id("[UNK]")]
                     for encoding in encodings]
        explanations = []
        for encoding, shares in zip(encodings, self.contributions(sequences, query)):
            words: dict[int, list] = {}
            rest = shares.bias
            for share, word, (start, end) in zip(shares.tokens.tolist(), encoding.word_ids, encoding.offsets):
                if word is None:  # a special token
                    rest += share
                elif word in words:
                    words[word][1] = max(words[word][1], end)
                    words[word][2] += share
                else:
                    words[word] = [start, end, share]
            explanations.append(Explanation(shares.score, rest, [tuple(w) for w in words.values()]))
        return explanations


@dataclass
class TokenShares:
    """A text's score split by token: `tokens[t]` is token t's share; `bias` the projection bias's."""

    tokens: np.ndarray
    bias: float

    @property
    def score(self) -> float:
        return float(self.tokens.sum()) + self.bias


@dataclass
class Explanation:
    """A passage's cosine with a query, split among its words: `words` holds (start, end, share)
    with offsets into the passage's text; `rest` is the share no word carries (the projection's
    bias); the shares and `rest` add up to `score`."""

    score: float
    rest: float
    words: list[tuple[int, int, float]]

    def to_dict(self) -> dict:
        return {"score": self.score, "rest": self.rest, "words": [list(word) for word in self.words]}


@contextmanager
def _side_by_side():
    """`run(function, batches)`: the results in order, computed one batch per core at a time,
    each on one BLAS thread (as torch's `batches_side_by_side` does for RNNEncoder).

    A batch's step is a few small products and gate operations on a (batch x gates) array;
    numpy releases the GIL inside each, so Python threads keep every core busy, where one
    batch on all BLAS threads spends much of a step waiting for them.
    """
    threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    with _one_blas_thread():
        if threads == 1:
            yield lambda function, batches: map(function, batches)
            return
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(threads, thread_name_prefix="vecsearch-encode") as executor:
            yield executor.map


@contextmanager
def _one_blas_thread():
    """Products made inside run on the calling thread alone. A step over several texts is big
    enough for OpenBLAS to share among threads, and on a busy 2-core machine waiting for them
    cost ten times the work (explaining 10 hits: ~350 ms against ~27 ms alone; the benchmark
    benchmarks/quality/explain_snippets.py times it). threadpoolctl is a dependency."""
    global _BLAS
    if _BLAS is None:
        try:
            from threadpoolctl import ThreadpoolController

            _BLAS = ThreadpoolController()
        except ImportError:
            _BLAS = False
    if not _BLAS:
        yield
        return
    with _BLAS.limit(limits=1, user_api="blas"):
        yield


_BLAS = None  # the ThreadpoolController, made on first use (False: threadpoolctl is missing)


def _unit(vector: np.ndarray) -> np.ndarray:
    return (vector / max(float(np.linalg.norm(vector)), 1e-12)).astype(np.float32)
