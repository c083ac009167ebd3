"""The FAISS index over the passage vectors (inner product on unit vectors = cosine).

Exact `flat` search for small collections; above `HNSW_THRESHOLD` passages an
approximate graph index (`hnsw`) is chosen; `ivf` is available on request.

An encoder's unit vectors crowd into a narrow cone (their mean has a norm near 0.75), where
an HNSW graph finds fewer true neighbours. The graph therefore holds each vector minus the
vectors' mean μ, which spreads them out without changing any ranking: q·(d − μ) = q·d − q·μ,
and q·μ is the same for every passage of a query. `DenseIndex` adds q·μ back to the
scores and μ back to reconstructed vectors, so callers see cosines and the original
vectors. Centring the queries too would change the rankings. Figures:
benchmarks/results/ann_options.md.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from pathlib import Path

import faiss
import numpy as np

from ..errors import VecsearchError

INDEX_TYPES = ("auto", "flat", "hnsw", "ivf")
HNSW_THRESHOLD = 50_000
FILENAME = "dense.faiss"
OFFSET_FILENAME = "dense.offset.npy"  # μ, for an index that stores vectors minus μ
# The graph's settings, chosen on 100k LSTM vectors and real queries for recall@10 against
# exact search per millisecond (benchmarks/perf/ann_options.py, results/ann_options.md): 64
# neighbours per node; the graph walked over the vectors reduced by PCA to half their
# dimension, its candidates re-ranked by float16 copies of the whole vectors (as good, and
# faster to search and to build). efConstruction stays under the bottom layer's 2 x 64 links:
# FAISS then links a node to all its candidates instead of pruning them with a heuristic made
# for true distances, which inner products are not (docs/performance.md, "A million passages").
HNSW_NEIGHBOURS = 64
HNSW_EF_CONSTRUCTION = 100
HNSW_EF_SEARCH = 192  # up to 100,000 passages; see ef_search
HNSW_EF_SEARCH_MAX = 4096
# A filter keeping at most this many passages is searched exactly over them (their vectors
# read back and scored); a broader one by searching deeper and dropping the rest.
EXACT_FILTER_PASSAGES = 20_000
ADD_ROWS = 65_536  # vectors added to an index (and read from a spool) at once
TRAIN_ROWS = 131_072  # at most this many vectors train the graph's PCA (and an IVF's quantizer, at least)


def choose_index_type(count: int, requested: str = "auto") -> str:
    if requested not in INDEX_TYPES:
        raise VecsearchError(f"unknown index type '{requested}' (choose from {', '.join(INDEX_TYPES)})")
    if requested != "auto":
        return requested
    return "flat" if count < HNSW_THRESHOLD else "hnsw"


class DenseIndex:
    """A FAISS index (`faiss`) whose vectors may be stored minus an offset μ (`offset`);
    searched and read back as if they were not."""

    def __init__(self, index: faiss.Index, offset: np.ndarray | None = None):
        self.faiss = index
        self.offset = None if offset is None else np.asarray(offset, dtype=np.float32)
        self.graph = graph_of(index)  # found once: searches read its efSearch

    @property
    def ntotal(self) -> int:
        return self.faiss.ntotal

    @property
    def d(self) -> int:
        return self.faiss.d

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        depth = k
        if isinstance(self.faiss, faiss.IndexRefine):  # all the graph's candidates are re-ranked
            depth = min(max(k, self.graph.hnsw.efSearch), self.faiss.ntotal)
        scores, ids = self.faiss.search(queries, depth)
        scores, ids = scores[:, :k], ids[:, :k]
        if self.offset is not None:
            scores += (queries @ self.offset)[:, None]
        return scores, ids

    def search_filtered(self, queries: np.ndarray, k: int, where, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`search` among the passages `allowed` (ascending ids) only; `where` is for backends that
        filter by the metadata themselves. Pads with -1 where fewer than k are allowed."""
        k = min(k, len(allowed))
        if k == 0:
            return np.empty((len(queries), 0), dtype=np.float32), np.empty((len(queries), 0), dtype=np.int64)
        if len(allowed) <= EXACT_FILTER_PASSAGES:
            scores = queries @ self.vectors(allowed).T
            top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
            return np.take_along_axis(scores, top, axis=1).astype(np.float32), allowed[top]
        keep = np.zeros(self.ntotal, dtype=bool)
        keep[allowed] = True
        depth = min(self.ntotal, math.ceil(2 * k * self.ntotal / len(allowed)))
        while True:  # deeper until k allowed are found (or everything was searched)
            scores, ids = self.search(queries, depth)
            allowed_hits = keep[np.maximum(ids, 0)] & (ids >= 0)
            if allowed_hits.sum(axis=1).min() >= k or depth >= self.ntotal:
                break
            depth = min(self.ntotal, 2 * depth)
        found_scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        found_ids = np.full((len(queries), k), -1, dtype=np.int64)
        for row in range(len(queries)):
            chosen = np.flatnonzero(allowed_hits[row])[:k]
            found_scores[row, : len(chosen)], found_ids[row, : len(chosen)] = scores[row, chosen], ids[row, chosen]
        return found_scores, found_ids

    def vectors(self, ids) -> np.ndarray:
        """The stored vectors with these ids, float32 (len(ids), d), from any index type (an
        IVF index, memory-mapped or not, makes its id map on first use)."""
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) == 0:
            return np.empty((0, self.d), dtype=np.float32)
        if isinstance(self.faiss, faiss.IndexIVF) and self.faiss.direct_map.type == faiss.DirectMap.NoMap:
            self.faiss.make_direct_map()
        return self.reconstruct_batch(ids)

    def reconstruct_batch(self, ids: np.ndarray) -> np.ndarray:
        return self._restore(self.faiss.reconstruct_batch(np.asarray(ids, dtype=np.int64)))

    def reconstruct_n(self, start: int, count: int) -> np.ndarray:
        return self._restore(self.faiss.reconstruct_n(start, count))

    def reconstruct(self, id: int) -> np.ndarray:
        return self._restore(self.faiss.reconstruct(id))

    def _restore(self, vectors: np.ndarray) -> np.ndarray:
        """FAISS's reconstructed vectors (a new array, so changed in place) with the offset added back."""
        if self.offset is not None:
            vectors += self.offset
        return vectors


