"""A version's manifest.json, typed: what the version holds, how it was built, and the record
of its files. Read and written only here, so the defaults that older manifests need (no
backend section: faiss; no precision: float32; no fusion: hybrid at weight 1) live in one place.

    {"format": "vecsearch-index", "format_version": 1, "created": ..., "counts": {...},
     "encoder": {...}, "index": {...}, "backend": {...}, "fusion": {...}, "files": {...}, ...}

Keys this vecsearch does not know (written by a newer one of the same format) are kept in
`extra` and written back, so rewriting a manifest never drops them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..errors import VecsearchError

FORMAT = "vecsearch-index"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
FILES = "files"  # the record of the version's other files: {path: {"bytes", "sha256"}}


@dataclass(frozen=True)
class Counts:
    files: int = 0
    documents: int = 0
    passages: int | None = None  # None: not recorded (then nothing is checked against it)
    skipped: int = 0


@dataclass(frozen=True)
class IndexSettings:
    """The dense index: its type, the type asked for, the vectors' dimension and how passages were encoded."""

    type: str
    dimension: int
    requested: str = "auto"
    precision: str = "float32"  # indexes from before precisions were recorded were encoded in float32


@dataclass(frozen=True)
class PassageSettings:
    words: int
    overlap: int


@dataclass(frozen=True)
class Fusion:
    """The hybrid's settings and the default mode, as calibration chose them (search/calibration.py)."""

    method: str = "rrf"
    dense_weight: float = 1.0
    feedback_passages: int = 0  # 0: the dense side is not moved toward BM25's best passages (older indexes)
    default_mode: str = "hybrid"
    lead_power: float = 0.0  # 0: one dense weight for every query (older indexes); see search/fusion.py
    calibration: dict | None = None  # the pseudo-queries' scores that chose the above


@dataclass
class Manifest:
    created: str
    counts: Counts
    encoder: dict  # the EncoderConfig's fields (the weights file carries its own copy)
    index: IndexSettings
    updated: str | None = None
    vecsearch: str | None = None  # the version of vecsearch that wrote it
    corpus: dict = field(default_factory=dict)  # {"path", "text_field"}
    passages: PassageSettings | None = None
    tokenizer: dict | None = None  # {"type": "base" | "unigram", "vocab_size"}
    base: dict | None = None  # the base encoder it started from (None: trained from scratch, or before bases)
    training: dict | None = None  # the TrainConfig as run (None: the encoder was not trained here)
    backend: dict = field(default_factory=lambda: {"name": "faiss"})  # storage/backends: name and settings
    fusion: Fusion = field(default_factory=Fusion)
    last_update: dict | None = None
    timings: dict = field(default_factory=dict)  # seconds per build phase
    files: dict | None = None  # None: written before checksums were kept
    extra: dict = field(default_factory=dict)

    @classmethod
    def read(cls, version_dir: str | Path) -> "Manifest":
        """The manifest of a version, after checking that this vecsearch can read it and that it
        holds the sections readers use (its files are checked by indexdir.check_files)."""
        path = Path(version_dir) / MANIFEST
        try:
            raw = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise VecsearchError(f"cannot read {path}: {error}") from None
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise VecsearchError(f"{path} is not a vecsearch manifest")
        _check_format_version(path, raw.get("format_version"))
        try:
            return cls.from_dict(raw)
        except _Damaged as problem:
            raise VecsearchError(f"{path} is damaged: {problem} (rebuild it with: vecsearch index PATH --retrain)") from None

    @classmethod
    def from_dict(cls, raw: dict) -> "Manifest":
        known = {f.name for f in fields(cls)} - {"extra"}
        values = {key: raw[key] for key in known if key in raw and raw[key] is not None}
        for key, kind in (("created", str), ("counts", dict), ("encoder", dict), ("index", dict)):
            if not isinstance(raw.get(key), kind):
                raise _Damaged(f"no '{key}' section" if key not in raw else f"its '{key}' section is malformed")
        for key, kind in _TYPED_SECTIONS.items():  # a section that is not a dict: its defaults
            section = values.pop(key, None)
            if isinstance(section, dict):
                values[key] = _section(kind, section, key)
        if not (isinstance(values.get("backend"), dict) and values["backend"]):
            values.pop("backend", None)
        extra = {k: v for k, v in raw.items() if k not in known and k not in ("format", "format_version")}
        return cls(**values, extra=extra)

    def to_dict(self) -> dict:
        body = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        for key in ("counts", "index", "passages", "fusion"):
            if body[key] is not None:
                body[key] = asdict(body[key])
        if body["files"] is None:
            del body["files"]
        return {"format": FORMAT, "format_version": FORMAT_VERSION, **body, **self.extra}

    def write(self, version_dir: str | Path) -> None:
        (Path(version_dir) / MANIFEST).write_text(json.dumps(self.to_dict(), indent=2) + "\n")


_TYPED_SECTIONS = {"counts": Counts, "index": IndexSettings, "passages": PassageSettings, "fusion": Fusion}


class _Damaged(Exception):
    pass


def _check_format_version(path: Path, version) -> None:
    if isinstance(version, bool) or not isinstance(version, int):
        what = "no format_version" if version is None else f"format_version {version!r} is not a number"
        raise VecsearchError(f"{path} is damaged: {what}")
    if version != FORMAT_VERSION:
        hint = "upgrade vecsearch to read it" if version > FORMAT_VERSION else "rebuild it with: vecsearch index PATH --retrain"
        raise VecsearchError(f"index format {version} in {path}; this vecsearch reads format {FORMAT_VERSION} ({hint})")


def _section(kind, raw: dict, name: str):
    """A typed section from its dict; keys it does not know are dropped (they carry nothing it reads)."""
    names = {f.name for f in fields(kind)}
    try:
        return kind(**{k: v for k, v in raw.items() if k in names})
    except TypeError:
        raise _Damaged(f"its '{name}' section is malformed") from None
