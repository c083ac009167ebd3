"""What an encoder is, apart from any framework: its `EncoderConfig` and the file that stores it.

The weights live in `encoder.safetensors`, with the config as JSON in the file's
metadata, so the torch model (`encoder.py`) and its numpy twin for queries
(`numpy_encoder.py`) read the same file. No torch here: the query path imports it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from safetensors import safe_open

from ..errors import VecsearchError
from .tokenizer import PAD_ID

CELLS = ("simple", "gru", "lstm")
POOLINGS = ("mean", "max", "last")
WEIGHTS = "encoder.safetensors"
WEIGHTS_FORMAT = "vecsearch-encoder/1"


@dataclass
class EncoderConfig:
    vocab_size: int
    embed_dim: int = 128
    hidden_dim: int = 128
    cell: str = "lstm"  # on CPU, torch runs a float32 LSTM as one fused oneDNN kernel
    bidirectional: bool = True
    pooling: str = "mean"
    output_dim: int | None = None  # a linear projection after pooling, e.g. to a teacher's size
    max_length: int = 256  # tokens read per text; the rest is cut
    pad_id: int = PAD_ID

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise VecsearchError(f"unknown cell '{self.cell}' (choose from {', '.join(CELLS)})")
        if self.pooling not in POOLINGS:
            raise VecsearchError(f"unknown pooling '{self.pooling}' (choose from {', '.join(POOLINGS)})")

    @property
    def dim(self) -> int:
        """Size of the vectors the encoder produces."""
        return self.output_dim or self.hidden_dim * (2 if self.bidirectional else 1)


def weights_path(directory: str | Path) -> Path:
    """The weights file in `directory`, after checking it is there."""
    path = Path(directory) / WEIGHTS
    if not path.is_file():
        raise VecsearchError(f"no trained encoder in {directory} (missing {WEIGHTS})")
    return path


def read_config(path: Path, framework: str = "numpy") -> EncoderConfig:
    """The EncoderConfig stored in the metadata of a weights file."""
    with safe_open(str(path), framework=framework) as weights:
        metadata = weights.metadata() or {}
    if metadata.get("format") != WEIGHTS_FORMAT:
        raise VecsearchError(f"{path} is not a vecsearch encoder (format {metadata.get('format')!r})")
    return EncoderConfig(**json.loads(metadata["config"]))


def config_metadata(config: EncoderConfig) -> dict[str, str]:
    """The metadata that `read_config` reads back."""
    return {"format": WEIGHTS_FORMAT, "config": json.dumps(asdict(config))}
