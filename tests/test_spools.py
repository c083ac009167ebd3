"""The indexer's corpus and vectors wait in files (spools), not in memory: they read back as written,
FAISS indexes built from them equal those built from arrays, and a crash leaves nothing behind."""

import shutil

import numpy as np
import pytest

from vecsearch import Retriever
from vecsearch.corpus import Document, Passage
from vecsearch.storage import dense
from vecsearch.storage.dense import VectorSpool, build_index
from vecsearch.storage.indexdir import STAGING_PREFIX
from vecsearch.storage.sqlite import PassageSpool, PassageStore, write_store


def unit_vectors(count: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(count, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_a_vector_spool_reads_back_any_slice_as_written(tmp_path):
    vectors = unit_vectors(1000)
    spool = VectorSpool(tmp_path / "v.f32")
    for start in range(0, 1000, 300):
        spool.append(vectors[start : start + 300])
    assert spool.shape == (1000, 32) and len(spool) == 1000
    np.testing.assert_array_equal(spool[:], vectors)
    np.testing.assert_array_equal(spool[250:640], vectors[250:640])
    assert spool[990:2000].shape == (10, 32) and spool[5:5].shape == (0, 32)
    with pytest.raises(ValueError):
        spool.append(unit_vectors(2, dim=16))
    spool.close()


@pytest.mark.parametrize("index_type", ["flat", "hnsw", "ivf"])
def test_an_index_built_from_a_spool_a_chunk_at_a_time_equals_one_built_from_the_array(index_type, tmp_path,
                                                                                       monkeypatch):
    monkeypatch.setattr(dense, "ADD_ROWS", 700)  # several chunks, and a sample drawn across them
    monkeypatch.setattr(dense, "TRAIN_ROWS", 1500)
    vectors = unit_vectors(3000, seed=1)
    spool = VectorSpool(tmp_path / "v.f32")
    spool.append(vectors)
    from_spool, from_array = build_index(spool, index_type), build_index(vectors, index_type)
    queries = unit_vectors(20, seed=2)
    for a, b in zip(from_spool.search(queries, 10), from_array.search(queries, 10)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(from_spool.reconstruct_n(0, 3000), vectors, atol=2e-3)  # float16 copies in a graph
    spool.close()


def test_a_passage_spool_is_a_sequence_of_its_columns_and_becomes_the_store(tmp_path):
    passages = [Passage(f"d{i // 3}", f"text {i}", f"d{i // 3}.txt", i % 3, 10 * (i % 3)) for i in range(25_000)]
    spool = PassageSpool(tmp_path / "spool.sqlite")
    spool.add(passages[:100])
    spool.add(iter(passages[100:]))  # any iterable, ids continuing
    assert len(spool) == len(spool.texts) == 25_000
    assert spool.texts[7] == "text 7" and spool.texts[-1] == "text 24999"
    assert spool.texts[24_990:30_000] == [f"text {i}" for i in range(24_990, 25_000)]
    assert list(spool.doc_ids) == [p.doc_id for p in passages]  # iterated in batches
    assert spool.passages[4] == Passage("d1", "text 4", "d1.txt", 1, 10, 4)
    with pytest.raises(IndexError):
        spool.texts[25_000]
    documents = [Document(f"d{i}", None, f"d{i}.txt", "hash", {"n": i}) for i in range(25_000 // 3 + 1)]
    write_store(tmp_path, documents, spool.passages)
    assert not (tmp_path / "spool.sqlite").exists()  # moved into place, not copied
    store = PassageStore(tmp_path, passages=25_000)
    assert store.passages([0, 24_999])[1].text == "text 24999"
    assert store.metadata_of(["d5"]) == {"d5": {"n": 5}}
    assert store.passage_ids_of("d2").tolist() == [6, 7, 8]
    store.close()
    spool.close()


def test_a_work_folder_a_killed_build_left_is_removed_by_the_next_write(small_index, small_corpus, tmp_path):
    corpus, index_dir = shutil.copytree(small_corpus, tmp_path / "corpus"), tmp_path / "idx"
    Retriever.build(corpus, index_dir, model=small_index, show_progress=False).close()
    left = index_dir / f"{STAGING_PREFIX}work-999999"  # as a process killed mid-build leaves it
    left.mkdir()
    (left / "passages.sqlite").write_bytes(b"half written")
    (corpus / "another.txt").write_text("one more document about wind tunnels")
    update = Retriever.build(corpus, index_dir, show_progress=False)
    assert update.last_update.added == 1
    update.close()
    assert not left.exists()
    assert not [p for p in index_dir.iterdir() if p.name.startswith(STAGING_PREFIX)]


def test_an_update_copies_the_stored_vectors_a_chunk_at_a_time(small_index, small_corpus, tmp_path, monkeypatch):
    from vecsearch import indexing

    corpus, index_dir = shutil.copytree(small_corpus, tmp_path / "corpus"), tmp_path / "idx"
    first = Retriever.build(corpus, index_dir, model=small_index, show_progress=False)
    before = {(p.doc_id, p.position): first.index.reconstruct(p.id) for p in first.store.iter_passages()}
    first.close()
    monkeypatch.setattr(indexing, "CARRY_ROWS", 7)  # many chunks, the last one short
    (corpus / "another.txt").write_text("one more document about wind tunnels")
    second = Retriever.build(corpus, index_dir, show_progress=False)
    after = {(p.doc_id, p.position): second.index.reconstruct(p.id) for p in second.store.iter_passages()}
    assert second.last_update.added == 1 and after.keys() == before.keys() | {("another.txt", 0)}
    for key, vector in before.items():
        np.testing.assert_array_equal(after[key], vector)  # carried as stored, not encoded again
    chunks = list(second.store.iter_vectors(np.arange(len(after)), 10))
    assert [len(c) for c in chunks[:-1]] == [10] * (len(chunks) - 1)
    np.testing.assert_array_equal(np.concatenate(chunks), second.store.vectors(np.arange(len(after))))
    second.close()
