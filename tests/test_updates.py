"""Incremental updates: re-indexing a changed corpus, Retriever.add/delete, `vecsearch remove`."""

import json
import shutil

import pytest
from click.testing import CliRunner

from vecsearch import Retriever
from vecsearch.cli import main
from vecsearch.errors import VecsearchError
from vecsearch.storage.indexdir import size_on_disk, versions


def contents(retriever: Retriever) -> dict:
    """(doc id, position) -> (passage text, vector) of every passage of an index."""
    rows = list(retriever.store.iter_passages())
    vectors = retriever.index.reconstruct_n(0, retriever.index.ntotal)
    return {(p.doc_id, p.position): (p.text, vectors[p.id]) for p in rows}


@pytest.fixture
def corpus(small_corpus, tmp_path):
    return shutil.copytree(small_corpus, tmp_path / "corpus")


def test_reindexing_embeds_only_what_changed_and_equals_a_fresh_build(corpus, small_index, tmp_path):
    index_dir = tmp_path / "idx"
    first = Retriever.build(corpus, index_dir, model=small_index, show_progress=False)
    assert (first.last_update.added, first.last_update.documents) == (80, 80)
    fusion, training = first.manifest.fusion, first.manifest.training
    first.close()

    texts = sorted(corpus.glob("*.txt"))
    texts[0].unlink()
    texts[1].unlink()
    texts[2].write_text("a changed document about transonic flutter of swept wings")
    (corpus / "new.md").write_text("a new document on hypersonic heat shields and ablation")
    records = (corpus / "records.jsonl").read_text().splitlines()
    (corpus / "records.jsonl").write_text("\n".join(records[:-1]) + "\n")  # one record removed

    second = Retriever.build(corpus, index_dir, show_progress=False)  # no --model: the index's own encoder
    update = second.last_update
    assert (update.added, update.updated, update.removed, update.unchanged) == (1, 1, 3, 76)
    assert update.documents == 78 and not update.retrained
    assert second.manifest.fusion == fusion and second.manifest.training == training
    assert second.search("hypersonic heat shields ablation", k=1)[0].id == "new.md"
    assert texts[0].name not in set(second.doc_ids)

    fresh = Retriever.build(corpus, tmp_path / "fresh", model=small_index, show_progress=False)
    incremental, rebuilt = contents(second), contents(fresh)
    assert incremental.keys() == rebuilt.keys()
    for key, (text, vector) in incremental.items():
        assert text == rebuilt[key][0]
        # passages are encoded in int8, whose activation scales depend a little on the batch
        assert float(vector @ rebuilt[key][1]) > 0.999, key
    # lexical side in step with the dense side
    assert second.lexical.bm25.scores["num_docs"] == second.index.ntotal == update.passages

    third = Retriever.build(corpus, index_dir, show_progress=False)
    assert third.last_update.version is None and third.last_update.unchanged == 78
    assert third.version_dir == second.version_dir  # nothing changed, nothing written


def test_add_and_delete_in_python(small_index, small_corpus, tmp_path):
    retriever = Retriever.build(small_corpus, tmp_path / "idx", model=small_index, show_progress=False)
    before = retriever.version_dir
    summary = retriever.add([{"id": "x1", "text": "cryogenic propellant tanks sloshing"}, {"id": "x2", "text": "  "}])
    assert (summary.added, summary.skipped, summary.documents) == (1, 1, 81)
    assert retriever.version_dir != before and not before.exists()  # reopened; the old version released and removed
    assert retriever.search("cryogenic propellant sloshing", k=1, mode="lexical")[0].id == "x1"
    assert retriever.add([{"id": "x1", "text": "cryogenic propellant tanks sloshing"}]).version is None
    assert retriever.add([{"id": "x1", "text": "magnetohydrodynamic generators"}]).updated == 1
    assert retriever.search("magnetohydrodynamic generators", k=1, mode="lexical")[0].id == "x1"

    summary = retriever.delete(["x1", "no-such-id"])
    assert (summary.removed, summary.not_found, summary.documents) == (1, 1, 80)
    assert "x1" not in set(retriever.doc_ids)
    with pytest.raises(VecsearchError, match="empty"):
        retriever.delete(list(set(retriever.doc_ids)))
    assert retriever.store.counts()[0] == 80  # refused: nothing was lost
    with pytest.raises(VecsearchError, match="needs an id"):
        retriever.add(["just a string"])  # by position it would overwrite document "0"
    with pytest.raises(VecsearchError, match="needs an id"):
        retriever.add([{"text": "no id"}])


