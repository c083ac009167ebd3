"""Whether torch is here, and which encoder class reads an encoder's files.

`pip install vecsearch` brings no torch (the CPU wheel alone is ~750 MB): the shipped base
encoder embeds passages and queries through its numpy twin (numpy_encoder.py). Training -
adapting the base to a large corpus, distilling a teacher, an encoder from scratch,
`vecsearch train` - needs torch, which the `train` extra brings. What needs it and finds it
missing stops with one line naming that extra (`require_torch`), never an ImportError.

Asks without importing torch (~2.4 s): a query never pays for the question.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ..errors import VecsearchError

INSTALL_TRAIN = "pip install 'vecsearch[train]'"


def torch_installed() -> bool:
    """Whether torch can be imported here (found, not imported: a blocked or absent torch is no)."""
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):  # sys.modules["torch"] set to None, or a half-removed install
        return False


def require_torch(purpose: str) -> None:
    """Stop with one line if torch is missing: `purpose` (e.g. "vecsearch train") and what to install."""
    if not torch_installed():
        raise VecsearchError(f"{purpose} needs torch, which this install lacks: {INSTALL_TRAIN}")


def load_encoder(directory: str | Path):
    """The encoder in `directory`: the torch RNNEncoder where torch is installed, else its numpy
    twin. Both `encode(texts)` to the same vectors (to ~1e-6, tests/test_light_install.py) and
    `save(directory)` the same files, so an index written by one is updated by the other."""
    if torch_installed():
        try:
            from .encoder import RNNEncoder
        except ImportError as error:  # found but broken: say so, and that numpy is not the cure
            raise VecsearchError(f"torch is installed but cannot be imported ({error}); "
                                 f"reinstall it, or uninstall it to use the numpy encoder") from None
        return RNNEncoder.load(directory)
    from .numpy_encoder import NumpyEncoder

    return NumpyEncoder.load(directory)
