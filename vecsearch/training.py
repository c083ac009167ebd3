"""Self-supervised training of the RNN encoder on the user's own corpus.

A corpus of a few thousand passages gives plain span-pair contrastive learning
little signal, so each step squeezes out more:

- **Pseudo-queries.** From each sampled passage a query is made the way people
  write them: either a short span of it, or a handful of its rarer words (sampled by
  tf-idf), in text order.
- **BM25 as teacher.** BM25 ranks every passage for each pseudo-query. Its
  top-ranked passages from other documents join the batch as hard negatives
  (Karpukhin et al., 2020; Xiong et al., 2021), and its scores over the batch,
  normalised per query, are soft targets that the encoder's similarities are
  distilled towards (Hinton et al., 2015) next to the usual InfoNCE loss on the true
  source passage (van den Oord et al., 2018). The encoder thus learns graded lexical
  relevance, and generalises it through its embeddings.

Seeded runs are deterministic; a time budget, if given, can stop a run early.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F

from .encoder import EncoderConfig, RNNEncoder, pad_batch
from .errors import VecsearchError
from .lexical import LexicalIndex
from .pseudoqueries import PseudoQueries, subsample
from .train_config import TrainConfig


@dataclass
class TrainResult:
    steps: int
    seconds: float
    losses: list[float]
    bfloat16: bool = False  # whether the forward passes ran in bfloat16


def train_encoder(
    passages: list[str],
    doc_ids: list[str],
    encoder_config: EncoderConfig,
    tokenizer,
    config: TrainConfig = TrainConfig(),
    lexical: LexicalIndex | None = None,
    show_progress: bool = True,
    start: RNNEncoder | None = None,
) -> tuple[RNNEncoder, TrainResult]:
    """Train an encoder on `passages` (with the document each comes from), BM25 as teacher:
    a new one, or `start` (a base encoder) trained further."""
    encoder, config = new_encoder(passages, doc_ids, encoder_config, tokenizer, config, start=start)
    batches = PseudoQueryBatches(passages, doc_ids, lexical or LexicalIndex.build(passages), config)

    def step_loss() -> torch.Tensor:
        queries, documents, teacher = batches.next()
        with forward_precision(config):
            q = encoder(*pad_batch(encoder.tokenize(queries)))
            d = encoder(*pad_batch(encoder.tokenize(documents)))
        return contrastive_loss(q, d, teacher, config)

    return encoder, optimize(encoder, step_loss, config, show_progress)


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
    backward pass and the optimizer step stay in float32. On Cranfield (self-supervised,
    seed 0) 800 steps took 159 s against 217 s in float32, for nDCG@10 0.3105 against
    0.3095; with the whole step under autocast, training failed (0.11).
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


def optimize(encoder: RNNEncoder, step_loss, config: TrainConfig, show_progress: bool) -> TrainResult:
    """AdamW with warm-up and cosine decay over `config.steps` calls of `step_loss()`."""
    optimizer = torch.optim.AdamW(encoder.parameters(), lr=config.learning_rate, weight_decay=0.01)
    warmup = max(1, config.steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * step / config.steps))
    )
    steps = range(config.steps)
    if show_progress:
        from .progress import progress

        steps = progress(steps, description="training", unit="step", leave=True)
    losses: list[float] = []
    started = time.perf_counter()
    encoder.train()
    for _ in steps:
        loss = step_loss()
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(encoder.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if show_progress:
            steps.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}", refresh=False)
        if config.minutes is not None and time.perf_counter() - started > config.minutes * 60:
            break
    encoder.eval()
    return TrainResult(len(losses), time.perf_counter() - started, losses, bool(config.bfloat16))


def contrastive_loss(queries: torch.Tensor, documents: torch.Tensor, teacher: torch.Tensor, config: TrainConfig) -> torch.Tensor:
    """InfoNCE of query i against document i (of all documents in the batch), plus KL to the teacher.

    `teacher` holds BM25 scores (queries x documents); rows are max-normalised before the softmax.
    """
    logits = queries @ documents.T / config.temperature
    loss = F.cross_entropy(logits, torch.arange(len(queries)))
    if config.teacher_weight > 0:
        scale = teacher.amax(dim=1, keepdim=True).clamp_min(1e-6)
        target = F.softmax(teacher / scale / config.teacher_temperature, dim=1)
        distill = F.kl_div(F.log_softmax(logits, dim=1), target, reduction="batchmean")
        loss = (1 - config.teacher_weight) * loss + config.teacher_weight * distill
    return loss


class PseudoQueryBatches:
    """Batches of (pseudo-queries, passages, BM25 scores of each query over the batch's passages)."""

    def __init__(self, passages: list[str], doc_ids: list[str], lexical: LexicalIndex, config: TrainConfig):
        self.config = config
        self.lexical = lexical
        self.queries = PseudoQueries(
            passages, doc_ids, np.random.default_rng(config.seed), config.query_words, config.keyword_share
        )

    def next(self) -> tuple[list[str], list[str], torch.Tensor]:
        queries, positives = self.queries.sample(self.config.batch_size)
        scores = self.lexical.score_matrix(queries)  # queries x all passages
        candidates = positives + (self._negatives(scores, positives) if self.config.hard_negatives else [])
        documents = [self.queries.window(p, self.config.doc_words) for p in candidates]
        teacher = torch.from_numpy(np.ascontiguousarray(scores[:, candidates], dtype=np.float32))
        return queries, documents, teacher

    def _negatives(self, scores: np.ndarray, positives: list[int]) -> list[int]:
        """For each query, a passage BM25 ranks high but from a document not yet in the batch."""
        doc_of, rng = self.queries.doc_of, self.queries.rng
        taken = set(doc_of[positives].tolist())
        negatives = []
        for row in scores:
            top = np.argpartition(-row, min(20, len(row) - 1))[:20]
            negative = draw_negative(sorted(int(p) for p in top if row[p] > 0), doc_of, taken, rng)
            if negative is None:
                negative = draw_negative(rng.permutation(len(row))[:50].tolist(), doc_of, taken, rng)
            if negative is not None:  # else a small corpus: every document is in the batch already
                negatives.append(negative)
        return negatives


def draw_negative(candidates: list[int], doc_of: np.ndarray, taken: set[int], rng: np.random.Generator) -> int | None:
    """One of `candidates` (passage ids) whose document is not in `taken`, drawn at random, its
    document then added to `taken`; None if every candidate's document is taken."""
    options = [p for p in candidates if doc_of[p] not in taken]
    if not options:
        return None
    negative = options[int(rng.integers(len(options)))]
    taken.add(int(doc_of[negative]))
    return negative


def fit(
    passages: list[str],
    doc_ids: list[str],
    encoder_config: dict | None = None,
    config: TrainConfig = TrainConfig(),
    lexical: LexicalIndex | None = None,
    teacher: str | None = None,
    show_progress: bool = True,
    base: RNNEncoder | None = None,
) -> tuple[RNNEncoder, TrainResult]:
    """Train an encoder on `passages`: adapt `base` (keeping its tokenizer and sizes), or learn
    a tokenizer on them and train a new one.

    `encoder_config` overrides fields of EncoderConfig (cell, hidden_dim, ...) of a new
    encoder. With `teacher` (a sentence-transformers folder) the encoder is distilled from
    it; otherwise it is trained self-supervised with BM25 as teacher.
    """
    rows = subsample(len(passages), config.max_passages, config.seed)
    if len(rows) < len(passages):
        passages, doc_ids = [passages[i] for i in rows], [doc_ids[i] for i in rows]
        lexical = None  # it scores the whole corpus; train_encoder builds one over the sample
    if base is not None:
        tokenizer, student_config = base.tokenizer, base.config
    else:
        from .tokenizer import train_tokenizer

        tokenizer = train_tokenizer(passages)
        student_config = EncoderConfig(**{**(encoder_config or {}), "vocab_size": tokenizer.get_vocab_size()})
    if teacher is not None:
        from .distillation import distil_encoder, load_teacher

        return distil_encoder(
            passages, doc_ids, student_config, tokenizer, load_teacher(teacher), config, lexical, show_progress, base
        )
    return train_encoder(passages, doc_ids, student_config, tokenizer, config, lexical, show_progress, base)
