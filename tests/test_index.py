import faiss
import numpy as np
import pytest

from vecsearch.errors import VecsearchError
from vecsearch.storage.dense import (
    OFFSET_FILENAME,
    build_index,
    HNSW_EF_SEARCH,
    HNSW_EF_SEARCH_MAX,
    choose_index_type,
    ef_search,
    graph_of,
    load_index,
    one_openmp_thread,
    save_index,
)


def clustered(count: int, dim: int = 64, seed: int = 0) -> np.ndarray:
    """Unit vectors around 50 fixed centres (the same for every seed, as queries and
    passages share topics; queries about none of them would have no meaningful top 10)."""
    centres = np.random.default_rng(0).normal(size=(50, dim))
    rng = np.random.default_rng(seed + 1)
    vectors = centres[rng.integers(50, size=count)] + rng.normal(0, 0.3, (count, dim))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("index_type", ["hnsw", "ivf"])
def test_approximate_search_agrees_with_exact_search(index_type, tmp_path):
    vectors, queries = clustered(5000), clustered(100, seed=1)
    _, exact = build_index(vectors, "flat").search(queries, 10)
    save_index(build_index(vectors, index_type), tmp_path)
    _, found = load_index(tmp_path).search(queries, 10)  # as queries see it: memory-mapped, parameters set
    recall = np.mean([len(set(f) & set(e)) / 10 for f, e in zip(found, exact)])
    assert recall >= 0.95


def in_a_cone(count: int, dim: int = 64, seed: int = 0) -> np.ndarray:
    """Unit vectors sharing a large common part, as an encoder's vectors do."""
    shared = np.random.default_rng(99).normal(size=dim)
    vectors = clustered(count, dim, seed) + 1.5 * shared / np.linalg.norm(shared)
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def test_a_graph_index_stores_centred_vectors_and_answers_as_if_it_did_not(tmp_path):
    vectors, queries = in_a_cone(3000), in_a_cone(50, seed=1)
    _, exact = build_index(vectors, "flat").search(queries, 10)
    save_index(build_index(vectors, "hnsw"), tmp_path)
    index = load_index(tmp_path)
    assert np.allclose(index.offset, vectors.mean(axis=0), atol=1e-6)
    stored = index.faiss.reconstruct_n(0, 3000)
    assert np.linalg.norm(stored.mean(axis=0)) < 1e-2  # the graph holds centred vectors
    assert np.allclose(index.reconstruct_n(0, 3000), vectors, atol=2e-3)  # float16 storage
    assert np.allclose(index.reconstruct_batch(np.array([7, 3])), vectors[[7, 3]], atol=2e-3)
    scores, found = index.search(queries, 10)
    assert np.mean([len(set(f) & set(e)) / 10 for f, e in zip(found, exact)]) >= 0.95
    cosines = np.einsum("qd,qkd->qk", queries, vectors[found])
    assert np.allclose(scores, cosines, atol=2e-3)  # cosines, not products with centred vectors


def test_a_damaged_offset_file_is_reported(tmp_path):
    save_index(build_index(in_a_cone(500), "hnsw"), tmp_path)
    (tmp_path / OFFSET_FILENAME).write_bytes(b"not numpy")
    with pytest.raises(VecsearchError, match="damaged"):
        load_index(tmp_path)
    np.save(tmp_path / OFFSET_FILENAME, np.zeros(3, dtype=np.float32))
    with pytest.raises(VecsearchError, match="damaged"):
        load_index(tmp_path)


def test_the_index_type_follows_the_collection_size():
    assert choose_index_type(1_000) == "flat"
    assert choose_index_type(200_000) == "hnsw"
    assert choose_index_type(200_000, "flat") == "flat"


def test_the_graph_searches_deeper_as_it_grows(tmp_path):
    assert ef_search(3_000) == ef_search(100_000) == HNSW_EF_SEARCH
    assert HNSW_EF_SEARCH < ef_search(200_000) < ef_search(1_000_000) == 764
    assert ef_search(10**9) == HNSW_EF_SEARCH_MAX
    save_index(build_index(in_a_cone(500), "hnsw"), tmp_path)
    assert graph_of(load_index(tmp_path).faiss).hnsw.efSearch == HNSW_EF_SEARCH  # set on every load


def test_a_single_query_runs_on_one_openmp_thread_and_the_setting_is_restored():
    original = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(2)
    try:
        with one_openmp_thread():
            assert faiss.omp_get_max_threads() == 1
        assert faiss.omp_get_max_threads() == 2
        with pytest.raises(KeyError), one_openmp_thread():
            raise KeyError  # restored on errors too
        assert faiss.omp_get_max_threads() == 2
    finally:
        faiss.omp_set_num_threads(original)


@pytest.mark.parametrize("index_type", ["flat", "hnsw", "ivf"])
def test_stored_vectors_are_read_back_by_id_from_a_loaded_index(index_type, tmp_path):
    vectors = clustered(3000)
    save_index(build_index(vectors, index_type), tmp_path)
    index = load_index(tmp_path)  # memory-mapped, as a query's feedback passages are read
    ids = np.array([2999, 0, 17])
    assert np.allclose(index.vectors(ids), vectors[ids], atol=2e-3)  # float16 copies in the graph


def test_a_graph_walks_reduced_vectors_and_reranks_every_candidate_it_found(tmp_path):
    vectors = clustered(3000)
    index = build_index(vectors, "hnsw")
    graph = graph_of(index.faiss)
    assert graph.d == 32 and index.d == 64  # walked at half the dimension, answered at the whole
    scores, found = index.search(vectors[:5], 3)
    assert found.shape == (5, 3) and (found[:, 0] == np.arange(5)).all()
    assert np.allclose(scores[:, 0], 1.0, atol=2e-3)  # exact cosines from the whole vectors
