"""The Retriever: build an index from a corpus, load it, and search it.

This is the facade users import; it wires corpus -> encoder -> FAISS/SQLite/BM25 and
fuses the dense and lexical rankings. It holds no maths of its own.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .corpus import PASSAGE_OVERLAP, PASSAGE_WORDS, CorpusReport, Document, content_hash, iter_documents
from .errors import VecsearchError
from .fusion import fuse, with_feedback
from .backends import backend_of, open_backend
from .indexdir import open_version, read_manifest, remove_leftovers, size_on_disk, writer_lock
from .index import one_openmp_thread
from .indexing import BuildOptions, UpdateSummary, write_version
from .lexical import LexicalIndex

DEFAULT_INDEX = "indexes/default"
MODES = ("dense", "lexical", "hybrid")
MAX_K = 1000
MAX_QUERY_WORDS = 256  # the encoder reads at most 256 tokens; more words only slow BM25 down
MAX_QUERY_CHARS = 4096


def truncate_query(query: str) -> tuple[str, bool]:
    """`query` cut to MAX_QUERY_WORDS words and MAX_QUERY_CHARS characters; and whether it was cut."""
    cut = query[:MAX_QUERY_CHARS]
    words = cut.split()
    if len(words) > MAX_QUERY_WORDS:
        cut = " ".join(words[:MAX_QUERY_WORDS])
    return cut, len(query) > MAX_QUERY_CHARS or len(words) > MAX_QUERY_WORDS


def default_index_dir() -> str:
    return os.environ.get("VECSEARCH_INDEX") or DEFAULT_INDEX


@dataclass
class Hit:
    """One search result: a document, scored by its best passage."""

    rank: int
    id: str  # the document id
    score: float
    text: str  # the best-matching passage
    source: str  # the file the document came from
    position: int  # the passage's number within the document
    passage_id: int

    def to_dict(self) -> dict:
        return asdict(self)


class Retriever:
    """An opened index: `search(query, k, mode)` returns a list of Hit."""

    def __init__(self, version_dir: Path, manifest: dict, hold=None, index_dir: Path | None = None):
        self.version_dir = version_dir
        self.manifest = manifest
        self.index_dir = index_dir  # None if opened from a version folder: then read-only
        self._hold = hold  # keeps writers from deleting this version while it is open
        self.last_update: UpdateSummary | None = None  # set by build()
        # FAISS + SQLite files in the version folder, or one Milvus collection serving as both
        self.index, self.store = open_backend(version_dir, manifest)
        self._encoder = None
        self._query_encoder = None
        self._lexical = None
        self._document_ids: np.ndarray | None = None  # see keep_in_memory()

    @classmethod
    def load(cls, index_dir: str | os.PathLike = DEFAULT_INDEX) -> "Retriever":
        """Open the live version of an index directory.

        The version stays readable while this Retriever is open, even if writers
        publish newer ones meanwhile; `close()` (or garbage collection) lets go of it.
        """
        version_dir, hold = open_version(index_dir)
        try:
            parent = None if Path(index_dir).resolve() == version_dir.resolve() else Path(index_dir)
            return cls(version_dir, read_manifest(version_dir), hold, parent)
        except BaseException:
            hold.close()
            raise

    def close(self) -> None:
        """Release the version (its files may then be removed by the next write)."""
        self.store.close()
        if self._hold is not None:
            self._hold.close()
            self._hold = None

    @property
    def encoder(self):
        """The trained RNNEncoder (loaded on first use)."""
        if self._encoder is None:
            from .encoder import RNNEncoder

            self._encoder = RNNEncoder.load(self.version_dir)
        return self._encoder

    @property
    def query_encoder(self):
        """The encoder's numpy twin: embeds queries without importing torch."""
        if self._query_encoder is None:
            from .numpy_encoder import NumpyEncoder

            self._query_encoder = NumpyEncoder.load(self.version_dir)
        return self._query_encoder

    @property
    def lexical(self) -> LexicalIndex:
        if self._lexical is None:
            self._lexical = LexicalIndex.load(self.version_dir)
        return self._lexical

    @property
    def default_mode(self) -> str:
        return self.manifest.get("fusion", {}).get("default_mode", "hybrid")

    def search(self, query: str, k: int = 10, mode: str | None = None) -> list[Hit]:
        """The `k` best documents for `query`, each with its best passage.

        `mode` is "dense" (RNN vectors), "lexical" (BM25) or "hybrid" (both, fused);
        by default the mode the index chose when it was built.
        """
        mode = mode or self.default_mode
        if mode not in MODES:
            raise VecsearchError(f"unknown mode '{mode}' (choose from {', '.join(MODES)})")
        if not isinstance(query, str) or not query.strip():
            raise VecsearchError("empty query")
        query, _ = truncate_query(query)  # the CLI says so; Python callers can check truncate_query
        if not 1 <= k <= MAX_K:
            raise VecsearchError(f"k must be between 1 and {MAX_K}")
        depth = max(4 * k, 100)  # passages per side before grouping by document
        if mode == "dense":
            ids, scores = self._dense(self.query_encoder.encode([query]), depth)
        elif mode == "lexical":
            ids, scores = self.lexical.search(query, depth)
        else:
            ids, scores = self._hybrid(query, depth)
        return self._hits(ids, scores, k)

    def _hybrid(self, query: str, depth: int) -> tuple[np.ndarray, np.ndarray]:
        """BM25 first; then the dense side, with the query vector moved toward BM25's best
        passages if the index was calibrated so (fusion.py); then the two fused."""
        fusion = self.manifest.get("fusion", {})
        lexical = self.lexical.search(query, depth)
        vector = self.query_encoder.encode([query])
        if fusion.get("feedback_passages"):  # absent from indexes calibrated before feedback existed
            vector = with_feedback(vector, [lexical[0]], self.index.vectors, fusion["feedback_passages"])
        return fuse(self._dense(vector, depth), lexical, fusion.get("dense_weight", 1.0))

    def _dense(self, vector: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
        """The passages nearest to a query vector (shape (1, d)), best first, with their scores."""
        with one_openmp_thread():
            scores, ids = self.index.search(vector, min(depth, self.index.ntotal))
        keep = ids[0] >= 0
        return ids[0][keep], scores[0][keep]

    def _hits(self, ids: np.ndarray, scores: np.ndarray, k: int) -> list[Hit]:
        """Keep each document's best passage, then the top k documents."""
        ids, scores = ids.tolist(), scores.tolist()
        best: dict[str, tuple[int, float]] = {}
        start, chunk = 0, 2 * k
        while len(best) < k and start < len(ids):
            # Only the candidates' documents are looked up, the best first, a chunk at a time:
            # a query need not read the document of all ~100 candidates (nor of every passage,
            # which costs a cold process ~50 ms at 100k) when the first 2k give k documents.
            batch = ids[start : start + chunk]
            if self._document_ids is not None:
                document_of = dict(zip(batch, self._document_ids[batch].tolist()))
            else:
                document_of = self.store.documents_of(batch)
            for passage_id, score in zip(batch, scores[start : start + chunk]):
                doc_id = document_of[passage_id]
                if doc_id not in best:
                    best[doc_id] = (passage_id, score)
                    if len(best) == k:
                        break
            start, chunk = start + chunk, 2 * chunk
        chosen = list(best.values())
        passages = self.store.passages([p for p, _ in chosen])
        return [
            Hit(rank, p.doc_id, float(score), p.text, p.source, p.position, p.id)
            for rank, (p, (_, score)) in enumerate(zip(passages, chosen), 1)
        ]

    def keep_in_memory(self) -> None:
        """Load now what searches use, and hold in memory what they would otherwise read from
        disk each time (every passage's document id, the BM25 arrays): for a long-running
        reader such as `vecsearch serve` (on a busy 2-core machine, ~1 ms of a ~5 ms hybrid query at
        10k passages: SQLite lookups of ~200 document ids, numpy memmap indexing in BM25).
        The results are the same."""
        self._lexical = LexicalIndex.load(self.version_dir, mmap=False)
        self._document_ids = np.asarray(self.store.doc_ids(), dtype=object)
        self.query_encoder

    @property
    def doc_ids(self) -> list[str]:
        """The document id of every passage, by passage id (read from the store each time)."""
        return self.store.doc_ids()

    def info(self) -> dict:
        """What `vecsearch info` shows: counts, encoder, index type, size, creation time."""
        documents, passages = self.store.counts()
        return {
            "index": str(self.version_dir.parent if self.version_dir.name.startswith("v") else self.version_dir),
            "version": self.version_dir.name,
            "documents": documents,
            "passages": passages,
            "dimension": self.index.d,
            "index_type": self.manifest["index"]["type"],
            "backend": {k: v for k, v in backend_of(self.manifest).items() if k in ("name", "uri", "collection_name")},
            "encoder": self.manifest["encoder"],
            "base": self.manifest.get("base"),  # None: trained from scratch (or an index from before bases)
            "default_mode": self.default_mode,
            "fusion": self.manifest.get("fusion", {}),
            "size_bytes": size_on_disk(self.version_dir),
            "created": self.manifest["created"],
        }

    @classmethod
    def build(
        cls,
        corpus_path: str | os.PathLike,
        index_dir: str | os.PathLike = DEFAULT_INDEX,
        *,
        text_field: str = "text",
        model: str | os.PathLike | None = None,
        teacher: str | os.PathLike | None = None,
        base: str | os.PathLike | None = "default",
        adapt: str = "auto",
        encoder_config: dict | None = None,
        train_config=None,
        index_type: str = "auto",
        precision: str = "auto",
        passage_words: int = PASSAGE_WORDS,
        passage_overlap: int = PASSAGE_OVERLAP,
        retrain: bool = False,
        wait: float = 0.0,
        report: CorpusReport | None = None,
        show_progress: bool = True,
        backend: str | None = None,
        uri: str | None = None,
        collection: str | None = None,
    ) -> "Retriever":
        """Index the documents under `corpus_path` into `index_dir`, and open the result.

        A new index starts from `base`, the encoder that ships with vecsearch ("default"),
        or a folder holding one; a small corpus is embedded by it as it is, a larger one
        adapts it first (`adapt`: "auto" by corpus size, "yes", "no"; see `base.should_adapt`).
        `base="none"` trains an encoder from scratch on the corpus instead; `model` (a folder
        written by `vecsearch train`, or another index) is used as it is. An existing index is brought up to date
        instead: new documents are added, changed ones re-embedded, and missing ones
        removed, with its encoder - unless `retrain` (train anew) or `model` is given.
        `teacher` is a sentence-transformers folder to distil the encoder from (the
        `[distill]` extra). Waits up to `wait` seconds for another writer. `report`, if
        given, is filled with what was read and skipped; `last_update` on the result
        says what changed. `precision` is how passages are encoded: "int8" (dynamic
        quantization; nDCG@10 within 1% - benchmarks/quantization.py), "bfloat16", "float32",
        or "auto" (an LSTM in bfloat16 on CPUs with bfloat16 units, else float32; other cells
        in int8: see `indexing.encoding_precision`); queries are always embedded in float32. `backend` is "faiss" (the
        default for a new index) or "milvus", with `uri` (a Milvus Lite `*.db` path or
        `http://host:19530`; token from MILVUS_TOKEN) and `collection` (prefix of its
        collections); an existing index keeps its backend unless another is given.
        """
        report = report if report is not None else CorpusReport()
        options = BuildOptions(
            text_field=text_field, model=model, teacher=teacher, base=base, adapt=adapt, encoder_config=encoder_config,
            train_config=train_config, index_type=index_type, precision=precision, passage_words=passage_words,
            passage_overlap=passage_overlap, retrain=retrain, show_progress=show_progress,
            backend=backend, uri=uri, collection=collection,
        )
        with writer_lock(index_dir, wait):
            summary = write_version(
                index_dir, iter_documents(corpus_path, text_field, report), complete=True,
                options=options, report=report, corpus_path=corpus_path,
            )
            retriever = cls.load(index_dir)
            remove_leftovers(Path(index_dir))  # the version the write itself held open
        retriever.last_update = summary
        return retriever

    def add(
        self,
        documents,
        *,
        text_field: str = "text",
        wait: float = 0.0,
        report: CorpusReport | None = None,
        show_progress: bool = False,
    ) -> UpdateSummary:
        """Add or update documents, then reopen on the new version; returns what changed.

        `documents` is a path (a folder or file, read like `build` reads a corpus) or an
        iterable of `Document`s or of dicts with "id" and "text" (and optionally "source").
        A document whose id is indexed already replaces it if its text changed. Nothing
        is removed; only new and changed documents are embedded.
        """
        report = report if report is not None else CorpusReport()
        if isinstance(documents, (str, os.PathLike)):
            incoming = iter_documents(documents, text_field, report)
        else:
            incoming = _as_documents(documents, report)
        return self._write(incoming, (), wait, report, BuildOptions(show_progress=show_progress))

    def delete(self, ids, *, wait: float = 0.0) -> UpdateSummary:
        """Remove the documents with these ids, then reopen on the new version.

        Ids the index does not hold are counted in `not_found`. The removed documents'
        space is given back once no reader has the old version open.
        """
        if isinstance(ids, str):
            ids = [ids]
        return self._write((), [str(i) for i in ids], wait, CorpusReport(), BuildOptions(show_progress=False))

    def export(
        self, backend: str, *, uri: str | None = None, collection: str | None = None, wait: float = 0.0,
        show_progress: bool = False,
    ) -> UpdateSummary:
        """Move the index to another backend ("faiss" or "milvus", with `uri` and `collection`)
        without re-embedding: the next version holds the same passages and stored vectors."""
        options = BuildOptions(backend=backend, uri=uri, collection=collection, show_progress=show_progress)
        return self._write((), (), wait, CorpusReport(), options)

    def _write(self, incoming, remove_ids, wait, report, options: BuildOptions) -> UpdateSummary:
        if self.index_dir is None:
            raise VecsearchError(f"{self.version_dir} is a version folder; open its index directory to change it")
        with writer_lock(self.index_dir, wait):
            summary = write_version(
                self.index_dir, incoming, complete=False, remove_ids=remove_ids, options=options, report=report,
            )
            if summary.version is not None:
                reopened = type(self).load(self.index_dir)
                self.close()
                self.__dict__.update(reopened.__dict__)
                remove_leftovers(self.index_dir)  # the version this object held until now
        return summary


def _as_documents(items, report: CorpusReport):
    """Documents from `Document`s or dicts {"id", "text", "source"?}; empty texts are skipped."""
    for item in items:
        if isinstance(item, Document):
            document = item
        elif isinstance(item, dict) and isinstance(item.get("text"), str) and item.get("id") not in (None, ""):
            doc_id = str(item["id"])
            document = Document(doc_id, item["text"], str(item.get("source") or doc_id), content_hash(item["text"]))
        else:
            raise VecsearchError(f"a document must be a Document or a dict with 'id' and 'text', not {item!r:.80}")
        if not document.text.strip():
            report.skip(document.id, "empty")
            continue
        yield document
