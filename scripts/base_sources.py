"""General-English text for the base encoder, read from Debian's dictionary packages.

Each source yields (query, passage) pairs that a person would recognise as a question and its
answer: a headword and its definition, a synset's words and its gloss. No IR test collection,
no evaluation corpus, no Python documentation: the base must not have seen what we measure on.

Sources (install with: apt-get install wordnet-base dict-gcide dict-foldoc):
- WordNet 3.0 (wordnet-base, /usr/share/wordnet/data.*): ~117k synsets; WordNet 3.0 licence
  (permissive, BSD-like; Princeton University).
- GCIDE 0.48 (dict-gcide, /usr/share/dictd/gcide.dict.dz): the GNU Collaborative International
  Dictionary of English, from Webster's 1913; GPL-3.0-or-later.
- FOLDOC (dict-foldoc, /usr/share/dictd/foldoc.dict.dz): the Free On-line Dictionary of
  Computing; GFDL-1.1-or-later.
"""

from __future__ import annotations

import base64
import gzip
import re
from pathlib import Path
from typing import Iterator

WORDNET = Path("/usr/share/wordnet")
DICTD = Path("/usr/share/dictd")
MAX_WORDS = 160  # a passage is cut here: dictionary entries can run to pages

_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def wordnet_pairs() -> Iterator[tuple[str, str, str]]:
    """(source, query, passage): a synset's words as the query, its gloss and examples as the passage."""
    for part in ("noun", "verb", "adj", "adv"):
        with open(WORDNET / f"data.{part}", encoding="latin-1") as lines:
            for line in lines:
                if line.startswith(" ") or "|" not in line:
                    continue  # the licence header
                fields, gloss = line.split("|", 1)
                tokens = fields.split()
                count = int(tokens[3], 16)
                words = [tokens[4 + 2 * i].replace("_", " ") for i in range(count)]
                words = [re.sub(r"\([a-z]+\)$", "", w) for w in words]  # adjective markers: (a), (p)
                gloss = gloss.strip().rstrip(";").strip()
                if len(gloss.split()) < 3:
                    continue
                yield "wordnet", ", ".join(dict.fromkeys(words)), gloss


def _dictd_entries(name: str) -> Iterator[tuple[str, str]]:
    """(headword, entry text) from a dictd database, each entry once."""
    def number(text: str) -> int:
        value = 0
        for char in text:
            value = value * 64 + _B64.index(char)
        return value

    with gzip.open(DICTD / f"{name}.dict.dz", "rb") as data:
        body = data.read()
    seen: set[int] = set()
    with open(DICTD / f"{name}.index", encoding="utf-8", errors="replace") as index:
        for line in index:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3 or parts[0].startswith("00-database") or parts[0].startswith("00database"):
                continue
            offset, length = number(parts[1]), number(parts[2])
            if offset in seen:
                continue
            seen.add(offset)
            yield parts[0], body[offset : offset + length].decode("utf-8", errors="replace")


def _clean(text: str) -> str:
    text = re.sub(r"\[(1913 Webster|PJC|Webster 1913 Suppl\.|Century Dict\.|WordNet 1\.5|[A-Z]+)\]", " ", text)
    text = re.sub(r"\\[^\\]*\\", " ", text)  # pronunciations: \A*buse"\
    text = text.replace("{", "").replace("}", "").replace("<", "").replace(">", "")
    text = re.sub(r"--[A-Z][\w. ]*\.", " ", text)  # quotation sources: --Shak.
    return " ".join(text.split())


def gcide_pairs() -> Iterator[tuple[str, str, str]]:
    """(source, query, passage): a headword, and one numbered sense of its entry (or the whole entry)."""
    for headword, entry in _dictd_entries("gcide"):
        if not re.fullmatch(r"[A-Za-z][A-Za-z' -]*", headword):
            continue
        body = entry.split("\n", 1)[1] if "\n" in entry else entry
        body = re.sub(r"^\s*\[[^\]]*\]", "", body.strip())  # the etymology after the headword line
        senses = [s for s in re.split(r"\n\s+\d+\.\s", "\n" + body) if s.strip()]
        senses = [re.split(r"\n\s+Syn:|\n\s+Usage:", sense)[0] for sense in senses]
        text = _clean(re.sub(r"\[[^\]]*\]", " ", " ".join(senses[:4])))  # etymologies, [Obs.]
        text = re.sub(r"^(?:(?:[a-z]{1,4}\.\s*)+)(?=[A-Z(])", "", text)  # the part of speech: n., v. t.
        words = text.split()
        if len(words) >= 5:
            yield "gcide", headword.lower(), " ".join(words[:MAX_WORDS])


def foldoc_pairs() -> Iterator[tuple[str, str, str]]:
    """(source, query, passage): a computing term and its entry."""
    for headword, entry in _dictd_entries("foldoc"):
        body = entry.split("\n", 1)[1] if "\n" in entry else ""
        body = re.sub(r"\(\d{4}-\d{2}-\d{2}\)", " ", body)  # revision dates
        words = _clean(body).split()
        if len(words) >= 8:
            yield "foldoc", headword, " ".join(words[:MAX_WORDS])


SOURCES = {"wordnet": wordnet_pairs, "gcide": gcide_pairs, "foldoc": foldoc_pairs}
