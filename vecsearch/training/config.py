"""The training recipe's settings, in a module of their own: importing them does not import torch
(the CLI and `Retriever.build` make one before knowing whether anything will be trained)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TrainConfig:
    steps: int | None = None  # None: by corpus size (see with_steps)
    batch_size: int = 64
    learning_rate: float = 3e-3
    temperature: float = 0.05  # of the encoder's similarities
    query_words: tuple[int, int] = (3, 12)  # length range of pseudo-queries
    keyword_share: float = 0.5  # pseudo-queries made of sampled rare words (the rest are spans)
    doc_words: int = 64  # passages are seen through a window this long while training
    hard_negatives: bool = True  # add one BM25-mined negative per query
    teacher_weight: float = 0.5  # weight of the BM25 soft-target loss (0 = InfoNCE only)
    teacher_temperature: float = 0.1  # of the per-query max-normalised BM25 scores
    lexical_share: float = 0.0  # distillation: share of BM25's ranking in the target ranking
    distil_words: int = 96  # distillation: passages are seen as windows this long (0: whole), twice the steps
    distil_tokens: int = 112  # distillation: ...and of at most this many tokens (0: words only), so batches pad little
    distil_negatives: bool = False  # distillation: one hard negative per query (teacher + BM25); 2x the step's cost
    embedding_init: str = "ppmi"  # "ppmi" (corpus co-occurrence + SVD) or "random"
    seed: int = 0
    minutes: float | None = None  # stop early once this much time has passed
    max_passages: int = 20_000  # train on a random sample of a larger corpus (bounds time and memory)
    distil_passages: int = 4_000  # distillation: the teacher embeds (and the student trains on) a sample this large
    bfloat16: bool | None = None  # the encoder's forward passes in bfloat16; None: where encoding uses it (see forward_precision)
    adapt_learning_rate: float = 3e-3  # when continuing a base encoder's training (1e-3 adapted less: docs/training.md)
