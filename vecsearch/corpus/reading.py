"""Read a corpus from disk: folders, text files, record files, standard input.

A corpus is a folder (walked recursively) or a single file. Plain-text files
(`.txt`, `.md`, `.rst`) are one document each; record files (`.jsonl`, `.json`,
`.csv`, `.parquet`) hold one document per record and are read with HF datasets.
Files that cannot be read are skipped and reported, never fatal. Large text files
are read in sections of about `SECTION_CHARS` characters (each its own document,
`name.txt#1`, `name.txt#2`, ...), so memory follows the section, not the file.

Only regular files are read: named pipes, devices and sockets (or links to them) are
skipped as "not a regular file", so a FIFO cannot stall a build and `/dev/zero` cannot
fill memory. Symbolic links are followed only while they stay inside the corpus: a link
whose target (fully resolved) lies outside PATH is skipped as "link outside the corpus",
so a folder cannot pull `/etc` or a home directory into an index, and PATH itself may be
a link. Folders nested deeper than `MAX_FOLDER_DEPTH` are skipped as "nested too deep";
a record nested too deep for the JSON parser costs its own line. Machine-made text is
bounded too, where documents become passages (passages.py).

Text is UTF-8, or UTF-16/UTF-32 with a byte order mark, or UTF-16 without one where its NUL
bytes give it away (`text_encoding`). A record with a lone surrogate (`"\ud800"`, valid JSON
but not Unicode) anywhere in it costs that record, and a file whose name is not UTF-8 that
file: neither can be stored.

This module knows nothing of tokenizers, models or indexes.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from ..errors import VecsearchError
from .encodings import SNIFF_BYTES, encoding_name, text_encoding

TEXT_SUFFIXES = {".txt", ".md", ".rst"}
RECORD_SUFFIXES = {".jsonl", ".json", ".csv", ".parquet"}
SUFFIXES = TEXT_SUFFIXES | RECORD_SUFFIXES
ID_FIELDS = ("id", "_id")
LARGE_FILE_BYTES = 8 << 20  # text files above this are read in sections
SECTION_CHARS = 1 << 20
_BLOCK_BYTES = 1 << 20
MAX_FOLDER_DEPTH = 256  # no real corpus nests deeper; paths soon pass the OS's limit (PATH_MAX) anyway


@dataclass(frozen=True)
class Document:
    id: str
    text: str | None  # None for a document read back from an index: its passages hold the text
    source: str
    content_hash: str  # of the text and the metadata: either changing re-indexes the document
    metadata: dict | None = None  # a record's other fields (JSON values), for Hit.metadata and `where=`


@dataclass
class CorpusReport:
    """What reading a corpus found: counts, and each skipped file or record with the reason."""

    files: int = 0
    documents: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    unsupported: Counter = field(default_factory=Counter)  # files passed over, by suffix ("(none)": no suffix)
    # files (and folders, ending in "/") that could be read only in part or not at all
    unread: set[str] = field(default_factory=set)
    # documents of which passages hold only a part (id, characters left out: see passages.characters_cut)
    cut: list[tuple[str, int]] = field(default_factory=list)

    def skip(self, where: str, reason: str, source: str | None = None) -> None:
        """Record a skipped file or record; `source` names its file if `where` is a record."""
        self.skipped.append((where, reason))
        if reason.split(":")[0] not in _READ_WHOLE:  # anything else is a failure to read
            self.unread.add(source or where)

    def covers(self, source: str) -> bool:
        """Whether documents from `source` may be missing because it could not be read."""
        return source in self.unread or any(source.startswith(p) for p in self.unread if p.endswith("/"))

    def reasons(self) -> Counter:
        return Counter(reason.split(":")[0] for _, reason in self.skipped)

    def describe_skips(self) -> str:
        """What was skipped, for a message saying nothing was left to index: the one skip
        whole (its reason is the answer), else the count and the first."""
        if not self.skipped:
            return ""
        where, reason = self.skipped[0]
        if len(self.skipped) == 1:
            return f" (skipped {where}: {reason})"
        return f" ({len(self.skipped)} files or records skipped; the first, {where}: {reason})"


# skips that leave nothing of the file unread: "not in the corpus" (so its indexed documents go),
# or a second record under an id already read
_READ_WHOLE = ("empty", "link outside the corpus", "duplicate id")


def content_hash(text: str, metadata: dict | None = None) -> str:
    """A document's fingerprint; without metadata, that of its text alone (as before metadata existed)."""
    if metadata:
        text = text + "\0" + json.dumps(metadata, sort_keys=True, ensure_ascii=False)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


