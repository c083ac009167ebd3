"""The index directory: immutable versions and the `CURRENT` pointer that names the live one.

    indexes/default/
      CURRENT           name of the live version, replaced atomically
      v000001/          manifest.json, tokenizer.json, encoder.safetensors,
                        dense.faiss, passages.sqlite, lexical/

A writer builds the next version in a hidden staging folder, fsyncs it, renames it
into place and then swaps `CURRENT`; readers open whatever `CURRENT` names. A crash
leaves at worst a staging folder, which the next writer removes.
"""

from __future__ import annotations

import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import VecsearchError

FORMAT = "vecsearch-index"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
POINTER = "CURRENT"
STAGING_PREFIX = ".staging-"


def live_version(index_dir: str | Path) -> Path:
    """The directory of the live version of `index_dir` (or `index_dir` itself if it is one)."""
    index_dir = Path(index_dir)
    if (index_dir / MANIFEST).is_file():
        return index_dir
    pointer = index_dir / POINTER
    if not index_dir.exists():
        raise VecsearchError(f"no index at {index_dir} (build one with: vecsearch index PATH)")
    if not pointer.is_file():
        raise VecsearchError(f"{index_dir} is not a vecsearch index (no {POINTER} file)")
    try:
        version = pointer.read_text().strip()
    except OSError as error:
        raise VecsearchError(f"cannot read {pointer}: {error.strerror}") from None
    if not version or "/" in version or not (index_dir / version / MANIFEST).is_file():
        raise VecsearchError(f"{index_dir} is damaged: {POINTER} names a missing version '{version}'")
    return index_dir / version


def read_manifest(version_dir: str | Path) -> dict:
    """The manifest of a version, after checking that this vecsearch can read it."""
    path = Path(version_dir) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise VecsearchError(f"cannot read {path}: {error}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise VecsearchError(f"{path} is not a vecsearch manifest")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        newer = isinstance(version, int) and version > FORMAT_VERSION
        hint = "upgrade vecsearch to read it" if newer else "rebuild it with: vecsearch index PATH"
        raise VecsearchError(
            f"index format {version} in {path}; this vecsearch reads format {FORMAT_VERSION} ({hint})"
        )
    return manifest


def write_manifest(version_dir: str | Path, manifest: dict) -> None:
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, **manifest}
    (Path(version_dir) / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


@contextmanager
def new_version(index_dir: str | Path) -> Iterator[Path]:
    """Yield an empty staging folder; on success publish it as the next live version.

    On any error (or interruption) the staging folder is removed and the live
    version is untouched.
    """
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    for stale in index_dir.glob(STAGING_PREFIX + "*"):
        shutil.rmtree(stale, ignore_errors=True)
    if any(index_dir.iterdir()) and not (index_dir / POINTER).exists():
        raise VecsearchError(f"{index_dir} exists and is not a vecsearch index; choose another --index")
    previous = _versions(index_dir)
    name = f"v{(int(previous[-1][1:]) if previous else 0) + 1:06d}"
    staging = index_dir / f"{STAGING_PREFIX}{name}"
    staging.mkdir()
    try:
        yield staging
        _fsync_tree(staging)
        os.rename(staging, index_dir / name)
        _replace_pointer(index_dir, name)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    for old in previous:  # superseded; readers that hold them open keep their files
        shutil.rmtree(index_dir / old, ignore_errors=True)


def _versions(index_dir: Path) -> list[str]:
    return sorted(p.name for p in index_dir.iterdir() if p.is_dir() and p.name[:1] == "v" and p.name[1:].isdigit())


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
