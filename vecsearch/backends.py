"""Where a version keeps its vectors and passages: `faiss` (dense.faiss + passages.sqlite in
the version folder) or `milvus` (one collection per version, see milvus_store.py).

Either way a version opens as a pair (dense index, passage store) with the same methods,
so the retriever and the indexer do not care which backend they hold. The manifest's
`backend` section says which one a version uses (absent: faiss, as before this existed).
Opening a version checks its files against the manifest's record of them (indexdir.check_files),
after the loaders, whose own messages say more about a file they cannot read at all.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .errors import VecsearchError
from .index import FILENAME as DENSE_FILE
from .index import load_index, save_index, stored_vectors
from .indexdir import check_files
from .store import PassageStore, write_store

BACKENDS = ("faiss", "milvus")


class FaissStore(PassageStore):
    """The SQLite passage store of a FAISS version, with the version's stored vectors."""

    def __init__(self, directory: str | os.PathLike, passages: int | None = None):
        super().__init__(directory, passages)
        self.directory = Path(directory)

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        return stored_vectors(self.directory, ids)


def backend_of(manifest: dict | None) -> dict:
    """The manifest's backend section ({"name": "faiss"} for indexes without one)."""
    return (manifest or {}).get("backend") or {"name": "faiss"}


def open_store(version_dir: Path, manifest: dict):
    """The passage store of a version (with `vectors(ids)`), without its dense index, once the
    version's files match the manifest's record of them."""
    section = backend_of(manifest)
    if section["name"] == "milvus":
        from .milvus_store import MilvusCollection

        _check_files(version_dir, manifest)  # before connecting: the files are all a Milvus version has here
        return MilvusCollection(section, manifest)
    store = FaissStore(version_dir, _passage_count(manifest))
    try:
        _check_files(version_dir, manifest)
    except VecsearchError:
        store.close()
        raise
    return store


def open_backend(version_dir: Path, manifest: dict):
    """(dense index, passage store) of a version; for Milvus both are the one collection."""
    section = backend_of(manifest)
    if section["name"] == "milvus":
        collection = open_store(version_dir, manifest)
        return collection, collection
    if section["name"] != "faiss":
        raise VecsearchError(f"{version_dir} uses the unknown backend '{section['name']}'; upgrade vecsearch")
    index = load_index(version_dir)
    count = _passage_count(manifest)
    if count is not None and index.ntotal != count:
        raise VecsearchError(f"{version_dir} is damaged: {DENSE_FILE} holds {index.ntotal:,} vectors "
                             f"for {count:,} passages")
    return index, open_store(version_dir, manifest)


def _passage_count(manifest: dict) -> int | None:
    count = (manifest.get("counts") or {}).get("passages")
    return count if isinstance(count, int) else None


def _check_files(version_dir: Path, manifest: dict) -> None:
    problems = check_files(version_dir, manifest)
    if problems:
        more = f" (and {len(problems) - 1} more: vecsearch verify lists them)" if len(problems) > 1 else ""
        raise VecsearchError(problems[0] + more)


def choose_backend(
    index_dir: str | os.PathLike,
    previous: dict | None,
    name: str | None = None,
    uri: str | None = None,
    collection: str | None = None,
) -> dict:
    """The backend settings of the next version: the ones asked for, else the live version's
    (an index stays on its backend), else faiss. For Milvus: {"name", "uri", "collection"},
    `collection` being the prefix of the per-version collections."""
    before = backend_of(previous)
    name = name or before["name"]
    if name not in BACKENDS:
        raise VecsearchError(f"unknown backend '{name}' (choose from {', '.join(BACKENDS)})")
    if name == "faiss":
        if uri or collection:
            raise VecsearchError("--uri and --collection are for the milvus backend (add --backend milvus)")
        return {"name": "faiss"}
    from .milvus_store import check_installed, check_prefix, default_prefix, resolve_uri

    check_installed()  # before any work, not after training
    staying = before["name"] == "milvus"
    uri = uri or (before["uri"] if staying else None)
    if not uri:
        raise VecsearchError(
            "the milvus backend needs --uri: a file such as milvus.db (Milvus Lite) or http://host:19530 (a server)"
        )
    prefix = collection or (before["collection"] if staying else default_prefix(index_dir))
    return {"name": "milvus", "uri": resolve_uri(uri), "collection": check_prefix(prefix)}


def same_backend(settings: dict, previous: dict | None) -> bool:
    before = backend_of(previous)
    keys = ("name", "uri", "collection")
    return all(settings.get(key) == before.get(key) for key in keys)


def indexes_vectors_itself(settings: dict) -> bool:
    """Whether the backend builds its own vector index (Milvus) rather than taking a FAISS one."""
    return settings["name"] == "milvus"


def describe(section: dict) -> str:
    """A backend section in a few words, for people: "faiss", "milvus URI (collection NAME)"."""
    if section["name"] == "milvus":
        return f"milvus {section['uri']} (collection {section['collection_name']})"
    return section["name"]


def write_backend(staging: Path, settings: dict, dense, documents, passages, vectors, index_type: str) -> dict:
    """Write the version's vectors and passages; returns the manifest's backend section."""
    if settings["name"] == "milvus":
        from .milvus_store import write_collection

        return write_collection(staging, settings, documents, passages, vectors, index_type)
    save_index(dense, staging)
    write_store(staging, documents, passages)
    return {"name": "faiss"}


def release(version_dir: Path) -> bool:
    """Free what a version folder holds outside itself (a Milvus collection) before it is
    removed; False if that failed and the folder should stay for a later try."""
    from .milvus_store import MARKER

    if not (version_dir / MARKER).is_file():
        return True
    from .milvus_store import release as drop_collection

    return drop_collection(version_dir)
