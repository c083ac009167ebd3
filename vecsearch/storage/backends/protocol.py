"""What every backend offers: the read side (a vector index and a passage store, possibly one
object) and the write side (settings, writing a version, releasing it). The retriever and the
indexer hold these, never a backend by name."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator, Protocol

import numpy as np

from ...corpus import Document, Passage
from ..manifest import Manifest


class VectorIndex(Protocol):
    """A version's passage vectors, searched by inner product (cosine: vectors are unit length)."""

    d: int  # the vectors' dimension
    ntotal: int  # how many (passage ids are 0..ntotal-1)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids), each (queries, k), best first; -1 pads where fewer than k exist."""

    def search_filtered(self, queries: np.ndarray, k: int, where, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`search` among the passages `allowed` (ascending ids) only; `where` is the filter they came from."""

    def vectors(self, ids) -> np.ndarray:
        """The stored vectors with these ids, float32 (len(ids), d)."""


class PassageStore(Protocol):
    """A version's documents and passages, with their metadata."""

    def passages(self, ids: list[int]) -> list[Passage]: ...
    def documents_of(self, ids: list[int]) -> dict[int, str]: ...
    def sources_of(self, ids: list[int]) -> list[str]: ...
    def doc_ids(self) -> list[str]: ...
    def documents(self) -> dict[str, Document]: ...
    def metadata_of(self, doc_ids: list[str]) -> dict[str, dict | None]: ...
    def passage_ids_where(self, where) -> np.ndarray: ...
    def passage_ids_of(self, doc_id: str) -> np.ndarray: ...
    def iter_passages(self) -> Iterator[Passage]: ...
    def vectors(self, ids: np.ndarray) -> np.ndarray: ...
    def iter_vectors(self, ids: np.ndarray, rows: int) -> Iterator[np.ndarray]: ...
    def counts(self) -> tuple[int, int]: ...
    def close(self) -> None: ...


class Backend(Protocol):
    """One way of keeping a version's vectors and passages (faiss_sqlite.py, milvus.py)."""

    name: str
    indexes_vectors_itself: bool  # builds its own vector index (else it stores a FAISS one)

    def settings(self, index_dir: Path, previous: dict | None, uri: str | None, collection: str | None) -> dict:
        """The next version's settings ({"name": ..., ...}): those asked for, else `previous` (the live
        version's section, when on this backend). Raises VecsearchError before any work if unusable."""

    def open_store(self, version_dir: Path, manifest: Manifest) -> PassageStore:
        """The passage store (with `vectors`), once the version's files match the manifest."""

    def open(self, version_dir: Path, manifest: Manifest) -> tuple[VectorIndex, PassageStore]: ...

    def write(self, staging: Path, settings: dict, dense, documents: Iterable[Document], passages: list,
              vectors: np.ndarray, index_type: str, show_progress: bool = False) -> dict:
        """Write the version's vectors and passages; returns the manifest's backend section."""

    def release(self, version_dir: Path) -> bool:
        """Free what a version folder holds outside itself before it is removed; False to keep it for a later try."""

    def describe(self, section: dict) -> str:
        """The section in a few words, for people."""
