"""The index directory: immutable versions, the `CURRENT` pointer, and the locks.

    indexes/default/
      CURRENT           name of the live version, replaced atomically
      lock              held (flock, exclusive) by the one writer; holds its pid
      v000001/          manifest.json, tokenizer.json, encoder.safetensors,
                        dense.faiss, passages.sqlite, lexical/

A writer takes `lock`, builds the next version in a hidden staging folder, records
the size and SHA-256 of each of its files in its manifest (`files`), fsyncs it,
renames it into place and then swaps `CURRENT`; readers open whatever `CURRENT`
names. A crash leaves at worst a staging folder or an unreferenced version, which
the next writer removes. A staging folder that cannot be removed yet (its Milvus
collection cannot be dropped while the server is down) stays for a later writer,
and the next version takes the name after it. A lost `CURRENT` is restored by the
next writer to the newest complete version.

Versions are never changed after they are published, so a file whose size or checksum
differs from its manifest's record was damaged on disk: opening a version checks every
file's size and the checksum of the small ones (`check_files`), `verify` all of them.

Every file of a version has the mode the umask gives a new file (0644 under the usual 022),
whatever wrote it (safetensors writes 0600): anyone who can read the folder can query it. A write
that fills the disk fails with one message saying so; the live version stays live.

Readers hold a shared flock on their version's manifest for as long as they use it,
and a writer deletes a superseded version only when it can take that lock
exclusively, so a version is never removed under a reader; it goes at the first
write after its last reader closed it. That is how deleting documents gives space
back: only the live version (and versions still being read) stay on disk. A version
on the milvus backend also owns a Milvus collection, dropped with its folder.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import re
import shutil
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from ..errors import VecsearchError
from .manifest import FILES, MANIFEST, Manifest

POINTER = "CURRENT"
LOCK = "lock"
STAGING_PREFIX = ".staging-"
_WRITER_FILES = {LOCK, f"{POINTER}.tmp"}  # all a new (or crashed first) build leaves behind
CHECKSUM = "sha256"
# Opening a version checks every file's size, and the checksum of the files read whole anyway
# (JSON, the encoder's safetensors: hashing costs little next to reading them) and of any file up
# to this size. Larger ones - FAISS, SQLite, BM25 arrays, read a page at a time - only `verify`
# reads whole: hashing them on open would make a cold query read the whole index.
VERIFY_ON_OPEN_BYTES = 1 << 20
_READ_WHOLE = (".json", ".safetensors")
# Drops what a version keeps outside its folder (a Milvus collection) before the folder goes;
# False if that failed (the folder then stays, for a later write to try again). Writers pass
# backends.release: this module knows folders, not backends.
Release = Callable[[Path], bool]


class _VersionGone(Exception):
    """The version named by CURRENT was superseded and removed while it was being opened."""


def live_version(index_dir: str | Path) -> Path:
    """The directory of the live version of `index_dir` (or `index_dir` itself if it is one)."""
    index_dir = Path(index_dir)
    if (index_dir / MANIFEST).is_file():
        return index_dir
    if not index_dir.is_dir():
        raise VecsearchError(f"no index at {index_dir} (build one with: vecsearch index PATH)")
    version = None
    attempts = 50  # CURRENT may move on while we look; a damaged one never settles
    for attempt in range(attempts):
        named = _read_pointer(index_dir)
        if named is None:
            published = _published(index_dir)
            if published and attempt == attempts - 1:
                raise VecsearchError(
                    f"{index_dir / POINTER} is missing, though {index_dir} holds version {published[-1]} (the next "
                    f"`vecsearch index` restores it; or by hand: echo {published[-1]} > {index_dir / POINTER})"
                )
            if not published:  # else: perhaps a first build between publishing its version and naming it
                if (index_dir / LOCK).exists() and _only_writer_files(index_dir):
                    raise VecsearchError(
                        f"no index at {index_dir} yet (a first `vecsearch index` is running or was interrupted)"
                    )
                raise VecsearchError(f"{index_dir} is not a vecsearch index (no {POINTER} file)")
        elif named and "/" not in named and (index_dir / named / MANIFEST).is_file():
            return index_dir / named
        elif named == version:
            break
        else:
            version = named
        time.sleep(0.01)
    raise VecsearchError(f"{index_dir} is damaged: {POINTER} names a missing version '{version}'")


def _read_pointer(index_dir: Path) -> str | None:
    try:
        return (index_dir / POINTER).read_text().strip()
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        raise VecsearchError(f"{index_dir} is damaged: {POINTER} does not name a version") from None
    except OSError as error:
        raise VecsearchError(f"cannot read {index_dir / POINTER}: {error.strerror or error}") from None


def _only_writer_files(index_dir: Path) -> bool:
    return all(
        p.name in _WRITER_FILES or p.name.startswith(STAGING_PREFIX) or _is_version_name(p.name)
        for p in index_dir.iterdir()
    )


def _is_version_name(name: str) -> bool:
    return name[:1] == "v" and name[1:].isdigit()


def _published(index_dir: Path) -> list[str]:
    """Versions renamed into place whole (only a complete, fsynced staging folder is), oldest first."""
    return [name for name in versions(index_dir) if (index_dir / name / MANIFEST).is_file()]


def open_version(index_dir: str | Path) -> tuple[Path, BinaryIO]:
    """The live version of `index_dir` and an open handle that keeps it from being deleted.

    Close the handle (or let it be collected) when done with the version.
    """
    for _ in range(100):
        version_dir = live_version(index_dir)
        try:
            return version_dir, _hold(version_dir)
        except _VersionGone:  # superseded and removed between reading CURRENT and opening it
            time.sleep(0.01)
    raise VecsearchError(f"{index_dir} keeps changing under this reader; try again")


def _hold(version_dir: Path) -> BinaryIO:
    path = version_dir / MANIFEST
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        raise _VersionGone from None
    fcntl.flock(handle, fcntl.LOCK_SH)  # waits only while a writer is deleting this version
    try:
        if os.stat(path).st_ino != os.fstat(handle.fileno()).st_ino:
            raise FileNotFoundError
    except FileNotFoundError:
        handle.close()
        raise _VersionGone from None
    return handle


def record_checksums(version_dir: Path) -> None:
    """Add the size and checksum of each of a staged version's files to its manifest."""
    path = version_dir / MANIFEST
    if not path.is_file():
        return  # not a version anyone can open; nothing to record
    manifest = Manifest.read(version_dir)
    manifest.files = {
        name: {"bytes": (version_dir / name).stat().st_size, CHECKSUM: _digest(version_dir / name)}
        for name in _files(version_dir)
    }
    manifest.write(version_dir)


