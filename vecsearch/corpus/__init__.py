"""The corpus: documents read from files, records or standard input (reading.py), split into
passages (passages.py), and pseudo-queries cut from them for training (pseudoqueries.py).

This package knows nothing of tokenizers, models or indexes.
"""

from __future__ import annotations

import os

from ..errors import VecsearchError
from .passages import (
    MAX_RUN_CHARS, MAX_WORD_CHARS, PASSAGE_OVERLAP, PASSAGE_WORDS, Passage, characters_cut, split_passages,
)
from .reading import (
    SUFFIXES, CorpusReport, Document, content_hash, documents_from, iter_documents, read_stdin, record_metadata,
)

__all__ = [
    "MAX_RUN_CHARS", "MAX_WORD_CHARS", "PASSAGE_OVERLAP", "PASSAGE_WORDS", "SUFFIXES", "CorpusReport", "Document",
    "Passage", "characters_cut", "content_hash", "documents_from", "iter_documents", "read_corpus", "read_stdin",
    "record_metadata", "split_passages",
]


def read_corpus(
    path: str | os.PathLike,
    text_field: str = "text",
    words: int = PASSAGE_WORDS,
    overlap: int = PASSAGE_OVERLAP,
    report: CorpusReport | None = None,
) -> tuple[list[Document], list[Passage]]:
    """All documents under `path` and their passages (texts cut short are noted in `report.cut`).
    Raises VecsearchError if there are none."""
    report = report if report is not None else CorpusReport()
    documents, passages = [], []
    for document in iter_documents(path, text_field, report):
        documents.append(document)
        passages.extend(split_passages(document, words, overlap))
        if cut := characters_cut(document.text):
            report.cut.append((document.id, cut))
    if not passages:
        raise VecsearchError(f"no documents to index in {path}{report.describe_skips()}")
    return documents, passages
