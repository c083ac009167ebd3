"""Passages and document metadata on disk, in SQLite.

Passage ids are the row numbers of the dense and lexical indexes (0..n-1).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from ..corpus import Document, Passage
from ..errors import VecsearchError
from .filters import Where, by_field, matches

FILENAME = "passages.sqlite"
SCHEMA = """
CREATE TABLE documents (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    metadata TEXT  -- JSON object, or NULL; absent from stores written before metadata existed
);
CREATE TABLE passages (
    id INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL REFERENCES documents(id),
    source TEXT NOT NULL,
    position INTEGER NOT NULL,
    start INTEGER NOT NULL,
    text TEXT NOT NULL
);
"""
INDEXES = "CREATE INDEX passages_by_document ON passages(doc_id);"
# How where_clause tests json_each's row (type, atom) against a text or a number operand
_TEXT = "type = 'text'"
_NUMBER = "type IN ('integer', 'real', 'true', 'false')"  # JSON's true and false are 1 and 0 (atom), as in Python
_SQL = {"$eq": "=", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
_MATCHES = "vecsearch_matches"  # filters.matches, for the documents SQLite's JSON functions cannot read whole
_ESCAPED_NUL = "\\u0000"  # how json.dumps writes U+0000 in stored metadata


def write_store(
    directory: str | Path,
    documents: Iterable[Document],
    passages: Iterable[Passage],
) -> None:
    """Create the store in `directory`; passage i of `passages` gets id i."""
    if isinstance(passages, _Column):  # a spool's passages: the file becomes the store
        passages.spool.finish(documents, Path(directory) / FILENAME)
        return
    spool = PassageSpool(Path(directory) / f"{FILENAME}.spool")
    spool.add(passages)
    spool.finish(documents, Path(directory) / FILENAME)


class PassageSpool:
    """A store being written: passages added as they come (ids 0, 1, ... in that order) and read
    back by position, then finished with the documents into the store file.

    The indexer keeps its corpus here rather than in memory: a million passages are gigabytes
    as Python strings. The file is a staging file (no journal, no syncs: the version it becomes
    part of is synced when published); `finish` moves it into place.
    """

    BATCH = 10_000  # rows per INSERT (and per read-back query)

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.unlink(missing_ok=True)
        self.connection = sqlite3.connect(self.path, check_same_thread=False)
        self.connection.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;" + SCHEMA)
        self.count = 0

    def __len__(self) -> int:
        return self.count

    def add(self, passages: Iterable[Passage]) -> None:
        rows = ((self.count + i, p.doc_id, p.source, p.position, p.start, p.text) for i, p in enumerate(passages))
        before = self.connection.total_changes
        self.connection.executemany("INSERT INTO passages VALUES (?, ?, ?, ?, ?, ?)", rows)
        self.count += self.connection.total_changes - before

    @property
    def texts(self) -> "_Column":
        return _Column(self, "text")

    @property
    def doc_ids(self) -> "_Column":
        return _Column(self, "doc_id")

    @property
    def passages(self) -> "_Column":
        return _Column(self, "*")

    def finish(self, documents: Iterable[Document], target: str | Path) -> None:
        """Write the documents and the lookup index, and move the file to `target`."""
        self.connection.executemany("INSERT INTO documents VALUES (?, ?, ?, ?)",
                                    ((d.id, d.source, d.content_hash, _json(d.metadata)) for d in documents))
        self.connection.executescript(INDEXES)  # built once, after the rows: faster than kept up row by row
        self.connection.commit()
        self.connection.close()
        os.replace(self.path, target)

    def close(self) -> None:
        """Drop the spool (unless finished)."""
        self.connection.close()
        self.path.unlink(missing_ok=True)


class _Column(Sequence):
    """One column of a spool's passages (or whole passages, "*") as a read-only sequence by id."""

    def __init__(self, spool: PassageSpool, column: str):
        self.spool, self.column = spool, column

    def __len__(self) -> int:
        return len(self.spool)

    def _convert(self, row):
        return _passage(row) if self.column == "*" else row[0]

    def __getitem__(self, key):
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            if step != 1:
                return [self[i] for i in range(start, stop, step)]
            rows = self.spool.connection.execute(
                f"SELECT {self.column} FROM passages WHERE id >= ? AND id < ? ORDER BY id", (start, stop))
            return [self._convert(row) for row in rows]
        index = int(key) + (len(self) if int(key) < 0 else 0)
        if not 0 <= index < len(self):
            raise IndexError(key)
        row = self.spool.connection.execute(f"SELECT {self.column} FROM passages WHERE id = ?", (index,)).fetchone()
        return self._convert(row)

    def __iter__(self):
        for start in range(0, len(self), PassageSpool.BATCH):
            yield from self[start : start + PassageSpool.BATCH]