def test_a_write_sets_the_dense_index_aside_and_a_failed_one_gets_it_back(small_index, small_corpus, tmp_path,
                                                                        monkeypatch):
    import vecsearch.indexing

    retriever = Retriever.build(small_corpus, tmp_path / "idx", model=small_index, show_progress=False)
    held_during_writes = []
    write_version = vecsearch.indexing.write_version

    def watched(*args, **kwargs):
        held_during_writes.append(retriever.index)
        return write_version(*args, **kwargs)

    monkeypatch.setattr(vecsearch.indexing, "write_version", watched)
    retriever.add([{"id": "x1", "text": "cryogenic propellant tanks sloshing"}])
    with pytest.raises(VecsearchError, match="empty"):
        retriever.delete(list(set(retriever.doc_ids)))
    assert held_during_writes == [None, None]  # not in memory twice while the writer reads the vectors
    assert retriever.index.ntotal == retriever.store.counts()[1]  # back after the failed write
    assert retriever.search("cryogenic propellant sloshing", k=1, mode="dense")[0].id == "x1"


def test_retrain_trains_a_new_encoder(small_corpus, small_index, tmp_path):
    from vecsearch.training.config import TrainConfig

    from .conftest import TINY_ENCODER

    index_dir = tmp_path / "idx"
    Retriever.build(small_corpus, index_dir, model=small_index, show_progress=False).close()
    retrained = Retriever.build(
        small_corpus, index_dir, retrain=True, base="none", encoder_config={**TINY_ENCODER, "hidden_dim": 16},
        train_config=TrainConfig(steps=3, batch_size=8), show_progress=False,
    )
    assert retrained.last_update.retrained and retrained.last_update.unchanged == 80
    assert retrained.index.d == 32 and retrained.manifest.training["steps"] == 3


def test_cli_reindex_prints_one_json_object_and_remove_works(corpus, small_index, tmp_path):
    runner = CliRunner()
    index_dir = str(tmp_path / "idx")
    result = runner.invoke(main, ["index", str(corpus), "--index", index_dir, "--model", str(small_index), "--json"])
    assert result.exit_code == 0, result.output
    (corpus / "extra.txt").write_text("ablation of graphite nose cones")
    result = runner.invoke(main, ["index", str(corpus), "--index", index_dir, "--json", "--steps", "3"])
    assert result.exit_code == 0, result.output
    assert "--steps had no effect; add --retrain" in result.stderr
    summary = json.loads(result.stdout)  # the whole of stdout is one JSON object
    keys = ("added", "updated", "removed", "unchanged", "skipped", "passages")
    assert {k: summary[k] for k in keys} == {
        "added": 1, "updated": 0, "removed": 0, "unchanged": 80, "skipped": 0, "passages": summary["passages"]
    }

    result = runner.invoke(main, ["remove", "extra.txt", "ghost", "--index", index_dir, "--json"])
    assert result.exit_code == 0, result.output
    removal = json.loads(result.stdout)
    assert (removal["removed"], removal["not_found"], removal["documents"]) == (1, 1, 80)
    human = runner.invoke(main, ["index", str(corpus), "--index", index_dir])
    assert human.exit_code == 0 and "1 added, 0 updated, 0 removed, 80 unchanged" in human.stdout
    again = runner.invoke(main, ["index", str(corpus), "--index", index_dir])
    assert "no changes" in again.stdout
    assert versions(index_dir) == [json.loads(runner.invoke(main, ["info", "--index", index_dir, "--json"]).stdout)["version"]]


