"""Which encoding a text file is in, from its first bytes: UTF-8 (the default, with or without
its byte order mark), UTF-16 or UTF-32 with one, or UTF-16 without one where its NUL bytes give
it away.

Text in UTF-16 (what Windows tools such as PowerShell and Notepad write) is full of NUL bytes,
which otherwise mark a file as binary: one byte of every two-byte unit of an ASCII-range
character is NUL. A file is taken for UTF-16 only if its first bytes also decode, as that, to
text without control characters, so a binary file that starts like it is still binary.
"""

from __future__ import annotations

import codecs

SNIFF_BYTES = 8192  # read to tell the encoding, and binary from text
# UTF-32 first: its little-endian mark starts with UTF-16's
_MARKS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
          (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_NAMES = {"utf-8-sig": "UTF-8", "utf-16": "UTF-16", "utf-16-le": "UTF-16", "utf-16-be": "UTF-16", "utf-32": "UTF-32"}
_CONTROLS = frozenset(map(chr, range(0x20))) - set("\t\n\f\r")


def text_encoding(head: bytes) -> str | None:
    """The codec to decode a file whose first SNIFF_BYTES bytes are `head` with ("utf-8-sig",
    "utf-16", "utf-16-le", "utf-16-be", "utf-32"), or None if it is binary."""
    for mark, encoding in _MARKS:
        if head.startswith(mark):
            return encoding if encoding == "utf-8-sig" or _is_text(head, encoding) else None
    if b"\x00" not in head:
        return "utf-8-sig"
    return _unmarked_utf16(head)


def encoding_name(encoding: str) -> str:
    """How a message names the encoding: "UTF-8", "UTF-16", "UTF-32"."""
    return _NAMES.get(encoding, encoding)


def _unmarked_utf16(head: bytes) -> str | None:
    """"utf-16-le" or "utf-16-be" if the NUL bytes of `head` fall on one side of its two-byte
    units (at least a quarter of them, the other side nearly none) and it decodes to text."""
    units = len(head) // 2
    even, odd = head[0:units * 2:2].count(0), head[1:units * 2:2].count(0)
    for nuls, others, encoding in ((odd, even, "utf-16-le"), (even, odd, "utf-16-be")):
        if units >= 2 and nuls >= units / 4 and others <= nuls / 8 and _is_text(head, encoding):
            return encoding
    return None


def _is_text(head: bytes, encoding: str) -> bool:
    """Whether `head` (perhaps cut inside a character) decodes as `encoding` to text without
    control characters other than tabs and line breaks."""
    try:
        text = codecs.getincrementaldecoder(encoding)().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return not _CONTROLS.intersection(text)
