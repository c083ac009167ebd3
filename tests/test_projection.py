"""The 2-D map (t-SNE, or PCA with numpy; clusters and their labels) and `vecsearch plot`."""

import importlib.util
import json

import numpy as np
import pytest
from click.testing import CliRunner

from vecsearch import Retriever
from vecsearch.cli import main
from vecsearch.serve.projection import (MAX_GROUPS, OTHER, TOP_LEVEL, Projection, _number_groups, cluster_labels, clusters_of,
                                  embedding_map, sample_ids, source_group)


def test_pca_finds_the_directions_of_largest_spread():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(500, 6)) * np.array([10, 5, 1, 1, 1, 1]) + 3
    projection = Projection.fit(vectors)
    assert np.allclose(np.abs(projection.axes[:, :2]), np.eye(2), atol=0.05)
    points = projection.project(vectors)
    assert points.shape == (500, 2) and abs(points.mean()) < 1e-4
    assert points[:, 0].std() > points[:, 1].std()
    reference = np.linalg.eigh(np.cov(vectors.T))[1][:, ::-1][:, :2]  # principal axes, largest first
    assert np.allclose(np.abs(reference.T @ projection.axes.T), np.eye(2), atol=1e-6)


def test_large_indexes_are_sampled_reproducibly():
    assert len(sample_ids(100, limit=5000)) == 100
    sample = sample_ids(100_000, limit=5000)
    assert len(sample) == 5000 and len(set(sample.tolist())) == 5000 and sample.max() < 100_000
    assert np.array_equal(sample, sample_ids(100_000, limit=5000))


def test_passages_are_grouped_by_source_folder():
    assert source_group("guides/setup.md") == "guides" and source_group("notes.txt") == TOP_LEVEL
    folders = [f"f{i}" for i in range(20) for _ in range(20 - i)]
    names, numbers = _number_groups(folders)
    assert len(names) == MAX_GROUPS and names[-1] == OTHER
    assert names[numbers[0]] == "f0" and names[numbers[-1]] == OTHER


def test_the_map_uses_the_stored_vectors(small_index):
    retriever = Retriever.load(small_index)
    emap = embedding_map(retriever, layout="pca")
    assert len(emap.passage_ids) == emap.passages == retriever.index.ntotal
    stored = retriever.index.reconstruct_n(0, retriever.index.ntotal)
    assert np.allclose(emap.points, emap.projection.project(stored), atol=1e-5)
    assert np.allclose(emap.place(stored), emap.points, atol=1e-5)
    retriever.close()


def neighbours_kept(vectors: np.ndarray, points: np.ndarray, k: int = 10) -> float:
    """The share of each passage's k nearest neighbours (by cosine) that are among its k nearest on the map."""
    similar = np.argsort(-(vectors @ vectors.T), axis=1)[:, 1 : k + 1]
    distance = ((points[:, None, :] - points[None, :, :]) ** 2).sum(-1)
    near = np.argsort(distance, axis=1)[:, 1 : k + 1]
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(similar.tolist(), near.tolist())]))


def test_tsne_keeps_neighbours_together_better_than_pca_and_places_queries_near_their_passages(tagged):
    pytest.importorskip("sklearn", reason="needs vecsearch[plot] or [serve] (scikit-learn)")
    with Retriever.load(tagged[0]) as retriever:
        tsne, pca = embedding_map(retriever, layout="tsne"), embedding_map(retriever, layout="pca")
        assert tsne.layout == "tsne" and len(tsne.clusters) == int(tsne.cluster.max()) + 1
        vectors = tsne.vectors
        kept_tsne, kept_pca = neighbours_kept(vectors, tsne.points), neighbours_kept(vectors, pca.points)
        print(f"10-nearest neighbours kept: t-SNE {kept_tsne:.3f}, PCA {kept_pca:.3f}")
        assert kept_tsne > kept_pca + 0.1
        ids = tsne.passage_ids[:5]
        assert np.allclose(tsne.place(retriever.index.vectors(ids), ids), tsne.points[:5])  # drawn: its own point
        placed = tsne.place(vectors[:20])  # as a query would be: beside its nearest passages
        spread = np.linalg.norm(tsne.points - tsne.points.mean(0), axis=1).mean()
        assert np.median(np.linalg.norm(placed - tsne.points[:20], axis=1)) < 0.25 * spread


def test_clusters_are_labelled_with_their_distinctive_words():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 16))
    vectors = np.concatenate([c + 0.05 * rng.normal(size=(40, 16)) for c in centres]).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    cluster = clusters_of(vectors)  # k by size (5 for 120), so a group may be split, but never mixed
    topic_of = np.repeat(np.arange(3), 40)
    assert all(len(set(topic_of[cluster == c].tolist())) == 1 for c in set(cluster.tolist()))
    assert np.bincount(cluster).tolist() == sorted(np.bincount(cluster).tolist(), reverse=True)  # largest first
    topics = ["the violin and the cello play music", "the glacier and the volcano shape mountains",
              "the bank raised interest rates on loans"]
    texts = [topics[i // 40] + f" in the year {i}" for i in range(120)]
    labels = cluster_labels(texts, cluster)
    for c, label in enumerate(labels):
        topic = topics[topic_of[cluster == c][0]]
        words = label.split(", ")
        assert len(words) == 3 and set(words) <= set(topic.split()) - {"the", "and", "on"}, labels


def test_plot_writes_a_png(small_index, tmp_path):
    pytest.importorskip("matplotlib", reason="needs vecsearch[plot]")
    result = CliRunner().invoke(main, ["plot", "--index", str(small_index), "-o", str(tmp_path / "map.png")])
    assert result.exit_code == 0, result.output
    assert "clusters ->" in result.output and "  1. " in result.output
    assert (tmp_path / "map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    drawn = CliRunner().invoke(main, ["plot", "-i", str(small_index), "-o", str(tmp_path / "q.png"), "-q", "forest", "-k", "3",
                                      "--json"])
    assert drawn.exit_code == 0, drawn.output
    report = json.loads(drawn.output)
    assert len(report["hits"]) == 3 and report["clusters"] and (tmp_path / "q.png").stat().st_size > 10_000


@pytest.mark.parametrize("command, module, extra", [(["serve"], "fastapi", "serve"), (["plot", "-o", "m.png"], "matplotlib", "plot")])
def test_a_missing_extra_is_named_in_one_line(small_index, monkeypatch, command, module, extra):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == module else real(name, *a))
    result = CliRunner().invoke(main, command + ["--index", str(small_index)])
    assert result.exit_code == 1
    assert f"pip install 'vecsearch[{extra}]'" in result.stderr and result.stderr.count("\n") == 1


@pytest.mark.parametrize("index_type", ["flat", "hnsw", "ivf"])
def test_stored_vectors_come_back_from_every_index_type(tmp_path, index_type):
    from vecsearch.storage.dense import build_index, load_index, save_index

    vectors = np.random.default_rng(0).normal(size=(400, 16)).astype(np.float32)
    save_index(build_index(vectors, index_type), tmp_path)
    index = load_index(tmp_path)  # memory-mapped, as readers open it
    # HNSW keeps float16 copies of the centred vectors (11-bit mantissa, values up to ~4 here)
    tolerance = 2e-3 if index_type == "hnsw" else 1e-5
    assert np.allclose(index.vectors([3, 0, 399]), vectors[[3, 0, 399]], atol=tolerance)
