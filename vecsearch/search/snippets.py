"""The part of a hit's passage to show: the window holding the most of the query's words, and
where each of them is, so that a terminal can print them bold and the page can mark them.

Words match as BM25 matches them (lower-cased, stemmed, the index's stopwords left out), so
"exceptions" in a query marks "exception" and "Exceptional" alike. A dense hit may share no
word with its query: without an explanation its snippet is then the passage's opening.

With an explanation (the passage's score split among its words, model/numpy_encoder.py; asked
for by `search(explain=True)`), the window is instead the one whose words carry the most of
the score, and the few words carrying most are marked too, apart from the query's words:
`marks` keeps its meaning (the query's words), `semantic` lists the others.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

SNIPPET_CHARS = 200
SEMANTIC_MARKS = 3  # words marked for carrying the score: a few, so that they stand out
_WORD = re.compile(r"\w\w+")  # what bm25s counts as a word
_CONTEXT = 40  # characters shown before the first marked word, where the passage has them


@dataclass
class Snippet:
    """A window `text[start:end]` of the passage, and the (start, end) of each matched word in
    the passage (the same offsets as the passage's text, all inside the window); `semantic`: the
    (start, end) of the words that carry most of a dense score, if the hit was explained (none
    of them among `marks`)."""

    start: int
    end: int
    marks: list[tuple[int, int]]
    semantic: list[tuple[int, int]] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def make_snippet(text: str, terms: set[str], stem, width: int = SNIPPET_CHARS,
                 shares: list[tuple[int, int, float]] | None = None) -> Snippet:
    """The `width`-character window of `text` with the most distinct `terms` (stemmed query words;
    `stem` stems a list of lower-cased words), ties to the earliest, cut at word boundaries.

    Given `shares` - each word's (start, end, share of the score), an Explanation's words - the
    window is the one whose words' shares add up to most, and the SEMANTIC_MARKS words in it
    with the largest positive shares are marked as `semantic`."""
    words = list(_WORD.finditer(text))
    matched = []
    if terms and words:
        stems = stem([w.group().lower() for w in words])
        matched = [(w.start(), w.end(), s) for w, s in zip(words, stems) if s in terms]
    if shares:
        return _semantic_snippet(text, matched, shares, width)
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


def _semantic_snippet(text: str, matched: list, shares: list[tuple[int, int, float]], width: int) -> Snippet:
    """The window starting at a word whose words' shares add up to most (ties to the earliest)."""
    best_start, best_total, total, last = 0, None, 0.0, 0
    for first, (start, _, _) in enumerate(shares):  # slide: add the words that now fit, drop the one left behind
        if first:
            total -= shares[first - 1][2]
        last = max(last, first)
        while last < len(shares) and shares[last][1] <= start + width:
            total += shares[last][2]
            last += 1
        if best_total is None or total > best_total + 1e-12:
            best_start, best_total = start, total
    start = best_start if best_total is not None and best_total > 0 else 0
    end = min(len(text), start + width)
    if end < len(text):
        cut = text.rfind(" ", start, end)
        end = cut if cut > start else end
    marks = [(a, b) for a, b, _ in matched if start <= a and b <= end]
    carrying = sorted(((share, a, b) for a, b, share in shares
                       if start <= a and b <= end and share > 0 and _WORD.search(text[a:b])
                       and not any(a < lexical_end and lexical_start < b for lexical_start, lexical_end in marks)),
                      reverse=True)[:SEMANTIC_MARKS]
    return Snippet(start, end, marks, sorted((a, b) for _, a, b in carrying))


def _word_start(text: str, position: int, limit: int) -> int:
    """The start of the first word at or after `position` (at most `limit`)."""
    if position == 0:
        return 0
    space = text.find(" ", position, limit)
    return space + 1 if space >= 0 else limit


def render(text: str, snippet: Snippet, mark=lambda word: word, semantic=None) -> str:
    """The snippet's text on one line, each marked word passed through `mark` (and each semantic
    one through `semantic`, by default `mark` too), with "..." where it was cut."""
    semantic = semantic or mark
    kinds = sorted([(a, b, mark) for a, b in snippet.marks] + [(a, b, semantic) for a, b in snippet.semantic])
    pieces, at = [], snippet.start
    for a, b, style in kinds:
        pieces += [text[at:a], style(text[a:b])]
        at = b
    pieces.append(text[at : snippet.end])
    body = " ".join("".join(pieces).split())
    return ("... " if snippet.start > 0 else "") + body + (" ..." if snippet.end < len(text) else "")
