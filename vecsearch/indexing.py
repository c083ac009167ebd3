"""Write the next version of an index: a first build, a rebuild, or an incremental update.

Each write compares the incoming documents with the live version by id and content
hash: new documents are added, changed ones re-embedded, and - when the incoming
documents are the whole corpus - missing ones removed. Unchanged documents are carried
over with their stored vectors and texts, so the encoder only sees what changed and
there is no retraining unless asked. FAISS, BM25 and SQLite are then written afresh
into the new version from those vectors and texts (bm25s cannot update an index and
FAISS HNSW cannot delete; rebuilding them is cheap next to encoding), which also means
nothing deleted lingers as a tombstone.

Callers hold the writer lock (indexdir.writer_lock).
"""

from __future__ import annotations

import os
import shutil
import time
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

import numpy as np

from .corpus import (
    PASSAGE_OVERLAP,
    PASSAGE_WORDS,
    CorpusReport,
    Document,
    characters_cut,
    split_passages,
)
from .errors import VecsearchError
from .search.lexical import DIRECTORY as LEXICAL_DIRECTORY, LexicalIndex
from .storage.backends import (
    choose_backend,
    indexes_vectors_itself,
    open_store,
    release,
    same_backend,
    write_backend,
)
from .storage.dense import VectorSpool, build_index, choose_index_type
from .storage.indexdir import (
    POINTER,
    live_version,
    new_version,
    open_version,
    scratch_folder,
)
from .storage.manifest import Counts, Fusion, IndexSettings, Manifest, PassageSettings
from .storage.sqlite import PassageSpool
from .training.config import TrainConfig
from .training.teacher import is_named, teacher_for
from .version import __version__

PRECISIONS = ("auto", "int8", "bfloat16", "float32")
ENCODER_FILES = ("encoder.safetensors", "tokenizer.json")
ENCODE_ROWS = 16_384  # passages read from the spool and encoded at once (a progress step)
CARRY_ROWS = 262_144  # stored vectors copied into the next version at once


@dataclass
class UpdateSummary:
    """What one write did, by document; `passages` and `documents` count the new version."""

    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    skipped: int = 0
    cut: int = 0  # documents embedded of which passages hold only a part (see CorpusReport.cut)
    passages: int = 0
    documents: int = 0
    not_found: int = 0  # ids given to delete that the index does not hold
    version: str | None = None  # the version written (None: nothing changed, nothing written)
    retrained: bool = False
    timings: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what the caller should tell the user (the CLI prints them)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)


