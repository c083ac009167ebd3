"""Natural questions and running prose for the base encoder, read from raw files kept outside the tree.

Everything is read from a folder of raw files (by default ~/.cache/vecsearch-base/raw, one
sub-folder a source; MANIFEST.json there names each file's repository and commit, size, SHA-256
and licence). A source whose files are absent is skipped with a log line. No IR test collection,
no BEIR or MTEB data, no evaluation corpus: the base must not have seen what we measure on.

Question sources (`question_sources(raw)`: (source, query, passage) triples, one a question):
- squad (squad/1.1/*.html): SQuAD 1.1 dev, rebuilt from the explorer pages of
  https://github.com/rajpurkar/SQuAD-explorer (branch gh-pages, explore/1.1/dev/): 48 Wikipedia
  articles, 2,067 paragraphs, 10,570 questions; a question and its paragraph. CC BY-SA 4.0.
- squad_unanswerable (squad/v2.0/*.html): SQuAD 2.0 dev's questions marked <No Answer> (same
  pages, explore/v2.0/dev/): written against the paragraph, but the paragraph does not answer
  them. Kept apart: a related passage, not a positive one. CC BY-SA 4.0.
- nqg (nqg/{src,tgt}-test.txt): Du, Shao & Cardie (2017), https://github.com/xinyadu/nqg,
  data/processed: a question and the sentence it was asked of (SQuAD 1.1 train articles, the
  authors' test split), lower-cased and tokenized (lightly detokenized here). Code MIT, text
  CC BY-SA 4.0.
- fairytaleqa (fairytaleqa/{train,val,test}/*.csv): Xu et al. (2022),
  https://github.com/WorkInTheDark/FairytaleQA_Dataset, split_for_training: a question and the
  story sections it cites (public-domain fairy tales). Apache-2.0.
- strategyqa (strategyqa/train.json): Geva et al. (2021), https://github.com/eladsegal/strategyqa:
  a yes/no question and its facts, joined. MIT.
- wikisplit (wikisplit/{test,tune,validation}.tsv): Botha et al. (2018),
  https://github.com/google-research-datasets/wiki-split: a long Wikipedia sentence and its
  rewrite as two (a paraphrase, not a question; train.tsv.zip is over the snapshot's size limit
  and absent). CC BY-SA 4.0.

Prose documents (`prose_documents(raw)`: whole documents, to be cut by base_sources.cloze_pairs):
- gutenberg (gutenberg/*.txt): books of Project Gutenberg, one a GITenberg repository
  (https://github.com/GITenberg/<title>_<id>); the whole book, its header and footer (the
  Project Gutenberg licence) stripped. Public domain in the USA.
- state_union, inaugural (nltk/{state_union,inaugural}.zip): NLTK's data repository,
  https://github.com/nltk/nltk_data, packages/corpora/: each address a document. Public domain.
- kjv (kjv/kjv.txt): the King James Version, printed by Debian's bible-kjv (`bible -l100000
  gen1:1-rev22:21`) from bible-kjv-text 4.38; each book a document, verse numbers dropped.
  Public domain (the text); the package's own code GPL-2.0-or-later is not used.
"""

from __future__ import annotations

import csv
import html
import json
import logging
import re
import zipfile
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

from base_sources import MAX_WORDS

RAW = Path.home() / ".cache" / "vecsearch-base" / "raw"
log = logging.getLogger(__name__)

Triple = tuple[str, str, str]


def _cut(text: str) -> str:
    return " ".join(text.split()[:MAX_WORDS])


def _detok(text: str) -> str:
    """Undo PTB-style tokenization: `` x '' -> "x", "word ," -> "word,", "do n't" -> "don't"."""
    text = re.sub(r"``\s*|\s*''", '"', text)
    text = re.sub(r" (?=[,.;:!?%)\]}]|'s\b|'re\b|'ve\b|'ll\b|'d\b|'m\b|n't\b)", "", text)
    text = re.sub(r"([(\[{$]) ", r"\1", text)
    return " ".join(text.split())


# --- SQuAD ------------------------------------------------------------------------------------

_PARA = re.compile(r'<div class="para-wrap">.*?<pre>(.*?)</pre>(.*?)(?=<div class="para-wrap">|<nav )', re.S)
_QA = re.compile(r'<div class="qa-wrap" data-id="([^"]+)">.*?<strong class="question">(.*?)</strong>(.*?)</ul>', re.S)


def _squad_page(path: Path) -> Iterator[tuple[str, str, str, bool]]:
    """(question id, question, paragraph, answerable) for each question of one explorer page."""
    page = path.read_text(encoding="utf-8")
    for para, block in _PARA.findall(page):
        paragraph = " ".join(html.unescape(para).split())
        for qid, question, rest in _QA.findall(block):
            answerable = 'class="no-answer"' not in rest
            yield qid, " ".join(html.unescape(question).split()), paragraph, answerable