class PassageStore:
    """Read-only access to a store written by `write_store`; `passages`, if given, is how many it
    should hold (checked on open, cheaply: the last id). A file SQLite cannot read, or one that lacks
    passages asked for, raises VecsearchError naming it."""

    def __init__(self, directory: str | Path, passages: int | None = None):
        path = Path(directory, FILENAME)
        if not path.is_file():
            raise VecsearchError(f"{directory} is damaged: {FILENAME} is missing")
        self.path = path
        self.connection = sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True, check_same_thread=False)
        try:  # sqlite opens lazily; a damaged or foreign file shows up on the first read
            self.connection.execute("SELECT id, source, content_hash FROM documents LIMIT 1").fetchall()
            last = self.connection.execute("SELECT MAX(id) FROM passages").fetchone()[0]
            columns = {row[1] for row in self.connection.execute("PRAGMA table_info(documents)")}
        except sqlite3.DatabaseError as error:
            self.connection.close()
            raise VecsearchError(f"{path} is damaged or not a vecsearch store: {error}") from None
        if passages is not None and last != passages - 1:
            self.connection.close()
            held = "no passages" if last is None else f"passages up to id {last:,}"
            raise VecsearchError(f"{path} is damaged: it holds {held}, the index {passages:,} passages")
        self._metadata_column = "metadata" if "metadata" in columns else "NULL"
        self.connection.create_function(_MATCHES, 2, _matches_json, deterministic=True)

    def _rows(self, query: str, parameters=()) -> list[tuple]:
        try:
            return self.connection.execute(query, parameters).fetchall()
        except sqlite3.DatabaseError as error:
            raise VecsearchError(f"{self.path} is damaged: {error}") from None

    def _missing(self, ids, found) -> None:
        missing = [int(i) for i in ids if int(i) not in found]
        if missing:
            raise VecsearchError(f"{self.path} is damaged: passage {missing[0]} is missing "
                                 f"({len(missing)} of the {len(ids)} asked for)")

    def passages(self, ids: list[int]) -> list[Passage]:
        """The passages with these ids, in the order given."""
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = self._rows(f"SELECT * FROM passages WHERE id IN ({marks})", list(map(int, ids)))
        by_id = {row[0]: _passage(row) for row in rows}
        self._missing(ids, by_id)
        return [by_id[int(i)] for i in ids]

    def documents_of(self, ids: list[int]) -> dict[int, str]:
        """The document id of each of these passages."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        found = dict(self._rows(f"SELECT id, doc_id FROM passages WHERE id IN ({marks})", list(map(int, ids))))
        self._missing(ids, found)
        return found

    def sources_of(self, ids: list[int]) -> list[str]:
        """The source file of each of these passages, in the order given."""
        sources: dict[int, str] = {}
        for start in range(0, len(ids), 10_000):  # SQLite bounds the parameters of one statement
            chunk = list(map(int, ids[start : start + 10_000]))
            marks = ",".join("?" * len(chunk))
            sources.update(self._rows(f"SELECT id, source FROM passages WHERE id IN ({marks})", chunk))
        self._missing(ids, sources)
        return [sources[int(i)] for i in ids]

    def doc_ids(self) -> list[str]:
        """The document id of every passage, indexed by passage id."""
        return [row[0] for row in self._rows("SELECT doc_id FROM passages ORDER BY id")]

    def documents(self) -> dict[str, Document]:
        """Every document, by id."""
        rows = self._rows(f"SELECT id, source, content_hash, {self._metadata_column} FROM documents")
        return {row[0]: Document(row[0], None, row[1], row[2], _parse(row[3])) for row in rows}

    def metadata_of(self, doc_ids: list[str]) -> dict[str, dict | None]:
        """The metadata of each of these documents."""
        found: dict[str, dict | None] = {}
        unique = list(dict.fromkeys(doc_ids))
        for start in range(0, len(unique), 10_000):
            chunk = unique[start : start + 10_000]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT id, {self._metadata_column} FROM documents WHERE id IN ({marks})"
            found.update((doc_id, _parse(text)) for doc_id, text in self._rows(query, chunk))
        return found

    def passage_ids_where(self, where: Where) -> np.ndarray:
        """The ids (ascending) of the passages whose document's metadata satisfies `where`."""
        if self._metadata_column == "NULL":  # a store from before metadata: no document has any
            return np.empty(0, dtype=np.int64)
        clause, parameters = where_clause(where, "d.metadata")
        rows = self._rows(f"SELECT p.id FROM passages p JOIN documents d ON d.id = p.doc_id WHERE {clause} ORDER BY p.id",
                          parameters)
        return np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))

    def passage_ids_of(self, doc_id: str) -> np.ndarray:
        """The ids of one document's passages, in order (empty if it is not indexed)."""
        rows = self._rows("SELECT id FROM passages WHERE doc_id = ? ORDER BY position", (doc_id,))
        return np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))

    def iter_passages(self) -> Iterator[Passage]:
        """Every passage, in id order."""
        try:
            for row in self.connection.execute("SELECT * FROM passages ORDER BY id"):
                yield _passage(row)
        except sqlite3.DatabaseError as error:
            raise VecsearchError(f"{self.path} is damaged: {error}") from None

    def counts(self) -> tuple[int, int]:
        """(documents, passages)."""
        documents = self._rows("SELECT COUNT(*) FROM documents")[0][0]
        passages = self._rows("SELECT COUNT(*) FROM passages")[0][0]
        return documents, passages

    def close(self) -> None:
        self.connection.close()


