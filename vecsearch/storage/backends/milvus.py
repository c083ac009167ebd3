"""Passages, their metadata and their vectors in a Milvus collection (the `milvus` backend).

The same code talks to Milvus Lite (a local `*.db` path, embedded in this process) and
to a Milvus server or cluster (`http://host:19530`, token from MILVUS_TOKEN); only the
URI changes.

Each index version gets its own collection, `<prefix>_v000007`, written in full while
the version is staged and published by the same `CURRENT` swap as the FAISS files; it
is never changed afterwards, so passage ids stay the row numbers 0..n-1 that BM25 uses,
and readers never see a half-written collection. The version folder holds a marker
(`backend.json`) naming the collection, written once Milvus answers and before the
collection is created, so whoever removes the folder - a writer cleaning up a crashed
or superseded version - drops the collection too (indexdir calls `release`). A writer
killed while Milvus Lite creates a collection leaves its folder without schema.json,
which Lite neither lists nor drops and which makes the name unusable: the next writer
removes it (`_remove_half_made`).

A row is one passage: id (primary key, the passage id), doc_id, source, position,
start, text, content_hash (of its document) and vector - no second store to keep in
sync. pymilvus is imported only here, and only when a Milvus index is used.

Every call to Milvus goes through `_Client`: it has a deadline (a stopped or hung server
fails the call instead of blocking the command), and whatever pymilvus or gRPC raises
becomes one VecsearchError line naming the URI; pymilvus's own error log is silenced
(VECSEARCH_DEBUG=1 keeps it). A query on a version whose collection a restarted server
has not loaded yet loads it and asks again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from ...corpus import Document, Passage
from ...errors import VecsearchError
from ..filters import normalise
from ..manifest import Manifest
from .checks import check_files

EXTRA_HINT = "the milvus backend needs: pip install 'vecsearch[milvus]'"
MARKER = "backend.json"
TOKEN_VARIABLE = "MILVUS_TOKEN"
INSERT_BATCH = 1000  # rows per insert call: well under gRPC's message limit for 192-word passages
READ_BATCH = 4000  # rows per query when reading a collection back (Milvus caps a query at 16,384)
MAX_VARCHAR = 65_535  # Milvus's limit, in bytes; a passage is at most ~13k characters
METRIC = "IP"  # inner product on unit vectors = cosine, as with FAISS
METADATA_FIELD = "metadata"  # JSON: a document's metadata, on each of its passages
# The FAISS index type chosen by size maps to the Milvus one; HNSW and IVF use FAISS's settings.
INDEX_TYPES = {"flat": "FLAT", "hnsw": "HNSW", "ivf": "IVF_FLAT"}
# Deadlines, in seconds: connecting (pymilvus's default, made explicit), a read, and the calls whose
# work grows with the collection (a timed-out call is retried by pymilvus until its deadline).
CONNECT_SECONDS = 10
CALL_SECONDS = 60
LONG_CALL_SECONDS = {"create_collection": 300, "insert": 300, "flush": 1800, "load_collection": 1800}
# A version's collection is complete before CURRENT names it and never changes afterwards, so a reader
# checks it once with Strong consistency and then reads without waiting for the server's next time
# tick: Strong costs ~200 ms per call on a Milvus 2.3 server, Bounded ~2 ms (docs/milvus.md).
READ_CONSISTENCY = "Bounded"
MILVUS_HNSW_NEIGHBOURS = 32  # as measured here; FAISS's graph has 64, for centred vectors (storage/dense.py)
MILVUS_HNSW_EF_CONSTRUCTION = 200  # as measured here with 32 neighbours; FAISS's graph differs (storage/dense.py)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,200}$")
_SCALARS = ("doc_id", "source", "position", "start", "text", "content_hash")
# The escapes Milvus's expression grammar takes in a string literal. It refuses all others (\u,
# \x, \/, which json.dumps writes for any non-ASCII character: "unknown escape sequence"), and
# every other character, NUL and emoji included, goes in as it is (tests/test_scripts_backends.py).
_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"})
_OPERATORS = {"$eq": "==", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


def string_literal(text: str) -> str:
    """`text` as a string literal of a Milvus expression."""
    return '"' + text.translate(_ESCAPES) + '"'


def _literal(value) -> str:
    if isinstance(value, str):
        return string_literal(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)  # an integer, or a finite float as Python writes it (1e+308, 5e-324)


def filter_expression(where) -> str:
    """A Milvus expression keeping the passages whose document's metadata satisfies `where`, as
    filters.matches does: Milvus compares JSON values like with like (text with text, numbers
    with numbers, true and false as 1 and 0), and no comparison matches null, a list, an object
    or a missing key."""
    clauses = []
    for name, operator, operand in normalise(where):
        target = f"{METADATA_FIELD}[{string_literal(name)}]"
        if operator == "$in":  # Milvus Lite takes `in` on scalar fields only
            clauses.append("(" + " or ".join(f"{target} == {_literal(value)}" for value in operand) + ")")
        else:
            clauses.append(f"{target} {_OPERATORS[operator]} {_literal(operand)}")
    return " and ".join(clauses)


def is_lite(uri: str) -> bool:
    return uri.endswith(".db")


def resolve_uri(uri: str | os.PathLike) -> str:
    """A Milvus Lite path made absolute (so the index works from any folder), or a server URI as given."""
    uri = os.fspath(uri)
    if not uri:
        raise VecsearchError("--uri is empty")
    if "://" in uri:
        if not uri.split("://", 1)[0] in ("http", "https", "tcp", "grpc", "unix"):
            raise VecsearchError(f"unsupported Milvus URI '{uri}' (a .db path for Milvus Lite, or http://host:19530)")
        return uri
    if not is_lite(uri):
        raise VecsearchError(f"Milvus URI '{uri}' is neither a Milvus Lite file (*.db) nor http://host:19530")
    return str(Path(uri).expanduser().resolve())


def default_prefix(index_dir: str | os.PathLike) -> str:
    """A collection prefix unique to this index directory: its name plus a hash of its path."""
    path = Path(index_dir).resolve()
    name = re.sub(r"[^A-Za-z0-9_]", "_", path.name)[:40] or "index"
    digest = hashlib.blake2b(str(path).encode(), digest_size=4).hexdigest()
    return f"vecsearch_{name}_{digest}"


def check_prefix(prefix: str) -> str:
    if not _NAME.match(prefix):
        raise VecsearchError(
            f"invalid collection name '{prefix}': letters, digits and underscores, not starting with a digit"
        )
    return prefix


def _import_pymilvus():
    try:
        import pymilvus
    except ImportError:
        raise VecsearchError(EXTRA_HINT) from None
    _quiet_pymilvus()
    return pymilvus


def check_installed() -> None:
    """Raise the one-line error naming the extra if pymilvus is missing."""
    _import_pymilvus()


class _Connections:
    """One client per URI in this process, counted, so that Milvus Lite's file is let go
    (another process may then open it) when the last user closes it."""

    def __init__(self):
        self.clients: dict[str, tuple[object, int]] = {}
        self.lock = threading.Lock()  # a served Retriever may be opened and closed from several threads

    def acquire(self, uri: str):
        with self.lock:
            if uri in self.clients:
                client, users = self.clients[uri]
                self.clients[uri] = (client, users + 1)
                return client
            client = _connect(uri)
            self.clients[uri] = (client, 1)
            return client

    def release(self, uri: str) -> None:
        with self.lock:
            client, users = self.clients.get(uri, (None, 0))
            if users > 1:
                self.clients[uri] = (client, users - 1)
                return
            self.clients.pop(uri, None)
            if client is None:
                return
            try:
                client.close()
            finally:
                if is_lite(uri):  # stop the embedded server: it holds the file's lock
                    from milvus_lite.server_manager import server_manager_instance

                    server_manager_instance.release_server(uri)


_connections = _Connections()


@contextmanager
def connection(uri: str):
    """A client for `uri`, shared with other users in this process."""
    client = _connections.acquire(uri)
    try:
        yield client
    finally:
        _connections.release(uri)


def _connect(uri: str) -> "_Client":
    pymilvus = _import_pymilvus()
    token = os.environ.get(TOKEN_VARIABLE, "")
    if is_lite(uri):
        try:
            import milvus_lite  # noqa: F401
        except ImportError:
            raise VecsearchError(f"Milvus Lite is not installed; {EXTRA_HINT}") from None
        if not Path(uri).parent.is_dir():
            raise VecsearchError(f"cannot open Milvus Lite database {uri}: folder {Path(uri).parent} does not exist")
    lite_log = logging.getLogger("milvus_lite.server_manager")
    quiet, lite_log.disabled = lite_log.disabled, True  # a failure is reported below, in one line
    try:
        return _Client(pymilvus.MilvusClient(uri=uri, token=token, timeout=CONNECT_SECONDS), uri)
    except Exception as error:  # pymilvus raises its own exception types, and gRPC's
        if is_lite(uri):
            raise VecsearchError(
                f"cannot open Milvus Lite database {uri}: another process has it open (Milvus Lite allows one "
                "process at a time; use a Milvus server for concurrent readers and writers)"
            ) from None
        raise _failure(uri, error) from None
    finally:
        lite_log.disabled = quiet


def _quiet_pymilvus() -> None:
    """pymilvus logs each failed call, with tracebacks, on its own handlers; vecsearch reports it in one line."""
    if not os.environ.get("VECSEARCH_DEBUG"):
        for name in ("pymilvus", "pymilvus.milvus_client"):
            logging.getLogger(name).setLevel(logging.CRITICAL)


class _Client:
    """A MilvusClient whose calls to the server have a deadline and fail with a VecsearchError
    (other attributes pass through). A call times out after CALL_SECONDS, or LONG_CALL_SECONDS."""

    _CALLS = ("has_collection", "list_collections", "create_collection", "drop_collection", "insert", "flush",
              "load_collection", "search", "query", "get", "describe_collection", "get_server_version")

    def __init__(self, client, uri: str):
        self.client, self.uri = client, uri

    def __getattr__(self, name: str):
        method = getattr(self.client, name)
        if name not in self._CALLS:
            return method

        def call(*args, **kwargs):
            kwargs.setdefault("timeout", LONG_CALL_SECONDS.get(name, CALL_SECONDS))
            try:
                return method(*args, **kwargs)
            except VecsearchError:
                raise
            except Exception as error:  # pymilvus's MilvusException and its subclasses, gRPC's RpcError
                raise _failure(self.uri, error) from error

        return call

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:  # noqa: BLE001  (closing a connection to a server that has gone)
            pass


class MilvusFailure(VecsearchError):
    """A call to Milvus failed: `unreachable` when the server could not be reached or did not answer in time."""

    def __init__(self, message: str, reason: str, unreachable: bool, not_loaded: bool = False):
        super().__init__(message)
        self.reason, self.unreachable, self.not_loaded = reason, unreachable, not_loaded


_UNREACHABLE = ("fail connecting", "unavailable", "deadline", "timeout", "timed out",
                "connection refused", "failed to connect", "connection recovery", "socket closed")


def _failure(uri: str, error: Exception) -> MilvusFailure:
    reason = _reason(error)
    code = getattr(error, "code", None)
    text = f"{reason} {code() if callable(code) else code}".lower()
    if any(sign in text for sign in _UNREACHABLE):
        return MilvusFailure(f"cannot reach Milvus at {uri} ({reason}); the index is unchanged - "
                             "try again once the server is up", reason, unreachable=True)
    return MilvusFailure(f"Milvus at {uri}: {reason}", reason, unreachable=False, not_loaded="not loaded" in text)


def _reason(error: Exception) -> str:
    text = getattr(error, "message", None) or str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def write_collection(
    version_dir: Path,
    settings: dict,
    documents: Iterable,
    passages: list,
    vectors: np.ndarray,
    index_type: str,
    show_progress: bool = False,
) -> dict:
    """Create this version's collection and insert every passage (row i = passage i).

    `settings` holds the URI and collection prefix; returns the manifest's backend
    section. The marker naming the collection is written first, so that a crash
    half-way leaves nothing that the next writer would not find and drop.
    """
    pymilvus = _import_pymilvus()
    version = version_dir.name.rsplit("-", 1)[-1]  # ".staging-v000007" -> "v000007"
    name = f"{settings['collection']}_{version}"
    count, dim = vectors.shape
    index = _index_parameters(index_type, count)
    section = {
        "name": "milvus", "uri": settings["uri"], "collection": settings["collection"], "collection_name": name,
        "index_type": index["index_type"], "metric": METRIC, "index_params": index["params"],
        "search_params": index["search"], "metadata": True,
    }
    documents = list(documents)
    hashes = {d.id: d.content_hash for d in documents}
    metadata = {d.id: d.metadata or {} for d in documents}
    for passage in passages:  # checked before anything is created; only whitespace runs can get this long
        for field in ("text", "doc_id", "source"):
            value = getattr(passage, field)
            if len(value) > MAX_VARCHAR // 4 and len(value.encode()) > MAX_VARCHAR:
                raise VecsearchError(
                    f"document {passage.doc_id[:200]}: a passage's {field} is over Milvus's {MAX_VARCHAR:,} bytes"
                )
    with connection(settings["uri"]) as client:
        # only now: a marker naming a database that cannot be opened would keep the staging folder
        (version_dir / MARKER).write_text(json.dumps(section, indent=2) + "\n")
        _remove_half_made(settings["uri"], name)
        if client.has_collection(name):
            raise VecsearchError(
                f"collection {name} already exists at {settings['uri']} and is not this index's; "
                "choose another --collection"
            )
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", pymilvus.DataType.INT64, is_primary=True)
        for field in ("doc_id", "source", "text"):
            schema.add_field(field, pymilvus.DataType.VARCHAR, max_length=MAX_VARCHAR)
        schema.add_field("position", pymilvus.DataType.INT64)
        schema.add_field("start", pymilvus.DataType.INT64)
        schema.add_field("content_hash", pymilvus.DataType.VARCHAR, max_length=64)
        schema.add_field(METADATA_FIELD, pymilvus.DataType.JSON)  # the document's, on each of its passages
        schema.add_field("vector", pymilvus.DataType.FLOAT_VECTOR, dim=dim)
        index_params = client.prepare_index_params()
        index_params.add_index(field_name="vector", index_type=index["index_type"], metric_type=METRIC,
                               params=index["params"])
        client.create_collection(name, schema=schema, index_params=index_params, consistency_level="Strong")
        from ...progress import progress

        shown = progress(total=count, description="Milvus insert", unit="passage",
                         enabled=show_progress and count > INSERT_BATCH)
        for start in range(0, count, INSERT_BATCH):  # vectors and passages: arrays, or spools read a batch at a time
            batch = np.ascontiguousarray(vectors[start : start + INSERT_BATCH], dtype=np.float32)
            rows = [
                {"id": start + i, "doc_id": p.doc_id, "source": p.source, "position": p.position, "start": p.start,
                 "text": p.text, "content_hash": hashes[p.doc_id], METADATA_FIELD: metadata[p.doc_id],
                 "vector": batch[i]}
                for i, p in enumerate(passages[start : start + INSERT_BATCH])
            ]
            client.insert(name, rows)
            shown.update(len(rows))
        shown.close()
        client.flush(name)  # sealed and persisted before CURRENT names the version
    return section


def _index_parameters(index_type: str, count: int) -> dict:
    from ..dense import ef_search

    if index_type == "hnsw":
        params = {"M": MILVUS_HNSW_NEIGHBOURS, "efConstruction": MILVUS_HNSW_EF_CONSTRUCTION}
        return {"index_type": "HNSW", "params": params, "search": {"ef": ef_search(count)}}
    if index_type == "ivf":
        lists = max(1, min(int(4 * np.sqrt(count)), count // 39))
        return {"index_type": "IVF_FLAT", "params": {"nlist": lists}, "search": {"nprobe": min(lists, 16)}}
    return {"index_type": "FLAT", "params": {}, "search": {}}  # exact search


def release(version_dir: Path) -> bool:
    """Drop the collection a version folder's marker names, if any; False if Milvus could not be reached
    (the folder should then be kept, so that a later writer tries again)."""
    try:
        section = json.loads((version_dir / MARKER).read_text())
    except (OSError, ValueError):
        return True  # no marker: no collection was created for this folder
    if is_lite(section.get("uri", "")) and not Path(section["uri"]).exists():
        return True  # no Milvus Lite database, so no collection in it
    try:
        with connection(section["uri"]) as client:
            if client.has_collection(section["collection_name"]):
                client.drop_collection(section["collection_name"])
            _remove_half_made(section["uri"], section["collection_name"])
        return True
    except Exception as error:  # VecsearchError, or whatever pymilvus raises
        import sys

        reason = error.reason if isinstance(error, MilvusFailure) else _reason(error)
        print(f"warning: could not drop Milvus collection {section.get('collection_name')}: {reason}; "
              "a later write will try again", file=sys.stderr)
        return False


def _remove_half_made(uri: str, name: str) -> None:
    """Remove what Milvus Lite keeps of a collection whose creation was killed: its folder, without
    the schema.json written last. Call with the database open (Milvus Lite then locks it against other
    processes) and the index's writer lock held (no other writer of this index creates `name`)."""
    if not is_lite(uri):
        return  # a server creates collections whole
    try:
        from milvus_lite.db import COLLECTIONS_DIRNAME, SCHEMA_FILENAME
    except ImportError:  # a Milvus Lite without this layout
        return
    folder = Path(uri) / COLLECTIONS_DIRNAME / name
    if folder.is_dir() and not (folder / SCHEMA_FILENAME).exists():
        shutil.rmtree(folder)


