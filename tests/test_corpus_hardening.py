"""Reading a corpus safely (issue 19): special files, links out of the corpus, nesting too deep,
machine-made text, records whose text is not a string, and HF datasets' own log lines.

Anything that could hang or eat memory before the fix runs in a subprocess with a timeout.
"""

import base64
import json
import os
import random
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import vecsearch
from vecsearch import Retriever
from vecsearch.corpus import MAX_WORD_CHARS, CorpusReport, Document, content_hash, iter_documents, split_passages
from vecsearch.corpus.reading import SECTION_CHARS
from vecsearch.model.tokenizer import UNK, token_ids, train_tokenizer
from vecsearch.training.config import TrainConfig

REPOSITORY = Path(vecsearch.__file__).resolve().parents[1]
WORDS = ("wind tunnel drag lift shock wave boundary layer heat transfer flow pressure wing supersonic "
         "nozzle jet inlet buzz slender body laminar turbulent").split()
# trained from scratch (not the shipped base), so that the tokenizer is learnt from the corpus too
TINY = {"base": "none", "encoder_config": {"hidden_dim": 48, "embed_dim": 48},
        "train_config": TrainConfig(steps=30, batch_size=16)}
GIB = 1 << 30


def prose(seed: int, words: int = 60) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(words)) + "."


def write_notes(folder: Path, count: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for number in range(count):
        (folder / f"note{number}.txt").write_text(prose(number))
    return folder


def base64_line(megabytes: float, seed: int = 0) -> str:
    return base64.b64encode(random.Random(seed).randbytes(int(megabytes * 1e6 * 3 / 4))).decode()


def read(path):
    report = CorpusReport()
    return list(iter_documents(path, report=report)), report


def run_python(code: str, timeout: float, memory: int | None = None) -> subprocess.CompletedProcess:
    """`code` in a fresh interpreter on this checkout, single-threaded; fails the test if it runs
    past `timeout` seconds (a hang) or, with `memory`, needs more address space than that."""

    def limit_memory():
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    try:
        return subprocess.run([sys.executable, "-c", code], cwd=REPOSITORY, env=environment, capture_output=True,
                              text=True, timeout=timeout, preexec_fn=limit_memory if memory else None)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running after {timeout} s")


@pytest.fixture(scope="module")
def tiny_index(tmp_path_factory):
    corpus = write_notes(tmp_path_factory.mktemp("notes"), 12)
    index_dir = tmp_path_factory.mktemp("tiny") / "idx"
    Retriever.build(corpus, index_dir, show_progress=False, **TINY).close()
    return index_dir


# --- 4. special files and links ---------------------------------------------------------------


def test_only_regular_files_are_read(tmp_path, monkeypatch):
    corpus = write_notes(tmp_path / "corpus", 2)
    os.mkfifo(corpus / "pipe.txt")  # opening it for reading waits for a writer, forever
    (corpus / "zero.txt").symlink_to("/dev/zero")  # reading it never ends
    monkeypatch.chdir(corpus)  # a socket's path must be short
    listener = socket.socket(socket.AF_UNIX)
    listener.bind("socket.md")
    code = (
        "import json\nfrom vecsearch.corpus import CorpusReport, iter_documents\nreport = CorpusReport()\n"
        f"ids = [d.id for d in iter_documents({str(corpus)!r}, report=report)]\n"
        "print(json.dumps({'ids': ids, 'skipped': report.skipped, 'reasons': report.reasons()}))\n"
    )
    result = run_python(code, timeout=60, memory=2 * GIB)
    listener.close()
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["ids"] == ["note0.txt", "note1.txt"]
    assert dict(found["skipped"]) == {
        "pipe.txt": "not a regular file: named pipe",
        "socket.md": "not a regular file: socket",
        "zero.txt": "link outside the corpus: /dev/zero",
    }
    assert found["reasons"] == {"not a regular file": 2, "link outside the corpus": 1}


def test_a_device_given_as_the_path_is_refused_not_read(tmp_path):
    (tmp_path / "zero.txt").symlink_to("/dev/zero")
    code = (
        "from vecsearch.corpus import CorpusReport, iter_documents\nreport = CorpusReport()\n"
        f"assert list(iter_documents({str(tmp_path / 'zero.txt')!r}, report=report)) == []\n"
        "print(report.skipped)\n"
    )
    result = run_python(code, timeout=60, memory=2 * GIB)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[('zero.txt', 'not a regular file: character device')]"


def test_a_named_pipe_does_not_hang_the_index_command(tmp_path, tiny_index):
    corpus = write_notes(tmp_path / "corpus", 3)
    os.mkfifo(corpus / "pipe.txt")
    index_dir = tmp_path / "idx"
    command = f"from vecsearch.cli import main; main({['index', str(corpus), '--index', str(index_dir), '--model', str(tiny_index), '--json']!r})"
    result = run_python(command, timeout=240)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["added"], summary["skipped"]) == (3, 1)
    assert "skipped pipe.txt: not a regular file: named pipe" in result.stderr
    assert len(Retriever.load(index_dir).doc_ids) == 3  # and the writer lock was let go


