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

import numpy as np
import torch
import torch.nn.functional as F

from ..corpus.pseudoqueries import PseudoQueries, subsample
from ..model.encoder import EncoderConfig, RNNEncoder, pad_batch
from ..search.lexical import LexicalIndex
from .config import TrainConfig
from .loop import TrainResult, draw_negative, forward_precision, new_encoder, optimize


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
    encoder. With `teacher` (a sentence-transformers folder or the bundled one's name, as
    teacher.resolve_teacher settles it) the encoder is distilled from it; otherwise it is
    trained self-supervised with BM25 as teacher.
    """
    # the teacher costs ~20x the student per text: a sample bounds its share of a large corpus's build
    limit = min(config.max_passages, config.distil_passages) if teacher is not None else config.max_passages
    rows = subsample(len(passages), limit, config.seed)
    if len(rows) < len(passages):
        lexical = None  # it scores the whole corpus; train_encoder builds one over the sample
    passages, doc_ids = [passages[i] for i in rows], [doc_ids[i] for i in rows]  # any sequence: the indexer's reads a file
    if base is not None:
        tokenizer, student_config = base.tokenizer, base.config
    else:
        from ..model.tokenizer import train_tokenizer

        tokenizer = train_tokenizer(passages)
        student_config = EncoderConfig(**{**(encoder_config or {}), "vocab_size": tokenizer.get_vocab_size()})
    if teacher is not None:
        from .distillation import distil_encoder
        from .teacher import load_teacher

        return distil_encoder(
            passages, doc_ids, student_config, tokenizer, load_teacher(teacher), config, lexical, show_progress, base
        )
    return train_encoder(passages, doc_ids, student_config, tokenizer, config, lexical, show_progress, base)
