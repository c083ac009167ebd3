"""The 2-D map (PCA with numpy) and `vecsearch plot`."""

import importlib.util

import numpy as np
import pytest
from click.testing import CliRunner

from vecsearch import Retriever
from vecsearch.cli import main
from vecsearch.projection import MAX_GROUPS, OTHER, TOP_LEVEL, Projection, _number_groups, embedding_map, sample_ids, source_group


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
    emap = embedding_map(retriever)
    assert len(emap.passage_ids) == emap.passages == retriever.index.ntotal
    stored = retriever.index.reconstruct_n(0, retriever.index.ntotal)
    assert np.allclose(emap.points, emap.projection.project(stored), atol=1e-5)
    retriever.close()


def test_plot_writes_a_png(small_index, tmp_path):
    pytest.importorskip("matplotlib", reason="needs vecsearch[plot]")
    result = CliRunner().invoke(main, ["plot", "--index", str(small_index), "-o", str(tmp_path / "map.png")])
    assert result.exit_code == 0, result.output
    assert "passages, 1 source folder ->" in result.output
    assert (tmp_path / "map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("command, module, extra", [(["serve"], "fastapi", "serve"), (["plot", "-o", "m.png"], "matplotlib", "plot")])
def test_a_missing_extra_is_named_in_one_line(small_index, monkeypatch, command, module, extra):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == module else real(name, *a))
    result = CliRunner().invoke(main, command + ["--index", str(small_index)])
    assert result.exit_code == 1
    assert f"pip install 'vecsearch[{extra}]'" in result.stderr and result.stderr.count("\n") == 1


@pytest.mark.parametrize("index_type", ["flat", "hnsw", "ivf"])
def test_stored_vectors_come_back_from_every_index_type(tmp_path, index_type):
    from vecsearch.index import build_index, load_index, save_index

    vectors = np.random.default_rng(0).normal(size=(400, 16)).astype(np.float32)
    save_index(build_index(vectors, index_type), tmp_path)
    index = load_index(tmp_path)  # memory-mapped, as readers open it
    # HNSW keeps float16 copies of the centred vectors (11-bit mantissa, values up to ~4 here)
    tolerance = 2e-3 if index_type == "hnsw" else 1e-5
    assert np.allclose(index.vectors([3, 0, 399]), vectors[[3, 0, 399]], atol=tolerance)