def build_index(vectors, index_type: str, show_progress: bool = False) -> DenseIndex:
    """A FAISS index holding `vectors` (row i gets id i): an array, or a VectorSpool read a chunk
    at a time (a million vectors are 1.5 GB in float32; the graph keeps float16 copies)."""
    count, dim = vectors.shape
    offset = None
    if index_type == "flat":
        index = faiss.IndexFlatIP(dim)
    elif index_type == "hnsw":
        offset = _mean(vectors)  # the graph holds centred vectors (see the top of this file)
        index = _reduced_graph(dim)
        index.train(_sample(vectors, TRAIN_ROWS) - offset)
    elif index_type == "ivf":
        lists = max(1, min(int(4 * math.sqrt(count)), count // 39))  # FAISS wants ~39 points per list
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, lists, faiss.METRIC_INNER_PRODUCT)
        index.train(_sample(vectors, max(TRAIN_ROWS, 256 * lists)))  # FAISS uses at most 256 a list
    else:
        raise VecsearchError(f"unknown index type '{index_type}'")
    starts = range(0, count, ADD_ROWS)
    if show_progress and len(starts) > 1:
        from ..progress import progress

        starts = progress(starts, description=f"{index_type} index", unit="chunk")
    for start in starts:
        chunk = np.ascontiguousarray(vectors[start : start + ADD_ROWS], dtype=np.float32)
        index.add(chunk if offset is None else chunk - offset)
    _set_search_parameters(index)
    return DenseIndex(index, offset)


def _mean(vectors) -> np.ndarray:
    total = np.zeros(vectors.shape[1], dtype=np.float64)
    for start in range(0, len(vectors), ADD_ROWS):
        total += np.asarray(vectors[start : start + ADD_ROWS], dtype=np.float64).sum(axis=0)
    return (total / max(len(vectors), 1)).astype(np.float32)


def _sample(vectors, rows: int) -> np.ndarray:
    """Every vector, or `rows` of them evenly spread (training a PCA or a quantizer needs no more)."""
    if len(vectors) <= rows:
        return np.ascontiguousarray(vectors[:], dtype=np.float32)
    step = len(vectors) / rows
    wanted = (np.arange(rows) * step).astype(np.int64)
    parts = []
    for start in range(0, len(vectors), ADD_ROWS):
        inside = wanted[(wanted >= start) & (wanted < start + ADD_ROWS)]
        if len(inside):
            parts.append(np.asarray(vectors[start : start + ADD_ROWS], dtype=np.float32)[inside - start])
    return np.ascontiguousarray(np.concatenate(parts))


class VectorSpool:
    """Vectors appended to a float32 file as they are made, read back a slice at a time (an array
    for FAISS and the backends, which take slices); the indexer's vectors, kept out of memory."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.dim, self.count = None, 0  # the dimension: the first vectors appended
        self.file = open(self.path, "w+b")

    @property
    def shape(self) -> tuple[int, int]:
        return self.count, self.dim

    def __len__(self) -> int:
        return self.count

    def append(self, vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if self.dim is None:
            self.dim = vectors.shape[1]
        if vectors.shape[1] != self.dim:
            raise ValueError(f"{vectors.shape[1]}-dimensional vectors for a spool of {self.dim}")
        self.file.seek(self.count * self.dim * 4)
        self.file.write(vectors.tobytes())
        self.count += len(vectors)

    def __getitem__(self, key: slice) -> np.ndarray:
        if not isinstance(key, slice):
            raise TypeError("a VectorSpool is read by slices")
        start, stop, step = key.indices(self.count)
        if step != 1:
            raise TypeError("a VectorSpool is read by contiguous slices")
        rows = max(stop - start, 0)
        self.file.flush()
        self.file.seek(start * self.dim * 4)
        return np.fromfile(self.file, dtype=np.float32, count=rows * self.dim).reshape(rows, self.dim)

    def close(self) -> None:
        self.file.close()


def _reduced_graph(dim: int) -> faiss.IndexRefine:
    """An HNSW graph over the vectors projected by PCA to dim/2, whose candidates are re-ranked
    by the whole vectors. Both keep float16 codes, at float32's recall (results/ann_options.md)."""
    graph = faiss.IndexHNSWSQ(dim // 2, faiss.ScalarQuantizer.QT_fp16, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
    graph.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    walk = faiss.IndexPreTransform(faiss.PCAMatrix(dim, dim // 2), graph)
    whole = faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
    return faiss.IndexRefine(walk, whole)  # which keeps references to its parts


def graph_of(index: faiss.Index) -> faiss.IndexHNSW | None:
    """The HNSW graph inside `index` (itself, or the one a re-ranked, reduced index walks)."""
    if isinstance(index, faiss.IndexRefine):
        index = faiss.downcast_index(index.base_index)
    if isinstance(index, faiss.IndexPreTransform):
        index = faiss.downcast_index(index.index)
    return index if isinstance(index, faiss.IndexHNSW) else None


def ef_search(count: int) -> int:
    """The graph's search depth for `count` vectors: a larger graph needs a deeper search for the
    same share of true neighbours, so past 100,000 the depth grows as count^0.6 (figures:
    docs/performance.md, "A million passages")."""
    return min(HNSW_EF_SEARCH_MAX, max(HNSW_EF_SEARCH, round(HNSW_EF_SEARCH * (count / 100_000) ** 0.6)))


def _set_search_parameters(index: faiss.Index) -> None:
    if (graph := graph_of(index)) is not None:
        graph.hnsw.efSearch = ef_search(index.ntotal)
    elif isinstance(index, faiss.IndexIVF):
        index.nprobe = max(1, min(index.nlist, 16))


@contextmanager
def one_openmp_thread():
    """FAISS calls made inside run on this thread alone (the setting is per calling thread).

    For one query, FAISS's OpenMP team only costs: on 2 cores a flat search at 10k passages
    took 3.9 ms with the default team against 0.43 ms alone, and a whole dense search 8.1 ms
    against 1.5 ms (benchmarks/perf/search_breakdown.py)."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def save_index(index: DenseIndex, directory: str | Path) -> None:
    faiss.write_index(index.faiss, str(Path(directory) / FILENAME))
    if index.offset is not None:
        np.save(Path(directory) / OFFSET_FILENAME, index.offset)


def load_index(directory: str | Path) -> DenseIndex:
    """Read the index memory-mapped, so that opening a large one costs little."""
    index = _read(directory, faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
    _set_search_parameters(index.faiss)
    return index


def _read(directory: str | Path, flags: int = 0) -> DenseIndex:
    path, offset_path = Path(directory) / FILENAME, Path(directory) / OFFSET_FILENAME
    if not path.is_file():
        raise VecsearchError(f"{directory} is damaged: {FILENAME} is missing")
    try:
        index = faiss.read_index(str(path), flags)
    except RuntimeError as error:
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else "unreadable"
        raise VecsearchError(f"{path} is damaged or not a FAISS index ({reason})") from None
    offset = None
    if offset_path.is_file():
        try:
            offset = np.load(offset_path)
        except (OSError, ValueError) as error:
            raise VecsearchError(f"{offset_path} is damaged ({error})") from None
        if offset.shape != (index.d,):
            raise VecsearchError(f"{offset_path} is damaged: shape {offset.shape} for {index.d}-dimensional vectors")
    return DenseIndex(index, offset)


def open_stored(directory: str | Path) -> DenseIndex:
    """A saved index of any type, read whole to read its stored vectors back (for copying
    unchanged passages into the next version without encoding them again). Memory-mapping
    would not help: FAISS reads a graph into memory either way."""
    return _read(directory)
