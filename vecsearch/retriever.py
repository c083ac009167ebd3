"""The Retriever: build an index from a corpus, load it, and search it.

This is the facade users import; it wires corpus -> encoder -> FAISS/SQLite/BM25 and
fuses the dense and lexical rankings. It holds no maths of its own.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .corpus import (
    CorpusReport,
    documents_from,
    iter_documents,
)
from .errors import VecsearchError
from .search.fusion import fuse, query_weight, with_feedback
from .search.lexical import LexicalIndex, analyze, stemmer, stopwords_of
from .search.snippets import Snippet, make_snippet
from .storage.backends import open_backend, release
from .storage.dense import one_openmp_thread
from .storage.filters import Where
from .storage.filters import key as filter_key
from .storage.indexdir import (
    open_version,
    remove_leftovers,
    size_on_disk,
    writer_lock,
)
from .storage.manifest import Manifest
from .training.teacher import adaptation

if TYPE_CHECKING:  # the write path (indexing) is imported where a write happens: queries never load it
    from .indexing import BuildOptions, UpdateSummary
    from .model.numpy_encoder import Explanation

DEFAULT_INDEX = "indexes/default"
MODES = ("dense", "lexical", "hybrid")
SCORE_KINDS = {  # what a hit's score is, by mode
    "dense": "cosine",  # of the query's and the passage's vectors, -1 to 1
    "lexical": "bm25",  # unbounded; comparable only within one query
    "hybrid": "rrf",  # weighted reciprocal-rank fusion: w/(60 + dense rank) + 1/(60 + BM25 rank)
}
MAX_K = 1000
MAX_QUERY_WORDS = 256  # the encoder reads at most 256 tokens; more words only slow BM25 down
MAX_QUERY_CHARS = 4096
MAX_BATCH = 10_000  # queries in one search() call
_FILTER_CACHE = 16  # filters whose passage ids a Retriever keeps (a server sees the same ones again)


def truncate_query(query: str) -> tuple[str, bool]:
    """`query` cut to MAX_QUERY_WORDS words and MAX_QUERY_CHARS characters; and whether it was cut."""
    cut = query[:MAX_QUERY_CHARS]
    words = cut.split()
    if len(words) > MAX_QUERY_WORDS:
        cut = " ".join(words[:MAX_QUERY_WORDS])
    return cut, len(query) > MAX_QUERY_CHARS or len(words) > MAX_QUERY_WORDS


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
    metadata: dict | None = None  # the document's own fields (from its record), if any
    score_kind: str = ""  # what `score` is: "cosine", "bm25" or "rrf" (SCORE_KINDS)
    snippet: Snippet | None = None  # the window of `text` to show, and where the query's words are in it
    # asked for by search(explain=True): the passage's cosine with the query split among its words
    explanation: Explanation | None = None

    def to_dict(self) -> dict:
        """The hit as plain data; `explanation` only when there is one (JSON without it is as before)."""
        data = asdict(self)
        if self.explanation is None:
            del data["explanation"]
        else:
            data["explanation"] = self.explanation.to_dict()
        return data


class Retriever:
    """An opened index: `search(query, k, mode)` returns a list of Hit."""

    def __init__(self, version_dir: Path, manifest: Manifest, hold=None, index_dir: Path | None = None):
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
        self._filtered: dict[str, np.ndarray] = {}  # filter key -> passage ids it keeps
        self._stopwords: str | None = None  # see stopwords

    def __enter__(self) -> "Retriever":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    @classmethod
    def load(cls, index_dir: str | os.PathLike = DEFAULT_INDEX) -> "Retriever":
        """Open the live version of an index directory.

        The version stays readable while this Retriever is open, even if writers
        publish newer ones meanwhile; `close()` (or garbage collection) lets go of it.
        """
        version_dir, hold = open_version(index_dir)
        try:
            parent = None if Path(index_dir).resolve() == version_dir.resolve() else Path(index_dir)
            return cls(version_dir, Manifest.read(version_dir), hold, parent)
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
        """The index's encoder (loaded on first use): the torch RNNEncoder where torch is
        installed, else its numpy twin; `encode(texts)` gives the same vectors either way."""
        if self._encoder is None:
            from .model.runtime import load_encoder

            self._encoder = load_encoder(self.version_dir)
        return self._encoder

    @property
    def query_encoder(self):
        """The encoder's numpy twin: embeds queries without importing torch."""
        if self._query_encoder is None:
            from .model.numpy_encoder import NumpyEncoder

            self._query_encoder = NumpyEncoder.load(self.version_dir)
        return self._query_encoder

    @property
    def lexical(self) -> LexicalIndex:
        if self._lexical is None:
            self._lexical = LexicalIndex.load(self.version_dir)
        return self._lexical

    @property
    def default_mode(self) -> str:
        return self.manifest.fusion.default_mode

    def search(self, query: str | list[str], k: int = 10, mode: str | None = None, where: Where | None = None,
               explain: bool = False):
        """The `k` best documents for `query`, each with its best passage: a list of Hit (for a
        list of queries, a list of such lists, searched together: faster than one by one).

        `mode` is "dense" (RNN vectors), "lexical" (BM25) or "hybrid" (both, fused);
        by default the mode the index chose when it was built. `where` keeps only documents
        whose metadata matches (storage/filters.py: {"year": 2020, "lang": {"$in": ["en", "de"]}}),
        before ranking, so up to k of them come back. `explain` (dense and hybrid) gives each hit
        its `explanation` (see `explain`) and a snippet placed where the words carrying the score
        are; it reads each hit's passage through the encoder again (benchmarks/quality/explain_snippets.py
        times it), so searches without it cost what they did.
        """
        batch = not isinstance(query, str)
        queries = list(query) if batch and isinstance(query, (list, tuple)) else [query]
        if batch and not isinstance(query, (list, tuple)):
            raise VecsearchError(f"a query must be a string or a list of strings, not {type(query).__name__}")
        if not 1 <= len(queries) <= MAX_BATCH:
            raise VecsearchError(f"a batch holds 1 to {MAX_BATCH:,} queries, not {len(queries):,}")
        mode = mode or self.default_mode
        if mode not in MODES:
            raise VecsearchError(f"unknown mode '{mode}' (choose from {', '.join(MODES)})")
        for number, text in enumerate(queries):
            if not isinstance(text, str) or not text.strip():
                raise VecsearchError("empty query" + (f" (number {number} of the batch)" if batch else ""))
        queries = [truncate_query(text)[0] for text in queries]  # the CLI says so; Python callers can check truncate_query
        if not 1 <= k <= MAX_K:
            raise VecsearchError(f"k must be between 1 and {MAX_K}")
        results = self._search(queries, k, mode, where)
        if explain and mode != "lexical":
            for text, hits in zip(queries, results):
                self._explain_hits(text, hits)
        return results if batch else results[0]

    def explain(self, query: str, hit: Hit | int) -> Explanation:
        """Why a passage (a Hit's, or the one with this passage id) matches `query` densely: the
        cosine of the query's vector with the passage's vector, split among the passage's words
        (`Explanation.words`: (start, end, share), offsets into the passage's text), plus the
        share no word carries (`rest`: the projection's bias). The shares add up to the score.

        The query's own vector is explained, in every mode: a dense hit's score is this cosine
        (up to how the index stored the passage's vector); a hybrid hit's dense side searched with
        that vector moved toward BM25's best passages, and its score is a fusion of ranks.
        """
        text = hit.text if isinstance(hit, Hit) else self._passage_text(hit)
        query = truncate_query(query)[0]
        if not query.strip():
            raise VecsearchError("empty query")
        return self.query_encoder.explain([text], self.query_encoder.encode([query])[0])[0]

    def _passage_text(self, passage_id: int) -> str:
        found = self.store.passages([int(passage_id)]) if 0 <= int(passage_id) < self.index.ntotal else []
        if not found:
            raise VecsearchError(f"no passage {passage_id} in the index")
        return found[0].text

    def _explain_hits(self, query: str, hits: list[Hit]) -> None:
        """Give each hit its explanation, and a snippet where the words carrying its score are."""
        if not hits:
            return
        encoder = self.query_encoder
        explanations = encoder.explain([hit.text for hit in hits], encoder.encode([query])[0])
        terms = set(analyze([query], self.stopwords)[0])
        for hit, explanation in zip(hits, explanations):
            hit.explanation = explanation
            hit.snippet = make_snippet(hit.text, terms, stemmer(), shares=explanation.words)

    def _search(self, queries: list[str], k: int, mode: str, where: Where | None) -> list[list[Hit]]:
        depth = max(4 * k, 100)  # passages per side before grouping by document
        allowed = self._allowed(where)
        if allowed is not None and len(allowed) == 0:
            return [[] for _ in queries]
        lexical = dense = None
        if mode != "dense":
            lexical = self.lexical.search_batch(queries, depth, allowed)
        if mode != "lexical":
            vectors = self.query_encoder.encode(queries)
            feedback = self.manifest.fusion.feedback_passages  # 0 for indexes calibrated before feedback
            if mode == "hybrid" and feedback:
                vectors = with_feedback(vectors, [ids for ids, _ in lexical], self.index.vectors, feedback)
            dense = self._dense(vectors, depth, where, allowed)
        if mode == "dense":
            rankings = dense
        elif mode == "lexical":
            rankings = lexical
        else:  # BM25 first; the dense side moved toward its best passages (fusion.py); the two fused
            weight, power = self.manifest.fusion.dense_weight, self.manifest.fusion.lead_power
            rankings = [fuse(d, l, query_weight(weight, l[1], power)) for d, l in zip(dense, lexical)]
        terms = analyze(queries, self.stopwords)
        return [self.hits(ids, scores, k, SCORE_KINDS[mode], set(words)) for (ids, scores), words in zip(rankings, terms)]

    @property
    def stopwords(self) -> str:
        """The stopword list of the index's BM25 (read once, without loading its arrays)."""
        if self._stopwords is None:
            self._stopwords = self._lexical.stopwords if self._lexical is not None else stopwords_of(self.version_dir)
        return self._stopwords

    def similar(self, doc_id: str, k: int = 10, where: Where | None = None) -> list[Hit]:
        """The `k` documents nearest to an indexed one (by the mean of its passages' vectors), itself left out."""
        if not 1 <= k <= MAX_K:
            raise VecsearchError(f"k must be between 1 and {MAX_K}")
        own = self.store.passage_ids_of(str(doc_id))
        if len(own) == 0:
            raise VecsearchError(f"no document '{doc_id}' in the index")
        vector = self.index.vectors(own).mean(axis=0, keepdims=True)
        vector /= max(float(np.linalg.norm(vector)), 1e-12)
        allowed = self._allowed(where)
        if allowed is not None:
            allowed = np.setdiff1d(allowed, own, assume_unique=True)
            if len(allowed) == 0:
                return []
        [(ids, scores)] = self._dense(vector, max(4 * (k + 1), 100) + len(own), where, allowed)
        keep = ~np.isin(ids, own)
        return self.hits(ids[keep], scores[keep], k, SCORE_KINDS["dense"])

    def document(self, doc_id: str) -> dict:
        """An indexed document as its passages rebuild it: id, source, metadata, text, and each
        passage's (start, end) in that text (passages overlap; a part no passage holds - the end
        of a very long run without spaces - is left out)."""
        ids = self.store.passage_ids_of(str(doc_id))
        if len(ids) == 0:
            raise VecsearchError(f"no document '{doc_id}' in the index")
        passages = sorted(self.store.passages(ids.tolist()), key=lambda p: p.position)
        text, spans, end_in_document = "", [], None
        for passage in passages:
            if end_in_document is None or passage.start >= end_in_document:  # the first, or after a cut
                start = len(text) + (1 if text else 0)
                text += (" " if text else "") + passage.text
            else:  # overlaps the text so far: add what comes after it
                start = len(text) - (end_in_document - passage.start)
                text += passage.text[end_in_document - passage.start :]
            end_in_document = passage.start + len(passage.text)
            spans.append({"passage_id": passage.id, "position": passage.position, "start": start,
                          "end": start + len(passage.text)})
        return {"id": passages[0].doc_id, "source": passages[0].source,
                "metadata": self.store.metadata_of([passages[0].doc_id]).get(passages[0].doc_id),
                "text": text, "passages": spans}

    def _allowed(self, where: Where | None) -> np.ndarray | None:
        """The passage ids a filter keeps (None: no filter), cached for the filters seen last."""
        if not where:
            return None
        cache_key = filter_key(where)
        if cache_key not in self._filtered:
            if len(self._filtered) >= _FILTER_CACHE:
                self._filtered.pop(next(iter(self._filtered)))
            self._filtered[cache_key] = self.store.passage_ids_where(where)
        return self._filtered[cache_key]

    def _dense(self, vectors: np.ndarray, depth: int, where: Where | None = None,
               allowed: np.ndarray | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
        """For each query vector (a row), the passages nearest to it, best first, with their scores."""
        with one_openmp_thread():
            if allowed is None:
                scores, ids = self.index.search(vectors, min(depth, self.index.ntotal))
            else:
                scores, ids = self.index.search_filtered(vectors, depth, where, allowed)
        keep = ids >= 0
        return [(ids[row][keep[row]], scores[row][keep[row]]) for row in range(len(ids))]

    def hits(self, ids: np.ndarray, scores: np.ndarray, k: int, score_kind: str = "",
              terms: set[str] | None = None) -> list[Hit]:
        """The Hits of a ranking of passages (ids best first, with their scores): each document at
        its best passage, the top k documents; `terms` (stemmed query words) place the snippet.
        For rankings made outside `search`, e.g. a fusion of one's own."""
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
        metadata = self.store.metadata_of([p.doc_id for p in passages]) if passages else {}
        return [
            Hit(rank, p.doc_id, float(score), p.text, p.source, p.position, p.id, metadata.get(p.doc_id), score_kind,
                make_snippet(p.text, terms or set(), stemmer()))
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
            "index_type": self.manifest.index.type,
            "backend": {k: v for k, v in self.manifest.backend.items() if k in ("name", "uri", "collection_name")},
            "encoder": self.manifest.encoder,
            "base": _base_record(self.manifest),  # None: trained from scratch (or an index from before bases)
            "default_mode": self.default_mode,
            "fusion": asdict(self.manifest.fusion),
            "size_bytes": size_on_disk(self.version_dir),
            "created": self.manifest.created,
        }

    @classmethod
    def build(
        cls,
        corpus,
        index_dir: str | os.PathLike = DEFAULT_INDEX,
        options: BuildOptions | None = None,
        *,
        id_field: str | None = None,
        globs: tuple[str, ...] = (),
        wait: float = 0.0,
        report: CorpusReport | None = None,
        **settings,
    ) -> "Retriever":
        """Index `corpus` into `index_dir`, and open the result.

        `corpus` is a path (a folder or file of documents) or the documents themselves: a list
        (or any iterable) of strings, of dicts (text in `options.text_field`, id in `id_field` or
        "id"/"_id", other fields kept as metadata for `Hit.metadata` and `search(where=)`), of
        `Document`s, or a pandas DataFrame. Strings get ids "0", "1", ... by position. `globs`
        ("*.py") choose a folder's files by pattern instead of by type (corpus.iter_documents).

        How the index is made - the base encoder, training, index type, backend - is `options`
        (a BuildOptions; indexing.py says what each field does); keyword `settings` override
        its fields, so `build("docs/", "idx", base="none")` is `build("docs/", "idx",
        BuildOptions(base="none"))`. A new index starts from the base encoder; an existing one
        is brought up to date instead: new documents are added, changed ones re-embedded,
        missing ones removed, with its encoder - unless `retrain` or `model` is given.
        Waits up to `wait` seconds for another writer. `report`, if given, is filled with what
        was read and skipped; `last_update` on the result says what changed.
        """
        from .indexing import BuildOptions, write_version

        options = (options or BuildOptions()).with_settings(**settings)
        report = report if report is not None else CorpusReport()
        if isinstance(corpus, (str, os.PathLike)):
            documents, corpus_path = iter_documents(corpus, options.text_field, report, tuple(globs)), corpus
        else:
            documents, corpus_path = documents_from(corpus, options.text_field, id_field, report), None
        with writer_lock(index_dir, wait, release=release):
            summary = write_version(
                index_dir, documents, complete=True, options=options, report=report, corpus_path=corpus_path,
            )
            retriever = cls.load(index_dir)
            remove_leftovers(Path(index_dir), release=release)  # the version the write itself held open
        retriever.last_update = summary
        return retriever

    def add(
        self,
        documents,
        *,
        text_field: str = "text",
        id_field: str | None = None,
        wait: float = 0.0,
        report: CorpusReport | None = None,
        show_progress: bool = False,
    ) -> UpdateSummary:
        """Add or update documents, then reopen on the new version; returns what changed.

        `documents` is a path (a folder or file, read like `build` reads a corpus) or documents
        in memory, as `build` takes them.
        A document whose id is indexed already replaces it if its text changed. Nothing
        is removed; only new and changed documents are embedded.
        """
        report = report if report is not None else CorpusReport()
        if isinstance(documents, (str, os.PathLike)):
            incoming = iter_documents(documents, text_field, report)
        else:
            incoming = documents_from(documents, text_field, id_field, report, by_position=False)
        from .indexing import BuildOptions

        return self._write(incoming, (), wait, report, BuildOptions(show_progress=show_progress))

    def delete(self, ids, *, wait: float = 0.0) -> UpdateSummary:
        """Remove the documents with these ids, then reopen on the new version.

        Ids the index does not hold are counted in `not_found`. The removed documents'
        space is given back once no reader has the old version open.
        """
        if isinstance(ids, str):
            ids = [ids]
        from .indexing import BuildOptions

        return self._write((), [str(i) for i in ids], wait, CorpusReport(), BuildOptions(show_progress=False))

    def export(
        self, backend: str, *, uri: str | None = None, collection: str | None = None, wait: float = 0.0,
        show_progress: bool = False,
    ) -> UpdateSummary:
        """Move the index to another backend ("faiss" or "milvus", with `uri` and `collection`)
        without re-embedding: the next version holds the same passages and stored vectors."""
        from .indexing import BuildOptions

        options = BuildOptions(backend=backend, uri=uri, collection=collection, show_progress=show_progress)
        return self._write((), (), wait, CorpusReport(), options)

    def _write(self, incoming, remove_ids, wait, report, options: BuildOptions) -> UpdateSummary:
        from .indexing import write_version

        if self.index_dir is None:
            raise VecsearchError(f"{self.version_dir} is a version folder; open its index directory to change it")
        with writer_lock(self.index_dir, wait, release=release), self._dense_index_set_aside():
            summary = write_version(
                self.index_dir, incoming, complete=False, remove_ids=remove_ids, options=options, report=report,
            )
            if summary.version is not None:
                reopened = type(self).load(self.index_dir)
                self.close()
                self.__dict__.update(reopened.__dict__)
                remove_leftovers(self.index_dir, release=release)  # the version this object held until now
        return summary

    @contextmanager
    def _dense_index_set_aside(self):
        """Free an in-memory FAISS index while a write runs: the writer reads the stored vectors
        itself, and a large graph would otherwise be held twice. Read again at the end unless
        the write replaced it (with the new version's)."""
        if self.index is self.store:  # a Milvus collection is both, and holds nothing here
            yield
            return
        self.index = None
        try:
            yield
        finally:
            if self.index is None:
                self.index, store = open_backend(self.version_dir, self.manifest)
                store.close()


def _base_record(manifest) -> dict | None:
    """The manifest's base section, with how it was adapted: by its training's teacher, if any."""
    base = manifest.base
    if not base:
        return base
    teacher = (manifest.training or {}).get("teacher")
    adapted_by = adaptation(teacher) if base.get("adapted") else None
    return {**base, "adapted_by": adapted_by}
