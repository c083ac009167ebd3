"""Pseudo-queries cut from the corpus itself: the training signal and the calibration set.

A pseudo-query for a passage is either a short span of it or a handful of its rarer
words (sampled in proportion to tf-idf), kept in text order - the two ways people
tend to write queries: quoting, or naming the key terms.
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

_PUNCTUATION = "\"'.,;:!?()[]{}<>«»“”‘’"


class PseudoQueries:
    """Draws passages from distinct documents and writes a pseudo-query for each."""

    def __init__(self, passages: list[str], doc_ids: list[str], rng: np.random.Generator,
                 query_words: tuple[int, int] = (3, 12), keyword_share: float = 0.5):
        self.rng = rng
        self.query_words = query_words
        self.keyword_share = keyword_share
        self.passages = passages  # split when drawn: a list of every word would cost ~60 bytes a word
        self.doc_of = np.unique(np.asarray(doc_ids, dtype=object).astype(str), return_inverse=True)[1]
        groups: dict[int, list[int]] = {}
        for index, doc in enumerate(self.doc_of.tolist()):
            groups.setdefault(doc, []).append(index)
        self.groups = list(groups.values())
        self.idf = _word_idf((p.split() for p in passages), len(passages))

    def sample(self, size: int) -> tuple[list[str], list[int]]:
        """`size` pseudo-queries (at most one per document) and the passage each was cut from."""
        chosen = self.rng.choice(len(self.groups), size=min(size, len(self.groups)), replace=False)
        passages = [int(self.rng.choice(self.groups[g])) for g in chosen]
        return [self.query(p) for p in passages], passages

    def query(self, passage: int) -> str:
        words = self.passages[passage].split()
        low, high = self.query_words
        length = min(len(words), int(self.rng.integers(low, high + 1)))
        if self.rng.random() < self.keyword_share:
            weights = np.array([self.idf.get(_key(w), 0.0) for w in words])
            if weights.sum() > 0:
                unique = min(length, int((weights > 0).sum()))
                picked = self.rng.choice(len(words), size=unique, replace=False, p=weights / weights.sum())
                return " ".join(words[i] for i in sorted(picked))
        start = int(self.rng.integers(0, len(words) - length + 1))
        return " ".join(words[start : start + length])

    def window(self, passage: int, size: int, word_tokens: np.ndarray | None = None, max_tokens: int = 0) -> str:
        """A random window of at most `size` words of a passage - and, given how many tokens
        each of its words makes (`word_tokens`), cut after at most `max_tokens` of them."""
        words = self.passages[passage].split()
        start = int(self.rng.integers(0, len(words) - size + 1)) if len(words) > size else 0
        end = min(start + size, len(words))
        if word_tokens is not None and max_tokens:
            within = np.cumsum(word_tokens[start:end]) <= max_tokens
            end = start + max(1, int(within.sum()))  # the cumulative sum grows: a prefix holds
        return " ".join(words[start:end])


def subsample(count: int, limit: int, seed: int) -> np.ndarray:
    """Indices of at most `limit` of `count` items, drawn at random and sorted; all of them if few.

    Training and calibration need a few thousand passages, not all of a large corpus: a
    sample keeps their time and memory flat as the corpus grows.
    """
    if count <= limit:
        return np.arange(count)
    return np.sort(np.random.default_rng(seed).choice(count, size=limit, replace=False))


def _key(word: str) -> str:
    return word.lower().strip(_PUNCTUATION)


def _word_idf(passages_words: Iterable[list[str]], total: int) -> dict[str, float]:
    """Inverse document frequency of each word; words in >10% of passages (stopwords, mostly) are left out."""
    frequency: dict[str, int] = {}
    for words in passages_words:
        for word in {_key(w) for w in words}:
            if word and not word.isdigit():
                frequency[word] = frequency.get(word, 0) + 1
    return {w: math.log(total / f) for w, f in frequency.items() if f <= max(1, total // 10)}
