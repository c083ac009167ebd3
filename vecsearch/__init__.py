"""vecsearch: semantic search with embeddings from a trained recurrent neural network.

    from vecsearch import Retriever
    retriever = Retriever.build("corpus/", "indexes/default")
    retriever.search("how do RNNs keep context?", k=5)
"""

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
