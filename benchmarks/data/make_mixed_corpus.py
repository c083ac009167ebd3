"""A corpus of ~4,600 documents in four domains, for timing a default build of a corpus past
the distillation sample: Cranfield, Cisi, the man pages collection and the Factbook profiles,
concatenated into one JSON Lines file (ids prefixed by their source). Timing only: it has no
queries of its own.

    python -m benchmarks.data.make_manpages_collection --out .cache/manpages
    python -m benchmarks.data.make_factbook_corpus --out .cache/factbook
    python -m benchmarks.data.make_mixed_corpus --out .cache/mixed.jsonl
    /usr/bin/time -v vecsearch index .cache/mixed.jsonl --index .cache/mixed-idx --json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchmarks.tables import DATA


def records(manpages: Path, factbook: Path):
    """(id, title, text) of every document, source by source."""
    for name, corpus in (("cranfield", DATA / "cranfield" / "corpus.jsonl"), ("cisi", DATA / "cisi" / "corpus.jsonl"),
                         ("man", manpages / "corpus.jsonl")):
        with open(corpus) as lines:
            for line in lines:
                if line.strip():
                    record = json.loads(line)
                    yield f"{name}-{record['_id']}", record.get("title", ""), record["text"]
    for path in sorted(factbook.glob("*.md")):
        yield f"factbook-{path.stem}", "", path.read_text()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manpages", type=Path, default=Path(".cache/manpages"))
    parser.add_argument("--factbook", type=Path, default=Path(".cache/factbook"))
    parser.add_argument("--out", type=Path, default=Path(".cache/mixed.jsonl"))
    args = parser.parse_args()
    count = 0
    with open(args.out, "w") as out:
        for doc_id, title, text in records(args.manpages, args.factbook):
            out.write(json.dumps({"id": doc_id, "title": title, "text": text}) + "\n")
            count += 1
    print(f"{count} documents -> {args.out}")


if __name__ == "__main__":
    main()
