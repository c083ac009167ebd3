"""The RNN encoder: text -> one L2-normalised vector built from recurrent hidden states.

An RNN is a feed-forward layer fed its own previous hidden state,
`h_t = act(W·[x_t; h_{t-1}] + b)`; after reading a text, the hidden states are an
embedding of it. `simple` is that Elman cell written out by hand; `gru` and `lstm` (the
default) are torch's. On CPU, torch runs a float32 LSTM as one fused oneDNN kernel, and
a GRU as a chain of operators per step. The hidden states are pooled by `mean`, `max`,
or `last` (the final hidden state of each direction: the textbook embedding).

References: J. L. Elman, "Finding structure in time" (1990); Cho et al., GRU (2014);
Hochreiter & Schmidhuber, LSTM (1997).
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from ..errors import VecsearchError
from .format import (
    CELLS,
    POOLINGS,
    WEIGHTS,
    EncoderConfig,
    config_metadata,
    read_config,
    weights_path,
)
from .tokenizer import PAD_ID, load_tokenizer, save_tokenizer, token_ids

ENCODE_CHUNK = 16_384  # texts tokenized at a time by `encode`
# Batches run side by side, one per thread (see `batches_side_by_side`). In bfloat16 the
# default LSTM encoded 498k tokens/s at batch 64 against 416k at 128 and 517k at 32, and
# 1.34-1.49x what the same batches gave one at a time on both threads (Cisi, one run).
ENCODE_BATCH = 64

__all__ = ["CELLS", "POOLINGS", "EncoderConfig", "ElmanCell", "ElmanRNN", "RNNEncoder", "batches_side_by_side", "pad_batch", "pool"]

class ElmanCell(nn.Module):
    """The textbook recurrent cell: `h_t = tanh(W·[x_t; h_{t-1}] + b)`."""

    def __init__(self, input_dim: int, hidden_dim: int):
        super().__init__()
        self.linear = nn.Linear(input_dim + hidden_dim, hidden_dim)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.linear(torch.cat([x, h], dim=-1)))


class ElmanRNN(nn.Module):
    """Runs an ElmanCell left to right over a (B, T, input) batch; returns every hidden state (B, T, H)."""

    def __init__(self, input_dim: int, hidden_dim: int):
        super().__init__()
        self.hidden_dim = hidden_dim
        self.cell = ElmanCell(input_dim, hidden_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.new_zeros(x.shape[0], self.hidden_dim)
        states = []
        for t in range(x.shape[1]):
            h = self.cell(x[:, t], h)
            states.append(h)
        return torch.stack(states, dim=1)


def _recurrent_layer(cell: str, input_dim: int, hidden_dim: int) -> nn.Module:
    if cell == "simple":
        return ElmanRNN(input_dim, hidden_dim)
    return (nn.GRU if cell == "gru" else nn.LSTM)(input_dim, hidden_dim, batch_first=True)


def _reverse_padded(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence within its own length, leaving the padding at the end."""
    steps = torch.arange(x.shape[1])
    index = torch.where(steps < lengths[:, None], lengths[:, None] - 1 - steps, steps)
    return x.gather(1, index[..., None].expand_as(x))


@contextmanager
def batches_side_by_side(enabled: bool = True):
    """`run(function, batches)`: the results in order, computed `torch.get_num_threads()` batches at a time
    (or one after another, on all threads, if not `enabled`).

    An encoder batch is a chain of small products (batch x hidden by hidden x gates, one
    per token) that one core runs nearly as fast as two: a second intra-op thread gave 1.2x.
    Two batches at once, each on one thread, gave 1.24x for the int8 encoder and 1.03x in
    float32 on 2 cores (benchmarks/perf/encode_throughput.py, same run). torch releases the GIL
    inside its operators, so Python threads will do; torch's own thread count is 1
    meanwhile, and restored after.
    """
    threads = torch.get_num_threads()
    if threads == 1 or not enabled:
        yield lambda function, batches: map(function, batches)
        return
    from concurrent.futures import ThreadPoolExecutor

    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(threads, thread_name_prefix="vecsearch-encode") as executor:
            yield executor.map
    finally:
        torch.set_num_threads(threads)