_SURROGATE = re.compile("[\ud800-\udfff]")


def _lone_surrogate(record: dict, text_field: str) -> str | None:
    """Why a record cannot be stored if a string in it holds a lone surrogate (JSON's "\\ud800"
    parses, but is not Unicode: it cannot be encoded, hashed or written), else None."""
    for name, value in record.items():
        found = _surrogate_in(name)
        if found:
            return f"lone surrogate: {_escaped(found)} in a field name"
        found = _surrogate_in(value)
        if found:
            kind = "the text" if name == text_field else f"field '{_escaped(str(name))}'"
            return f"lone surrogate: {_escaped(found)} in {kind}"
    return None


def _surrogate_in(value) -> str | None:
    """The first lone surrogate in a JSON value (keys included), or None."""
    stack = [value]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            found = _SURROGATE.search(value)
            if found:
                return found.group()
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, (list, tuple)):
            stack.extend(value)
    return None


def _escaped(text: str) -> str:
    """`text` with any lone surrogate written as its escape (\\ud800), so that it can be printed."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def record_metadata(record: dict, text_field: str) -> dict | None:
    """A record's fields other than its id and text, as JSON values (None values left out:
    a table's reader fills a field one record lacks with None); None if there are none."""
    metadata = {}
    for name, value in record.items():
        if name in ID_FIELDS or name == text_field or value is None:
            continue
        try:
            metadata[str(name)] = json.loads(json.dumps(value, ensure_ascii=False, allow_nan=False))
        except (TypeError, ValueError):  # a date, bytes, NaN: kept as its text
            metadata[str(name)] = str(value)
    return metadata or None


def iter_documents(
    path: str | os.PathLike, text_field: str = "text", report: CorpusReport | None = None, globs: tuple[str, ...] = ()
) -> Iterator[Document]:
    """Yield every document under `path` (a folder or a file), in a stable order.

    `globs` ("*.py", "docs/**/*.txt"), if given, choose the files instead of their suffix: a
    file whose path within `path` (or name) matches one is read, as records if it is a
    .jsonl/.json/.csv/.parquet file, else as text. Files of other types are counted in
    `report.unsupported`; unreadable files and records are recorded in `report` and skipped.
    Raises VecsearchError if `path` does not exist or a record file lacks `text_field`.
    """
    report = report if report is not None else CorpusReport()
    root = Path(path)
    if not root.exists():
        raise VecsearchError(f"corpus path does not exist: {path}")
    seen_ids: set[str] = set()
    chosen = _chooser(globs)
    for file, relative in _walk(root, report, chosen):
        report.files += 1
        suffix = file.suffix.lower()
        documents = (
            _read_record_file(file, relative, text_field, report)
            if suffix in RECORD_SUFFIXES
            else _read_text_file(file, relative, report)
        )
        for document in documents:
            if document.id in seen_ids:
                report.skip(f"{relative}:{document.id}", "duplicate id", source=relative)
                continue
            seen_ids.add(document.id)
            report.documents += 1
            yield document