def test_links_are_followed_only_inside_the_corpus(tmp_path):
    outside = tmp_path / "outside"
    (outside / "folder").mkdir(parents=True)
    (outside / "secret.txt").write_text("a private letter")
    (outside / "folder" / "diary.txt").write_text("another private letter")
    corpus = write_notes(tmp_path / "corpus", 1)
    (corpus / "sub").mkdir()
    (corpus / "sub" / "inner.txt").write_text(prose(7))
    (corpus / "leak.txt").symlink_to(outside / "secret.txt")
    (corpus / "sneaky.txt").symlink_to("../outside/secret.txt")
    (corpus / "away").symlink_to(outside / "folder")
    (corpus / "alias.txt").symlink_to("sub/inner.txt")  # inside: followed
    (tmp_path / "shortcut").symlink_to(corpus)  # the corpus path itself may be a link
    real = Path(os.path.realpath(outside))
    for path in (corpus, tmp_path / "shortcut"):
        found, report = read(path)
        assert [d.id for d in found] == ["alias.txt", "note0.txt", "sub/inner.txt"]
        assert dict(report.skipped) == {
            "away/": f"link outside the corpus: {real / 'folder'}",
            "leak.txt": f"link outside the corpus: {real / 'secret.txt'}",
            "sneaky.txt": f"link outside the corpus: {real / 'secret.txt'}",
        }
        # by rule, not by accident: what such a link brought in before is removed, not kept
        assert not report.covers("leak.txt") and not report.covers("away/diary.txt")


# --- 5. one bad entry costs only itself -------------------------------------------------------


def test_a_record_nested_too_deep_costs_only_its_line(tmp_path):
    deep = '{"id": "deep", "text": "x", "extra": ' + "[" * 200_000 + "]" * 200_000 + "}"
    lines = [json.dumps({"id": "first", "text": prose(1)}), deep, json.dumps({"id": "third", "text": prose(3)})]
    (tmp_path / "records.jsonl").write_text("\n".join(lines) + "\n")
    found, report = read(tmp_path)
    assert [d.id for d in found] == ["first", "third"]
    assert report.skipped == [("records.jsonl:2", "malformed JSON: nested too deep")]
    assert report.covers("records.jsonl")  # what the line held stays indexed


@pytest.fixture
def deep_folder(tmp_path):
    """tmp_path/d/d/.../d, 1,100 deep, removed from the bottom up (shutil.rmtree recurses)."""
    folders = [tmp_path / "d"]
    for _ in range(1_099):
        folders.append(folders[-1] / "d")
    for folder in folders:
        folder.mkdir()
    yield folders
    for folder in reversed(folders):
        for file in folder.glob("*.txt"):
            file.unlink()
        folder.rmdir()


def test_a_folder_nested_too_deep_is_skipped_and_the_rest_read(tmp_path, deep_folder):
    (tmp_path / "top.txt").write_text(prose(1))
    (deep_folder[2] / "middle.txt").write_text(prose(2))
    (deep_folder[199] / "deep.txt").write_text(prose(3))
    (deep_folder[-1] / "bottom.txt").write_text(prose(4))
    found, report = read(tmp_path)  # os.walk raised RecursionError here, and nothing was read
    from vecsearch.corpus.reading import MAX_FOLDER_DEPTH

    assert [d.id for d in found] == ["top.txt", "d/d/d/middle.txt", "d/" * 200 + "deep.txt"]
    too_deep = "d/" * (MAX_FOLDER_DEPTH + 1)
    assert report.skipped == [(too_deep, f"nested too deep: more than {MAX_FOLDER_DEPTH} folders")]
    assert report.covers(too_deep + "d/" * 5 + "bottom.txt")  # kept in the index, not removed


