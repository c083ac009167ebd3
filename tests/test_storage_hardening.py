"""Storage faults (issue 19): what a killed or failed writer leaves must not block the next one,
damaged files are found and named (checksums in the manifest), and damaged indexes say which file
is wrong and how."""

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
from importlib.util import find_spec
from pathlib import Path

import pytest
from click.testing import CliRunner

from vecsearch import Retriever
from vecsearch.cli import main
from vecsearch.storage.indexdir import MANIFEST, STAGING_PREFIX, live_version, versions
from vecsearch.training.config import TrainConfig

needs_milvus = pytest.mark.skipif(
    find_spec("pymilvus") is None or find_spec("milvus_lite") is None,
    reason="pymilvus / milvus-lite not installed (pip install 'vecsearch[milvus]')",
)
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
TOPICS = {
    "trees": "oak maple birch acacia bark leaves roots forest timber branches",
    "ships": "hull sail mast harbour anchor keel rudder voyage crew deck",
    "music": "violin orchestra melody chord rhythm tempo concert piano score",
    "cooking": "pastry oven flour butter sugar dough baking recipe crust bread",
    "weather": "rain cloud storm thunder wind frost snow humidity forecast",
}
GARBLED_FILES = ["dense.faiss", "passages.sqlite", "encoder.safetensors", "lexical/data.csc.index.npy",
                 "lexical/indices.csc.index.npy"]


def write_corpus(folder: Path, documents: int = 40) -> Path:
    """`documents` short text files, each mostly about one topic."""
    rng = random.Random(7)
    folder.mkdir(parents=True)
    names = list(TOPICS)
    for number in range(documents):
        topic = names[number % len(names)]
        words = TOPICS[topic].split()
        other = TOPICS[names[(number + 2) % len(names)]].split()
        text = " ".join(rng.choice(words) if rng.random() < 0.8 else rng.choice(other) for _ in range(60))
        (folder / f"doc{number}.txt").write_text(f"{topic} {text}\n")
    return folder


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("storage") / "corpus")


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory) -> Path:
    """A FAISS index with a briefly trained encoder; tests copy it or reuse its encoder."""
    index_dir = tmp_path_factory.mktemp("trained") / "idx"
    Retriever.build(corpus, index_dir, base="none", encoder_config={"hidden_dim": 48, "embed_dim": 48},
                    train_config=TrainConfig(steps=30, batch_size=16), show_progress=False).close()
    return index_dir


@pytest.fixture
def index_dir(trained, tmp_path) -> Path:
    """A copy of the trained index, free to damage."""
    return Path(shutil.copytree(trained, tmp_path / "idx"))


def invoke(*arguments):
    return CliRunner().invoke(main, [str(a) for a in arguments])


def one_line_error(result, *expected: str) -> str:
    """The error line of a failed command, after checking it is one line holding each of `expected`."""
    assert result.exit_code != 0, result.output
    line = result.stderr
    assert line.count("\n") == 1 and line.startswith("error: "), line
    for text in expected:
        assert text in line, line
    for leak in ("KeyError", "OperationalError", "IndexError", "Traceback", "VECSEARCH_DEBUG"):
        assert leak not in line, line
    return line