def documents_from(
    items, text_field: str = "text", id_field: str | None = None, report: CorpusReport | None = None,
    by_position: bool = True,
) -> Iterator[Document]:
    """Documents from Python objects: strings (ids "0", "1", ... by position), dicts (the text in
    `text_field`, the id in `id_field` or "id"/"_id", "source" if given, other fields as
    metadata), `Document`s, or a pandas DataFrame (its rows as dicts). Empty texts are skipped.
    Without `by_position` (adding to an index, whose documents such ids would overwrite),
    every document must bring its own id."""
    report = report if report is not None else CorpusReport()
    if hasattr(items, "to_dict") and hasattr(items, "columns"):  # a DataFrame, without importing pandas
        items = items.to_dict("records")
    id_fields = (id_field,) if id_field else ID_FIELDS
    for position, item in enumerate(items):
        known = isinstance(item, (str, dict, Document))
        surrogate = _lone_surrogate(_fields_of(item, text_field), text_field) if known else None
        if surrogate:
            report.documents += 1
            report.skip(_escaped(_id_of(item, id_fields, position)), surrogate)
            continue
        if isinstance(item, Document):
            document = item
        elif isinstance(item, str) and by_position:
            document = Document(str(position), item, str(position), content_hash(item))
        elif isinstance(item, str):
            raise VecsearchError(f"document {position} needs an id: add dicts with 'id' and 'text' "
                                 "(or Documents), not bare strings")
        elif isinstance(item, dict):
            text = item.get(text_field)
            if not isinstance(text, str):
                raise VecsearchError(f"document {position}: no text in field '{text_field}' "
                                     f"(fields: {', '.join(map(str, item)) or 'none'}); choose one with text_field=")
            doc_id = next((str(item[f]) for f in id_fields if item.get(f) not in (None, "")), None)
            if doc_id is None and id_field:
                raise VecsearchError(f"document {position}: no id in field '{id_field}'")
            if doc_id is None and not by_position:
                raise VecsearchError(f"document {position} needs an id: give it an 'id' field (or choose one with id_field=)")
            doc_id = doc_id if doc_id is not None else str(position)
            fields = {name: value for name, value in item.items() if name != "source" and name not in id_fields}
            metadata = record_metadata(fields, text_field)
            source = str(item.get("source") or doc_id)
            document = Document(doc_id, text, source, content_hash(text, metadata), metadata)
        else:
            raise VecsearchError(f"a document must be a string, a dict or a Document, not {type(item).__name__} "
                                 f"({item!r:.60})")
        report.documents += 1
        if not document.text.strip():
            report.skip(document.id, "empty")
            continue
        yield document


def _fields_of(item, text_field: str) -> dict:
    """A document given to documents_from as a record's fields (its text in `text_field`)."""
    if isinstance(item, Document):
        return {"id": item.id, text_field: item.text, "source": item.source, **(item.metadata or {})}
    return {text_field: item} if isinstance(item, str) else item


def _id_of(item, id_fields: tuple[str, ...], position: int) -> str:
    if isinstance(item, Document):
        return item.id
    found = (str(item[f]) for f in id_fields if item.get(f) not in (None, "")) if isinstance(item, dict) else ()
    return next(found, str(position))


def _chooser(globs: tuple[str, ...]):
    """Whether a file (by its path within the corpus) is read: by `globs`, or by its suffix."""
    if not globs:
        return lambda relative: Path(relative).suffix.lower() in SUFFIXES
    from fnmatch import fnmatch

    return lambda relative: any(fnmatch(relative, g) or fnmatch(_name(relative), g) for g in globs)


def _name(relative: str) -> str:
    return relative.rsplit("/", 1)[-1]


def read_stdin(stream, text_field: str = "text", report: CorpusReport | None = None) -> list[Document]:
    """Documents from a stream: JSON Lines (one record per line, as in a .jsonl file; ids from
    the id field or "stdin#LINE") if its first non-blank line is a JSON object, else one
    plain-text document "stdin". A line that is not UTF-8 costs that line."""
    report = report if report is not None else CorpusReport()
    text = _read_stream(stream)
    report.files += 1
    lines = text.split("\n")  # not splitlines(): a JSON string may hold U+2028 or U+0085 as it is
    first = next((line for line in lines if line.strip()), "")
    if not first.lstrip().startswith("{"):
        if (byte := _undecodable(text)) is not None:
            report.skip("stdin", f"invalid UTF-8: byte {byte}", source="stdin")
            return []
        return list(documents_from([{"id": "stdin", "text": text, "source": "stdin"}], "text", None, report))
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if (byte := _undecodable(line)) is not None:
            report.skip(f"stdin:{number}", f"invalid UTF-8: byte {byte} of the line", source="stdin")
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError) as error:
            report.skip(f"stdin:{number}", f"invalid JSON: {str(error)[:80]}", source="stdin")
            continue
        if not isinstance(record, dict) or not isinstance(record.get(text_field), str):
            reason = _not_text(record, text_field) if isinstance(record, dict) else "not a JSON object"
            report.skip(f"stdin:{number}", reason, source="stdin")
            continue
        surrogate = _lone_surrogate(record, text_field)
        if surrogate:
            report.skip(f"stdin:{number}", surrogate, source="stdin")
            continue
        if all(record.get(f) in (None, "") for f in ID_FIELDS):
            record = {**record, "id": f"stdin#{number}"}
        records.append({"source": "stdin", **record, text_field: _with_title(record, record[text_field])})
    return list(documents_from(records, text_field, None, report))


