"""The FAISS index over the passage vectors (inner product on unit vectors = cosine).

Exact `flat` search for small collections; above `HNSW_THRESHOLD` passages an
approximate graph index (`hnsw`) is chosen; `ivf` is available on request.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from pathlib import Path

import faiss
import numpy as np

from .errors import VecsearchError

INDEX_TYPES = ("auto", "flat", "hnsw", "ivf")
HNSW_THRESHOLD = 50_000
FILENAME = "dense.faiss"
HNSW_NEIGHBOURS = 32
HNSW_EF_CONSTRUCTION = 200  # with 80, RNN vectors at 100k had recall@10 0.92 at efSearch 128
# On 100k passages of RNN vectors and 301 real queries, recall@10 against exact search was
# 0.947 / 0.964 / 0.971 at efSearch 128 / 160 / 192; 160 saves 0.15 ms of a ~2.2 ms query.
HNSW_EF_SEARCH = 160


def choose_index_type(count: int, requested: str = "auto") -> str:
    if requested not in INDEX_TYPES:
        raise VecsearchError(f"unknown index type '{requested}' (choose from {', '.join(INDEX_TYPES)})")
    if requested != "auto":
        return requested
    return "flat" if count < HNSW_THRESHOLD else "hnsw"


def build_index(vectors: np.ndarray, index_type: str) -> faiss.Index:
    """A FAISS index holding `vectors` (row i gets id i)."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    count, dim = vectors.shape
    if index_type == "flat":
        index = faiss.IndexFlatIP(dim)
    elif index_type == "hnsw":
        # The graph's vectors in float16: at 100k RNN vectors, recall@10 as with float32
        # (0.9711 against 0.9714 at efSearch 192), 40% smaller on disk, built in 35 s against 41 s.
        index = faiss.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_fp16, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    elif index_type == "ivf":
        lists = max(1, min(int(4 * math.sqrt(count)), count // 39))  # FAISS wants ~39 points per list
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, lists, faiss.METRIC_INNER_PRODUCT)
        index.train(vectors)
    else:
        raise VecsearchError(f"unknown index type '{index_type}'")
    index.add(vectors)
    _set_search_parameters(index)
    return index


def _set_search_parameters(index: faiss.Index) -> None:
    if isinstance(index, faiss.IndexHNSW):
        index.hnsw.efSearch = HNSW_EF_SEARCH
    elif isinstance(index, faiss.IndexIVF):
        index.nprobe = max(1, min(index.nlist, 16))


@contextmanager
def one_openmp_thread():
    """FAISS calls made inside run on this thread alone (the setting is per calling thread).

    For one query, FAISS's OpenMP team only costs: on 2 cores a flat search at 10k passages
    took 3.9 ms with the default team against 0.43 ms alone, and a whole dense search 8.1 ms
    against 1.5 ms (benchmarks/search_breakdown.py)."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def save_index(index: faiss.Index, directory: str | Path) -> None:
    faiss.write_index(index, str(Path(directory) / FILENAME))


def load_index(directory: str | Path) -> faiss.Index:
    """Read the index memory-mapped, so that opening a large one costs little."""
    index = _read(directory, faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
    _set_search_parameters(index)
    return index


def _read(directory: str | Path, flags: int = 0) -> faiss.Index:
    path = Path(directory) / FILENAME
    if not path.is_file():
        raise VecsearchError(f"{directory} is damaged: {FILENAME} is missing")
    try:
        return faiss.read_index(str(path), flags)
    except RuntimeError as error:
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else "unreadable"
        raise VecsearchError(f"{path} is damaged or not a FAISS index ({reason})") from None


def reconstructable_index(directory: str | Path) -> faiss.Index:
    """The saved index read into memory, able to give back any stored vector by id (an IVF
    index gets the direct map that a memory-mapped one cannot build)."""
    index = _read(directory)
    if isinstance(index, faiss.IndexIVF):
        index.make_direct_map()
    return index


def stored_vectors(directory: str | Path, ids: np.ndarray) -> np.ndarray:
    """The vectors with these ids, read back from a saved index of any type (for copying
    unchanged passages into the next version without encoding them again)."""
    index = reconstructable_index(directory)
    ids = np.asarray(ids, dtype=np.int64)
    if len(ids) == 0:
        return np.empty((0, index.d), dtype=np.float32)
    return index.reconstruct_batch(ids)


def describe(index: faiss.Index) -> str:
    if isinstance(index, faiss.IndexHNSW):
        return "hnsw"
    if isinstance(index, faiss.IndexIVF):
        return "ivf"
    return "flat"
