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
from functools import lru_cache
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

    def terms(self, query: str) -> list[str]:
        """The query's BM25 terms (empty when every word is a stopword)."""
        return analyze([query], self.stopwords)[0]

    @classmethod
    def build(cls, texts: list[str], show_progress: bool = False, stopwords: str | None = None) -> "LexicalIndex":
        """BM25 over `texts`, analysed a chunk at a time into int32 term ids.

        bm25s would hold every term of the corpus as a Python string (~60 bytes each:
        gigabytes for a 200 MB corpus); ids take 4 bytes, and the index is the same.
        """
        import bm25s

        stopwords = stopwords or STOPWORDS
        vocabulary: dict[str, int] = {}
        term_ids = []
        starts = range(0, len(texts), _ANALYZE_CHUNK)
        if show_progress and len(starts) > 1:
            from ..progress import progress

            starts = progress(starts, description="BM25", unit="chunk")
        for start in starts:
            for terms in analyze(texts[start : start + _ANALYZE_CHUNK], stopwords):
                ids = (vocabulary.setdefault(term, len(vocabulary)) for term in terms)
                term_ids.append(np.fromiter(ids, dtype=np.int32, count=len(terms)))
        if not vocabulary:  # nothing but stopwords: bm25s needs one term
            vocabulary[""] = 0
        bm25 = bm25s.BM25()
        bm25.index((term_ids, vocabulary), show_progress=False)
        return cls(bm25, stopwords=stopwords)

    def save(self, directory: str | Path) -> None:
        path = Path(directory) / DIRECTORY
        self.bm25.save(str(path), show_progress=False)
        (path / ANALYZER_FILE).write_text(json.dumps({"stopwords": self.stopwords}) + "\n")

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


def _top(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ids and scores of the (at most k) best positive scores, best first."""
    k = min(k, len(scores))
    top = np.argpartition(-scores, k - 1)[:k] if k else np.empty(0, dtype=np.int64)
    top = top[np.argsort(-scores[top], kind="stable")]
    top = top[scores[top] > 0]
    return top, scores[top]