def _files(version_dir: Path) -> list[str]:
    """The version's files but its manifest, as paths relative to it."""
    found = (p for p in version_dir.rglob("*") if p.is_file() and p.name != MANIFEST)
    return sorted(p.relative_to(version_dir).as_posix() for p in found)


def _digest(path: Path) -> str:
    with open(path, "rb") as file:
        return hashlib.file_digest(file, CHECKSUM).hexdigest()


def check_files(version_dir: str | Path, manifest: Manifest, everything: bool = False) -> list[str]:
    """What differs between a version's files and the manifest's record of them, one line per file
    naming it ([] if the manifest records none: an index written before checksums). Checks every
    file's size, and the checksums of those cheap to read on open (see VERIFY_ON_OPEN_BYTES), or
    with `everything` of all of them."""
    version_dir = Path(version_dir)
    recorded = manifest.files or {}
    if not isinstance(recorded, dict) or not all(_is_record(k, v) for k, v in recorded.items()):
        return [f"{version_dir / MANIFEST} is damaged: its '{FILES}' section is malformed"]
    problems = []
    for name, record in recorded.items():
        path = version_dir / name
        where = f"{path.parent} is damaged: {path.name}"
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            problems.append(f"{where} is missing")
            continue
        if size != record["bytes"]:
            problems.append(f"{where} has {size:,} bytes, {record['bytes']:,} when it was written")
        elif everything or size <= VERIFY_ON_OPEN_BYTES or path.suffix in _READ_WHOLE:
            if _digest(path) != record[CHECKSUM]:
                problems.append(f"{where} does not match its checksum (it changed after {version_dir.name} was written)")
    return problems


def _is_record(name, record) -> bool:
    return (
        isinstance(name, str) and ".." not in name.split("/") and not name.startswith("/")
        and isinstance(record, dict) and isinstance(record.get("bytes"), int) and isinstance(record.get(CHECKSUM), str)
    )


@dataclass
class Verification:
    """What `verify` found: `problems` (one line per damaged file) among the `files` recorded."""

    version_dir: Path
    recorded: bool  # False: the version was written before checksums were kept
    files: int
    problems: list[str]


def verify(index_dir: str | Path) -> Verification:
    """Compare every file of the live version of `index_dir` with the sizes and checksums its
    manifest recorded when it was written (reads the whole version)."""
    version_dir, hold = open_version(index_dir)
    with hold:
        manifest = Manifest.read(version_dir)
        recorded = manifest.files
        if recorded is None:
            return Verification(version_dir, False, 0, [])
        problems = check_files(version_dir, manifest, everything=True)
        return Verification(version_dir, True, len(recorded) if isinstance(recorded, dict) else 0, problems)


