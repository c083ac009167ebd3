"""Distil a local sentence-transformers model (the teacher) into the RNN encoder.

The teacher embeds each passage and a pool of pseudo-queries cut from the corpus,
once. The student - the RNN, with a projection into the teacher's space - then
learns, for queries and passages alike, to reproduce the teacher's vectors (cosine
loss; Reimers & Gurevych, 2020) and the teacher's ranking of the batch's passages
for each query (KL between the two similarity distributions; listwise distillation,
Hofstätter et al., 2021), next to InfoNCE on the query's own passage. The student sees
each passage as one of two random windows of `TrainConfig.distil_words` words, each
with the teacher's vector of that window: a step then costs about half as much as
on whole passages, and twice the steps fit the same time. Optionally
(`TrainConfig.distil_negatives`) each query brings a hard negative: a passage of
another document that the teacher and BM25 together rank high for it, so the
ranking to learn has close calls in it; and the target ranking can mix in BM25's
(`TrainConfig.lexical_share`), so the student learns the teacher's semantics and
the exact-term matching a small corpus rewards. Both are off by default: a hard
negative per query doubles the passages each step encodes (docs/training.md).
Afterwards the student encodes everything without the teacher, many times faster.
The teacher is loaded by teacher.py; nothing is ever downloaded.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F

from ..corpus.pseudoqueries import PseudoQueries
from ..errors import VecsearchError
from ..model.encoder import EncoderConfig, RNNEncoder, pad_batch
from ..model.tokenizer import tokens_per_word
from ..search.lexical import LexicalIndex
from .config import TrainConfig
from .loop import TrainResult, draw_negative, forward_precision, new_encoder, optimize

QUERIES_PER_PASSAGE = 4
MAX_QUERY_POOL = 20_000

# Distillation gains from more steps than the usual rule, which bfloat16 forward passes pay
# for; windows of passages halve a step's cost, which pays for half as many again - not twice
# as many, so that a 1,400-document corpus indexes within five minutes (docs/training.md,
# "Distillation").
BFLOAT16_STEPS = 1.5
WINDOW_STEPS = 1.5
WINDOWS_PER_PASSAGE = 2


def distil_encoder(
    passages: list[str],
    doc_ids: list[str],
    encoder_config: EncoderConfig,
    tokenizer,
    teacher,
    config: TrainConfig = TrainConfig(),
    lexical: LexicalIndex | None = None,
    show_progress: bool = True,
    start: RNNEncoder | None = None,
) -> tuple[RNNEncoder, TrainResult]:
    """Train an encoder (a new one, or `start`, a base encoder, further) to reproduce `teacher`
    on `passages` and on pseudo-queries cut from them."""
    dimension = teacher_dimension(teacher)
    student_config = replace(encoder_config, output_dim=dimension)  # into the teacher's space
    if start is not None and start.config.output_dim != dimension:
        raise VecsearchError(f"the base encoder's vectors have {start.config.output_dim} dimensions, the teacher's {dimension}: "
                             "use --base none to distil a new encoder from this teacher")
    scale = WINDOW_STEPS if config.distil_words else 1.0
    encoder, config = new_encoder(passages, doc_ids, student_config, tokenizer, config, BFLOAT16_STEPS, scale, start)
    sampler = PseudoQueries(passages, doc_ids, np.random.default_rng(config.seed), config.query_words, config.keyword_share)
    if config.lexical_share > 0 and lexical is None:
        lexical = LexicalIndex.build(passages)

    pool_size = min(MAX_QUERY_POOL, QUERIES_PER_PASSAGE * len(passages))
    sources = sampler.rng.integers(0, len(passages), size=pool_size)
    query_pool = [sampler.query(int(p)) for p in sources]
    views, passage_of = passage_views(sampler, config.distil_words, config.distil_tokens, encoder.tokenizer)
    doc_of_view = sampler.doc_of[passage_of]
    # tokenized once, not at every step: it was a tenth of a step's time
    view_ids, query_ids = token_arrays(encoder, views), token_arrays(encoder, query_pool)
    started = time.perf_counter()
    with forward_precision(config):  # the teacher too: within 1e-4 in cosine of float32, 2.4x faster
        targets = teacher_vectors(teacher, views + query_pool, show_progress)
    view_targets, query_targets = targets[: len(views)], targets[len(views) :]
    teacher_seconds = time.perf_counter() - started
    queries_of: dict[int, list[int]] = {}
    for index, passage in enumerate(sources.tolist()):
        queries_of.setdefault(passage, []).append(index)
    with_queries = np.array(sorted(queries_of))
    views_of = np.arange(len(views)).reshape(len(passages), -1)  # each passage's views, side by side

    def step_loss() -> torch.Tensor:
        count = min(config.batch_size, len(with_queries))
        chosen = sampler.rng.choice(with_queries, size=count, replace=False).tolist()
        picked = [int(sampler.rng.choice(queries_of[p])) for p in chosen]
        tq = query_targets[picked]
        lexical_scores = None
        if config.lexical_share > 0:
            texts = [query_pool[i] for i in picked]
            lexical_scores = torch.from_numpy(lexical.score_matrix(texts))  # queries x every passage
        candidates = [int(sampler.rng.choice(views_of[p])) for p in chosen] if config.distil_words else chosen
        if lexical_scores is not None:
            lexical_scores = lexical_scores[:, passage_of]  # queries x every view
        if config.distil_negatives:
            relevance = _mixed_ranking(tq @ view_targets.T, lexical_scores, config)
            candidates = candidates + _hard_negatives(relevance, sampler.doc_of[chosen], doc_of_view, sampler.rng)
        with forward_precision(config):
            d = encoder(*pad_batch([view_ids[v] for v in candidates]))
            q = encoder(*pad_batch([query_ids[i] for i in picked]))
        td = view_targets[candidates]
        target = _mixed_ranking(tq @ td.T, None if lexical_scores is None else lexical_scores[:, candidates], config)
        return distillation_loss(q, d, tq, td, target, config.temperature)

    result = optimize(encoder, step_loss, config, show_progress)
    return encoder, replace(result, seconds=result.seconds + teacher_seconds, teacher_seconds=teacher_seconds)


def token_arrays(encoder: RNNEncoder, texts: list[str]) -> list[np.ndarray]:
    """Each text's token ids, as compact arrays (a list of Python ints costs ~36 bytes an id)."""
    return [np.asarray(ids, dtype=np.int64) for ids in encoder.tokenize(texts)]


