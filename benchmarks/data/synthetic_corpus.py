"""A corpus of any size made of real sentences, for timing the pipeline at scale.

    python -m benchmarks.data.synthetic_corpus OUT.jsonl PASSAGES

The shared collections hold ~3k documents; scale benchmarks need 100k passages and
more. Documents here are 250-450 words of sentences drawn at random (seeded) from the
shared collections' documents, so the words, their frequencies and the lengths are
those of real text, while the topics are mixed. Fine for timing and memory; not for
measuring retrieval quality.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np

from benchmarks.tables import DATA  # the benchmarks folder is on the path: this script's own, or its importer's

from vecsearch.corpus import PASSAGE_OVERLAP, PASSAGE_WORDS


def sentences() -> list[str]:
    found = []
    for corpus in sorted(DATA.glob("*/corpus.jsonl")):
        for line in corpus.open():
            text = json.loads(line)["text"]
            found.extend(s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if len(s.split()) >= 4)
    if not found:
        raise SystemExit(f"no collections under {DATA}")
    return found


def passages_in(words: int) -> int:
    """Passages `vecsearch index` cuts from a document of `words` words (its default windows)."""
    stride = PASSAGE_WORDS - PASSAGE_OVERLAP
    return len(range(0, max(words - PASSAGE_OVERLAP, 1), stride))


def write_corpus(path: str | Path, passages: int, seed: int = 0) -> dict:
    """Write documents to a JSONL file until they make `passages` passages; returns counts."""
    pool = sentences()
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
    return {"documents": documents, "passages": made}


if __name__ == "__main__":
    print(json.dumps(write_corpus(sys.argv[1], int(sys.argv[2]))))
