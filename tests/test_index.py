import faiss
import numpy as np
import pytest

from vecsearch.index import build_index, choose_index_type, load_index, one_openmp_thread, save_index


def clustered(count: int, dim: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(50, dim))
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


def test_the_index_type_follows_the_collection_size():
    assert choose_index_type(1_000) == "flat"
    assert choose_index_type(200_000) == "hnsw"
    assert choose_index_type(200_000, "flat") == "flat"


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