def pool(states: torch.Tensor, finals: torch.Tensor, lengths: torch.Tensor, pooling: str) -> torch.Tensor:
    """One vector per text from its hidden states (B, T, D) and each direction's final state (B, D)."""
    if pooling == "last":
        return finals
    mask = (torch.arange(states.shape[1]) < lengths[:, None])[..., None]
    if pooling == "max":
        return states.masked_fill(~mask, float("-inf")).amax(dim=1)
    return (states * mask).sum(dim=1) / lengths[:, None].to(states.dtype)


def pad_batch(sequences, pad_id: int = PAD_ID) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad token id sequences (lists or arrays) into a (B, T) tensor; returns it with the lengths."""
    lengths = torch.tensor([len(s) for s in sequences])
    ids = torch.full((len(sequences), int(lengths.max())), pad_id, dtype=torch.long)
    for row, sequence in enumerate(sequences):
        ids[row, : len(sequence)] = torch.as_tensor(sequence)
    return ids, lengths


class RNNEncoder(nn.Module):
    """Token embeddings -> RNN -> pooling -> (projection) -> L2-normalised vector.

    With a tokenizer attached, `encode(texts)` maps strings straight to vectors.
    """

    def __init__(self, config: EncoderConfig, tokenizer=None):
        super().__init__()
        self.config = config
        self.tokenizer = tokenizer
        self.embedding = nn.Embedding(config.vocab_size, config.embed_dim, padding_idx=config.pad_id)
        # One unidirectional layer per reading direction. The backward one reads each text
        # reversed within its own length, so both see right-padded batches: exact results
        # without packed sequences, whose backward pass is 2-3x slower on CPU.
        self.directions = nn.ModuleList(
            _recurrent_layer(config.cell, config.embed_dim, config.hidden_dim)
            for _ in range(2 if config.bidirectional else 1)
        )
        pooled_dim = config.hidden_dim * len(self.directions)
        self.projection = nn.Linear(pooled_dim, config.output_dim) if config.output_dim else None

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T) token ids, right-padded, and their lengths -> (B, dim) unit vectors."""
        x = self.embedding(ids)
        last = (lengths - 1)[:, None, None]
        outputs, finals = [], []
        for direction, layer in enumerate(self.directions):
            reading = x if direction == 0 else _reverse_padded(x, lengths)
            states = layer(reading)
            if isinstance(states, tuple):  # torch's GRU/LSTM also return their final states
                states = states[0]
            states = states.float()  # pooled in float32 even when the recurrence ran in bfloat16
            # states past a text's end are never used: pooling masks them, and the final
            # state is taken at the text's own last position
            finals.append(states.gather(1, last.expand(-1, 1, states.shape[2])).squeeze(1))
            outputs.append(states if direction == 0 else _reverse_padded(states, lengths))
        vectors = pool(torch.cat(outputs, dim=-1), torch.cat(finals, dim=-1), lengths, self.config.pooling)
        if self.projection is not None:
            vectors = self.projection(vectors).float()  # bfloat16 under autocast
        return F.normalize(vectors, dim=-1)

    def tokenize(self, texts: list[str]) -> list[list[int]]:
        if self.tokenizer is None:
            raise VecsearchError("this encoder has no tokenizer attached")
        return token_ids(self.tokenizer, texts, self.config.max_length)

    def encode(self, texts: list[str], batch_size: int | None = None, show_progress: bool = False,
               bfloat16: bool = False) -> np.ndarray:
        """Embed `texts`; returns float32 unit vectors of shape (len(texts), dim).

        `bfloat16` runs the products in bfloat16 (torch autocast), which CPUs with
        bfloat16 units (AVX512-BF16, AMX) do about twice as fast; states are still pooled
        in float32 (see `bfloat16_is_fast`). `batch_size` defaults to ENCODE_BATCH.

        Texts are tokenized a chunk at a time (so memory does not grow with the corpus)
        and batched by length within each chunk, so little compute goes on padding.
        With torch set to several threads, batches run side by side instead, one thread
        each (see `batches_side_by_side`); the batches, and so the vectors, are the same.
        Not for a float32 LSTM: torch runs it as one fused oneDNN kernel, which spreads
        over the threads itself and is faster one batch at a time. In bfloat16 the same
        kernel does not, and side by side gains 1.34-1.49x.
        """
        if isinstance(texts, str):
            texts = [texts]
        batch_size = batch_size or ENCODE_BATCH
        vectors = np.empty((len(texts), self.config.dim), dtype=np.float32)
        progress = None
        if show_progress:
            from ..progress import progress as progress_bar

            progress = progress_bar(total=len(texts), description="encoding", unit="text")
        was_training = self.training
        self.eval()

        def embed(batch: list[list[int]]) -> np.ndarray:
            # both thread-local: entered in the thread that runs the batch
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bfloat16):
                return self(*pad_batch(batch, self.config.pad_id)).numpy()  # float32 either way

        # int8 copies are not nn.LSTM; in bfloat16 the fused kernel gains from batches side by side too
        one_at_a_time = not bfloat16 and any(isinstance(layer, nn.LSTM) for layer in self.directions)
        with batches_side_by_side(enabled=not one_at_a_time) as run:
            for offset in range(0, len(texts), ENCODE_CHUNK):
                ids = self.tokenize(list(texts[offset : offset + ENCODE_CHUNK]))
                order = np.argsort([len(s) for s in ids], kind="stable")
                batches = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
                for rows, batch_vectors in zip(batches, run(embed, [[ids[r] for r in rows] for rows in batches])):
                    vectors[offset + rows] = batch_vectors
                    if progress is not None:
                        progress.update(len(rows))
        if progress is not None:
            progress.close()
        self.train(was_training)
        return vectors

    @staticmethod
    def bfloat16_is_fast() -> bool:
        """Whether this CPU computes in bfloat16 natively (AVX512-BF16 or AMX), where
        `encode(bfloat16=True)` pays; elsewhere torch would emulate it, slowly."""
        checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        try:
            return any(getattr(torch.cpu, check, lambda: False)() for check in checks)
        except Exception:  # private torch API: absent or failing means no
            return False

    @staticmethod
    def runs_faster_in_bfloat16(cell: str) -> bool:
        """Whether an encoder with this cell runs faster in bfloat16 here: an LSTM (one fused
        oneDNN kernel) on a CPU with bfloat16 units. Encoding and training both follow it."""
        return cell == "lstm" and RNNEncoder.bfloat16_is_fast()

    def quantized(self) -> "RNNEncoder":
        """An int8 copy for bulk encoding on CPU: dynamic quantization of the recurrent and linear layers.

        Weights are stored in int8 and activations quantized on the fly, so vectors
        differ from the float32 model's by ~1e-4 in cosine (and very slightly with the
        batch they are in); the saved model stays float32.
        """
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.ao's notice that the API moves to torchao
            copy = torch.ao.quantization.quantize_dynamic(self, {nn.GRU, nn.LSTM, nn.Linear}, dtype=torch.qint8)
        return copy.eval()

    def save(self, directory: str | Path) -> None:
        """Write `encoder.safetensors` (weights + config) and `tokenizer.json` to `directory`."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {k: v.contiguous() for k, v in self.state_dict().items()}
        save_file(state, str(directory / WEIGHTS), metadata=config_metadata(self.config))
        if self.tokenizer is not None:
            save_tokenizer(self.tokenizer, directory)

    @classmethod
    def load(cls, directory: str | Path) -> "RNNEncoder":
        """Load an encoder and its tokenizer saved by `save`."""
        path = weights_path(directory)
        try:
            encoder = cls(read_config(path, "pt"), load_tokenizer(directory))
            encoder.load_state_dict(load_file(str(path)))
        except VecsearchError:
            raise
        except Exception as error:
            raise VecsearchError(f"cannot load the encoder in {directory}: {error}") from None
        return encoder.eval()
