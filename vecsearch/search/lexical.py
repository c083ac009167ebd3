"""BM25 over the same passages as the dense index (bm25s; English stopwords, Snowball stemmer).

Used for lexical and hybrid search, and as a teacher when training the encoder.

The stopword list is bm25s's long English one (NLTK's 179 words, question words such as
"how", "do", "what" among them), not its short one (Lucene's 33): people search with
questions, whose framing words otherwise outscore the words that matter. BM25 alone did
better with it on the collections measured, and the default hybrid on average
(`benchmarks/quality/stopwords.py`, results/stopwords.md). Each index records the list it was
built with, and its queries are analysed with that list.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from functools import lru_cache
from typing import NamedTuple
from pathlib import Path

import numpy as np

from ..errors import VecsearchError

DIRECTORY = "lexical"
ANALYZER_FILE = "analyzer.json"  # inside DIRECTORY: {"stopwords": <a key of STOPWORD_LISTS>}
STOPWORDS = "en+"  # what new indexes use
LEGACY_STOPWORDS = "en"  # what an index without ANALYZER_FILE was built with
_ANALYZE_CHUNK = 4096  # passages analysed at once
_QUERY_CHUNK = 64  # queries scored at once (a row of scores per passage each)


@lru_cache(maxsize=None)
def stopword_list(name: str) -> tuple[str, ...]:
    """The words of a named list: "en" (Lucene's 33), "en+" (NLTK's 179) or "none"."""
    from bm25s.stopwords import STOPWORDS_EN, STOPWORDS_EN_PLUS

    lists = {"en": STOPWORDS_EN, "en+": STOPWORDS_EN_PLUS, "none": ()}
    if name not in lists:
        raise VecsearchError(f"unknown stopword list '{name}' (known: {', '.join(lists)})")
    return tuple(lists[name])


def stopwords_of(directory: str | Path) -> str:
    """The stopword list a saved index was built with (without loading its arrays)."""
    analyzer = Path(directory) / DIRECTORY / ANALYZER_FILE
    stopwords = json.loads(analyzer.read_text())["stopwords"] if analyzer.exists() else LEGACY_STOPWORDS
    stopword_list(stopwords)  # an unknown name is damage
    return stopwords


@lru_cache(maxsize=1)
def stemmer():
    """Snowball's English stemmer: a list of lower-cased words -> their stems."""
    import Stemmer

    return Stemmer.Stemmer("english").stemWords


def analyze(texts: list[str], stopwords: str | None = None) -> list[list[str]]:
    """The BM25 terms of each text: lower-cased words, stopwords (default: STOPWORDS) removed, stemmed."""
    import bm25s

    words = list(stopword_list(stopwords or STOPWORDS))
    return bm25s.tokenize(texts, stopwords=words, stemmer=stemmer(), return_ids=False, show_progress=False)