class MilvusCollection:
    """An open version's collection: both its dense index (FAISS-like `search`, `d`, `ntotal`)
    and its passage store (the Backend protocol's VectorIndex and PassageStore)."""

    def __init__(self, section: dict, manifest: Manifest):
        self.uri = section["uri"]
        self.name = section["collection_name"]
        self.search_params = {"metric_type": section.get("metric", METRIC), "params": section.get("search_params", {})}
        self.d = int(manifest.index.dimension)
        self.ntotal, self.documents_count = int(manifest.counts.passages), int(manifest.counts.documents)
        self.has_metadata = bool(section.get("metadata"))  # collections written before metadata lack the field
        self.client = _connections.acquire(self.uri)
        try:
            if not self.client.has_collection(self.name):
                raise VecsearchError(f"Milvus collection {self.name} is missing at {self.uri} (dropped by hand?)")
            self.client.load_collection(self.name)  # Milvus Lite reopens collections released
            self._check_complete()
        except VecsearchError:
            self.close()
            raise
        except Exception as error:
            self.close()
            raise VecsearchError(f"cannot open Milvus collection {self.name} at {self.uri}: {_reason(error)}") from None

    def _check_complete(self) -> None:
        """Count the rows once, with Strong consistency: the server has then applied every insert of
        this version (written and flushed before it was published, never changed since), so later
        reads need not wait for it again (READ_CONSISTENCY)."""
        rows = self._read("query", filter="", output_fields=["count(*)"], consistency_level="Strong")
        count = int(rows[0]["count(*)"]) if rows else 0
        if count != self.ntotal:
            raise VecsearchError(f"Milvus collection {self.name} at {self.uri} is damaged: it holds {count:,} "
                                 f"passages, the index {self.ntotal:,}")

    def _read(self, call: str, *args, **kwargs):
        """client.search, .query or .get on this collection; if a restarted server has not loaded it
        again yet, load it and ask once more."""
        kwargs.setdefault("consistency_level", READ_CONSISTENCY)
        try:
            return getattr(self.client, call)(self.name, *args, **kwargs)
        except MilvusFailure as failure:
            if not failure.not_loaded:
                raise
        self.client.load_collection(self.name)
        return getattr(self.client, call)(self.name, *args, **kwargs)

    def search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids), each of shape (queries, k), as FAISS returns them (-1 pads)."""
        return self._search(vectors, min(k, self.ntotal))

    def search_filtered(self, vectors: np.ndarray, k: int, where, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`search` among the passages whose document matches `where`, filtered by Milvus itself."""
        return self._search(vectors, min(k, len(allowed)), filter_expression(where))

    def _search(self, vectors: np.ndarray, k: int, expression: str = "") -> tuple[np.ndarray, np.ndarray]:
        scores = np.full((len(vectors), k), -np.inf, dtype=np.float32)
        ids = np.full((len(vectors), k), -1, dtype=np.int64)
        if k == 0:
            return scores, ids
        results = self._read(
            "search", data=[np.asarray(v, dtype=np.float32) for v in vectors], limit=k, anns_field="vector",
            search_params=self.search_params, output_fields=["id"], filter=expression,
        )
        for row, hits in enumerate(results):
            for column, hit in enumerate(hits[:k]):
                ids[row, column], scores[row, column] = hit["id"], hit["distance"]
        return scores, ids

    def passage_ids_where(self, where) -> np.ndarray:
        """The ids (ascending) of the passages whose document's metadata satisfies `where`."""
        if not self.has_metadata:
            return np.empty(0, dtype=np.int64)
        expression = filter_expression(where)
        found = []
        for start in range(0, self.ntotal, READ_BATCH):
            rows = self._read(
                "query", filter=f"id >= {start} and id < {start + READ_BATCH} and ({expression})", output_fields=["id"]
            )
            found.extend(int(row["id"]) for row in rows)
        return np.array(sorted(found), dtype=np.int64)

    def passage_ids_of(self, doc_id: str) -> np.ndarray:
        """The ids of one document's passages, in order (empty if it is not indexed)."""
        rows = self._read("query", filter=f"doc_id == {string_literal(doc_id)}", output_fields=["id", "position"])
        return np.array([int(r["id"]) for r in sorted(rows, key=lambda r: r["position"])], dtype=np.int64)

    def metadata_of(self, doc_ids: list[str]) -> dict[str, dict | None]:
        """The metadata of each of these documents."""
        unique = list(dict.fromkeys(doc_ids))
        if not self.has_metadata:
            return dict.fromkeys(unique)
        found: dict[str, dict | None] = {}
        for start in range(0, len(unique), READ_BATCH):
            chunk = unique[start : start + READ_BATCH]
            listed = ", ".join(map(string_literal, chunk))
            rows = self._read("query", filter=f"doc_id in [{listed}] and position == 0",
                              output_fields=["doc_id", METADATA_FIELD])
            found.update((row["doc_id"], row[METADATA_FIELD] or None) for row in rows)
        return found

    def _rows(self, ids: list[int], fields: list[str]) -> dict[int, dict]:
        rows = {}
        for start in range(0, len(ids), READ_BATCH):
            for row in self._read("get", ids=ids[start : start + READ_BATCH], output_fields=fields):
                rows[int(row["id"])] = row
        missing = [i for i in ids if i not in rows]
        if missing:
            raise VecsearchError(f"Milvus collection {self.name} at {self.uri} is damaged: passage {missing[0]} "
                                 f"is missing ({len(missing)} of the {len(ids)} asked for)")
        return rows

    def _scan(self, fields: list[str]) -> Iterator[dict]:
        """Every row, in id order (ids are 0..n-1: read a range at a time)."""
        for start in range(0, self.ntotal, READ_BATCH):
            rows = self._read(
                "query", filter=f"id >= {start} and id < {start + READ_BATCH}", output_fields=["id", *fields]
            )
            yield from sorted(rows, key=lambda row: row["id"])

    def passages(self, ids: list[int]) -> list[Passage]:
        """The passages with these ids, in the order given."""
        rows = self._rows(list(map(int, ids)), ["id", *_SCALARS[:-1]])
        return [_passage(rows[int(i)]) for i in ids]

    def documents_of(self, ids: list[int]) -> dict[int, str]:
        """The document id of each of these passages."""
        return {i: row["doc_id"] for i, row in self._rows(list(map(int, ids)), ["id", "doc_id"]).items()}

    def sources_of(self, ids: list[int]) -> list[str]:
        """The source file of each of these passages, in the order given."""
        rows = self._rows(list(map(int, ids)), ["id", "source"])
        return [rows[int(i)]["source"] for i in ids]

    def doc_ids(self) -> list[str]:
        """The document id of every passage, indexed by passage id."""
        return [row["doc_id"] for row in self._scan(["doc_id"])]

    def documents(self) -> dict[str, Document]:
        """Every document, by id (from its passages' fields)."""
        found = {}
        fields = ["doc_id", "source", "content_hash", *([METADATA_FIELD] if self.has_metadata else [])]
        for row in self._scan(fields):
            if row["doc_id"] not in found:
                found[row["doc_id"]] = Document(row["doc_id"], None, row["source"], row["content_hash"],
                                                      row.get(METADATA_FIELD) or None)
        return found

    def iter_passages(self) -> Iterator[Passage]:
        """Every passage, in id order."""
        for row in self._scan(list(_SCALARS[:-1])):
            yield _passage(row)

    def iter_vectors(self, ids: np.ndarray, rows: int) -> Iterator[np.ndarray]:
        """`vectors(ids)` in parts of `rows` (read in one pass over the collection)."""
        stored = self.vectors(ids)
        for start in range(0, len(ids), rows):
            yield stored[start : start + rows]

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors with these passage ids (a query's feedback passages, or those
        carried into the next version)."""
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) == 0:
            return np.empty((0, self.d), dtype=np.float32)
        if len(ids) <= READ_BATCH:  # a few: fetched by id; many: one pass over the collection
            rows = self._rows(ids.tolist(), ["vector"])
            return np.array([rows[i]["vector"] for i in ids.tolist()], dtype=np.float32)
        stored = np.empty((self.ntotal, self.d), dtype=np.float32)
        for row in self._scan(["vector"]):
            stored[row["id"]] = row["vector"]
        return stored[ids]

    def counts(self) -> tuple[int, int]:
        """(documents, passages): the version's collection never changes after it is written."""
        return self.documents_count, self.ntotal

    def close(self) -> None:
        if self.client is not None:
            self.client = None
            _connections.release(self.uri)