@dataclass
class BuildOptions:
    """How a build makes the encoder, the passages and the index (when a write cannot reuse the
    live version's). Retriever.build takes one, and `vecsearch index` makes one from its options.

    A new index starts from `base`, the encoder that ships with vecsearch ("default") or a
    folder holding one; a small corpus is embedded by it as it is, a larger one adapts it
    first (`adapt`; see model/bases.should_adapt), by distilling `teacher` on the corpus:
    "auto" is the bundled all-MiniLM-L6-v2 where installed, "none" (or no teacher installed)
    adapts self-supervised, a folder names another sentence-transformers model (and adapts
    whatever the corpus size). `base="none"` trains an encoder from scratch, shaped by
    `encoder_config`, self-supervised unless a teacher is named; `model` (from `vecsearch
    train`, or another index) is used as it is. Training needs torch (the `train` extra):
    without it, "auto" embeds a large corpus with the base as it is, says so in
    `UpdateSummary.notes` and records it in the manifest, and the next complete build with
    torch installed adapts it; what else needs training stops with one line.
    `precision` is how passages are encoded (queries are always float32): "int8", "bfloat16",
    "float32", or "auto" (see encoding_precision). `backend` is "faiss" (a new index's default)
    or "milvus" with `uri` (a Milvus Lite *.db path or http://host:19530; token from
    MILVUS_TOKEN) and `collection`; an existing index keeps its backend unless another is given.
    """

    text_field: str = "text"
    model: str | os.PathLike | None = None  # reuse this trained encoder instead of training
    teacher: str | os.PathLike | None = "auto"  # distil from it when adapting ("none": self-supervised)
    base: str | os.PathLike | None = "default"  # start from this base encoder ("none": train from scratch)
    adapt: str = "auto"  # train the base further on the corpus: "yes", "no", or by corpus size
    encoder_config: dict | None = None
    train_config: TrainConfig | None = None
    index_type: str = "auto"
    precision: str = "auto"  # how passages are encoded: int8 copy, bfloat16, float32, or by cell and CPU
    passage_words: int = PASSAGE_WORDS
    passage_overlap: int = PASSAGE_OVERLAP
    retrain: bool = False  # train a new encoder even if the index has one
    show_progress: bool = True
    backend: str | None = None  # "faiss" or "milvus"; None: the index's own (faiss for a new one)
    uri: str | None = None  # Milvus: a Milvus Lite *.db path or a server's http://host:19530
    collection: str | None = None  # Milvus: prefix of the per-version collections

    def with_settings(self, **settings) -> "BuildOptions":
        """A copy with these fields changed (Retriever.build's keywords); TypeError names an unknown one."""
        unknown = sorted(set(settings) - {f.name for f in fields(self)})
        if unknown:
            raise TypeError(f"unknown build setting {', '.join(map(repr, unknown))}; "
                            f"BuildOptions has: {', '.join(f.name for f in fields(self))}")
        return replace(self, **settings) if settings else self

    def __post_init__(self) -> None:  # checked before any training, not after it
        if self.precision not in PRECISIONS:
            raise VecsearchError(f"unknown precision '{self.precision}' (choose from {', '.join(PRECISIONS)})")
        from .model.bases import resolve, should_adapt

        base = resolve(self.base)  # a missing base folder is reported before anything is read
        should_adapt(self.adapt, 0)
        self._check_torch(base is None)

    def _check_torch(self, from_scratch: bool) -> None:
        """Without torch, what would train stops here, before anything is read (one line naming
        the `train` extra); "auto" adapting on a large corpus falls back to the base as it is."""
        from .model.runtime import require_torch

        if from_scratch:
            require_torch("training an encoder from scratch (--base none)")
        if is_named(self.teacher):
            require_torch(f"distilling from a teacher (--teacher {self.teacher})")
        if self.adapt == "yes":
            require_torch("adapting the base encoder (--adapt yes)")
        if self.precision not in ("auto", "float32"):
            require_torch(f"encoding in {self.precision}")


