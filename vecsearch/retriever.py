"""The Retriever: build an index from a corpus, load it, and search it.

This is the facade users import; it wires corpus -> encoder -> FAISS/SQLite/BM25 and
fuses the dense and lexical rankings. It holds no maths of its own.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from . import __version__
from .calibration import calibrate
from .corpus import CorpusReport, read_corpus
from .errors import VecsearchError
from .fusion import fuse
from .index import build_index, choose_index_type, describe, load_index, save_index
from .indexdir import live_version, new_version, read_manifest, size_on_disk, write_manifest
from .lexical import LexicalIndex
from .store import PassageStore, write_store

DEFAULT_INDEX = "indexes/default"
MODES = ("dense", "lexical", "hybrid")
MAX_K = 1000
PRECISIONS = ("int8", "float32")


def encode_passages(encoder, texts: list[str], precision: str = "int8", show_progress: bool = False) -> np.ndarray:
    """Passage vectors for the index, from the int8 copy of `encoder` or the float32 model itself."""
    if precision not in PRECISIONS:
        raise VecsearchError(f"unknown precision '{precision}' (choose from {', '.join(PRECISIONS)})")
    model = encoder.quantized() if precision == "int8" else encoder
    return model.encode(texts, show_progress=show_progress)


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

    def __init__(self, version_dir: Path, manifest: dict):
        self.version_dir = version_dir
        self.manifest = manifest
        self.index = load_index(version_dir)
        self.store = PassageStore(version_dir)
        self._encoder = None
        self._query_encoder = None
        self._lexical = None

    @classmethod
    def load(cls, index_dir: str | os.PathLike = DEFAULT_INDEX) -> "Retriever":
        """Open the live version of an index directory."""
        version_dir = live_version(index_dir)
        return cls(version_dir, read_manifest(version_dir))

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
        if not 1 <= k <= MAX_K:
            raise VecsearchError(f"k must be between 1 and {MAX_K}")
        depth = max(4 * k, 100)  # passages per side before grouping by document
        if mode == "dense":
            ids, scores = self._dense(query, depth)
        elif mode == "lexical":
            ids, scores = self.lexical.search(query, depth)
        else:
            weight = self.manifest.get("fusion", {}).get("dense_weight", 1.0)
            ids, scores = fuse(self._dense(query, depth), self.lexical.search(query, depth), weight)
        return self._hits(ids, scores, k)

    def _dense(self, query: str, depth: int) -> tuple[np.ndarray, np.ndarray]:
        vector = self.query_encoder.encode([query])
        scores, ids = self.index.search(vector, min(depth, self.index.ntotal))
        keep = ids[0] >= 0
        return ids[0][keep], scores[0][keep]

    def _hits(self, ids: np.ndarray, scores: np.ndarray, k: int) -> list[Hit]:
        """Keep each document's best passage, then the top k documents."""
        # Only the candidates' documents are looked up: a query need not read the
        # document id of every passage, which costs a cold process ~50 ms at 100k.
        document_of = self.store.documents_of(ids.tolist())
        best: dict[str, tuple[int, float]] = {}
        for passage_id, score in zip(ids.tolist(), scores.tolist()):
            doc_id = document_of[passage_id]
            if doc_id not in best:
                best[doc_id] = (passage_id, score)
                if len(best) == k:
                    break
        chosen = list(best.values())
        passages = self.store.passages([p for p, _ in chosen])
        return [
            Hit(rank, p.doc_id, float(score), p.text, p.source, p.position, p.id)
            for rank, (p, (_, score)) in enumerate(zip(passages, chosen), 1)
        ]

    def info(self) -> dict:
        """What `vecsearch info` shows: counts, encoder, index type, size, creation time."""
        documents, passages = self.store.counts()
        return {
            "index": str(self.version_dir.parent if self.version_dir.name.startswith("v") else self.version_dir),
            "version": self.version_dir.name,
            "documents": documents,
            "passages": passages,
            "dimension": self.index.d,
            "index_type": describe(self.index),
            "encoder": self.manifest["encoder"],
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
        encoder_config: dict | None = None,
        train_config=None,
        index_type: str = "auto",
        precision: str = "int8",
        passage_words: int = 128,
        passage_overlap: int = 32,
        report: CorpusReport | None = None,
        show_progress: bool = True,
    ) -> "Retriever":
        """Read `corpus_path`, train an encoder on it (or load `model`), and write a new index.

        `model` is a folder written by `vecsearch train` or an existing index; `teacher`,
        a sentence-transformers folder to distil the encoder from (the `[distill]` extra).
        `precision` is how passages are encoded: "int8" (dynamic quantization, ~1.7x
        faster on CPU, nDCG@10 within 1% - see benchmarks/quantization.py) or "float32".
        Queries are always embedded in float32. `report`, if given, is filled with what
        was read and skipped.
        """
        from .encoder import RNNEncoder
        from .training import TrainConfig, fit

        timings: dict[str, float] = {}
        started = time.perf_counter()
        report = report if report is not None else CorpusReport()
        documents, passages = read_corpus(corpus_path, text_field, passage_words, passage_overlap, report)
        texts = [p.text for p in passages]
        doc_ids = [p.doc_id for p in passages]
        timings["read"] = time.perf_counter() - started

        started = time.perf_counter()
        lexical = LexicalIndex.build(texts)
        timings["lexical"] = time.perf_counter() - started

        started = time.perf_counter()
        training = None
        if model is not None:
            encoder = RNNEncoder.load(live_version(model) if Path(model, "CURRENT").exists() else model)
        else:
            train_config = train_config or TrainConfig()
            encoder, result = fit(texts, doc_ids, encoder_config, train_config, lexical, teacher, show_progress)
            training = {
                **asdict(train_config),
                "steps": result.steps,  # as run: settled by corpus size, or cut by --train-minutes
                "seconds": round(result.seconds, 2),
                "final_loss": round(float(np.mean(result.losses[-20:])), 4),
                "teacher": str(teacher) if teacher else None,
            }
        timings["train"] = time.perf_counter() - started

        started = time.perf_counter()
        vectors = encode_passages(encoder, texts, precision, show_progress)
        timings["encode"] = time.perf_counter() - started

        started = time.perf_counter()
        chosen_type = choose_index_type(len(vectors), index_type)
        dense = build_index(vectors, chosen_type)
        timings["index"] = time.perf_counter() - started

        started = time.perf_counter()
        fusion = calibrate(encoder, dense, lexical, texts, doc_ids)
        timings["calibrate"] = time.perf_counter() - started

        with new_version(index_dir) as staging:
            encoder.save(staging)
            save_index(dense, staging)
            lexical.save(staging)
            write_store(staging, documents, passages)
            write_manifest(
                staging,
                {
                    "vecsearch": __version__,
                    "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "corpus": {"path": str(corpus_path), "text_field": text_field},
                    "counts": {
                        "files": report.files,
                        "documents": len(documents),
                        "passages": len(passages),
                        "skipped": len(report.skipped),
                    },
                    "passages": {"words": passage_words, "overlap": passage_overlap},
                    "encoder": asdict(encoder.config),
                    "tokenizer": {"type": "unigram", "vocab_size": encoder.config.vocab_size},
                    "training": training,
                    "index": {"type": chosen_type, "dimension": int(vectors.shape[1]), "precision": precision},
                    "fusion": fusion,
                    "timings": {name: round(seconds, 2) for name, seconds in timings.items()},
                },
            )
        return cls.load(index_dir)
