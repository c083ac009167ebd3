"""The `faiss` backend: the version folder holds the vectors in a FAISS index (dense.faiss,
storage/dense.py) and the documents and passages in SQLite (passages.sqlite, storage/sqlite.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ...errors import VecsearchError
from ..dense import FILENAME as DENSE_FILE
from ..dense import load_index, open_stored, save_index
from ..manifest import Manifest
from ..sqlite import PassageStore, write_store
from .checks import check_files


class FaissStore(PassageStore):
    """The SQLite passage store of a FAISS version, with the version's stored vectors."""

    def __init__(self, directory: str | os.PathLike, passages: int | None = None):
        super().__init__(directory, passages)
        self.directory = Path(directory)

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        return open_stored(self.directory).vectors(ids)

    def iter_vectors(self, ids: np.ndarray, rows: int) -> Iterator[np.ndarray]:
        """The vectors with these ids, `rows` at a time, from the index read once (and freed at the end)."""
        index = open_stored(self.directory)
        for start in range(0, len(ids), rows):
            yield index.vectors(ids[start : start + rows])


class FaissBackend:
    name = "faiss"
    indexes_vectors_itself = False

    def settings(self, index_dir: Path, previous: dict | None, uri: str | None, collection: str | None) -> dict:
        if uri or collection:
            raise VecsearchError("--uri and --collection are for the milvus backend (add --backend milvus)")
        return {"name": self.name}

    def open_store(self, version_dir: Path, manifest: Manifest) -> FaissStore:
        store = FaissStore(version_dir, manifest.counts.passages)
        try:
            check_files(version_dir, manifest)
        except VecsearchError:
            store.close()
            raise
        return store

    def open(self, version_dir: Path, manifest: Manifest):
        index = load_index(version_dir)
        count = manifest.counts.passages
        if count is not None and index.ntotal != count:
            raise VecsearchError(f"{version_dir} is damaged: {DENSE_FILE} holds {index.ntotal:,} vectors "
                                 f"for {count:,} passages")
        return index, self.open_store(version_dir, manifest)

    def write(self, staging: Path, settings: dict, dense, documents, passages, vectors, index_type: str,
              show_progress: bool = False) -> dict:
        save_index(dense, staging)
        write_store(staging, documents, passages)
        return {"name": self.name}

    def release(self, version_dir: Path) -> bool:
        return True  # everything is in the folder

    def describe(self, section: dict) -> str:
        return self.name


BACKEND = FaissBackend()