def _passage(row: dict) -> Passage:
    return Passage(row["doc_id"], row["text"], row["source"], int(row["position"]), int(row["start"]), int(row["id"]))



class MilvusBackend:
    name = "milvus"
    indexes_vectors_itself = True

    def settings(self, index_dir: Path, previous: dict | None, uri: str | None, collection: str | None) -> dict:
        """{"name", "uri", "collection"}, `collection` being the prefix of the per-version collections."""
        check_installed()  # before any work, not after training
        uri = uri or (previous or {}).get("uri")
        if not uri:
            raise VecsearchError(
                "the milvus backend needs --uri: a file such as milvus.db (Milvus Lite) or http://host:19530 (a server)"
            )
        prefix = collection or (previous or {}).get("collection") or default_prefix(index_dir)
        return {"name": self.name, "uri": resolve_uri(uri), "collection": check_prefix(prefix)}

    def open_store(self, version_dir: Path, manifest: Manifest) -> "MilvusCollection":
        check_files(version_dir, manifest)  # before connecting: the files are all a Milvus version has here
        return MilvusCollection(manifest.backend, manifest)

    def open(self, version_dir: Path, manifest: Manifest):
        collection = self.open_store(version_dir, manifest)
        return collection, collection  # the collection is both the vector index and the passage store

    def write(self, staging: Path, settings: dict, dense, documents, passages, vectors, index_type: str,
              show_progress: bool = False) -> dict:
        return write_collection(staging, settings, documents, passages, vectors, index_type, show_progress)

    def release(self, version_dir: Path) -> bool:
        return release(version_dir)

    def describe(self, section: dict) -> str:
        return f"{self.name} {section['uri']} (collection {section['collection_name']})"


BACKEND = MilvusBackend()
