"""The RNN encoder: text -> one L2-normalised vector built from recurrent hidden states.

An RNN is a feed-forward layer fed its own previous hidden state,
`h_t = act(W·[x_t; h_{t-1}] + b)`; after reading a text, the hidden states are an
embedding of it. `simple` is that Elman cell written out by hand; `gru` (the default)
and `lstm` use torch's fused kernels. The hidden states are pooled by `mean`, `max`,
or `last` (the final hidden state of each direction: the textbook embedding).

References: J. L. Elman, "Finding structure in time" (1990); Cho et al., GRU (2014);
Hochreiter & Schmidhuber, LSTM (1997).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .errors import VecsearchError
from .tokenizer import PAD_ID, load_tokenizer, save_tokenizer, token_ids

CELLS = ("simple", "gru", "lstm")
POOLINGS = ("mean", "max", "last")
WEIGHTS = "encoder.safetensors"
WEIGHTS_FORMAT = "vecsearch-encoder/1"


@dataclass
class EncoderConfig:
    vocab_size: int
    embed_dim: int = 128
    hidden_dim: int = 128
    cell: str = "gru"
    bidirectional: bool = True
    pooling: str = "mean"
    output_dim: int | None = None  # a linear projection after pooling, e.g. to a teacher's size
    max_length: int = 256  # tokens read per text; the rest is cut
    pad_id: int = PAD_ID

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise VecsearchError(f"unknown cell '{self.cell}' (choose from {', '.join(CELLS)})")
        if self.pooling not in POOLINGS:
            raise VecsearchError(f"unknown pooling '{self.pooling}' (choose from {', '.join(POOLINGS)})")

    @property
    def dim(self) -> int:
        """Size of the vectors the encoder produces."""
        return self.output_dim or self.hidden_dim * (2 if self.bidirectional else 1)


class ElmanCell(nn.Module):
    """The textbook recurrent cell: `h_t = tanh(W·[x_t; h_{t-1}] + b)`."""

    def __init__(self, input_dim: int, hidden_dim: int):
        super().__init__()
        self.linear = nn.Linear(input_dim + hidden_dim, hidden_dim)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.linear(torch.cat([x, h], dim=-1)))


class ElmanRNN(nn.Module):
    """Runs an ElmanCell over a padded batch, forwards and optionally backwards.

    Returns the hidden state at every position (B, T, H·directions) and the final
    state of each direction (directions, B, H), like `torch.nn.RNN`.
    """

    def __init__(self, input_dim: int, hidden_dim: int, bidirectional: bool):
        super().__init__()
        self.hidden_dim = hidden_dim
        self.cells = nn.ModuleList(
            ElmanCell(input_dim, hidden_dim) for _ in range(2 if bidirectional else 1)
        )

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch, steps, _ = x.shape
        mask = (torch.arange(steps) < lengths[:, None])[..., None]  # B, T, 1
        outputs, finals = [], []
        for direction, cell in enumerate(self.cells):
            sequence = x if direction == 0 else _reverse_padded(x, lengths)
            h = x.new_zeros(batch, self.hidden_dim)
            states = []
            for t in range(steps):
                # past a text's end its state stays frozen, so `h` ends as the last real state
                h = torch.where(mask[:, t], cell(sequence[:, t], h), h)
                states.append(h)
            output = torch.stack(states, dim=1)
            outputs.append(output if direction == 0 else _reverse_padded(output, lengths))
            finals.append(h)
        return torch.cat(outputs, dim=-1), torch.stack(finals)


def _reverse_padded(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence within its own length, leaving the padding in place."""
    steps = torch.arange(x.shape[1])
    index = torch.where(steps < lengths[:, None], lengths[:, None] - 1 - steps, steps)
    return x.gather(1, index[..., None].expand_as(x))


def pool(states: torch.Tensor, finals: torch.Tensor, lengths: torch.Tensor, pooling: str) -> torch.Tensor:
    """One vector per text from its hidden states (B, T, D) and final states (dirs, B, H)."""
    if pooling == "last":
        return torch.cat(list(finals), dim=-1)
    mask = (torch.arange(states.shape[1]) < lengths[:, None])[..., None]
    if pooling == "max":
        return states.masked_fill(~mask, float("-inf")).amax(dim=1)
    return (states * mask).sum(dim=1) / lengths[:, None].to(states.dtype)


