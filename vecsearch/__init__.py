"""vecsearch: semantic search with embeddings from a trained recurrent neural network.

    from vecsearch import Retriever
    retriever = Retriever.build("corpus/", "indexes/default")
    retriever.search("how do RNNs keep context?", k=5)
"""

import os as _os

# OpenMP threads (torch's, FAISS's) sleep when they wait instead of spinning: on a shared
# CPU a spinning thread takes the core the thread it waits for needs, and work that took
# seconds took minutes. Set before torch or faiss is first imported; the user's own setting wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .version import __version__
__all__ = ["Retriever", "Hit", "Document", "TrainConfig", "UpdateSummary", "VecsearchError", "__version__"]
_HOMES = {"Retriever": "retriever", "Hit": "retriever", "Document": "corpus", "TrainConfig": "train_config",
          "UpdateSummary": "indexing", "VecsearchError": "errors"}


def __getattr__(name):  # lazy, so that `import vecsearch` (and the CLI's --help) stays fast
    if name in _HOMES:
        from importlib import import_module

        return getattr(import_module(f".{_HOMES[name]}", __name__), name)
    raise AttributeError(f"module 'vecsearch' has no attribute {name!r}")
