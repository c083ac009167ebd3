"""A corpus of any size made of real sentences, for timing the pipeline at scale.

    python -m benchmarks.data.synthetic_corpus OUT.jsonl PASSAGES [--pool shared|prose]

The shared collections hold ~3k documents; scale benchmarks need 100k passages and
more. Documents here are 250-450 words of sentences drawn at random (seeded) from a pool
of real sentences, so the words, their frequencies and the lengths are those of real
text, while the topics are mixed. Fine for timing and memory; not for measuring
retrieval quality. The pools: `shared`, the shared collections' documents (~3k
abstracts); `prose`, the running prose gathered for the base encoder
(scripts/text_sources.py: Project Gutenberg books, addresses, the King James Bible;
~10x more distinct sentences, and no test collection).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

from benchmarks.tables import DATA  # the benchmarks folder is on the path: this script's own, or its importer's

from vecsearch.corpus import PASSAGE_OVERLAP, PASSAGE_WORDS


def sentences(pool: str = "shared") -> list[str]:
    """The pool's distinct sentences of four words or more, in a fixed order."""
    found = []
    for text in _shared_texts() if pool == "shared" else _prose_texts():
        found.extend(s.strip() for s in re.split(r"(?<=[.!?])\s+", " ".join(text.split())) if len(s.split()) >= 4)
    if not found:
        raise SystemExit(f"no text in the '{pool}' pool ({DATA if pool == 'shared' else 'scripts/text_sources.py RAW'})")
    return found if pool == "shared" else list(dict.fromkeys(found))  # books repeat their chapter titles


def _shared_texts():
    for corpus in sorted(DATA.glob("*/corpus.jsonl")):
        for line in corpus.open():
            yield json.loads(line)["text"]


def _prose_texts():
    scripts = Path(__file__).resolve().parents[2] / "scripts"
    sys.path.insert(0, str(scripts))  # text_sources imports its neighbour base_sources
    from text_sources import prose_documents

    for name, documents in sorted(prose_documents().items()):
        yield from documents()


def passages_in(words: int) -> int:
    """Passages `vecsearch index` cuts from a document of `words` words (its default windows)."""
    stride = PASSAGE_WORDS - PASSAGE_OVERLAP
    return len(range(0, max(words - PASSAGE_OVERLAP, 1), stride))


def write_corpus(path: str | Path, passages: int, seed: int = 0, pool: str = "shared") -> dict:
    """Write documents to a JSONL file until they make `passages` passages; returns counts."""
    pool = sentences(pool)
    rng = np.random.default_rng(seed)
    made = documents = 0
    with open(path, "w") as out:
        while made < passages:
            target = int(rng.integers(250, 451))
            words: list[str] = []
            while len(words) < target:
                words.extend(pool[int(rng.integers(len(pool)))].split())
            out.write(json.dumps({"id": f"d{documents}", "text": " ".join(words)}) + "\n")
            made += passages_in(len(words))
            documents += 1
    return {"documents": documents, "passages": made, "pool_sentences": len(pool)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("passages", type=int)
    parser.add_argument("--pool", choices=("shared", "prose"), default="shared")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(json.dumps(write_corpus(args.out, args.passages, args.seed, args.pool)))