@contextmanager
def writer_lock(index_dir: str | Path, wait: float = 0.0, *, release: Release) -> Iterator[Path]:
    """Hold the index's writer lock; wait up to `wait` seconds for another writer to finish.

    Raises VecsearchError naming the other writer's pid if it does not finish in time, or
    if `index_dir` holds something other than a vecsearch index. Removes what crashed
    writers left behind once the lock is held.
    """
    index_dir = Path(index_dir)
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise VecsearchError(f"cannot create {index_dir}: {error.strerror or error}") from None
    if not (index_dir / POINTER).exists() and not _only_writer_files(index_dir):
        raise VecsearchError(f"{index_dir} exists and is not a vecsearch index; choose another --index")
    try:
        descriptor = os.open(index_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o666)  # less the umask, as any file
    except OSError as error:
        raise VecsearchError(f"cannot open {index_dir / LOCK}: {error.strerror or error}") from None
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    owner = os.pread(descriptor, 32, 0).decode(errors="replace").strip() or "unknown"
                    raise VecsearchError(
                        f"index is being written by another process (pid {owner}); "
                        f"wait for it to finish or pass --wait SECONDS"
                    ) from None
                time.sleep(0.05)
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        _restore_pointer(index_dir)
        remove_leftovers(index_dir, release=release)
        yield index_dir
    finally:
        os.close(descriptor)  # releases the lock


def _restore_pointer(index_dir: Path) -> None:
    """Name the newest complete version in a lost CURRENT (deleted by hand, or a first build killed
    between publishing its version and naming it), rather than remove every version as unreferenced."""
    if (index_dir / POINTER).exists():
        return
    published = _published(index_dir)
    if published:
        _replace_pointer(index_dir, published[-1])
        print(f"note: {index_dir / POINTER} was missing; it names {published[-1]} again", file=sys.stderr)


def remove_leftovers(index_dir: Path, *, release: Release) -> None:
    """Remove staging folders, a stray pointer temp file, and versions that are neither live
    nor being read, each after `release` (see Release). Call only with the writer lock held."""
    for stale in index_dir.glob(STAGING_PREFIX + "*"):
        _discard(stale, release)
    (index_dir / f"{POINTER}.tmp").unlink(missing_ok=True)
    live = _read_pointer(index_dir)
    for name in versions(index_dir):
        if name != live:
            _remove_unless_read(index_dir / name, release)


def _remove_unless_read(version_dir: Path, release: Release) -> None:
    try:
        handle = open(version_dir / MANIFEST, "rb")
    except FileNotFoundError:  # half-removed already (a crash during removal): nobody can open it
        _discard(version_dir, release)
        return
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # a reader still has it open; a later write removes it
        if not release(version_dir):
            return  # what it keeps elsewhere (a Milvus collection) could not be dropped; a later write tries again
        (version_dir / MANIFEST).unlink()  # first, so that late readers see it gone at once
        shutil.rmtree(version_dir, ignore_errors=True)


def _discard(directory: Path, release: Release) -> None:
    """Remove a folder that no reader can have open (staging), with what it keeps elsewhere."""
    if release(directory):
        shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def new_version(index_dir: str | Path, *, release: Release) -> Iterator[Path]:
    """Yield an empty staging folder; on success publish it as the next live version.

    Call with the writer lock held. On any error (or interruption) the staging folder
    is removed and the live version is untouched. Superseded versions are removed
    afterwards, unless a reader has them open.
    """
    index_dir = Path(index_dir)
    name = _next_name(index_dir)
    staging = index_dir / f"{STAGING_PREFIX}{name}"
    _make_folder(staging)
    try:
        yield staging
        apply_umask(staging)
        record_checksums(staging)
        _fsync_tree(staging)
        os.rename(staging, index_dir / name)
        _replace_pointer(index_dir, name)
    except BaseException as error:
        full = _disk_full(error, staging)  # before the staging folder goes, and the space it took
        _discard(staging, release)
        if full:
            raise VecsearchError(_disk_full_message(index_dir)) from error
        raise
    remove_leftovers(index_dir, release=release)