TEACHER_CHUNK = 512  # texts per call of the teacher: progress in between


def teacher_vectors(teacher, texts: list[str], show_progress: bool) -> torch.Tensor:
    """The teacher's normalised vectors of `texts` (rows in their order), embedded shortest
    first - each batch pads to its longest text - with progress in a terminal and in a log."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    vectors = np.empty((len(texts), teacher_dimension(teacher)), dtype=np.float32)
    from ..progress import progress

    bar = progress(total=len(texts), description="teacher", unit="text", leave=True, enabled=show_progress)
    for start in range(0, len(order), TEACHER_CHUNK):
        rows = order[start : start + TEACHER_CHUNK]
        vectors[rows] = teacher.encode([texts[i] for i in rows], batch_size=64, normalize_embeddings=True,
                                       show_progress_bar=False)
        bar.update(len(rows))
    bar.close()
    return torch.from_numpy(vectors)


def teacher_dimension(teacher) -> int:
    """The size of the teacher's vectors (sentence-transformers renamed the method)."""
    dimension = getattr(teacher, "get_embedding_dimension", None) or teacher.get_sentence_embedding_dimension
    return dimension()


def distillation_loss(q: torch.Tensor, d: torch.Tensor, tq: torch.Tensor, td: torch.Tensor,
                      target: torch.Tensor, temperature: float) -> torch.Tensor:
    """The student's queries `q` and passages `d` (query i belongs with passage i) against the
    teacher's vectors of the same texts `tq`, `td`: cosine alignment to the teacher's vectors,
    KL to the teacher's ranking `target` (queries x passages), and InfoNCE on the own passage."""
    align = (1 - (q * tq).sum(1)).mean() + (1 - (d * td).sum(1)).mean()
    logits = q @ d.T / temperature
    ranking = F.kl_div(F.log_softmax(logits, 1), target, reduction="batchmean")
    contrast = F.cross_entropy(logits, torch.arange(len(q)))
    return align + ranking + contrast


def passage_views(sampler: PseudoQueries, words: int, tokens: int = 0, tokenizer=None) -> tuple[list[str], np.ndarray]:
    """What the student sees of each passage: WINDOWS_PER_PASSAGE random windows of at most
    `words` words and `tokens` tokens (or the passage whole if `words` is 0), and the passage of
    each view; each passage's views are next to each other, in passage order.

    Why a cap in tokens: a batch pads to its longest window, and 96 words made 105 tokens on
    average but 140 in a batch's longest; the cap keeps the longest near the average."""
    count = len(sampler.passages)
    if not words:
        return list(sampler.passages), np.arange(count)
    counts = tokens_per_word(tokenizer, sampler.passages) if tokens else [None] * count
    views = [sampler.window(p, words, counts[p], tokens) for p in range(count) for _ in range(WINDOWS_PER_PASSAGE)]
    return views, np.repeat(np.arange(count), WINDOWS_PER_PASSAGE)


def _mixed_ranking(similarities: torch.Tensor, bm25: torch.Tensor | None, config: TrainConfig) -> torch.Tensor:
    """Each query's target distribution over passages: the teacher's, with `lexical_share` of BM25's."""
    target = F.softmax(similarities / config.temperature, dim=1)
    if bm25 is not None and config.lexical_share > 0:
        scale = bm25.amax(dim=1, keepdim=True).clamp_min(1e-6)
        lexical = F.softmax(bm25 / scale / config.teacher_temperature, dim=1)
        target = (1 - config.lexical_share) * target + config.lexical_share * lexical
    return target


def _hard_negatives(relevance: torch.Tensor, batch_docs: np.ndarray, doc_of: np.ndarray, rng: np.random.Generator) -> list[int]:
    """For each query (a row of `relevance` over passages, or views of them, of the documents in
    `doc_of`), one of those ranked highest for it, from a document not yet in the batch."""
    taken = set(batch_docs.tolist())
    depth = min(20, relevance.shape[1])
    negatives = [draw_negative(row, doc_of, taken, rng) for row in relevance.topk(depth, dim=1).indices.tolist()]
    return [n for n in negatives if n is not None]