# --- 6. machine-made text ---------------------------------------------------------------------


class RecordingTokenizer:
    """A tokenizer that notes the length of every text it is asked to encode."""

    def __init__(self, tokenizer):
        self.tokenizer, self.lengths = tokenizer, []

    def encode_batch_fast(self, texts):
        self.lengths.extend(len(t) for t in texts)
        return self.tokenizer.encode_batch_fast(texts)

    def token_to_id(self, token):
        return self.tokenizer.token_to_id(token)


def test_token_ids_read_only_the_head_of_a_long_text():
    tokenizer = train_tokenizer([prose(seed) for seed in range(50)], vocab_size=200)
    normal = [prose(seed, words) for seed, words in ((1, 10), (2, 192), (3, 600), (4, 3000))]
    spaced = " ".join(base64_line(0.01, seed) for seed in range(100))  # 1 MB, a space every 13 kB
    padded = " " * 20_000 + prose(5)  # its tokens start far in: read further, not cut short
    texts = [*normal, base64_line(1), spaced, padded, ""]
    recording = RecordingTokenizer(tokenizer)
    unk = tokenizer.token_to_id(UNK)
    for max_length in (16, 256):
        ids = token_ids(recording, texts, max_length)
        whole = [e.ids[:max_length] or [unk] for e in tokenizer.encode_batch_fast(texts)]
        assert [ids[i] for i in (0, 1, 2, 3, 6, 7)] == [whole[i] for i in (0, 1, 2, 3, 6, 7)]  # as if read whole
        assert [len(row) for row in ids[4:6]] == [max_length] * 2
        heads = recording.lengths[: len(texts)]
        assert heads[4] <= 16 * max_length and heads[5] <= 16 * max_length  # the 1 MB texts: a head each
        assert max(recording.lengths) == len(padded)  # read further, up to the whole, for its words
        recording.lengths.clear()


def test_only_the_start_of_a_long_run_without_spaces_goes_into_passages():
    blob = base64_line(1)
    text = f"{prose(1)} {blob}\n{prose(2)} {blob[:300]} {prose(3)}"
    passages = split_passages(Document("d", text, "d.txt", content_hash(text)))
    assert all(text[p.start :].startswith(p.text) for p in passages)
    assert [p.position for p in passages] == list(range(len(passages))) and len(passages) == 3  # not 63
    from vecsearch.corpus import MAX_RUN_CHARS

    kept = set().union(*(range(p.start, p.start + len(p.text)) for p in passages))
    run = text.index(blob)
    assert set(range(run, run + MAX_RUN_CHARS)) <= kept and run + MAX_RUN_CHARS not in kept
    assert passages[1].start + len(passages[1].text) == run + MAX_RUN_CHARS  # a passage stops at the cut
    assert passages[-1].text.startswith(prose(2)) and passages[-1].text.endswith(prose(3))  # shorter runs: whole


def test_the_trainer_sees_only_the_start_of_a_run_without_spaces():
    texts = [prose(seed) for seed in range(50)]
    blob = base64_line(0.2)
    passages = [blob[at : at + 19_200] for at in range(0, len(blob), 19_200)]  # a passage's worth each
    with_blob = train_tokenizer(texts + passages, vocab_size=2000)
    with_starts = train_tokenizer(texts + [p[:MAX_WORD_CHARS] for p in passages], vocab_size=2000)
    assert with_blob.to_str() == with_starts.to_str()
    assert with_blob.get_vocab_size() < 2000  # the rest of the blob took no pieces


