"""The base encoder that ships inside the package, and the rule for adapting it to a corpus.

An RNN trained only on a small folder cannot learn what words mean, so every index starts
from `base/`: a bidirectional LSTM distilled from all-MiniLM-L6-v2 on general English
(its card, base/MODEL_CARD.md, names the sources; scripts/build_base.py makes it). It is
read like any index's encoder - the same safetensors file, the same numpy twin - and never
downloaded. A small corpus is embedded by the base as it is; a larger one first adapts it
(continued training on the corpus, keeping the base's tokenizer), see `should_adapt`.

Knows nothing of torch: the query path and `vecsearch info` import it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..errors import VecsearchError
from .format import WEIGHTS

BASE_DIR = Path(__file__).resolve().parent / "base"
DEFAULT = "default"
NONE = "none"
ADAPT_CHOICES = ("auto", "yes", "no")
# Adapting paid on slices of ~1,150-1,350 passages of both shared collections; below, its gain
# was small (and on the demo's natural questions a loss) for a build many times longer
# (docs/training.md, "The base encoder"; benchmarks/results/base_encoder.md).
ADAPT_MIN_PASSAGES = 1_000


def resolve(spec: str | Path | None) -> Path | None:
    """The folder of the base encoder `spec` names: "default" (or None) the shipped one, "none" no
    base (train from scratch), or a folder holding an encoder (e.g. `vecsearch train`'s output)."""
    if spec is None or str(spec) == DEFAULT:
        directory = BASE_DIR
    elif str(spec).lower() == NONE:
        return None
    else:
        directory = Path(spec)
    if not (directory / WEIGHTS).is_file() or not (directory / "tokenizer.json").is_file():
        raise VecsearchError(f"no base encoder in {directory} (needs {WEIGHTS} and tokenizer.json)")
    return directory


def should_adapt(adapt: str, passages: int) -> bool:
    """Whether to continue training the base on a corpus of `passages` passages."""
    if adapt not in ADAPT_CHOICES:
        raise VecsearchError(f"unknown adapt '{adapt}' (choose from {', '.join(ADAPT_CHOICES)})")
    if adapt == "auto":
        return passages >= ADAPT_MIN_PASSAGES
    return adapt == "yes"


def describe(directory: Path) -> dict:
    """What the manifest records of a base: its name, where it came from, a hash of its weights."""
    recipe_path = directory / "recipe.json"
    recipe = json.loads(recipe_path.read_text()) if recipe_path.is_file() else {}
    digest = hashlib.sha256((directory / WEIGHTS).read_bytes()).hexdigest()
    name = "vecsearch-base" if directory.resolve() == BASE_DIR else str(directory)
    return {"name": name, "sha256": digest[:16], "teacher": recipe.get("teacher")}
