"""vecsearch: semantic search with embeddings from a trained recurrent neural network.

    from vecsearch import Retriever
    retriever = Retriever.build("corpus/", "indexes/default")
    retriever.search("how do RNNs keep context?", k=5)
"""

import os as _os

# OpenMP threads (torch's, FAISS's; libgomp) spin only briefly when they wait, then sleep: on a
# shared CPU a thread spinning for long takes the core the thread it waits for needs (indexing
# the demo under load took ~6x the CPU time), while sleeping at once (OMP_WAIT_POLICY=PASSIVE)
# made training ~2x slower on a quiet machine. 2,000 spins keeps both costs small (docs/performance.md).
# Set before torch or faiss first loads libgomp; a user's own OMP_WAIT_POLICY or GOMP_SPINCOUNT wins.
if "OMP_WAIT_POLICY" not in _os.environ:
    _os.environ.setdefault("GOMP_SPINCOUNT", "2000")

from .version import __version__

__all__ = ["Retriever", "Hit", "Document", "BuildOptions", "TrainConfig", "UpdateSummary", "VecsearchError", "__version__"]
_HOMES = {"Retriever": "retriever", "Hit": "retriever", "Document": "corpus", "TrainConfig": "training.config",
          "UpdateSummary": "indexing", "BuildOptions": "indexing", "VecsearchError": "errors"}


def __getattr__(name):  # lazy, so that `import vecsearch` (and the CLI's --help) stays fast
    if name in _HOMES:
        from importlib import import_module

        return getattr(import_module(f".{_HOMES[name]}", __name__), name)
    raise AttributeError(f"module 'vecsearch' has no attribute {name!r}")