def squad_pairs(raw: Path) -> Iterator[Triple]:
    """(source, query, passage): a SQuAD dev question and its paragraph; 1.1 first, then any
    answerable 2.0 question 1.1 lacks (by question id)."""
    seen: set[str] = set()
    for version in ("1.1", "v2.0"):
        for path in sorted((raw / "squad" / version).glob("*.html")):
            for qid, question, paragraph, answerable in _squad_page(path):
                if answerable and qid not in seen and question:
                    seen.add(qid)
                    yield "squad", question, _cut(paragraph)


def squad_unanswerable_pairs(raw: Path) -> Iterator[Triple]:
    """(source, query, passage): a SQuAD 2.0 question the paragraph it was written for does not answer."""
    for path in sorted((raw / "squad" / "v2.0").glob("*.html")):
        for _, question, paragraph, answerable in _squad_page(path):
            if not answerable and question:
                yield "squad_unanswerable", question, _cut(paragraph)


# --- NQG, FairytaleQA, StrategyQA, WikiSplit -----------------------------------------------------

def nqg_pairs(raw: Path) -> Iterator[Triple]:
    """(source, query, passage): a question (tgt) and the sentence it was written from (src)."""
    folder = raw / "nqg"
    with open(folder / "src-test.txt", encoding="utf-8") as src, open(folder / "tgt-test.txt", encoding="utf-8") as tgt:
        for sentence, question in zip(src, tgt, strict=True):
            question, sentence = _detok(question), _detok(sentence)
            if question and len(sentence.split()) >= 4:
                yield "nqg", question, _cut(sentence)


def _story_sections(path: Path) -> dict[str, str]:
    with open(path, encoding="utf-8", newline="") as rows:
        return {row["section"].strip(): " ".join(row["text"].split()) for row in csv.DictReader(rows)}


def fairytaleqa_pairs(raw: Path) -> Iterator[Triple]:
    """(source, query, passage): a question and the story section(s) it cites, in order."""
    for questions in sorted((raw / "fairytaleqa").glob("*/*-questions.csv")):
        story = questions.with_name(questions.name.replace("-questions.csv", "-story.csv"))
        if not story.exists():
            continue
        sections = _story_sections(story)
        with open(questions, encoding="utf-8", newline="") as rows:
            for row in csv.DictReader(rows):
                cited = [s.strip() for s in row["cor_section"].split(",") if s.strip()]
                passage = " ".join(sections[s] for s in cited if s in sections)
                question = " ".join(row["question"].split())
                if question and passage:
                    yield "fairytaleqa", question, _cut(passage)


def strategyqa_pairs(raw: Path) -> Iterator[Triple]:
    """(source, query, passage): a yes/no question and the facts that decide it, joined."""
    with open(raw / "strategyqa" / "train.json", encoding="utf-8") as data:
        for item in json.load(data):
            facts = " ".join(" ".join(fact.split()) for fact in item.get("facts", []))
            if item.get("question") and facts:
                yield "strategyqa", item["question"].strip(), _cut(facts)


def wikisplit_pairs(raw: Path) -> Iterator[Triple]:
    """(source, query, passage): a long Wikipedia sentence and its rewrite as two (a paraphrase)."""
    for name in ("test.tsv", "tune.tsv", "validation.tsv"):
        path = raw / "wikisplit" / name
        if not path.exists():
            continue
        with open(path, encoding="utf-8") as lines:
            for line in lines:
                parts = line.rstrip("\n").split("\t")
                if len(parts) == 2:
                    long, split = _detok(parts[0]), _detok(parts[1].replace("<::::>", " "))
                    if len(long.split()) >= 8:
                        yield "wikisplit", long, _cut(split)


def _deduplicated(pairs: Callable[[], Iterator[Triple]]) -> Iterator[Triple]:
    """Each (query, passage) once: a paragraph repeats across questions, a question-passage pair need not."""
    seen: set[tuple[str, str]] = set()
    for source, query, passage in pairs():
        if (query, passage) not in seen:
            seen.add((query, passage))
            yield source, query, passage


def question_sources(raw: Path = RAW) -> dict[str, Callable[[], Iterator[Triple]]]:
    """Name -> function yielding (source, query, passage); a source whose files are absent is skipped."""
    wanted = {
        "squad": (squad_pairs, raw / "squad" / "1.1"),
        "squad_unanswerable": (squad_unanswerable_pairs, raw / "squad" / "v2.0"),
        "nqg": (nqg_pairs, raw / "nqg" / "tgt-test.txt"),
        "fairytaleqa": (fairytaleqa_pairs, raw / "fairytaleqa"),
        "strategyqa": (strategyqa_pairs, raw / "strategyqa" / "train.json"),
        "wikisplit": (wikisplit_pairs, raw / "wikisplit" / "test.tsv"),
    }
    sources = {}
    for name, (pairs, needed) in wanted.items():
        if needed.exists():
            sources[name] = partial(_deduplicated, partial(pairs, raw))
        else:
            log.info("text_sources: %s skipped, %s absent", name, needed)
    return sources


