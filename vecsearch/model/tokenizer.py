"""Train and load the subword tokenizer (HF tokenizers; Unigram, lower-cased).

Unigram rather than WordPiece because it can be made reproducible: the WordPiece
and BPE trainers break ties between equally frequent merges differently from run to
run, so the same corpus gives different vocabularies, while the Unigram trainer
finds the same pieces every time and only their float scores wobble. Rounding the
scores and sorting the pieces makes the vocabulary - and so the token ids the
encoder learns - a function of the corpus alone.

Machine-made text (base64, minified code) is bounded on the way in: the trainer sees only
the first MAX_WORD_CHARS characters of a longer run without spaces, and `token_ids` reads
only as much of a text as its first `max_length` tokens need, so one 50 MB line costs
neither the vocabulary nor the memory of a build. Ordinary text passes through unchanged.

Knows nothing of torch: the query path loads it without importing the model.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterable

import numpy as np
from tokenizers import (
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    trainers,
)

from ..corpus import MAX_WORD_CHARS

PAD, UNK = "[PAD]", "[UNK]"
PAD_ID = 0
FILENAME = "tokenizer.json"
_LONG_RUN = re.compile(r"\S{%d,}" % (MAX_WORD_CHARS + 1))
CHARS_PER_TOKEN = 8  # a text is first tokenized up to max_length times this many characters
_ENCODE_BATCH = 1024  # texts tokenized at once: their encodings are held until truncated
_CUTS = (" ", "\n", "\t")  # whitespace the normalizer and pre-tokenizer always split at


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
    tokenizer.train_from_iterator((_LONG_RUN.sub(_first_word, text) for text in texts), trainer=trainer)
    pieces = json.loads(tokenizer.to_str())["model"]["vocab"]
    ordinary = sorted(
        ((piece, round(score, 4)) for piece, score in pieces if piece not in (PAD, UNK)),
        key=lambda item: (-item[1], item[0]),
    )
    tokenizer.model = models.Unigram([(PAD, 0.0), (UNK, 0.0), *ordinary], unk_id=1, byte_fallback=False)
    return tokenizer


def _first_word(run: re.Match) -> str:
    """What the trainer sees of a run without spaces longer than MAX_WORD_CHARS: its start.

    Each such run (base64, minified code, a hex dump) is new to the trainer, whose time and
    vocabulary would go to pieces of it; split_passages cuts the same runs into words.
    """
    return run.group()[:MAX_WORD_CHARS]


def load_tokenizer(directory: str | Path) -> Tokenizer:
    return Tokenizer.from_file(str(Path(directory) / FILENAME))


def save_tokenizer(tokenizer: Tokenizer, directory: str | Path) -> None:
    tokenizer.save(str(Path(directory) / FILENAME))


def token_ids(tokenizer: Tokenizer, texts: list[str], max_length: int) -> list[list[int]]:
    """Token ids of each text, truncated to `max_length`; an empty text gives `[UNK]`.

    A text is tokenized up to `max_length * CHARS_PER_TOKEN` characters, cut at a space
    (a longer one is read further only if that falls short of `max_length` tokens), so the
    ids are those of the whole text while time and memory follow `max_length`, not the text.
    """
    unk = tokenizer.token_to_id(UNK)
    limit = max_length * CHARS_PER_TOKEN
    ids: list[list[int]] = []
    for start in range(0, len(texts), _ENCODE_BATCH):
        batch = texts[start : start + _ENCODE_BATCH]
        heads = [_head(text, limit) for text in batch]
        encodings = tokenizer.encode_batch_fast(heads)  # no offsets: ~2x faster than encode_batch
        for text, head, encoding in zip(batch, heads, encodings):
            row = encoding.ids[:max_length]
            if len(row) < max_length and len(head) < len(text):
                row = _read_further(tokenizer, text, limit, max_length)
            ids.append(row or [unk])
    return ids


def tokens_per_word(tokenizer: Tokenizer, texts: list[str]) -> list[np.ndarray]:
    """For each text, how many tokens each of its words (`str.split()`'s) becomes."""
    counts = []
    for start in range(0, len(texts), _ENCODE_BATCH):
        batch = texts[start : start + _ENCODE_BATCH]
        for text, encoding in zip(batch, tokenizer.encode_batch(batch)):
            word_starts = [match.start() for match in _WORD.finditer(text)]
            token_starts = [begin for begin, _ in encoding.offsets]
            owner = np.searchsorted(word_starts, token_starts, side="right") - 1
            counts.append(np.bincount(owner[owner >= 0], minlength=len(word_starts)))
    return counts


_WORD = re.compile(r"\S+")


def _head(text: str, limit: int) -> str:
    """`text` up to `limit` characters, cut before a space if there is one: words are
    tokenized one by one, so the head's tokens are the first tokens of the whole text."""
    if len(text) <= limit:
        return text
    cut = max(text.rfind(space, 0, limit + 1) for space in _CUTS)
    return text[:cut] if cut > 0 else text[:limit]


def _read_further(tokenizer: Tokenizer, text: str, limit: int, max_length: int) -> list[int]:
    """The first `max_length` ids of a text whose head held fewer: heads twice as long each
    time (a text of mostly spaces or marks the normalizer drops), up to the whole text."""
    while True:
        limit *= 2
        head = _head(text, limit)
        row = tokenizer.encode_batch_fast([head])[0].ids[:max_length]
        if len(row) >= max_length or len(head) == len(text):
            return row