def _read_stream(stream) -> str:
    """All of a text stream; read as bytes where it has them (sys.stdin does), in the encoding its
    first bytes tell (encodings.py), bytes that are not UTF-8 kept as lone surrogates
    (surrogateescape) for `_undecodable` to find, line by line."""
    buffer = getattr(stream, "buffer", None)
    if buffer is None:
        return stream.read()
    raw = buffer.read()
    encoding = text_encoding(raw[:SNIFF_BYTES])
    if encoding not in (None, "utf-8-sig"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            pass
    return raw.decode("utf-8-sig", errors="surrogateescape")


_UNDECODED = re.compile("[\udc80-\udcff]")  # a byte that was not UTF-8, as surrogateescape keeps it


def _undecodable(text: str) -> int | None:
    """The offset in bytes of the first byte of `text` that was not UTF-8, or None."""
    found = _UNDECODED.search(text)
    return None if found is None else len(text[:found.start()].encode("utf-8", "surrogateescape"))


def _with_title(record: dict, text: str) -> str:
    """A record's text with its "title" field in front (BEIR corpora keep the title apart), once."""
    title = record.get("title")
    if isinstance(title, str) and title.strip() and not text.startswith(title):
        return f"{title.strip()}\n\n{text}"
    return text


def _walk(root: Path, report: CorpusReport, chosen=None) -> Iterator[tuple[Path, str]]:
    """(path, name) of each regular file of a supported type under `root`:
    a folder's files by name, then its folders, depth first. A name is relative to `root`
    (or, for a file given as `root`, its own). Hidden names are passed over.

    Walked with a stack of its own, not os.walk, whose recursion a folder nested ~1,000
    deep exhausts; folders deeper than MAX_FOLDER_DEPTH are skipped.
    """
    chosen = chosen or _chooser(())
    if not root.is_dir():
        if root.suffix.lower() not in SUFFIXES and not chosen(root.name):
            report.skip(str(root), f"unsupported file type: {root.suffix or '(none)'}")
        elif _is_utf8_name(root.name, root.name, report) and _is_regular(root, root.name, report):
            yield root, root.name  # named as PATH: followed wherever it leads
        return
    home = os.path.realpath(root)
    visited: set[tuple[int, int]] = set()
    folders = [(root, "", 0)]  # (folder, the prefix of its entries' names, depth)
    while folders:
        folder, name, depth = folders.pop()
        subfolders = []
        for entry in _entries(folder, name or str(root), visited, report):
            path, relative = Path(entry.path), name + entry.name
            is_folder = _is_folder(entry)
            if not is_folder and not chosen(relative):
                if Path(entry.name).suffix.lower() not in SUFFIXES:  # not merely left out by a glob
                    report.unsupported[Path(entry.name).suffix.lower() or "(none)"] += 1
                continue
            if not _is_utf8_name(entry.name, relative + "/" * is_folder, report):
                continue
            if entry.is_symlink():
                target = os.path.realpath(path)
                if os.path.commonpath([home, target]) != home:
                    report.skip(relative + "/" * is_folder, f"link outside the corpus: {target}")
                    continue
            if not is_folder:
                if _is_regular(path, relative, report):
                    yield path, relative
            elif depth < MAX_FOLDER_DEPTH:
                subfolders.append((path, relative + "/", depth + 1))
            else:
                report.skip(relative + "/", f"nested too deep: more than {MAX_FOLDER_DEPTH} folders")
        folders.extend(reversed(subfolders))


def _entries(folder: Path, name: str, visited: set[tuple[int, int]], report: CorpusReport) -> list[os.DirEntry]:
    """The entries of `folder` (named `name` in reports) by name, hidden ones left out; none if
    it cannot be listed or was listed before (a link back up the tree, or a second link to it)."""
    try:
        info = os.stat(folder)
        if (info.st_dev, info.st_ino) in visited:
            report.skip(name, "symlink loop")
            return []
        visited.add((info.st_dev, info.st_ino))
        with os.scandir(folder) as scan:
            return sorted((e for e in scan if not e.name.startswith(".")), key=lambda e: e.name)
    except OSError as error:
        where = name.rstrip("/")
        report.skip(where, f"unreadable: {error.strerror or error}", source=where + "/" if name.endswith("/") else None)
        return []


def _is_utf8_name(name: str, relative: str, report: CorpusReport) -> bool:
    """Whether a file's (or folder's) name is UTF-8, as an id must be; if not, it is reported,
    its undecodable bytes escaped (\\xff)."""
    try:
        name.encode("utf-8")
        return True
    except UnicodeEncodeError:
        shown = os.fsencode(relative).decode("utf-8", "backslashreplace")
        report.skip(shown, f"{'folder' if relative.endswith('/') else 'file'} name is not valid UTF-8")
        return False


def _is_folder(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()  # follows links
    except OSError:
        return False


def _is_regular(path: Path, relative: str, report: CorpusReport) -> bool:
    """Whether `path` (followed through links) is a regular file; if not, it is reported."""
    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        report.skip(relative, f"unreadable: {error.strerror or error}")
        return False
    if stat.S_ISREG(mode):
        return True
    report.skip(relative, f"not a regular file: {_FILE_KINDS.get(stat.S_IFMT(mode), 'special file')}")
    return False


_FILE_KINDS = {stat.S_IFIFO: "named pipe", stat.S_IFCHR: "character device", stat.S_IFBLK: "block device",
               stat.S_IFSOCK: "socket", stat.S_IFDIR: "folder"}


def _read_text_file(file: Path, relative: str, report: CorpusReport) -> Iterator[Document]:
    try:
        size = file.stat().st_size
        if size > LARGE_FILE_BYTES:
            yield from _read_large_text_file(file, relative, report)
            return
        raw = file.read_bytes()
    except OSError as error:
        report.skip(relative, f"unreadable: {error.strerror or error}")
        return
    encoding = text_encoding(raw[:SNIFF_BYTES])
    if encoding is None:
        report.skip(relative, "binary file")
        return
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as error:
        report.skip(relative, f"invalid {encoding_name(encoding)}: byte {error.start}")
        return
    if not text.strip():
        report.skip(relative, "empty")
        return
    yield Document(relative, text, relative, content_hash(text))


def _read_large_text_file(file: Path, relative: str, report: CorpusReport) -> Iterator[Document]:
    """A large text file as documents of about SECTION_CHARS characters, cut at line breaks
    (or spaces, in a file of very long lines). The file is checked once before anything is
    yielded, so a bad byte deep inside skips the whole file, as it does for a small one."""
    encoding, problem = _check_text_stream(file)
    if problem:
        report.skip(relative, problem)
        return
    decoder = codecs.getincrementaldecoder(encoding)()
    buffer, number = "", 0
    with open(file, "rb") as stream:
        while True:
            block = stream.read(_BLOCK_BYTES)
            buffer += decoder.decode(block, final=not block)
            while len(buffer) >= SECTION_CHARS or (not block and buffer):
                cut = _section_end(buffer) if block else len(buffer)
                section, buffer = buffer[:cut], buffer[cut:]
                if section.strip():
                    number += 1
                    yield Document(f"{relative}#{number}", section, relative, content_hash(section))
            if not block:
                break
    if number == 0:
        report.skip(relative, "empty")


def _section_end(buffer: str) -> int:
    """Where to cut a section: the last line break (or else space) in its final quarter."""
    floor = SECTION_CHARS * 3 // 4
    for separator in ("\n\n", "\n", " "):
        at = buffer.rfind(separator, floor, SECTION_CHARS)
        if at >= 0:
            return at + len(separator)
    return SECTION_CHARS


def _check_text_stream(file: Path) -> tuple[str | None, str | None]:
    """(the file's encoding, why it cannot be read as text in it: "binary file", "invalid
    UTF-8: ..."; None if it can)."""
    with open(file, "rb") as stream:
        encoding = text_encoding(stream.read(SNIFF_BYTES))
        if encoding is None:
            return None, "binary file"
        stream.seek(0)
        decoder = codecs.getincrementaldecoder(encoding)()
        offset = 0
        while True:
            block = stream.read(_BLOCK_BYTES)
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as error:
                return encoding, f"invalid {encoding_name(encoding)}: byte {offset + error.start}"
            if not block:
                return encoding, None
            offset += len(block)


def _read_record_file(
    file: Path, relative: str, text_field: str, report: CorpusReport
) -> Iterator[Document]:
    try:
        records = _load_records(file, relative, report)
        for row, (where, record) in enumerate(records):
            if row == 0 and text_field not in record:
                raise VecsearchError(
                    f"{relative}: no field '{text_field}' in its records "
                    f"(fields: {', '.join(map(str, record)) or 'none'}); choose one with --text-field"
                )
            surrogate = _lone_surrogate(record, text_field)
            if surrogate:
                report.skip(f"{relative}:{where}", surrogate, source=relative)
                continue
            text = record.get(text_field)
            if text is None and file.suffix.lower() == ".csv":
                text = ""  # CSV has no null: datasets reads an empty cell as None
            if not isinstance(text, str) or not text.strip():
                # anything but an empty string is a record that could not be read: its file's
                # indexed documents are kept (CorpusReport.covers), as for a malformed line
                reason = "empty" if isinstance(text, str) else _not_text(record, text_field)
                report.skip(f"{relative}:{where}", reason, source=relative)
                continue
            text = _with_title(record, text)
            doc_id = next((str(record[f]) for f in ID_FIELDS if record.get(f) not in (None, "")), None)
            metadata = record_metadata(record, text_field)
            yield Document(doc_id or f"{relative}#{where}", text, relative, content_hash(text, metadata), metadata)
    except OSError as error:
        report.skip(relative, f"unreadable: {error.strerror or error}")
    except _UnreadableRecords as error:
        report.skip(relative, str(error))
    except RecursionError:  # a record datasets parsed but Python cannot hold
        report.skip(relative, "unreadable: records nested too deep")


def _not_text(record: dict, text_field: str) -> str:
    """Why a record's text field is not text, in a few words."""
    if text_field not in record:
        return f"no field '{text_field}'"
    value = record[text_field]
    kinds = ((type(None), "null"), (bool, "a boolean"), ((int, float), "a number"), (list, "a list"), (dict, "an object"))
    kind = next((name for types, name in kinds if isinstance(value, types)), type(value).__name__)
    return f"'{text_field}' is {kind}, not a string"


class _UnreadableRecords(Exception):
    """A record file that cannot be parsed at all."""


def _load_records(file: Path, relative: str, report: CorpusReport) -> Iterator[tuple[int, dict]]:
    """(line number for JSONL, else record number; record) for each record of a JSON/JSONL/CSV/Parquet file.

    JSON Lines are read line by line - memory follows the line, not the file, and a bad
    line costs that line and is reported with its number. The other formats are read
    with HF datasets. Text formats in UTF-16 or UTF-32 are read as such (encodings.py).
    """
    suffix = file.suffix.lower()
    if suffix == ".jsonl":
        return _read_jsonl_lines(file, relative, report)
    builder = {".json": "json", ".csv": "csv", ".parquet": "parquet"}[suffix]
    with open(file, "rb") as stream:  # unreadable files fail here, with a plain OSError
        encoding = text_encoding(stream.read(SNIFF_BYTES)) if builder != "parquet" else None
    try:
        with _quiet_datasets() as datasets, _in_utf8(file, encoding) as readable:
            dataset = datasets.load_dataset(builder, data_files=str(readable), split="train", keep_in_memory=True)
    except UnicodeDecodeError as error:
        raise _UnreadableRecords(f"invalid {encoding_name(encoding)}: {error.reason}") from None
    except Exception as error:  # datasets raises many types for malformed files
        raise _UnreadableRecords(f"unreadable {builder} file: {_first_line(_root_cause(error))}") from None
    return enumerate(dataset, 1)


@contextmanager
def _in_utf8(file: Path, encoding: str | None) -> Iterator[Path]:
    """`file`, or for one in UTF-16 or UTF-32 a temporary UTF-8 copy of it: HF datasets reads
    other encodings of JSON wrongly (it looks for b"[" and ends blocks at b"\\n" before decoding)."""
    if encoding in (None, "utf-8-sig"):  # a binary-looking file is left to datasets to report
        yield file
        return
    with tempfile.TemporaryDirectory(prefix="vecsearch-") as folder:
        copy = Path(folder) / file.name
        with open(file, encoding=encoding, newline="") as text, open(copy, "w", encoding="utf-8", newline="") as utf8:
            shutil.copyfileobj(text, utf8)
        yield copy


@contextmanager
def _quiet_datasets():
    """HF datasets without its progress bars and its own log lines ("Failed to load JSON from
    file ..."): a file it cannot read is reported once, by us. Restores both afterwards."""
    import datasets
    from datasets.utils import logging as datasets_logging

    verbosity = datasets_logging.get_verbosity()
    bars_were_disabled = datasets.utils.are_progress_bars_disabled()
    datasets_logging.set_verbosity(datasets_logging.CRITICAL + 1)
    datasets.disable_progress_bars()
    try:
        yield datasets
    finally:
        datasets_logging.set_verbosity(verbosity)
        if not bars_were_disabled:
            datasets.enable_progress_bars()


def _root_cause(error: BaseException) -> BaseException:
    """The innermost cause: datasets wraps a parser's own error ("JSON parse error: ...") in
    one that only says "An error occurred while generating the dataset"."""
    while error.__cause__ is not None:
        error = error.__cause__
    return error


def _read_jsonl_lines(file: Path, relative: str, report: CorpusReport) -> Iterator[tuple[int, dict]]:
    with open(file, "rb") as stream:
        encoding = text_encoding(stream.read(SNIFF_BYTES))
    utf8 = encoding in (None, "utf-8-sig")  # a binary-looking file is read as UTF-8: its lines say what is wrong
    lines = _utf8_lines(file, relative, report) if utf8 else _decoded_lines(file, encoding, relative, report)
    for number, line in lines:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            report.skip(f"{relative}:{number}", f"malformed JSON: {error.msg}", source=relative)
            continue
        except RecursionError:
            report.skip(f"{relative}:{number}", "malformed JSON: nested too deep", source=relative)
            continue
        if isinstance(record, dict):
            yield number, record
        else:
            report.skip(f"{relative}:{number}", "malformed JSON: not an object", source=relative)


def _utf8_lines(file: Path, relative: str, report: CorpusReport) -> Iterator[tuple[int, str]]:
    """(number, text) of each line of a UTF-8 file; a line that is not UTF-8 costs that line."""
    with open(file, "rb") as lines:
        for number, raw in enumerate(lines, 1):
            try:
                yield number, raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as error:
                report.skip(f"{relative}:{number}", f"invalid UTF-8: byte {error.start} of the line", source=relative)


def _decoded_lines(file: Path, encoding: str, relative: str, report: CorpusReport) -> Iterator[tuple[int, str]]:
    """(number, text) of each line of a UTF-16 or UTF-32 file; one that is not, from there on,
    costs the rest of the file (its lines cannot be told apart)."""
    number = 0
    with open(file, encoding=encoding) as lines:
        try:
            for number, line in enumerate(lines, 1):
                yield number, line
        except UnicodeDecodeError:
            report.skip(f"{relative}:{number + 1}", f"invalid {encoding_name(encoding)} from here on", source=relative)


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
