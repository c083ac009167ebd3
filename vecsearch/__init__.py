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

__version__ = "0.1.0"
__all__ = ["Retriever", "Hit", "VecsearchError", "__version__"]


def __getattr__(name):  # lazy, so that `import vecsearch` (and the CLI's --help) stays fast
    if name in ("Retriever", "Hit"):
        from . import retriever

        return getattr(retriever, name)
    if name == "VecsearchError":
        from .errors import VecsearchError

        return VecsearchError
    raise AttributeError(f"module 'vecsearch' has no attribute {name!r}")
