"""Split documents into passages: the overlapping word windows that are embedded, scored and returned."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .reading import Document

MAX_WORD_CHARS = 100  # a longer run without spaces (base64, a minified line) is cut into pieces
MAX_RUN_CHARS = 16_384  # of a longer run, only the start goes into passages (see split_passages)
_RUN = re.compile(r"\S+")
_LONG_RUN = re.compile(r"(?<!\S)\S{%d,}" % (MAX_RUN_CHARS + 1))  # from a run's start: linear, whatever the text


@dataclass(frozen=True)
class Passage:
    doc_id: str
    text: str
    source: str
    position: int  # index of the passage within its document
    start: int  # character offset of the passage in the document text
    id: int = -1  # the passage id in an index version (its row: 0..n-1); -1 before it is stored


PASSAGE_WORDS = 192  # words per passage: the unit that is embedded, scored and returned
PASSAGE_OVERLAP = 32  # words shared by consecutive passages of a document


def split_passages(document: Document, words: int = PASSAGE_WORDS, overlap: int = PASSAGE_OVERLAP) -> list[Passage]:
    """Split a document into overlapping windows of `words` whitespace tokens.

    Windows advance by `words - overlap`; the last window ends at the document's end.
    A run without spaces longer than MAX_WORD_CHARS counts as a word per MAX_WORD_CHARS
    characters, and only its first MAX_RUN_CHARS characters go into passages: base64, a
    minified bundle or a hex dump stays findable by its start but cannot fill the index -
    and its training time - with passages no one searches (a 50 MB line would make 3,000).
    """
    if overlap >= words:
        raise ValueError("overlap must be smaller than the window")
    passages: list[Passage] = []
    stride = words - overlap
    for spans in _word_spans(document.text):
        for first in range(0, max(len(spans) - overlap, 1), stride):
            window = spans[first : first + words]
            start, end = window[0][0], window[-1][1]
            passages.append(Passage(document.id, document.text[start:end], document.source, len(passages), start))
    return passages


def _word_spans(text: str) -> list[list[tuple[int, int]]]:
    """(start, end) of each word of `text` as split_passages counts them, in stretches that a
    passage may span: a run cut short at MAX_RUN_CHARS ends one (a passage is a slice of the
    text, so one reaching past the cut would hold the rest of the run)."""
    stretches, spans = [], []
    for run in _RUN.finditer(text):
        start, end = run.span()
        if end - start <= MAX_WORD_CHARS:
            spans.append((start, end))
            continue
        cut = min(end, start + MAX_RUN_CHARS)
        spans.extend((at, min(at + MAX_WORD_CHARS, cut)) for at in range(start, cut, MAX_WORD_CHARS))
        if cut < end:
            stretches.append(spans)
            spans = []
    if spans:
        stretches.append(spans)
    return stretches


def characters_cut(text: str) -> int:
    """How many characters of `text` split_passages leaves out: those of each run without spaces
    past its first MAX_RUN_CHARS (0 for text as people write it)."""
    return sum(len(run) - MAX_RUN_CHARS for run in _LONG_RUN.findall(text))