class LexicalIndex:
    """A BM25 index whose document numbers are the passage ids (0..n-1)."""

    def __init__(self, bm25, directory: Path | None = None, stopwords: str | None = None):
        self.bm25 = bm25
        self.directory = directory  # where it was loaded from, to name in errors
        self.stopwords = stopwords or STOPWORDS  # the list its passages were analysed with; queries use it too
        self.spilled = False  # saved in a build's scratch folder (spill), to be moved into the version

    def terms(self, query: str) -> list[str]:
        """The query's BM25 terms (empty when every word is a stopword)."""
        return analyze([query], self.stopwords)[0]

    @classmethod
    def build(cls, texts: Sequence[str], show_progress: bool = False, stopwords: str | None = None) -> "LexicalIndex":
        """BM25 over `texts` (a sequence: read a chunk at a time), the arrays bm25s would build.

        bm25s holds every token of the corpus in Python lists and sorts ~40 bytes per
        (term, passage) pair to make its matrix: 6 GB at a million passages. Here each passage
        keeps only its distinct term ids and their counts (5 bytes a pair), and the column-sorted
        matrix is filled by counting, a chunk of passages at a time; the arrays and scores are
        bm25s's own (its method "lucene": tests check them against bm25s).
        """
        import bm25s

        stopwords = stopwords or STOPWORDS
        vocabulary: dict[str, int] = {}
        chunks: list[_Chunk] = []
        starts = range(0, len(texts), _ANALYZE_CHUNK)
        if show_progress and len(starts) > 1:
            from ..progress import progress

            starts = progress(starts, description="BM25", unit="chunk")
        for start in starts:
            analysed = analyze(list(texts[start : start + _ANALYZE_CHUNK]), stopwords)
            lengths = np.fromiter(map(len, analysed), np.int64, len(analysed))
            ids = np.fromiter((vocabulary.setdefault(w, len(vocabulary)) for words in analysed for w in words),
                              np.int64, int(lengths.sum()))
            owner = np.repeat(np.arange(len(analysed), dtype=np.int64), lengths)
            pairs, counts = np.unique((owner << 32) | ids, return_counts=True)  # by passage, then term
            counts = counts.astype(np.min_scalar_type(counts.max() if len(counts) else 0))  # rarely over 255
            chunks.append(_Chunk((pairs & 0xFFFFFFFF).astype(np.int32), counts,
                                 np.bincount(pairs >> 32, minlength=len(analysed)), lengths))
        if not vocabulary:  # nothing but stopwords: bm25s needs one term
            vocabulary[""] = 0
        bm25 = bm25s.BM25()
        bm25.scores = _bm25_matrix(chunks, len(vocabulary), bm25.k1, bm25.b)
        if "" not in vocabulary:  # bm25s's empty token (one past the matrix), for queries of stopwords only
            vocabulary[""] = len(vocabulary)
        bm25.vocab_dict = vocabulary
        bm25.unique_token_ids_set = set(vocabulary.values())
        bm25.nonoccurrence_array = None
        return cls(bm25, stopwords=stopwords)

    def save(self, directory: str | Path) -> None:
        """Write the index into `directory`; one that was spilled moves its files there instead."""
        path = Path(directory) / DIRECTORY
        if self.spilled:
            os.replace(self.directory, path)  # the arrays stay mapped: a move keeps their inodes
            self.directory = path
            return
        self.bm25.save(str(path), show_progress=False)
        (path / ANALYZER_FILE).write_text(json.dumps({"stopwords": self.stopwords}) + "\n")

    def spill(self, directory: str | Path) -> "LexicalIndex":
        """Save into `directory` and reopen memory-mapped: what a build holds from then on is the
        pages its searches read, not the arrays (1.3 GB at a million passages). `save` moves it."""
        self.save(directory)
        spilled = LexicalIndex.load(directory)
        spilled.spilled = True
        return spilled

    @classmethod
    def load(cls, directory: str | Path, mmap: bool = True) -> "LexicalIndex":
        """Open the saved arrays memory-mapped (cheap to open), or read into memory (`mmap=False`:
        no per-query cost of numpy's memmap indexing, for long-running readers)."""
        import bm25s

        path = Path(directory) / DIRECTORY
        try:
            bm25 = bm25s.BM25.load(str(path), mmap=mmap, show_progress=False)
            stopwords = stopwords_of(directory)
        except Exception as error:  # missing or damaged arrays/JSON: numpy, json, OS and our errors
            raise VecsearchError(f"{path} is damaged: {error}") from None
        return cls(bm25, path, stopwords)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of `query` against every passage (zeros where no term matches)."""
        return self.score_matrix([query])[0]

    def score_matrix(self, queries: list[str]) -> np.ndarray:
        """BM25 scores of each query (rows) against every passage (columns)."""
        matrix = np.zeros((len(queries), self.bm25.scores["num_docs"]), dtype=np.float32)
        for row, terms in enumerate(analyze(queries, self.stopwords)):
            if terms:
                try:
                    matrix[row] = self.bm25.get_scores(terms)
                except (IndexError, ValueError) as error:  # arrays damaged on disk point outside themselves
                    raise VecsearchError(f"{self.directory or 'the BM25 index'} is damaged: {error}") from None
        return matrix

    def search(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ids and scores of the (at most k) passages sharing a term with `query`, best first."""
        return _top(self.scores(query), k)

    def search_batch(self, queries: list[str], k: int, allowed: np.ndarray | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
        """`search` for each query; with `allowed` (passage ids), among those passages only."""
        results = []
        for start in range(0, len(queries), _QUERY_CHUNK):
            matrix = self.score_matrix(queries[start : start + _QUERY_CHUNK])
            if allowed is not None:
                kept = np.zeros(matrix.shape[1], dtype=bool)
                kept[allowed] = True
                matrix[:, ~kept] = 0
            results += [_top(row, k) for row in matrix]
        return results


class _Chunk(NamedTuple):
    """Passages analysed together: the distinct term ids of each, passage after passage (`terms`),
    how often each occurs in its passage (`counts`), how many distinct terms each passage has
    (`widths`) and how many terms in all (`lengths`)."""

    terms: np.ndarray
    counts: np.ndarray
    widths: np.ndarray
    lengths: np.ndarray


def _bm25_matrix(chunks: list[_Chunk], vocabulary: int, k1: float, b: float) -> dict:
    """bm25s's score arrays (CSC: a column per term, its passages ascending) from analysed chunks.

    The arithmetic is bm25s's, in its order and precision, so that the scores are the same bits:
    idf with math.log per term, stored as float32; tf / (k1 * (1 - b + b * length / mean) + tf)
    in float64; their product stored as float32.
    """
    frequencies = np.zeros(vocabulary, dtype=np.int64)
    for chunk in chunks:
        frequencies += np.bincount(chunk.terms, minlength=vocabulary)
    lengths = np.concatenate([chunk.lengths for chunk in chunks]) if chunks else np.zeros(0, dtype=np.int64)
    passages = len(lengths)
    idf = np.array([math.log(1 + (passages - df + 0.5) / (df + 0.5)) if df else 0.0 for df in frequencies.tolist()],
                   dtype=np.float32)
    mean_length = lengths.mean() if lengths.any() else np.float64(1)  # no terms: no scores to normalise
    norm = k1 * ((1 - b) + b * lengths.astype(np.float64) / mean_length)
    indptr = np.zeros(vocabulary + 1, dtype=np.int64)
    np.cumsum(frequencies, out=indptr[1:])
    data, indices = np.empty(indptr[-1], dtype=np.float32), np.empty(indptr[-1], dtype=np.int32)
    filled = indptr[:-1].copy()  # the next free slot of each term's column
    first = 0  # the chunk's first passage
    while chunks:
        chunk = chunks.pop(0)  # each chunk's arrays are freed once placed
        owner = np.repeat(np.arange(first, first + len(chunk.lengths), dtype=np.int32), chunk.widths)
        first += len(chunk.lengths)
        tf = chunk.counts.astype(np.float64)
        scores = (idf[chunk.terms] * (tf / (norm[owner] + tf))).astype(np.float32)
        order = np.argsort(chunk.terms, kind="stable")  # passages stay ascending within a term
        term = chunk.terms[order]
        starts = np.flatnonzero(np.r_[True, term[1:] != term[:-1]]) if len(term) else np.zeros(0, dtype=np.int64)
        run_lengths = np.diff(np.r_[starts, len(term)])
        slots = filled[term] + (np.arange(len(term)) - np.repeat(starts, run_lengths))
        data[slots], indices[slots] = scores[order], owner[order]
        filled[term[starts]] += run_lengths
    return {"data": data, "indices": indices, "indptr": indptr, "num_docs": passages}


def _top(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ids and scores of the (at most k) best positive scores, best first."""
    k = min(k, len(scores))
    top = np.argpartition(-scores, k - 1)[:k] if k else np.empty(0, dtype=np.int64)
    top = top[np.argsort(-scores[top], kind="stable")]
    top = top[scores[top] > 0]
    return top, scores[top]
