"""Token embeddings from corpus co-occurrence statistics: PPMI + truncated SVD.

A start for the encoder's embedding table that already places tokens used in the
same contexts near each other (Levy, Goldberg & Dagan, 2015: window 4, context
distribution smoothing 0.75, eigenvalue weighting 0.5), computed in seconds with
scipy's sparse SVD instead of learnt from scratch.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse.linalg import svds

WINDOW = 4
SMOOTHING = 0.75


def _cooccurrence_counts(sequences: list[list[int]], vocab_size: int, chunk: int = 4_000_000) -> sparse.csr_matrix:
    """Symmetric counts of token pairs at most WINDOW apart, summed a chunk of pairs at a time
    (all pairs of 20k passages at once would take ~1 GB)."""
    counts = sparse.csr_matrix((vocab_size, vocab_size), dtype=np.float64)
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    pending = 0
    for number, ids in enumerate(sequences, 1):
        ids = np.asarray(ids, dtype=np.int32)
        for offset in range(1, WINDOW + 1):
            if len(ids) > offset:
                rows.extend((ids[:-offset], ids[offset:]))
                cols.extend((ids[offset:], ids[:-offset]))
                pending += 2 * (len(ids) - offset)
        if rows and (pending >= chunk or number == len(sequences)):
            row, col = np.concatenate(rows), np.concatenate(cols)
            ones = np.ones(len(row), dtype=np.float64)
            counts = counts + sparse.coo_matrix((ones, (row, col)), shape=(vocab_size, vocab_size)).tocsr()
            rows, cols, pending = [], [], 0
    return counts


def ppmi_embeddings(sequences: list[list[int]], vocab_size: int, dim: int, seed: int = 0) -> np.ndarray:
    """A (vocab_size, dim) float32 table with unit per-dimension variance; unseen tokens get small noise."""
    rng = np.random.default_rng(seed)
    table = rng.normal(0, 0.1, size=(vocab_size, dim)).astype(np.float32)
    counts = _cooccurrence_counts(sequences, vocab_size)
    if counts.nnz == 0:
        return table
    word_totals = np.asarray(counts.sum(axis=1)).ravel()
    context_totals = np.asarray(counts.sum(axis=0)).ravel() ** SMOOTHING
    coo = counts.tocoo()
    pmi = np.log(coo.data * context_totals.sum() / (word_totals[coo.row] * context_totals[coo.col]))
    keep = pmi > 0
    ppmi = sparse.csr_matrix((pmi[keep], (coo.row[keep], coo.col[keep])), shape=counts.shape)
    rank = min(dim, min(ppmi.shape) - 1)
    u, s, _ = svds(ppmi, k=rank, random_state=seed)
    vectors = u * np.sqrt(s)
    vectors /= vectors.std() + 1e-8
    seen = word_totals > 0
    table[seen, :rank] = vectors[seen]
    return table
