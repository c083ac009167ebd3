"""Train and load the subword tokenizer (HF tokenizers; Unigram, lower-cased).

Unigram rather than WordPiece because it can be made reproducible: the WordPiece
and BPE trainers break ties between equally frequent merges differently from run to
run, so the same corpus gives different vocabularies, while the Unigram trainer
finds the same pieces every time and only their float scores wobble. Rounding the
scores and sorting the pieces makes the vocabulary - and so the token ids the
encoder learns - a function of the corpus alone.

Knows nothing of torch: the query path loads it without importing the model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

PAD, UNK = "[PAD]", "[UNK]"
PAD_ID = 0
FILENAME = "tokenizer.json"


def train_tokenizer(texts: Iterable[str], vocab_size: int = 16384) -> Tokenizer:
    """A lower-casing, accent-stripping Unigram tokenizer learnt from `texts`.

    `[PAD]` has id 0 and `[UNK]` id 1; the same texts always give the same tokenizer.
    """
    tokenizer = Tokenizer(models.Unigram())
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.BPEDecoder()
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size, special_tokens=[PAD, UNK], unk_token=UNK, show_progress=False
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    pieces = json.loads(tokenizer.to_str())["model"]["vocab"]
    ordinary = sorted(
        ((piece, round(score, 4)) for piece, score in pieces if piece not in (PAD, UNK)),
        key=lambda item: (-item[1], item[0]),
    )
    tokenizer.model = models.Unigram([(PAD, 0.0), (UNK, 0.0), *ordinary], unk_id=1, byte_fallback=False)
    return tokenizer


def load_tokenizer(directory: str | Path) -> Tokenizer:
    return Tokenizer.from_file(str(Path(directory) / FILENAME))


def save_tokenizer(tokenizer: Tokenizer, directory: str | Path) -> None:
    tokenizer.save(str(Path(directory) / FILENAME))


def token_ids(tokenizer: Tokenizer, texts: list[str], max_length: int) -> list[list[int]]:
    """Token ids of each text, truncated to `max_length`; an empty text gives `[UNK]`."""
    encodings = tokenizer.encode_batch_fast(texts)  # no offsets: ~2x faster than encode_batch
    unk = tokenizer.token_to_id(UNK)
    return [e.ids[:max_length] or [unk] for e in encodings]
