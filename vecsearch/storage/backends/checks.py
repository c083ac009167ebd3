"""Opening a version checks its files against the manifest's record of them first."""

from __future__ import annotations

from pathlib import Path

from ...errors import VecsearchError
from .. import indexdir
from ..manifest import Manifest


def check_files(version_dir: Path, manifest: Manifest) -> None:
    """Raise VecsearchError naming the first file that differs from the manifest's record."""
    problems = indexdir.check_files(version_dir, manifest)
    if problems:
        more = f" (and {len(problems) - 1} more: vecsearch verify lists them)" if len(problems) > 1 else ""
        raise VecsearchError(problems[0] + more)
