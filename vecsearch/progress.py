"""Progress of long work, in a terminal and in a log: a tqdm bar when stderr is a terminal;
otherwise (CI, a log file, nohup) one plain line every LOG_SECONDS - phase, done/total, rate -
so that a slow index on a busy machine is never silent (and work done sooner prints nothing)."""

from __future__ import annotations

import sys

LOG_SECONDS = 5.0


class _Lines:
    """A stream for tqdm that turns its redrawn status line into one line per update."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> None:
        line = text.replace("\r", "").strip()
        if line:
            self.stream.write(line + "\n")

    def flush(self) -> None:
        self.stream.flush()


def progress(items=None, *, total: int | None = None, description: str, unit: str = "it", leave: bool = False,
             enabled: bool = True):
    """A tqdm over `items` (or one to `update` by hand, with `total`), drawn as the output allows;
    silent if not `enabled` (it then passes `items` through and ignores updates)."""
    from tqdm.auto import tqdm

    if not enabled:
        return tqdm(items, total=total, disable=True)
    stream = sys.stderr
    if stream is not None and stream.isatty():
        return tqdm(items, total=total, desc=description, unit=unit, leave=leave)
    known = total is not None or hasattr(items, "__len__")
    counted = "{n_fmt}/{total_fmt} {unit}s ({percentage:.0f}%)" if known else "{n_fmt} {unit}s"
    return tqdm(items, total=total, desc=description, unit=unit, leave=True, file=_Lines(stream or sys.__stderr__),
                mininterval=LOG_SECONDS, maxinterval=LOG_SECONDS, delay=LOG_SECONDS, ascii=True,
                bar_format="{desc}: " + counted + ", {rate_fmt}, {elapsed} elapsed{postfix}")
