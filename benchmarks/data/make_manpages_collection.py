"""Build a small known-item collection from this machine's manual pages (section 1), in BEIR layout.

A domain unlike both shared collections (Unix commands, not aeronautics or library
science), and one the base encoder never saw. Each document is the DESCRIPTION section of
one page (without the command's name line); each query is the one-line summary from the
page's NAME line ("list directory contents"), and its one relevant document is that page.
The pages are whatever Debian packages are installed, so SOURCE.md lists them.

    python -m benchmarks.data.make_manpages_collection --out .cache/manpages --docs 1500 --queries 200
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
from pathlib import Path

import numpy as np

MAN1 = Path("/usr/share/man/man1")


def _text(roff: str) -> str:
    """Roughly plain text from man(7) roff source."""
    lines = []
    for line in roff.splitlines():
        if line.startswith(('.\\"', "'\\\"")):
            continue
        if line.startswith("."):
            macro, _, rest = line.partition(" ")
            if macro in (".B", ".I", ".BR", ".IR", ".RB", ".RI", ".BI", ".IB", ".SM", ".SB"):
                lines.append(rest.replace('"', ""))
            continue
        lines.append(line)
    text = " ".join(lines)
    text = re.sub(r"\\f[BIRP]|\\f\(..|\\\(..|\\[&|^%e]|\\s[+-]?\d", " ", text)
    text = text.replace("\\-", "-").replace("\\", " ")
    return " ".join(text.split())


def parse(path: Path) -> tuple[str, str, str] | None:
    """(command, summary, description) of a page, or None."""
    try:
        roff = gzip.open(path, "rt", errors="replace").read() if path.suffix == ".gz" else path.read_text(errors="replace")
    except OSError:
        return None
    if roff.startswith(".so "):
        return None  # an alias of another page
    sections = re.split(r"^\.S[Hh]\s+", roff, flags=re.M)
    named = {s.split("\n", 1)[0].strip().strip('"').upper(): s.split("\n", 1)[1] if "\n" in s else "" for s in sections[1:]}
    name, description = _text(named.get("NAME", "")), _text(named.get("DESCRIPTION", ""))
    match = re.match(r"(.+?)\s+-+\s+(.+)", name)
    if not match or len(description.split()) < 30 or len(match.group(2).split()) < 3:
        return None
    return match.group(1).strip(), match.group(2).strip(), " ".join(description.split()[:300])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(".cache/manpages"))
    parser.add_argument("--docs", type=int, default=1500)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    pages, summaries = {}, set()
    for path in sorted(MAN1.iterdir()):
        parsed = parse(path) if path.is_file() and not path.is_symlink() else None
        if parsed and parsed[1] not in summaries:  # one page of each summary: aliases share theirs
            pages[path.name] = parsed
            summaries.add(parsed[1])
    names = sorted(pages)
    rng = np.random.default_rng(args.seed)
    chosen = sorted(rng.permutation(len(names))[: args.docs].tolist())
    docs = [names[i] for i in chosen]
    asked = sorted(rng.permutation(len(docs))[: args.queries].tolist())
    (args.out / "qrels").mkdir(parents=True, exist_ok=True)
    with open(args.out / "corpus.jsonl", "w") as out:
        for index, name in enumerate(docs):
            out.write(json.dumps({"_id": f"m{index}", "title": "", "text": pages[name][2]}) + "\n")
    with open(args.out / "queries.jsonl", "w") as out, open(args.out / "qrels" / "test.tsv", "w") as qrels:
        qrels.write("query-id\tcorpus-id\tscore\n")
        for index in asked:
            out.write(json.dumps({"_id": f"q{index}", "text": pages[docs[index]][1]}) + "\n")
            qrels.write(f"q{index}\tm{index}\t1\n")
    (args.out / "SOURCE.md").write_text(
        f"Built by benchmarks/data/make_manpages_collection.py (seed {args.seed}) from {len(names)} parsable pages in "
        f"{MAN1}: {len(docs)} documents, {len(asked)} queries.\n\nPages: " + ", ".join(docs) + "\n")
    print(f"{len(names)} pages parsed; wrote {len(docs)} documents and {len(asked)} queries to {args.out}")


if __name__ == "__main__":
    main()