def where_clause(where: Where, column: str) -> tuple[str, list]:
    """A WHERE clause selecting the rows whose JSON object `column` satisfies `where` as
    filters.matches does, with its parameters.

    Each field is looked up with json_each, whose keys are decoded (a path such as $."a\\b"
    misses keys that JSON escapes), and compared only with values of the operand's kind
    (json_type: json_extract alone compares 1965 with "unknown", or with a list as JSON text).
    SQLite's JSON functions cut text at an escaped NUL, so a document whose metadata holds one
    is checked in Python instead (rare, and found by one instr per row)."""
    clauses, parameters = [], []
    for name, conditions in by_field(where):
        tests, values = [], []
        for operator, operand in conditions:
            test, operands = _condition(operator, operand)
            tests.append(test)
            values += operands
        clauses.append(f"EXISTS (SELECT 1 FROM json_each({column}) WHERE key = ? AND {' AND '.join(tests)})")
        parameters += [name, *values]
    native = " AND ".join(clauses) or "1"
    return (f"CASE WHEN instr({column}, ?) THEN {_MATCHES}({column}, ?) ELSE ({native}) END",
            [_ESCAPED_NUL, json.dumps(where), *parameters])


def _condition(operator: str, operand) -> tuple[str, list]:
    """One operator's test of json_each's row (type, atom), with its parameters: text operands
    against text values, numbers and booleans against numbers and booleans."""
    options = operand if operator == "$in" else [operand]
    alternatives, parameters = [], []
    for kind_test, values in ((_TEXT, [v for v in options if isinstance(v, str)]),
                              (_NUMBER, [v for v in options if not isinstance(v, str)])):
        if values:
            comparison = f"IN ({','.join('?' * len(values))})" if operator == "$in" else f"{_SQL[operator]} ?"
            alternatives.append(f"({kind_test} AND atom {comparison})")
            parameters += values
    return "(" + " OR ".join(alternatives) + ")", parameters


def _matches_json(metadata: str | None, where: str) -> bool:
    return matches(_parse(metadata), json.loads(where))


def _json(metadata: dict | None) -> str | None:
    return json.dumps(metadata, ensure_ascii=False, sort_keys=True) if metadata else None


def _parse(text: str | None) -> dict | None:
    return json.loads(text) if text else None


def _passage(row: tuple) -> Passage:
    """A passage from its row: (id, doc_id, source, position, start, text)."""
    passage_id, doc_id, source, position, start, text = row
    return Passage(doc_id, text, source, position, start, passage_id)