@contextmanager
def scratch_folder(index_dir: str | Path, *, release: Release) -> Iterator[Path]:
    """A folder for a write's work files (its passages, vectors and BM25 before they are published),
    removed afterwards. Call with the writer lock held; one that a crash left is removed by the next
    writer, as a staging folder is (remove_leftovers)."""
    folder = Path(index_dir) / f"{STAGING_PREFIX}work-{os.getpid()}"
    if folder.exists():  # left by a crashed process that had this pid
        _discard(folder, release)
    _make_folder(folder)
    try:
        yield folder
    except BaseException as error:
        if _disk_full(error, folder):
            shutil.rmtree(folder, ignore_errors=True)
            raise VecsearchError(_disk_full_message(Path(index_dir))) from error
        raise
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _make_folder(folder: Path) -> None:
    """mkdir, a full disk said as such (naming the index folder, where the space is wanted)."""
    try:
        folder.mkdir()
    except OSError as error:
        if _disk_full(error, folder.parent):
            raise VecsearchError(_disk_full_message(folder.parent)) from error
        raise


def apply_umask(path: str | Path) -> None:
    """Give a file 0666 and a folder 0777 (and everything in it), less the umask: the modes `open`
    and `mkdir` give, which some writers do not (safetensors makes its file 0600). A file that is
    not ours (linked from a version another user wrote) keeps its mode; a missing one is passed over."""
    umask = _umask()
    path = Path(path)
    found = [(path, 0o777 if path.is_dir() else 0o666)] if path.exists() else []
    if path.is_dir():
        found += [(p, 0o777 if p.is_dir() else 0o666) for p in path.rglob("*")]
    for item, mode in found:
        try:
            os.chmod(item, mode & ~umask)
        except PermissionError:
            pass


def _umask() -> int:
    """The process's umask, read without changing it where Linux tells it (os.umask sets it too,
    for a moment other threads could create files in)."""
    try:
        with open("/proc/self/status") as status:
            found = re.search(r"^Umask:\s*([0-7]+)", status.read(), re.MULTILINE)
        if found:
            return int(found.group(1), 8)
    except OSError:
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


# the words a full disk is reported in by writers that do not raise OSError(ENOSPC): FAISS
# ("... (No space left on device)"), SQLite ("database or disk is full"), safetensors ("os error 28")
_FULL_WORDS = re.compile(r"No space left|disk is full|[Qq]uota exceeded|os error (28|122)\b")
_NEARLY_FULL_BYTES = 1 << 20


def _disk_full(error: BaseException, folder: Path) -> bool:
    """Whether `error`, raised while writing into `folder`, means its disk is full: by its errno or
    words, or (numpy says only "19935 requested and 992 written") by the space left there."""
    if not isinstance(error, Exception):
        return False
    cause, seen = error, set()
    while cause is not None and id(cause) not in seen:  # the error, and the errors it was raised from
        if isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if _FULL_WORDS.search(str(cause)):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return isinstance(error, (OSError, RuntimeError)) and _free_bytes(folder) < _NEARLY_FULL_BYTES


def _free_bytes(folder: Path) -> int:
    try:
        info = os.statvfs(folder)
    except OSError:
        return 1 << 62
    return info.f_bavail * info.f_frsize


def _disk_full_message(index_dir: Path) -> str:
    live = _read_pointer(index_dir) if (index_dir / POINTER).exists() else None
    kept = f"{live} is still live, as it was" if live else "nothing was written"
    return (f"the disk holding {index_dir} is full ({_free_bytes(index_dir) / 1e6:.1f} MB free): "
            f"free some space and run again; {kept}")


def _next_name(index_dir: Path) -> str:
    """The name after every version's and every staging folder's: a staging folder that could not
    be removed yet (see `_discard`) must not stand in the way of the next write."""
    names = (p.name.removeprefix(STAGING_PREFIX) for p in index_dir.iterdir() if p.is_dir())
    last = max((int(name[1:]) for name in names if _is_version_name(name)), default=0)
    return f"v{last + 1:06d}"


def versions(index_dir: str | Path) -> list[str]:
    """Names of the version folders in `index_dir`, oldest first."""
    return sorted(p.name for p in Path(index_dir).iterdir() if p.is_dir() and _is_version_name(p.name))


def _replace_pointer(index_dir: Path, name: str) -> None:
    temporary = index_dir / f"{POINTER}.tmp"
    with open(temporary, "w") as pointer:
        pointer.write(name + "\n")
        pointer.flush()
        os.fsync(pointer.fileno())
    os.replace(temporary, index_dir / POINTER)
    _fsync_directory(index_dir)


def _fsync_tree(root: Path) -> None:
    for directory, _, files in os.walk(root):
        for name in files:
            with open(os.path.join(directory, name), "rb") as file:
                os.fsync(file.fileno())
        _fsync_directory(Path(directory))


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def size_on_disk(directory: str | Path) -> int:
    return sum(f.stat().st_size for f in Path(directory).rglob("*") if f.is_file())
