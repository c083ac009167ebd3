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

Running prose, optional (`prose_sources(folder)`): zips of NLTK's data repository
(https://github.com/nltk/nltk_data, packages/corpora/), as a sentence and the text around it
(the inverse cloze task of Lee, Chang & Toutanova, 2019), in windows the length of an abstract:
- MASC 3.0.0, written part (masc_tagged.zip): essays, fiction, journals, letters, newspapers,
  technical and government texts, blogs; "may be used for ... research, and development,
  including commercial development" (American National Corpus).
- Movie reviews (movie_reviews.zip): Pang & Lee's polarity set 2.0; CC BY 4.0.
- State of the Union addresses (state_union.zip), 1945-2006: public domain.
"""

from __future__ import annotations

import gzip
import random
import re
import zipfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path

WORDNET = Path("/usr/share/wordnet")
DICTD = Path("/usr/share/dictd")
MAX_WORDS = 160  # a passage is cut here: dictionary entries can run to pages
WINDOW_WORDS = 140  # a prose window: about an abstract's length

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

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def cloze_pairs(name: str, documents: Iterator[str]) -> Iterator[tuple[str, str, str]]:
    """(source, query, passage): each document cut into windows of whole sentences, about
    WINDOW_WORDS long; one sentence of each window (seeded) is the query, the rest the passage."""
    rng = random.Random(name)
    for text in documents:
        window: list[str] = []
        words = 0
        for sentence in _SENTENCE_END.split(" ".join(text.split())):
            window.append(sentence)
            words += len(sentence.split())
            if words >= WINDOW_WORDS:
                fit = [s for s in range(len(window)) if 4 <= len(window[s].split()) <= 40]
                if len(window) >= 3 and fit:
                    pick = rng.choice(fit)
                    rest = " ".join(window[:pick] + window[pick + 1:]).split()
                    yield name, window[pick], " ".join(rest[:MAX_WORDS])
                window, words = [], 0


def _zip_pairs(name: str, path: Path, keep, untag: bool) -> Iterator[tuple[str, str, str]]:
    return cloze_pairs(name, _zip_texts(path, keep, untag))


def _zip_texts(path: Path, keep, untag: bool) -> Iterator[str]:
    with zipfile.ZipFile(path) as archive:
        for member in sorted(archive.namelist()):
            if member.endswith(".txt") and keep(member):
                text = archive.read(member).decode("utf-8", errors="replace")
                if untag:  # MASC's word_TAG tokens
                    text = " ".join(token.rsplit("_", 1)[0] for token in text.split())
                yield text


def prose_sources(folder: Path) -> dict:
    """The prose sources, read from NLTK data zips in `folder` (each skipped if absent)."""
    wanted = {
        "masc": ("masc_tagged.zip", lambda m: "/written/" in m, True),
        "movie_reviews": ("movie_reviews.zip", lambda m: "/pos/" in m or "/neg/" in m, False),
        "state_union": ("state_union.zip", lambda m: True, False),
    }
    return {name: partial(_zip_pairs, name, folder / file, keep, untag)
            for name, (file, keep, untag) in wanted.items() if (folder / file).exists()}
