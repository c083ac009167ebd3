"""Self-supervised training of the RNN encoder on the user's own corpus.

Each step samples a batch of passages from distinct documents and makes a
(query, passage) pair from each: the query is a short span cut from the passage,
the way a user quotes or paraphrases what they look for. The encoder learns to
put each query nearest its own passage and away from the others in the batch
(InfoNCE; van den Oord et al., 2018; the in-batch negatives of Karpukhin et al., 2020).

Seeded runs are deterministic; a time budget, if given, can stop a run early.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .encoder import EncoderConfig, RNNEncoder, pad_batch
from .errors import VecsearchError


@dataclass
class TrainConfig:
    steps: int = 400
    batch_size: int = 64
    learning_rate: float = 3e-3
    temperature: float = 0.05
    query_words: tuple[int, int] = (6, 24)  # length range of the query spans
    seed: int = 0
    minutes: float | None = None  # stop early once this much time has passed


@dataclass
class TrainResult:
    steps: int
    seconds: float
    losses: list[float]


def train_encoder(
    passages: list[str],
    doc_ids: list[str],
    encoder_config: EncoderConfig,
    tokenizer,
    config: TrainConfig = TrainConfig(),
    show_progress: bool = True,
) -> tuple[RNNEncoder, TrainResult]:
    """Train a new encoder on `passages` (with the document each comes from)."""
    if len(passages) < 2:
        raise VecsearchError("training needs at least two passages")
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    encoder = RNNEncoder(encoder_config, tokenizer)
    optimizer = torch.optim.AdamW(encoder.parameters(), lr=config.learning_rate, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / 20) * 0.5 * (1 + math.cos(math.pi * step / config.steps))
    )
    sampler = _PassageSampler(passages, doc_ids, rng)
    steps = range(config.steps)
    if show_progress:
        from tqdm.auto import tqdm

        steps = tqdm(steps, desc="training", unit="step", disable=None)  # None: off when not a terminal
    losses: list[float] = []
    started = time.perf_counter()
    encoder.train()
    for step in steps:
        queries, targets = sampler.pairs(min(config.batch_size, sampler.documents), config.query_words)
        q = encoder(*pad_batch(encoder.tokenize(queries)))
        d = encoder(*pad_batch(encoder.tokenize(targets)))
        loss = _info_nce(q, d, config.temperature)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(encoder.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if show_progress:
            steps.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
        if config.minutes is not None and time.perf_counter() - started > config.minutes * 60:
            break
    encoder.eval()
    return encoder, TrainResult(len(losses), time.perf_counter() - started, losses)


def _info_nce(queries: torch.Tensor, documents: torch.Tensor, temperature: float) -> torch.Tensor:
    """Symmetric InfoNCE: row i of each side matches row i of the other."""
    logits = queries @ documents.T / temperature
    labels = torch.arange(len(queries))
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


class _PassageSampler:
    """Draws passages from distinct documents and cuts query spans from them."""

    def __init__(self, passages: list[str], doc_ids: list[str], rng: np.random.Generator):
        self.words = [p.split() for p in passages]
        self.rng = rng
        by_document: dict[str, list[int]] = {}
        for index, doc_id in enumerate(doc_ids):
            by_document.setdefault(doc_id, []).append(index)
        self.groups = list(by_document.values())
        self.documents = len(self.groups)

    def pairs(self, size: int, query_words: tuple[int, int]) -> tuple[list[str], list[str]]:
        queries, targets = [], []
        for group in self.rng.choice(self.documents, size=size, replace=False):
            members = self.groups[group]
            words = self.words[members[self.rng.integers(len(members))]]
            length = min(len(words), int(self.rng.integers(query_words[0], query_words[1] + 1)))
            start = int(self.rng.integers(0, len(words) - length + 1))
            queries.append(" ".join(words[start : start + length]))
            targets.append(" ".join(words))
        return queries, targets


def fit(
    passages: list[str],
    doc_ids: list[str],
    encoder_config: dict | None = None,
    config: TrainConfig = TrainConfig(),
    show_progress: bool = True,
) -> tuple[RNNEncoder, TrainResult]:
    """Learn a tokenizer on `passages`, then train an encoder on them.

    `encoder_config` overrides fields of EncoderConfig (cell, hidden_dim, ...).
    """
    from .tokenizer import train_tokenizer

    tokenizer = train_tokenizer(passages)
    settings = dict(encoder_config or {})
    settings["vocab_size"] = tokenizer.get_vocab_size()
    return train_encoder(passages, doc_ids, EncoderConfig(**settings), tokenizer, config, show_progress)
