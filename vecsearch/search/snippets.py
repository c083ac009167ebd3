"""The part of a hit's passage to show: the window holding the most of the query's words, and
where each of them is, so that a terminal can print them bold and the page can mark them.

Words match as BM25 matches them (lower-cased, stemmed, the index's stopwords left out), so
"exceptions" in a query marks "exception" and "Exceptional" alike. A dense hit may share no
word with its query: its snippet is then the passage's opening.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

SNIPPET_CHARS = 200
_WORD = re.compile(r"\w\w+")  # what bm25s counts as a word
_CONTEXT = 40  # characters shown before the first marked word, where the passage has them


@dataclass
class Snippet:
    """A window `text[start:end]` of the passage, and the (start, end) of each matched word in
    the passage (the same offsets as the passage's text, all inside the window)."""

    start: int
    end: int
    marks: list[tuple[int, int]]

    def to_dict(self) -> dict:
        return asdict(self)


def make_snippet(text: str, terms: set[str], stem, width: int = SNIPPET_CHARS) -> Snippet:
    """The `width`-character window of `text` with the most distinct `terms` (stemmed query words;
    `stem` stems a list of lower-cased words), ties to the earliest, cut at word boundaries."""
    words = list(_WORD.finditer(text))
    matched = []
    if terms and words:
        stems = stem([w.group().lower() for w in words])
        matched = [(w.start(), w.end(), s) for w, s in zip(words, stems) if s in terms]
    best, best_score = None, (0, 0)
    for first, (start, _, _) in enumerate(matched):
        inside = [m for m in matched[first:] if m[1] <= start + width]
        score = (len({m[2] for m in inside}), len(inside))
        if score > best_score:
            best, best_score = start, score
    if best is None:
        start = 0
    else:  # a little of what comes before, from a word's start, if the window has room for it
        last_end = max(m[1] for m in matched if best <= m[0] and m[1] <= best + width)
        room = width - (last_end - best)
        start = _word_start(text, max(0, best - min(_CONTEXT, room)), best)
    end = min(len(text), start + width)
    if end < len(text):  # end at a word's end
        cut = text.rfind(" ", start, end)
        end = cut if cut > start else end
    marks = [(a, b) for a, b, _ in matched if start <= a and b <= end]
    return Snippet(start, end, marks)


def _word_start(text: str, position: int, limit: int) -> int:
    """The start of the first word at or after `position` (at most `limit`)."""
    if position == 0:
        return 0
    space = text.find(" ", position, limit)
    return space + 1 if space >= 0 else limit


def render(text: str, snippet: Snippet, mark=lambda word: word) -> str:
    """The snippet's text on one line, each marked word passed through `mark`, with "..." where it was cut."""
    pieces, at = [], snippet.start
    for a, b in snippet.marks:
        pieces += [text[at:a], mark(text[a:b])]
        at = b
    pieces.append(text[at : snippet.end])
    body = " ".join("".join(pieces).split())
    return ("... " if snippet.start > 0 else "") + body + (" ..." if snippet.end < len(text) else "")