def test_deleting_half_the_documents_gives_the_space_back(small_index, tmp_path):
    from .conftest import collection_documents, write_corpus

    corpus = write_corpus(tmp_path / "corpus", collection_documents()[:400], text_files=400)
    index_dir = tmp_path / "idx"
    retriever = Retriever.build(corpus, index_dir, model=small_index, show_progress=False)
    before = size_on_disk(index_dir)
    half = sorted(set(retriever.doc_ids))[::2]
    retriever.delete(half)
    after = size_on_disk(index_dir)
    assert versions(index_dir) == [retriever.version_dir.name]
    for path in corpus.iterdir():
        if path.name in half:
            path.unlink()
    Retriever.build(corpus, tmp_path / "fresh", model=small_index, show_progress=False).close()
    encoder = sum((retriever.version_dir / name).stat().st_size for name in ("encoder.safetensors", "tokenizer.json"))
    # as small as an index built from the remaining half; all but the encoder's share halved
    assert after <= 1.02 * size_on_disk(tmp_path / "fresh"), (after, size_on_disk(tmp_path / "fresh"))
    assert (after - encoder) / (before - encoder) < 0.56, (before, after, encoder)


def test_a_file_that_turns_unreadable_keeps_its_documents(corpus, small_index, tmp_path):
    index_dir = tmp_path / "idx"
    Retriever.build(corpus, index_dir, model=small_index, show_progress=False).close()
    victim = sorted(corpus.glob("*.txt"))[0]
    victim.write_bytes(b"caf\xe9 " + victim.read_bytes())  # now invalid UTF-8
    (corpus / "records.jsonl").write_text((corpus / "records.jsonl").read_text() + "{broken\n")
    updated = Retriever.build(corpus, index_dir, show_progress=False)
    update = updated.last_update
    assert (update.removed, update.skipped, update.documents) == (0, 2, 80)
    assert victim.name in set(updated.doc_ids)


def test_the_build_phases_are_functions_of_their_own(small_index, tmp_path):
    """indexing.write_version is the sequence of its phases; the first two run here on their own."""
    from vecsearch import indexing
    from vecsearch.corpus import CorpusReport, Document, content_hash
    from vecsearch.storage.sqlite import PassageSpool

    phases = ["compare", "carry_over", "choose_encoder", "encode_new", "build_dense", "calibrate_fusion", "publish"]
    assert all(callable(getattr(indexing, name)) for name in phases)
    live = indexing._open_previous(small_index, retrain=False)
    try:
        indexed = live.documents
        kept = sorted(indexed)[0]
        incoming = [Document("brand-new", "a text never seen", "brand-new", content_hash("a text never seen")),
                    Document(kept, "changed text", indexed[kept].source, content_hash("changed text"))]
        summary = indexing.UpdateSummary()
        spool = PassageSpool(tmp_path / "spool.sqlite")
        changes = indexing.compare(incoming, live, True, True, (), indexing.BuildOptions(show_progress=False),
                                   CorpusReport(), summary, None, spool)
        assert (summary.added, summary.updated, summary.removed) == (1, 1, len(indexed) - 1)
        corpus = indexing.carry_over(changes, live, reuse=True, spool=spool)
        assert sorted(d.id for d in corpus.documents) == sorted([kept, "brand-new"])
        assert corpus.fresh == len(corpus.passages) and len(corpus.carried_ids) == 0  # both are to be embedded
        assert {p.doc_id for p in corpus.passages} == {kept, "brand-new"}
        assert [p.id for p in corpus.passages] == list(range(len(corpus.passages)))  # ids are spool rows
        spool.close()
    finally:
        live.close()
