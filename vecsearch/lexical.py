"""BM25 over the same passages as the dense index (bm25s; English stopwords, Snowball stemmer).

Used for lexical and hybrid search, and as a teacher when training the encoder.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from .errors import VecsearchError

DIRECTORY = "lexical"
_ANALYZE_CHUNK = 4096  # passages analysed at once


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english").stemWords


def analyze(texts: list[str]) -> list[list[str]]:
    """The BM25 terms of each text: lower-cased words, stopwords removed, stemmed."""
    import bm25s

    return bm25s.tokenize(texts, stopwords="en", stemmer=_stemmer(), return_ids=False, show_progress=False)


class LexicalIndex:
    """A BM25 index whose document numbers are the passage ids (0..n-1)."""

    def __init__(self, bm25, directory: Path | None = None):
        self.bm25 = bm25
        self.directory = directory  # where it was loaded from, to name in errors

    @classmethod
    def build(cls, texts: list[str], show_progress: bool = False) -> "LexicalIndex":
        """BM25 over `texts`, analysed a chunk at a time into int32 term ids.

        bm25s would hold every term of the corpus as a Python string (~60 bytes each:
        gigabytes for a 200 MB corpus); ids take 4 bytes, and the index is the same.
        """
        import bm25s

        vocabulary: dict[str, int] = {}
        term_ids = []
        starts = range(0, len(texts), _ANALYZE_CHUNK)
        if show_progress and len(starts) > 1:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc="BM25", unit="chunk", leave=False, disable=None)
        for start in starts:
            for terms in analyze(texts[start : start + _ANALYZE_CHUNK]):
                ids = (vocabulary.setdefault(term, len(vocabulary)) for term in terms)
                term_ids.append(np.fromiter(ids, dtype=np.int32, count=len(terms)))
        if not vocabulary:  # nothing but stopwords: bm25s needs one term
            vocabulary[""] = 0
        bm25 = bm25s.BM25()
        bm25.index((term_ids, vocabulary), show_progress=False)
        return cls(bm25)

    def save(self, directory: str | Path) -> None:
        self.bm25.save(str(Path(directory) / DIRECTORY), show_progress=False)

    @classmethod
    def load(cls, directory: str | Path, mmap: bool = True) -> "LexicalIndex":
        """Open the saved arrays memory-mapped (cheap to open), or read into memory (`mmap=False`:
        no per-query cost of numpy's memmap indexing, for long-running readers)."""
        import bm25s

        path = Path(directory) / DIRECTORY
        try:
            return cls(bm25s.BM25.load(str(path), mmap=mmap, show_progress=False), path)
        except Exception as error:  # missing or damaged arrays/JSON: numpy, json and OS errors
            raise VecsearchError(f"{path} is damaged: {error}") from None

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of `query` against every passage (zeros where no term matches)."""
        return self.score_matrix([query])[0]

    def score_matrix(self, queries: list[str]) -> np.ndarray:
        """BM25 scores of each query (rows) against every passage (columns)."""
        matrix = np.zeros((len(queries), self.bm25.scores["num_docs"]), dtype=np.float32)
        for row, terms in enumerate(analyze(queries)):
            if terms:
                try:
                    matrix[row] = self.bm25.get_scores(terms)
                except (IndexError, ValueError) as error:  # arrays damaged on disk point outside themselves
                    raise VecsearchError(f"{self.directory or 'the BM25 index'} is damaged: {error}") from None
        return matrix

    def search(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ids and scores of the (at most k) passages sharing a term with `query`, best first."""
        scores = self.scores(query)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k] if k else np.empty(0, dtype=np.int64)
        top = top[np.argsort(-scores[top], kind="stable")]
        top = top[scores[top] > 0]
        return top, scores[top]