def pad_batch(sequences: list[list[int]], pad_id: int = PAD_ID) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad token id lists into a (B, T) tensor; returns it with the lengths."""
    lengths = torch.tensor([len(s) for s in sequences])
    ids = torch.full((len(sequences), int(lengths.max())), pad_id, dtype=torch.long)
    for row, sequence in enumerate(sequences):
        ids[row, : len(sequence)] = torch.tensor(sequence)
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
        if config.cell == "simple":
            self.rnn = ElmanRNN(config.embed_dim, config.hidden_dim, config.bidirectional)
        else:
            rnn_class = nn.GRU if config.cell == "gru" else nn.LSTM
            self.rnn = rnn_class(
                config.embed_dim, config.hidden_dim, batch_first=True, bidirectional=config.bidirectional
            )
        pooled_dim = config.hidden_dim * (2 if config.bidirectional else 1)
        self.projection = nn.Linear(pooled_dim, config.output_dim) if config.output_dim else None

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = self.embedding(ids)
        if self.config.cell == "simple":
            states, finals = self.rnn(x, lengths)
        else:
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            packed_states, finals = self.rnn(packed)
            if self.config.cell == "lstm":
                finals = finals[0]  # (h, c): the hidden state is the embedding, not the cell
            states, _ = pad_packed_sequence(packed_states, batch_first=True, total_length=ids.shape[1])
        vectors = pool(states, finals, lengths, self.config.pooling)
        if self.projection is not None:
            vectors = self.projection(vectors)
        return F.normalize(vectors, dim=-1)

    def tokenize(self, texts: list[str]) -> list[list[int]]:
        if self.tokenizer is None:
            raise VecsearchError("this encoder has no tokenizer attached")
        return token_ids(self.tokenizer, texts, self.config.max_length)

    def encode(self, texts: list[str], batch_size: int = 256, show_progress: bool = False) -> np.ndarray:
        """Embed `texts`; returns float32 unit vectors of shape (len(texts), dim).

        Texts are batched by length (bucketing), so little compute goes on padding.
        """
        if isinstance(texts, str):
            texts = [texts]
        vectors = np.empty((len(texts), self.config.dim), dtype=np.float32)
        if not texts:
            return vectors
        ids = self.tokenize(list(texts))
        order = np.argsort([len(s) for s in ids], kind="stable")
        batches = range(0, len(order), batch_size)
        if show_progress:
            from tqdm.auto import tqdm

            batches = tqdm(batches, desc="encoding", unit="batch", leave=False, disable=None)
        was_training = self.training
        self.eval()
        with torch.inference_mode():
            for start in batches:
                rows = order[start : start + batch_size]
                vectors[rows] = self(*pad_batch([ids[r] for r in rows], self.config.pad_id)).numpy()
        self.train(was_training)
        return vectors

    def save(self, directory: str | Path) -> None:
        """Write `encoder.safetensors` (weights + config) and `tokenizer.json` to `directory`."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        metadata = {"format": WEIGHTS_FORMAT, "config": json.dumps(asdict(self.config))}
        state = {k: v.contiguous() for k, v in self.state_dict().items()}
        save_file(state, str(directory / WEIGHTS), metadata=metadata)
        if self.tokenizer is not None:
            save_tokenizer(self.tokenizer, directory)

    @classmethod
    def load(cls, directory: str | Path) -> "RNNEncoder":
        """Load an encoder and its tokenizer saved by `save`."""
        path = Path(directory) / WEIGHTS
        if not path.is_file():
            raise VecsearchError(f"no trained encoder in {directory} (missing {WEIGHTS})")
        try:
            with safe_open(str(path), framework="pt") as weights:
                metadata = weights.metadata() or {}
            if metadata.get("format") != WEIGHTS_FORMAT:
                raise VecsearchError(f"{path} is not a vecsearch encoder (format {metadata.get('format')!r})")
            encoder = cls(EncoderConfig(**json.loads(metadata["config"])), load_tokenizer(directory))
            encoder.load_state_dict(load_file(str(path)))
        except VecsearchError:
            raise
        except Exception as error:
            raise VecsearchError(f"cannot load the encoder in {directory}: {error}") from None
        return encoder.eval()