BUILD = """
import resource, time
from vecsearch import Retriever
from vecsearch.training.config import TrainConfig
started = time.perf_counter()
retriever = Retriever.build({corpus!r}, {index!r}, base="none", encoder_config={{"hidden_dim": 48, "embed_dim": 48}},
                            train_config=TrainConfig(steps=30, batch_size=16), show_progress=False)
print(len(set(retriever.doc_ids)), round(time.perf_counter() - started, 1),
      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def build_in_a_subprocess(corpus: Path, index_dir: Path, timeout: float) -> tuple[int, float, int]:
    """(documents, seconds, peak RSS in bytes) of building `corpus` in a fresh interpreter."""
    result = run_python(BUILD.format(corpus=str(corpus), index=str(index_dir)), timeout=timeout)
    assert result.returncode == 0, result.stderr[-2000:]
    documents, seconds, peak = result.stdout.split()
    return int(documents), float(seconds), int(peak)


def test_a_5_mb_line_without_spaces_is_indexed_in_bounded_time_and_memory(tmp_path):
    corpus = write_notes(tmp_path / "corpus", 3)
    (corpus / "blob.txt").write_text(base64_line(5))
    documents, seconds, peak = build_in_a_subprocess(corpus, tmp_path / "idx", timeout=150)  # took 300 s
    assert documents == 4 and peak <= 1.5 * GIB, (seconds, peak)


@pytest.mark.slow
def test_a_50_mb_line_without_spaces_is_indexed_in_bounded_time_and_memory(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    line = base64_line(50)
    (corpus / "blob.txt").write_text(line)
    code = (
        "import resource, sys\nfrom vecsearch.cli import main\n"
        f"try:\n    main({['index', str(corpus), '--index', str(tmp_path / 'idx'), '--json']!r}, standalone_mode=False)\n"
        "finally:\n    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, file=sys.stderr)\n"
    )
    result = run_python(code, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["added"] == -(-len(line) // SECTION_CHARS)  # read in sections
    assert int(result.stderr.split()[-1]) <= 1.5 * GIB


# --- 8. a record that cannot be read keeps its document ---------------------------------------


@pytest.mark.parametrize(
    "value, kind",
    [(123, "a number"), (["a", "list"], "a list"), (None, "null"), ({"an": "object"}, "an object"), (True, "a boolean")],
)
def test_a_record_whose_text_is_not_a_string_keeps_its_document(tmp_path, tiny_index, value, kind):
    corpus = write_notes(tmp_path / "corpus", 2)
    records = [{"id": "r1", "text": prose(11)}, {"id": "r2", "text": prose(12)}, {"id": "r3", "text": prose(13)}]
    path = corpus / "records.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    Retriever.build(corpus, tmp_path / "idx", model=tiny_index, show_progress=False).close()
    records[1]["text"] = value
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    report = CorpusReport()
    updated = Retriever.build(corpus, tmp_path / "idx", report=report, show_progress=False)
    assert report.skipped == [("records.jsonl:2", f"'text' is {kind}, not a string")]
    assert updated.last_update.removed == 0
    assert sorted(updated.doc_ids) == ["note0.txt", "note1.txt", "r1", "r2", "r3"]


def test_an_emptied_record_is_still_removed(tmp_path, tiny_index):
    corpus = write_notes(tmp_path / "corpus", 2)
    path = corpus / "records.csv"
    path.write_text(f"id,text\nr1,{prose(11)}\nr2,{prose(12)}\n")
    Retriever.build(corpus, tmp_path / "idx", model=tiny_index, show_progress=False).close()
    path.write_text(f"id,text\nr1,{prose(11)}\nr2,\n")  # CSV has no null: an empty cell is empty text
    report = CorpusReport()
    updated = Retriever.build(corpus, tmp_path / "idx", report=report, show_progress=False)
    assert report.skipped == [("records.csv:2", "empty")]
    assert updated.last_update.removed == 1 and "r2" not in updated.doc_ids


# --- 10. HF datasets' own log lines -----------------------------------------------------------


def test_only_our_one_line_reason_is_shown_for_a_broken_json_file(tmp_path, capfd):
    from datasets.utils import logging as datasets_logging

    write_notes(tmp_path, 1)
    (tmp_path / "broken.json").write_text('{"text": "a"}\n{broken\n')
    verbosity = datasets_logging.get_verbosity()
    found, report = read(tmp_path)
    assert [d.id for d in found] == ["note0.txt"]
    assert "Failed to load JSON" not in capfd.readouterr().err
    where, reason = report.skipped[0]
    assert where == "broken.json" and reason.startswith("unreadable json file: JSON parse error: ")
    assert datasets_logging.get_verbosity() == verbosity  # datasets is left as we found it