def garble(path: Path) -> None:
    """4 KB of random bytes in the middle of `path` (its size unchanged)."""
    size = path.stat().st_size
    with open(path, "r+b") as file:
        file.seek(max(0, size // 2 - 2048))
        file.write(os.urandom(min(4096, size)))
    assert path.stat().st_size == size


def collections(uri) -> list[str]:
    from vecsearch.storage.backends.milvus import connection

    with connection(str(uri)) as client:
        return sorted(client.list_collections())


# 1. A writer killed while Milvus Lite creates its collection


@needs_milvus
def test_a_writer_killed_while_milvus_lite_creates_its_collection_does_not_block_the_next(corpus, trained, tmp_path):
    """kill -9 between Milvus Lite's collection folder and its schema.json: the next writers recover."""
    index_dir, uri = tmp_path / "idx", tmp_path / "m.db"
    first = Retriever.build(corpus, index_dir, model=trained, backend="milvus", uri=uri, collection="docs",
                            show_progress=False)
    first.close()
    # the real save_schema runs: it writes schema.json.tmp and is killed as it would rename it
    script = textwrap.dedent(f"""
        import os, signal
        rename = os.replace
        def replace(source, target, *args, **kwargs):
            if str(source).endswith("schema.json.tmp") and "docs_v000002" in str(source):
                os.kill(os.getpid(), signal.SIGKILL)
            return rename(source, target, *args, **kwargs)
        os.replace = replace
        from vecsearch import Retriever
        Retriever.load({str(index_dir)!r}).delete(["doc1.txt"])
    """)
    killed = subprocess.run([sys.executable, "-c", script], env=ENV, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    half_made = uri / "collections" / "docs_v000002"
    assert (half_made / "schema.json.tmp").is_file() and not (half_made / "schema.json").exists()

    removed = invoke("remove", "doc1.txt", "--index", index_dir, "--json")
    assert removed.exit_code == 0, removed.output
    assert json.loads(removed.stdout)["removed"] == 1
    updated = invoke("index", corpus, "--index", index_dir, "--json")  # doc1.txt comes back
    assert updated.exit_code == 0, updated.output
    assert json.loads(updated.stdout)["added"] == 1
    live = json.loads((live_version(index_dir) / MANIFEST).read_text())["backend"]["collection_name"]
    assert collections(uri) == [live]
    assert not list(index_dir.glob(STAGING_PREFIX + "*")) and len(versions(index_dir)) == 1
    assert not [p.name for p in (uri / "collections").iterdir() if p.name != live]  # the half-made folder went too
    hits = json.loads(invoke("query", "violin orchestra", "--index", index_dir, "--json").stdout)
    assert hits and "music" in hits[0]["text"]


# 2. A failed write leaves nothing that blocks the next one


@needs_milvus
def test_a_failed_export_leaves_nothing_that_blocks_the_next_write(corpus, index_dir, tmp_path):
    exported = invoke("export", "--backend", "milvus", "--uri", tmp_path / "missing-folder" / "m.db",
                      "--index", index_dir)
    one_line_error(exported, "missing-folder", "does not exist")
    assert not list(index_dir.glob(STAGING_PREFIX + "*"))

    removed = invoke("remove", "doc2.txt", "--index", index_dir, "--json")  # a FAISS write
    assert removed.exit_code == 0, removed.output
    assert json.loads(removed.stdout)["removed"] == 1
    (tmp_path / "missing-folder").mkdir()
    exported = invoke("export", "--backend", "milvus", "--uri", tmp_path / "missing-folder" / "m.db",
                      "--index", index_dir, "--json")
    assert exported.exit_code == 0, exported.output
    assert json.loads(exported.stdout)["backend"]["name"] == "milvus"
    assert not list(index_dir.glob(STAGING_PREFIX + "*")) and len(versions(index_dir)) == 1


def test_a_staging_folder_that_cannot_be_removed_yet_does_not_block_the_next_write(index_dir, monkeypatch):
    """A staging folder whose Milvus collection cannot be dropped now (server down) stays for a
    later try; the next version takes the name after it."""
    from vecsearch import indexing, retriever as retriever_module
    from vecsearch.storage import backends

    stuck = index_dir / f"{STAGING_PREFIX}v000002"
    stuck.mkdir()
    release = backends.release
    for writer in (indexing, retriever_module):  # the writers hand it to the version bookkeeping
        monkeypatch.setattr(writer, "release", lambda folder: folder.name != stuck.name and release(folder))
    retriever = Retriever.load(index_dir)
    summary = retriever.delete(["doc3.txt"])
    assert summary.removed == 1 and summary.version == "v000003"
    assert stuck.is_dir() and versions(index_dir) == ["v000003"]
    retriever.close()
    monkeypatch.undo()  # the server is back: the next write removes the folder
    retriever = Retriever.load(index_dir)
    assert retriever.delete(["doc4.txt"]).version == "v000004"
    assert not stuck.exists() and versions(index_dir) == ["v000004"]
    retriever.close()


# 7. Checksums


def test_every_file_of_a_version_has_its_checksum_in_the_manifest(index_dir):
    import hashlib

    version = live_version(index_dir)
    recorded = json.loads((version / MANIFEST).read_text())["files"]
    on_disk = {p.relative_to(version).as_posix() for p in version.rglob("*") if p.is_file() and p.name != MANIFEST}
    assert set(recorded) == on_disk and set(GARBLED_FILES) <= on_disk
    for name, entry in recorded.items():
        data = (version / name).read_bytes()
        assert entry == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}, name
    result = invoke("verify", "--index", index_dir)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"ok: {version.name}: {len(recorded)} files match their checksums")


@pytest.mark.parametrize("name", GARBLED_FILES)
def test_4kb_garbled_in_the_middle_of_a_file_is_found_and_named(index_dir, name):
    version = live_version(index_dir)
    garble(version / name)
    path = str(version / name)
    expected = (str(version / Path(name).parent), f"{Path(name).name} does not match its checksum")
    line = one_line_error(invoke("verify", "--index", index_dir), *expected)
    assert path.rsplit("/", 1)[0] in line
    one_line_error(invoke("info", "--index", index_dir, "--verify"), *expected)
    # on a small index every file is checked on open too: queries refuse instead of answering wrongly
    one_line_error(invoke("query", "violin orchestra", "--index", index_dir, "--mode", "hybrid"), *expected)


def test_large_files_are_checked_by_verify_not_on_open(index_dir, monkeypatch):
    """What is read a page at a time is hashed only by `verify`: a cold query need not read it all."""
    from vecsearch.storage import indexdir

    monkeypatch.setattr(indexdir, "VERIFY_ON_OPEN_BYTES", 1000)
    version = live_version(index_dir)
    garble(version / "dense.faiss")
    assert invoke("query", "violin orchestra", "--index", index_dir, "--mode", "lexical").exit_code == 0
    one_line_error(invoke("verify", "--index", index_dir), "dense.faiss does not match its checksum")
    garble(version / "tokenizer.json")  # read whole on open anyway, so checked there whatever its size
    one_line_error(invoke("query", "violin", "--index", index_dir, "--mode", "lexical"),
                   "tokenizer.json does not match its checksum")


def test_a_truncated_file_is_found_on_open_whatever_its_size(index_dir, monkeypatch):
    from vecsearch.storage import indexdir

    monkeypatch.setattr(indexdir, "VERIFY_ON_OPEN_BYTES", 0)
    path = live_version(index_dir) / "lexical" / "data.csc.index.npy"
    size = path.stat().st_size
    with open(path, "r+b") as file:
        file.truncate(size - 100)
    one_line_error(invoke("query", "violin", "--index", index_dir, "--mode", "lexical"),
                   f"data.csc.index.npy has {size - 100:,} bytes, {size:,} when it was written")


def test_an_index_without_checksums_keeps_working_and_verify_says_so(index_dir):
    version = live_version(index_dir)
    manifest = json.loads((version / MANIFEST).read_text())
    del manifest["files"]  # as written before checksums existed
    (version / MANIFEST).write_text(json.dumps(manifest))
    result = invoke("verify", "--index", index_dir)
    assert result.exit_code == 0 and "no checksums recorded" in result.stdout, result.output
    info = invoke("info", "--index", index_dir, "--verify")
    assert info.exit_code == 0 and "no checksums recorded" in info.stdout and "documents" in info.stdout
    assert invoke("query", "violin orchestra", "--index", index_dir).exit_code == 0
    summary = Retriever.load(index_dir).delete(["doc5.txt"])  # the next version records them
    assert "files" in json.loads((live_version(index_dir) / MANIFEST).read_text()) and summary.removed == 1


# 10. Damaged indexes name the file and the problem


def _edit_manifest(version: Path, change) -> None:
    manifest = json.loads((version / MANIFEST).read_text())
    change(manifest)
    (version / MANIFEST).write_text(json.dumps(manifest))


def _sql(version: Path, statement: str) -> None:
    with sqlite3.connect(version / "passages.sqlite") as connection:
        connection.execute(statement)
    connection.close()


def _point_outside(path: Path) -> None:
    import numpy as np

    array = np.load(path, mmap_mode="r+")
    array[:] = 10**9  # passage numbers far past the last passage
    array.flush()


DAMAGES = {
    # name: (how, command, what the error says)
    "manifest without encoder": (lambda v: _edit_manifest(v, lambda m: m.pop("encoder")), ["info"],
                                 [MANIFEST, "no 'encoder' section"]),
    "manifest without encoder, on write": (lambda v: _edit_manifest(v, lambda m: m.pop("encoder")),
                                           ["remove", "doc1.txt"], [MANIFEST, "no 'encoder' section"]),
    "format version as text": (lambda v: _edit_manifest(v, lambda m: m.update(format_version="1")), ["info"],
                               [MANIFEST, "format_version '1' is not a number"]),
    "no passages table": (lambda v: _sql(v, "DROP TABLE passages"), ["query", "violin", "--mode", "dense"],
                          ["passages.sqlite", "no such table: passages"]),
    "passages rows missing": (lambda v: _sql(v, "DELETE FROM passages WHERE id > 3"),
                              ["query", "violin orchestra", "--mode", "dense"],
                              ["passages.sqlite", "is damaged", "passage"]),
    "passages rows missing in the middle": (lambda v: _sql(v, "DELETE FROM passages WHERE id BETWEEN 1 AND 38"),
                                            ["query", "violin orchestra", "--mode", "dense", "-k", "20"],
                                            ["passages.sqlite", "is damaged: passage", "is missing"]),
    "BM25 arrays pointing outside": (lambda v: _point_outside(v / "lexical" / "indices.csc.index.npy"),
                                     ["query", "violin orchestra", "--mode", "lexical"],
                                     ["lexical is damaged", "out of bounds"]),
    "CURRENT deleted": (lambda v: (v.parent / "CURRENT").unlink(), ["query", "violin"],
                        ["CURRENT is missing", "v000001"]),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_index_names_the_file_and_the_problem(index_dir, damage):
    how, command, expected = DAMAGES[damage]
    version = live_version(index_dir)
    _edit_manifest(version, lambda m: m.pop("files", None))  # no checksums: the damage itself must be named
    how(version)
    line = one_line_error(invoke(*command, "--index", index_dir), *expected)
    assert "first `vecsearch index` is running" not in line
    assert "reads format 1" not in line


def test_a_deleted_current_is_restored_by_the_next_write(corpus, index_dir):
    (index_dir / "CURRENT").unlink()
    retriever = Retriever.build(corpus, index_dir, show_progress=False)  # keeps the index and its encoder
    assert retriever.last_update.version is None and retriever.last_update.unchanged == 40
    assert (index_dir / "CURRENT").read_text().strip() == "v000001"
    assert retriever.search("violin orchestra", k=1, mode="lexical")
    retriever.close()


# --- issue 30: file modes and a full disk -------------------------------------------------------


def modes(index_dir: Path) -> dict[str, int]:
    """The permission bits of every file and folder of the live version (and CURRENT)."""
    version = live_version(index_dir)
    found = {p.relative_to(version).as_posix() + "/" * p.is_dir(): p.stat().st_mode & 0o777 for p in version.rglob("*")}
    return {**found, "/": version.stat().st_mode & 0o777, "CURRENT": (index_dir / "CURRENT").stat().st_mode & 0o777}


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_every_index_file_has_the_mode_the_umask_gives(corpus, trained, tmp_path, umask):
    previous = os.umask(umask)
    try:
        Retriever.build(corpus, tmp_path / "idx", model=trained, show_progress=False).close()  # a new encoder file
        first = modes(tmp_path / "idx")
        Retriever.load(tmp_path / "idx").add([{"id": "extra", "text": "oak maple birch"}])  # the encoder linked
        second = modes(tmp_path / "idx")
    finally:
        os.umask(previous)
    for found in (first, second):
        assert "encoder.safetensors" in found and "lexical/" in found
        assert {name: mode for name, mode in found.items() if not name.endswith("/")} == {
            name: 0o666 & ~umask for name in found if not name.endswith("/")}
        assert {name: mode for name, mode in found.items() if name.endswith("/")} == {
            name: 0o777 & ~umask for name in found if name.endswith("/")}


def test_a_trained_encoder_has_the_mode_the_umask_gives(corpus, tmp_path):
    previous = os.umask(0o022)
    try:
        result = invoke("train", corpus, "-o", tmp_path / "model", "--base", "none", "--steps", "5", "--hidden", "16",
                        "--teacher", "none")
    finally:
        os.umask(previous)
    assert result.exit_code == 0, result.output
    assert {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "model").iterdir()} == {
        "encoder.safetensors": 0o644, "tokenizer.json": 0o644}


@pytest.fixture
def small_disk(tmp_path):
    """A 24 MB tmpfs to fill; skipped where this machine cannot mount one."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(disk)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk: Path, leave: int) -> None:
    """Take all but `leave` bytes of the free space of `disk` with a ballast file."""
    info = os.statvfs(disk)
    free = info.f_bavail * info.f_frsize
    with open(disk / "ballast", "wb") as ballast:
        os.posix_fallocate(ballast.fileno(), 0, max(free - leave, 1))


PAGE = 4096  # what a tmpfs allocates at a time


@pytest.fixture(scope="module")
def update(trained, tmp_path_factory):
    """(a corpus that updates `trained`, the bytes each of the files its next version writes takes
    on a tmpfs, in the order they are written: lexical/, dense.faiss, passages.sqlite, the rest)."""
    more = write_corpus(tmp_path_factory.mktemp("more") / "corpus", documents=80)
    index_dir = Path(shutil.copytree(trained, tmp_path_factory.mktemp("measure") / "idx"))
    Retriever.build(more, index_dir, show_progress=False).close()
    version = live_version(index_dir)
    taken = {p.relative_to(version).as_posix(): -(-p.stat().st_size // PAGE) * PAGE
             for p in version.rglob("*") if p.is_file() and p.name not in ("encoder.safetensors", "tokenizer.json")}
    lexical = sum(size for name, size in taken.items() if name.startswith("lexical/"))
    rest = sum(taken.values()) - lexical - taken["dense.faiss"] - taken["passages.sqlite"]
    return more, [lexical, taken["dense.faiss"], taken["passages.sqlite"], rest]


# where the disk fills: (file, how far into it)
FULL_AT = [(0, 0.0), (0, 0.5), (1, 0.5), (2, 0.3), (2, 0.9), (3, 0.5)]


@pytest.mark.parametrize("writing, share", FULL_AT, ids=[f"{['lexical', 'faiss', 'sqlite', 'manifest'][w]}-{s}" for w, s in FULL_AT])
def test_a_full_disk_is_named_once_and_the_live_version_kept(trained, update, small_disk, writing, share):
    more, sizes = update
    index_dir = Path(shutil.copytree(trained, small_disk / "idx"))
    live, documents = live_version(index_dir).name, Retriever.load(index_dir).store.counts()[0]
    fill(small_disk, sum(sizes[:writing]) + int(sizes[writing] * share) // PAGE * PAGE)
    result = invoke("index", more, "--index", index_dir)
    line = one_line_error(result, f"the disk holding {index_dir} is full", f"{live} is still live")
    for leak in ("requested and", "Errno", "sqlite", "faiss", "Error", "database"):
        assert leak not in line, line
    assert live_version(index_dir).name == live and versions(index_dir) == [live]
    assert not list(index_dir.glob(STAGING_PREFIX + "*"))
    assert invoke("verify", "--index", index_dir).exit_code == 0
    assert Retriever.load(index_dir).store.counts()[0] == documents
    (small_disk / "ballast").unlink()
    assert invoke("index", more, "--index", index_dir).exit_code == 0  # space again: the write goes through


def test_a_full_disk_on_a_first_build_leaves_nothing(corpus, trained, small_disk):
    fill(small_disk, 64 << 10)
    result = invoke("index", corpus, "--index", small_disk / "idx", "--model", trained)
    one_line_error(result, f"the disk holding {small_disk / 'idx'} is full", "nothing was written")
    assert not (small_disk / "idx" / "CURRENT").exists()
    assert not [p for p in (small_disk / "idx").iterdir() if p.is_dir()]


@pytest.mark.parametrize("error, free, full", [
    (OSError("19935 requested and 992 written"), 992, True),  # numpy's words for a short write
    (OSError("19935 requested and 992 written"), 10 << 30, False),
    (RuntimeError("Error in faiss::write_index ... 16339 != 30720 (No space left on device)"), 10 << 30, True),
    (sqlite3.OperationalError("database or disk is full"), 10 << 30, True),
    (OSError(28, "No space left on device"), 10 << 30, True),
    (ValueError("a bug, not the disk"), 0, False),
])
def test_what_counts_as_a_full_disk(monkeypatch, tmp_path, error, free, full):
    from vecsearch.storage import indexdir

    monkeypatch.setattr(indexdir, "_free_bytes", lambda folder: free)
    assert indexdir._disk_full(error, tmp_path) is full
