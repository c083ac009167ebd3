"""Where a version keeps its vectors and passages: one module per backend, each offering the
Backend protocol (protocol.py), and the small factory below that picks one by the manifest.

- `faiss` (faiss_sqlite.py): dense.faiss + passages.sqlite in the version folder;
- `milvus` (milvus.py): one Milvus collection per version (pymilvus only when used).

A version opens as a pair (vector index, passage store) with the same methods whichever
backend holds it, so the retriever and the indexer never ask which. The manifest's `backend`
section names it (absent: faiss, as before this existed). Opening a version checks its files
against the manifest's record of them (indexdir.check_files).
"""

from __future__ import annotations

import os
from importlib import import_module
from pathlib import Path

from ...errors import VecsearchError
from ..manifest import Manifest
from .protocol import Backend, PassageStore, VectorIndex

# name -> module holding its BACKEND; imported when first used (pymilvus only with milvus)
_MODULES = {"faiss": "faiss_sqlite", "milvus": "milvus"}
BACKENDS = tuple(_MODULES)
__all__ = ["BACKENDS", "Backend", "PassageStore", "VectorIndex", "backend", "choose_backend", "describe",
           "open_backend", "open_store", "release", "same_backend", "write_backend"]


def backend(name: str) -> Backend:
    """The backend called `name`; VecsearchError for one this vecsearch does not know."""
    if name not in _MODULES:
        raise VecsearchError(f"unknown backend '{name}' (choose from {', '.join(BACKENDS)})")
    return import_module(f".{_MODULES[name]}", __name__).BACKEND


def _of(section: dict) -> Backend:
    return backend(section.get("name", "faiss"))


def _of_version(version_dir: Path, manifest: Manifest) -> Backend:
    name = manifest.backend.get("name", "faiss")
    if name not in _MODULES:
        raise VecsearchError(f"{version_dir} uses the unknown backend '{name}'; upgrade vecsearch")
    return backend(name)


def open_store(version_dir: Path, manifest: Manifest) -> PassageStore:
    """The passage store of a version (with `vectors(ids)`), without its vector index, once the
    version's files match the manifest's record of them."""
    return _of_version(version_dir, manifest).open_store(version_dir, manifest)


def open_backend(version_dir: Path, manifest: Manifest) -> tuple[VectorIndex, PassageStore]:
    """(vector index, passage store) of a version; one object for a backend that holds both."""
    return _of_version(version_dir, manifest).open(version_dir, manifest)


def choose_backend(index_dir: str | os.PathLike, previous: Manifest | None, name: str | None = None,
                   uri: str | None = None, collection: str | None = None) -> dict:
    """The backend settings of the next version: the ones asked for, else the live version's
    (an index stays on its backend), else faiss."""
    before = previous.backend if previous else {"name": "faiss"}
    chosen = backend(name or before["name"])
    return chosen.settings(Path(index_dir), before if before["name"] == chosen.name else None, uri, collection)


def same_backend(settings: dict, previous: Manifest | None) -> bool:
    before = previous.backend if previous else {"name": "faiss"}
    return all(settings.get(key) == before.get(key) for key in ("name", "uri", "collection"))


def indexes_vectors_itself(settings: dict) -> bool:
    """Whether the backend builds its own vector index rather than taking a FAISS one."""
    return _of(settings).indexes_vectors_itself


def describe(section: dict) -> str:
    """A backend section in a few words, for people: "faiss", "milvus URI (collection NAME)"."""
    return _of(section).describe(section)


def write_backend(staging: Path, settings: dict, dense, documents, passages, vectors, index_type: str,
                  show_progress: bool = False) -> dict:
    """Write the version's vectors and passages; returns the manifest's backend section."""
    return _of(settings).write(staging, settings, dense, documents, passages, vectors, index_type, show_progress)


def release(version_dir: Path) -> bool:
    """Free what a version folder holds outside itself (a Milvus collection) before it is
    removed; False if that failed and the folder should stay for a later try."""
    return all(backend(name).release(version_dir) for name in BACKENDS)