def write_version(
    index_dir: str | os.PathLike,
    incoming: Iterable[Document] = (),
    *,
    complete: bool,
    remove_ids: Iterable[str] = (),
    options: BuildOptions | None = None,
    report: CorpusReport | None = None,
    corpus_path: str | os.PathLike | None = None,
) -> UpdateSummary:
    """Write the next version of `index_dir` from `incoming` documents.

    `complete`: `incoming` is the whole corpus, so indexed documents absent from it are
    removed (except those of files that could not be read this time: nothing already
    indexed is lost to a bad file). Otherwise `incoming` is added or updated and
    `remove_ids` are removed. Writes nothing when nothing changed.

    The phases, each a function below: compare, carry over, build BM25, choose the encoder,
    encode what is new, build the dense index, calibrate the fusion, publish.
    """
    index_dir = Path(index_dir)
    options = options or BuildOptions()
    report = report if report is not None else CorpusReport()
    summary = UpdateSummary()
    clock = _Clock(summary.timings)
    with clock("read"):
        live = _open_previous(index_dir, options.retrain)
    try:
        reuse = (live.directory is not None and not options.retrain and options.model is None
                 and not (complete and _adapting_now_possible(live.manifest, options)))
        if not reuse and not complete:
            raise VecsearchError(f"no index at {index_dir} to update (build one with: vecsearch index PATH)")
        backend = choose_backend(index_dir, live.manifest, options.backend, options.uri, options.collection)
        moving = live.manifest is not None and not same_backend(backend, live.manifest)
        # the corpus, its vectors and BM25 wait in files, not in memory, until they are published
        with scratch_folder(index_dir, release=release) as work, closing(PassageSpool(work / "passages.sqlite")) as spool:
            with clock("read"):
                changes = compare(incoming, live, reuse, complete, remove_ids, options, report, summary,
                                  corpus_path, spool)
            if reuse and not summary.changed and not moving:
                summary.documents, summary.passages = live.store.counts()
                return summary
            with clock("carry"):
                corpus = carry_over(changes, live, reuse, spool, options.show_progress)
            with clock("lexical"):
                if reuse and not summary.changed:  # a move to another backend: the same passages, in order
                    lexical = _shared_lexical(live.directory, work)
                else:
                    lexical = LexicalIndex.build(corpus.texts, show_progress=options.show_progress).spill(work)
                    _return_freed_memory()  # the analysed chunks, freed while the arrays were filled
            with clock("train"):
                encoder, training, base = choose_encoder(corpus, live, reuse, lexical, options, summary)
            with closing(VectorSpool(work / "vectors.f32")) as vectors:
                with clock("encode"):
                    precision = encode_new(encoder, corpus, live, reuse, options, vectors)
                with clock("index"):
                    index_type, requested, dense = build_dense(vectors, backend, live, reuse, options)
                with clock("calibrate"):
                    fusion = calibrate_fusion(encoder, dense, lexical, corpus, live, reuse,
                                              distilled=bool((training or {}).get("teacher")))
                with clock("write"):
                    summary.version = publish(
                        index_dir, live, reuse, encoder, lexical, backend, dense, corpus, vectors,
                        {"index_type": index_type, "requested": requested, "precision": precision,
                         "training": training, "base": base, "fusion": fusion, "words": changes.words,
                         "overlap": changes.overlap},
                        options, report, summary, corpus_path,
                    )
            summary.documents, summary.passages = len(corpus.documents), len(corpus.passages)
            return summary
    finally:
        live.close()