# --- prose --------------------------------------------------------------------------------------

_START = re.compile(r"^\s*\*{3}\s*START OF (?:THE|THIS) PROJECT GUTENBERG[^*]*\*{3}.*$"  # the title can wrap a line
                    r"|^\s*\*{3}\s*START OF (?:THE|THIS) PROJECT GUTENBERG.*$|^\s*\*END\*THE SMALL PRINT.*$", re.I | re.M)
_END = re.compile(r"^\s*\*{3}\s*END OF (?:THE|THIS) PROJECT GUTENBERG.*$|^\s*End of (?:the )?Project Gutenberg.*$", re.I | re.M)
_PRODUCED = re.compile(r"\A\s*(?:(?:Produced|Prepared|E-text prepared|Transcribed) by.*?\n\s*\n)", re.I | re.S)


def _gutenberg_text(path: Path) -> str:
    """A book's text without Project Gutenberg's header and footer (its licence), nor [Illustration]s."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    starts = list(_START.finditer(text))
    if starts:
        text = text[starts[-1].end():]
    end = _END.search(text)
    if end:
        text = text[: end.start()]
    text = _PRODUCED.sub("", text)
    text = re.sub(r"\[Illustration[^\]]*\]", " ", text)
    return text.strip()


def gutenberg_documents(raw: Path) -> Iterator[str]:
    """Each book, whole."""
    for path in sorted((raw / "gutenberg").glob("*.txt")):
        text = _gutenberg_text(path)
        if len(text.split()) >= 1000:
            yield text


def _zip_documents(path: Path) -> Iterator[str]:
    with zipfile.ZipFile(path) as archive:
        for member in sorted(archive.namelist()):
            if member.endswith(".txt") and "README" not in member:
                yield archive.read(member).decode("utf-8", errors="replace").strip()


def kjv_documents(raw: Path) -> Iterator[str]:
    """Each book of the Bible: its chapters' verses, numbers dropped."""
    book, verses = None, []
    with open(raw / "kjv" / "kjv.txt", encoding="utf-8") as lines:
        for line in lines:
            heading = re.fullmatch(r"(\S.*?) \d+", line.rstrip("\n"))
            if heading:
                if heading.group(1) != book and verses:
                    yield " ".join(verses)
                    verses = []
                book = heading.group(1)
            elif line.strip():
                verses.append(re.sub(r"^\s*\d+\s+", "", line).strip())
    if verses:
        yield " ".join(verses)


def prose_documents(raw: Path = RAW) -> dict[str, Callable[[], Iterator[str]]]:
    """Name -> function yielding whole documents; a source whose files are absent is skipped."""
    wanted = {
        "gutenberg": (gutenberg_documents, raw / "gutenberg"),
        "state_union": (lambda raw: _zip_documents(raw / "nltk" / "state_union.zip"), raw / "nltk" / "state_union.zip"),
        "inaugural": (lambda raw: _zip_documents(raw / "nltk" / "inaugural.zip"), raw / "nltk" / "inaugural.zip"),
        "kjv": (kjv_documents, raw / "kjv" / "kjv.txt"),
    }
    sources = {}
    for name, (documents, needed) in wanted.items():
        if needed.exists():
            sources[name] = partial(documents, raw)
        else:
            log.info("text_sources: %s skipped, %s absent", name, needed)
    return sources


def _mean_words(texts: list[str]) -> float:
    return sum(len(text.split()) for text in texts) / max(len(texts), 1)


def _show(name: str, items: list, kind: str) -> None:
    if kind == "triples":
        print(f"{name}: {len(items):,} triples, {len({t[2] for t in items}):,} distinct passages, mean words "
              f"{_mean_words([t[1] for t in items]):.1f} (query) {_mean_words([t[2] for t in items]):.1f} (passage)")
    else:
        print(f"{name}: {len(items):,} documents, {sum(len(d.split()) for d in items):,} words, "
              f"mean {_mean_words(items):,.0f} words")
    for item in items[:2]:
        print("   ", repr(item if kind == "triples" else item[:240])[:320])


if __name__ == "__main__":
    import sys

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else RAW
    for name, pairs in question_sources(folder).items():
        _show(name, list(pairs()), "triples")
    for name, documents in prose_documents(folder).items():
        _show(name, list(documents()), "documents")
