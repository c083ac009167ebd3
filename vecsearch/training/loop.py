"""What every way of training the encoder shares: a seeded encoder to start from (new, or a
base encoder's copy), the step count, the forward passes' precision, the optimisation loop
(AdamW, warm-up, cosine decay, clipping, a time budget, progress), and hard-negative draws.
self_supervised.py (self-supervised, BM25 as teacher) and distillation.py (a sentence-transformers
teacher) each bring a loss; neither imports the other."""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch

from ..errors import VecsearchError
from ..model.encoder import EncoderConfig, RNNEncoder
from .config import TrainConfig


@dataclass
class TrainResult:
    steps: int
    seconds: float
    losses: list[float]
    bfloat16: bool = False  # whether the forward passes ran in bfloat16
    teacher_seconds: float = 0.0  # distillation: of `seconds`, embedding the targets before the steps


def new_encoder(
    passages: list[str],
    doc_ids: list[str],
    encoder_config: EncoderConfig,
    tokenizer,
    config: TrainConfig,
    bfloat16_steps: float = 1.0,
    steps_scale: float = 1.0,
    start: RNNEncoder | None = None,
) -> tuple[RNNEncoder, TrainConfig]:
    """A seeded encoder to train - freshly initialised, or a copy of `start` (a base encoder,
    at `adapt_learning_rate`) - and `config` with its precision and steps settled:
    `steps_scale` times the usual steps, and `bfloat16_steps` times that again when the
    forward passes run in bfloat16."""
    if len(set(doc_ids)) < 2:
        raise VecsearchError("training needs at least two documents")
    if config.bfloat16 is None:
        config = replace(config, bfloat16=RNNEncoder.runs_faster_in_bfloat16(encoder_config.cell))
    config = with_steps(config, len(passages), steps_scale * (bfloat16_steps if config.bfloat16 else 1.0))
    torch.manual_seed(config.seed)
    encoder = RNNEncoder(encoder_config, tokenizer)
    if start is not None:
        if asdict(start.config) != asdict(encoder_config):
            raise VecsearchError("a base encoder is adapted as it is: its cell, sizes and pooling cannot change")
        encoder.load_state_dict(start.state_dict())
        return encoder, replace(config, learning_rate=config.adapt_learning_rate)
    initialise_embeddings(encoder, passages, config)
    return encoder, config


def with_steps(config: TrainConfig, passages: int, scale: float = 1.0) -> TrainConfig:
    """`config` with its step count settled: half a step per passage beyond the first 200,
    150 to 800 steps - under a minute for a few hundred documents, about four minutes
    from 1,800 passages up, on 2 cores (2.5 with bfloat16 forward passes) - times `scale`."""
    if config.steps is not None:
        return config
    return replace(config, steps=round(scale * min(800, max(150, (passages - 200) // 2))))


def forward_precision(config: TrainConfig):
    """The context the encoder's forward passes run in while training: bfloat16 autocast if
    `config.bfloat16`, which `new_encoder` sets, as encoding does, for an LSTM on a CPU with
    bfloat16 units (its fused oneDNN kernel then runs in bfloat16).

    Only the forward passes: the encoder hands back float32 vectors, and the loss, the
    backward pass and the optimizer step stay in float32: faster for the same quality, where the
    whole step under autocast failed to train (docs/training.md, "bfloat16 forward passes").
    """
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=bool(config.bfloat16))


def initialise_embeddings(encoder: RNNEncoder, passages: list[str], config: TrainConfig) -> None:
    """Start the token embeddings from corpus statistics (config.embedding_init == "ppmi")."""
    if config.embedding_init == "random":
        return
    if config.embedding_init != "ppmi":
        raise VecsearchError(f"unknown embedding_init '{config.embedding_init}' (ppmi or random)")
    from .cooccurrence import ppmi_embeddings

    table = ppmi_embeddings(encoder.tokenize(passages), encoder.config.vocab_size, encoder.config.embed_dim, config.seed)
    with torch.no_grad():
        encoder.embedding.weight.copy_(torch.from_numpy(table))
        encoder.embedding.weight[encoder.config.pad_id].zero_()


def optimize(encoder: RNNEncoder, step_loss, config: TrainConfig, show_progress: bool, checkpoint=None) -> TrainResult:
    """AdamW with warm-up and cosine decay over `config.steps` calls of `step_loss()`.

    `checkpoint`, for runs long enough to be interrupted (the base's build), has
    `restore(optimizer, schedule) -> (step, losses)`, called once, and
    `save(step, optimizer, schedule, losses)`, called every `checkpoint.every` steps and at the end.
    """
    # fused: one kernel for every parameter, where the default spent ~11% of a distillation step
    # updating the 30,522-row embedding table
    optimizer = torch.optim.AdamW(encoder.parameters(), lr=config.learning_rate, weight_decay=0.01, fused=True)
    warmup = max(1, config.steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * step / config.steps))
    )
    first, losses = checkpoint.restore(optimizer, schedule) if checkpoint else (0, [])
    steps = range(first, config.steps)
    if show_progress:
        from ..progress import progress

        steps = progress(steps, description="training", unit="step", leave=True)
    started = time.perf_counter()
    encoder.train()
    for step in steps:
        loss = step_loss()
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(encoder.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if show_progress:
            steps.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}", refresh=False)
        if checkpoint and ((step + 1) % checkpoint.every == 0 or step + 1 == config.steps):
            checkpoint.save(step + 1, optimizer, schedule, losses)
        if config.minutes is not None and time.perf_counter() - started > config.minutes * 60:
            break
    encoder.eval()
    return TrainResult(len(losses), time.perf_counter() - started, losses, bool(config.bfloat16))


def draw_negative(candidates: list[int], doc_of: np.ndarray, taken: set[int], rng: np.random.Generator) -> int | None:
    """One of `candidates` (passage ids) whose document is not in `taken`, drawn at random, its
    document then added to `taken`; None if every candidate's document is taken."""
    options = [p for p in candidates if doc_of[p] not in taken]
    if not options:
        return None
    negative = options[int(rng.integers(len(options)))]
    taken.add(int(doc_of[negative]))
    return negative