class _Clock:
    """Adds each phase's seconds to `timings` under its name (a phase may run in parts)."""

    def __init__(self, timings: dict):
        self.timings = timings

    @contextmanager
    def __call__(self, phase: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[phase] = self.timings.get(phase, 0.0) + time.perf_counter() - started


@dataclass
class _Live:
    """The live version a write starts from (all None for a new index): its folder, manifest,
    store, and the hold that keeps it from being removed meanwhile."""

    directory: Path | None = None
    manifest: Manifest | None = None
    store: object = None
    handle: object = None

    @property
    def documents(self) -> dict[str, Document]:
        return self.store.documents() if self.store else {}

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
        if self.handle is not None:
            self.handle.close()


@dataclass
class _Changes:
    """What comparing the incoming documents with the live version found."""

    indexed: dict[str, Document]  # the live version's documents
    embedded: list[Document]  # new or changed: to be embedded
    fresh: int  # their passages, in the spool
    removed: set[str]
    words: int  # the passage settings: the live version's when it is reused
    overlap: int


@dataclass
class _Corpus:
    """The next version's documents and passages (in a spool: sequences read from a file). The
    first `fresh` passages are new or changed; the carried ones follow, with `carried_ids`, their
    ids in the live version (whose stored vectors they keep, if the encoder stays)."""

    documents: list[Document]
    spool: PassageSpool
    fresh: int
    carried_ids: np.ndarray

    @property
    def passages(self):
        return self.spool.passages

    @property
    def texts(self):
        return self.spool.texts

    @property
    def doc_ids(self):
        return self.spool.doc_ids


def compare(incoming, live: _Live, reuse: bool, complete: bool, remove_ids, options: BuildOptions,
            report: CorpusReport, summary: UpdateSummary, corpus_path, spool: PassageSpool) -> _Changes:
    """Phase 1: what is new or changed (split into passages, into `spool`: to be embedded) and what goes."""
    settings = live.manifest.passages if reuse else None
    words = settings.words if settings else options.passage_words
    overlap = settings.overlap if settings else options.passage_overlap
    indexed = live.documents
    embedded: list[Document] = []
    fresh: list = []  # passages on their way to the spool
    seen: set[str] = set()
    for document in _progress(incoming, options.show_progress and complete, "reading"):
        if document.id in seen:
            report.skip(document.id, "duplicate id")
            continue
        seen.add(document.id)
        old = indexed.get(document.id)
        same = old is not None and (old.content_hash, old.source) == (document.content_hash, document.source)
        if same:
            summary.unchanged += 1
        elif old is not None:
            summary.updated += 1
        else:
            summary.added += 1
        if same and reuse:
            continue
        embedded.append(replace(document, text=None))  # its passages hold the text
        fresh.extend(split_passages(document, words, overlap))
        if len(fresh) >= PassageSpool.BATCH:
            spool.add(fresh)
            fresh.clear()
        if cut := characters_cut(document.text):
            report.cut.append((document.id, cut))
    spool.add(fresh)
    summary.skipped, summary.cut = len(report.skipped), len(report.cut)
    if complete and not seen:
        kept = "; the index was left as it was" if live.store else ""
        raise VecsearchError(f"no documents to index in {corpus_path or 'the input'}{report.describe_skips()}{kept}")
    if complete:
        unseen = [d for i, d in indexed.items() if i not in seen]
        protected = [d for d in unseen if report.covers(d.source)]
        removed = {d.id for d in unseen} - {d.id for d in protected}
        summary.unchanged += len(protected)
    else:
        wanted = set(remove_ids)
        removed = wanted & indexed.keys()
        summary.not_found = len(wanted - indexed.keys())
    summary.removed = len(removed)
    return _Changes(indexed, embedded, len(spool), removed, words, overlap)


def carry_over(changes: _Changes, live: _Live, reuse: bool, spool: PassageSpool, show_progress: bool = False) -> _Corpus:
    """Phase 2: what stays, after the new passages in `spool`: with its stored vectors if the
    encoder stays (encode_new copies them); else just its texts, to be embedded again."""
    indexed, embedded = changes.indexed, changes.embedded
    staying = indexed.keys() - changes.removed - {d.id for d in embedded}
    carried_ids: list[int] = []
    if staying:
        live_passages = live.store.counts()[1] if show_progress else 0  # a bar's total, for a large index
        passages = _progress(live.store.iter_passages(), show_progress and live_passages > CARRY_ROWS,
                             "carrying over", total=live_passages, unit="passage")  # 30 s at a million

        def carried():
            for live_id, passage in enumerate(passages):  # in id order: ids are 0..n-1
                if passage.doc_id in staying:
                    carried_ids.append(live_id)
                    yield passage

        spool.add(carried())
    kept = [indexed[i] for i in sorted(staying)]
    corpus = _Corpus(kept + embedded, spool, changes.fresh, np.array(carried_ids, dtype=np.int64))
    if not len(corpus.passages):
        raise VecsearchError("that would leave the index empty; delete the index directory instead")
    return corpus


def choose_encoder(corpus: _Corpus, live: _Live, reuse: bool, lexical: LexicalIndex, options: BuildOptions,
                   summary: UpdateSummary):
    """Phase 4: (encoder, training record, base record): the live one (loaded only if there is
    something to encode), a given one, or a new one (the base as it is, adapted, or trained)."""
    if reuse:
        training, base = live.manifest.training, live.manifest.base
        return (_load_encoder(live.directory) if corpus.fresh else None), training, base
    if options.model is not None:
        model = Path(options.model)
        return _load_encoder(live_version(model) if (model / POINTER).exists() else model), None, None
    encoder, training, base = _make_encoder(corpus.texts, corpus.doc_ids, lexical, options, summary.notes)
    summary.retrained = training is not None
    return encoder, training, base


def encode_new(encoder, corpus: _Corpus, live: _Live, reuse: bool, options: BuildOptions,
               vectors: VectorSpool) -> str:
    """Phase 5: every passage's vector, in passage order, into `vectors`: the new passages encoded
    (an update in the precision the index's other passages were encoded in), then the carried
    ones' as stored - or, with a new encoder, those encoded too. Returns the precision."""
    precision = live.manifest.index.precision if reuse else encoding_precision(options.precision, encoder.config.cell)
    encoded = corpus.fresh if reuse else len(corpus.passages)
    chunked = encoded > ENCODE_ROWS  # one bar over the chunks; else the encoder's own
    encoding = _progress(None, options.show_progress and chunked, "encoding", total=encoded, unit="passage")
    for start in range(0, encoded, ENCODE_ROWS):
        texts = corpus.texts[start : min(start + ENCODE_ROWS, encoded)]
        vectors.append(_encode(encoder, texts, precision, options.show_progress and not chunked))
        encoding.update(len(texts))
    encoding.close()
    if encoded:
        _return_freed_memory()  # the token ids of every chunk, before the graph is built
    carried = len(corpus.carried_ids) if reuse else 0
    if carried:  # a chunk at a time: a million stored vectors are 1.5 GB in float32
        copying = _progress(None, options.show_progress and carried > CARRY_ROWS, "copying vectors", total=carried,
                            unit="vector")
        for stored in live.store.iter_vectors(corpus.carried_ids, CARRY_ROWS):
            vectors.append(stored)
            copying.update(len(stored))
        copying.close()
    return precision


def build_dense(vectors: np.ndarray, backend: dict, live: _Live, reuse: bool, options: BuildOptions):
    """Phase 6: (index type, type requested, FAISS index or None): for Milvus, which indexes the
    vectors itself, an exact index only where calibration needs one."""
    requested = options.index_type
    if requested == "auto" and reuse:
        requested = live.manifest.index.requested
    chosen = choose_index_type(len(vectors), requested)  # vectors: a VectorSpool, read a chunk at a time
    if not indexes_vectors_itself(backend):
        return chosen, requested, build_index(vectors, chosen, options.show_progress)
    return chosen, requested, None if reuse else build_index(vectors, "flat", options.show_progress)


def calibrate_fusion(encoder, dense, lexical: LexicalIndex, corpus: _Corpus, live: _Live, reuse: bool,
                     distilled: bool = False) -> Fusion:
    """Phase 7: the hybrid's weight and the default mode: the live version's, or measured anew
    on pseudo-queries (calibration.py) when the encoder is new (`distilled`: from a teacher)."""
    if reuse:
        return live.manifest.fusion
    from .search.calibration import calibrate

    doc_ids = list(corpus.doc_ids)  # every ranking is read through them: in memory (short strings)
    return Fusion(**calibrate(encoder, dense, lexical, corpus.texts, doc_ids, distilled=distilled))


def publish(index_dir: Path, live: _Live, reuse: bool, encoder, lexical: LexicalIndex, backend: dict, dense,
            corpus: _Corpus, vectors: np.ndarray, built: dict, options: BuildOptions, report: CorpusReport,
            summary: UpdateSummary, corpus_path) -> str:
    """Phase 8: write the version's files and manifest into a staging folder and publish it; its name."""
    previous = live.manifest
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    with new_version(index_dir, release=release) as staging:
        if reuse:
            _link_encoder(live.directory, staging)
        else:
            encoder.save(staging)
        lexical.save(staging)
        backend_section = write_backend(staging, backend, dense, corpus.documents, corpus.passages, vectors,
                                        built["index_type"], options.show_progress)
        Manifest(
            vecsearch=__version__,
            created=previous.created if reuse else now,
            updated=now,
            corpus={
                "path": str(corpus_path) if corpus_path else (previous.corpus.get("path") if previous else None),
                "text_field": options.text_field,
            },
            counts=Counts(report.files, len(corpus.documents), len(corpus.passages), summary.skipped),
            passages=PassageSettings(built["words"], built["overlap"]),
            encoder=asdict(encoder.config) if encoder else previous.encoder,
            tokenizer=previous.tokenizer if reuse
            else {"type": "base" if built["base"] else "unigram", "vocab_size": encoder.config.vocab_size},
            base=built["base"],
            training=built["training"],
            index=IndexSettings(built["index_type"], int(vectors.shape[1]), built["requested"], built["precision"]),
            backend=backend_section,
            fusion=built["fusion"],
            last_update={k: summary.to_dict()[k] for k in ("added", "updated", "removed", "unchanged")},
            timings={name: round(seconds, 2) for name, seconds in summary.timings.items()},
        ).write(staging)
        return staging.name.rsplit("-", 1)[-1]


def _open_previous(index_dir: Path, retrain: bool) -> _Live:
    """The live version, or an empty _Live if there is none (or it is unreadable and a retrain
    will replace it)."""
    if not (index_dir / POINTER).exists():
        return _Live()
    handle = store = None
    try:
        version_dir, handle = open_version(index_dir)
        manifest = Manifest.read(version_dir)
        store = open_store(version_dir, manifest)
        return _Live(version_dir, manifest, store, handle)
    except VecsearchError as error:
        if handle is not None:
            handle.close()
        if getattr(error, "unreachable", False):
            raise  # the Milvus server is down: nothing to replace, try again once it is up
        if retrain:
            return _Live()
        raise VecsearchError(f"{error} (to replace it: vecsearch index PATH --index {index_dir} --retrain)") from None


def _load_encoder(directory: Path):
    from .model.runtime import load_encoder

    return load_encoder(directory)


def _adapting_now_possible(manifest: Manifest | None, options: BuildOptions) -> bool:
    """Whether the live version's base was left as it was only for lack of torch, which is here
    now: then a complete build adapts it (if the corpus still calls for it) instead of reusing it."""
    from .model.runtime import torch_installed

    deferred = manifest is not None and (manifest.base or {}).get("deferred")
    return bool(deferred) and options.adapt != "no" and torch_installed()


def _make_encoder(texts: list[str], doc_ids: list[str], lexical: LexicalIndex, options: BuildOptions,
                  notes: list[str]):
    """(encoder, training record, base record) for a new index: the base as it is, the base
    adapted to the corpus, or - with no base - an encoder trained from scratch. Without torch, a
    corpus the size rule would adapt is embedded by the base as it is (a line in `notes`)."""
    from .model.bases import ADAPT_MIN_PASSAGES, describe, resolve, should_adapt
    from .model.runtime import INSTALL_TRAIN, torch_installed

    base_dir = resolve(options.base)
    if base_dir is None:
        return (*_train(texts, doc_ids, lexical, options, None, teacher_for(options.teacher, from_base=False)), None)
    if options.encoder_config:
        raise VecsearchError("encoder_config shapes a new encoder, and the base encoder has its own: "
                             "pass base='none' (--base none) to train one from scratch")
    named = is_named(options.teacher)
    if named and options.adapt == "no":
        raise VecsearchError("--teacher trains the encoder; it cannot be combined with --adapt no")
    record = {**describe(base_dir), "adapted": named or should_adapt(options.adapt, len(texts))}
    if record["adapted"] and not torch_installed():  # "auto" on a large corpus: BuildOptions stopped the rest
        record.update(adapted=False, deferred="torch is not installed")
        notes.append(f"{len(texts):,} passages would adapt the base encoder to the corpus (from "
                     f"{ADAPT_MIN_PASSAGES:,} on), which needs torch: they were embedded by the base as it is. "
                     f"To adapt it: {INSTALL_TRAIN}, then index again")
    base = _load_encoder(base_dir)
    if not record["adapted"]:
        return base, None, record
    return (*_train(texts, doc_ids, lexical, options, base, teacher_for(options.teacher, from_base=True)), record)


def _train(texts: list[str], doc_ids: list[str], lexical: LexicalIndex, options: BuildOptions, base,
           teacher: str | None):
    from .training.self_supervised import fit

    train_config = options.train_config or TrainConfig()
    encoder, result = fit(
        texts, doc_ids, options.encoder_config, train_config, lexical, teacher, options.show_progress, base
    )
    training = {
        **asdict(train_config),
        "steps": result.steps,  # as run: settled by corpus size, or cut by --train-minutes
        "bfloat16": result.bfloat16,  # as run: settled by cell and CPU
        "seconds": round(result.seconds, 2),
        "teacher_seconds": round(result.teacher_seconds, 2),
        "final_loss": round(float(np.mean(result.losses[-20:])), 4),
        "teacher": teacher,
    }
    _return_freed_memory()
    return encoder, training


def _return_freed_memory() -> None:
    """Hand the heap that training (or encoding) freed back to the OS before the next phase.

    Training's many short-lived tensors leave glibc's heap fragmented; without this the
    process keeps ~0.5 GB it no longer uses through the rest of a large build. Encoding
    leaves the same behind: token id lists of 16k texts at a time, on two threads' heaps.
    """
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


def encoding_precision(requested: str, cell: str) -> str:
    """The precision passages are encoded in; for "auto", by cell and CPU.

    The LSTM runs as one fused oneDNN kernel: on a CPU with bfloat16 units it is encoded
    in bfloat16, 1.5-1.7x faster than float32 with nDCG@10 within 0.3% on three trained
    models (benchmarks/perf/quantization.py); elsewhere in float32, the precision its quality was
    measured in (its int8 copy gives up the fused kernel, and lost 0.97% on Cisi).
    Dynamic int8 quantization speeds up the GRU and Elman cells (~1.2x over float32,
    benchmarks/perf/encode_throughput.py), which have no fused kernel to lose.
    """
    from .model.runtime import torch_installed

    if not torch_installed():  # the numpy encoder computes in float32 only (BuildOptions stopped the rest)
        return "float32"
    from .model.encoder import RNNEncoder

    if requested != "auto":
        return requested
    if RNNEncoder.runs_faster_in_bfloat16(cell):
        return "bfloat16"
    return "float32" if cell == "lstm" else "int8"


def _encode(encoder, texts: list[str], precision: str, show_progress: bool) -> np.ndarray:
    """Passage vectors from the int8 copy of `encoder`, or the model itself in bfloat16 or float32;
    the numpy encoder (no torch here) in float32 whatever the index's other passages were encoded
    in: its vectors are nearer the float32 model's than theirs (tests/test_light_install.py)."""
    if not hasattr(encoder, "quantized"):  # the numpy twin
        return encoder.encode(texts, show_progress=show_progress)
    if precision == "int8":
        return encoder.quantized().encode(texts, show_progress=show_progress)
    # tokenizes a chunk at a time
    return encoder.encode(texts, show_progress=show_progress, bfloat16=precision == "bfloat16")


def _link_encoder(source: Path, target: Path) -> None:
    """Versions are immutable, so the next one can share the encoder's files (hard links)."""
    _link_files(source, target, ENCODER_FILES)


def _shared_lexical(version: Path, work: Path) -> LexicalIndex:
    """A move to another backend keeps every passage in its place, so BM25's arrays are the live
    version's: shared (hard links) instead of built again (150 s at a million passages)."""
    source, target = version / LEXICAL_DIRECTORY, work / LEXICAL_DIRECTORY
    target.mkdir()
    _link_files(source, target, sorted(path.name for path in source.iterdir()))
    lexical = LexicalIndex.load(work)
    lexical.spilled = True  # publish moves the folder into the new version
    return lexical


def _link_files(source: Path, target: Path, names) -> None:
    for name in names:
        try:
            os.link(source / name, target / name)
        except OSError:
            shutil.copy2(source / name, target / name)


def _progress(items, enabled: bool, description: str, total: int | None = None, unit: str = "document"):
    """`items` with a progress bar (or, given no items, a bar to update by hand), silent unless `enabled`."""
    from .progress import progress

    return progress(items, total=total, description=description, unit=unit, enabled=enabled)
