"""The live version of an index for a long-running reader: follows `CURRENT` without a restart.

A server opens an index once and answers many queries; meanwhile writers publish new
versions. `LiveIndex.use()` hands each request the newest opened Retriever and keeps it
open until the request is done, so a query that started on a version finishes on it.
At most every `interval` seconds a request stats `CURRENT`; when it names another
version, that request opens it (warming the query encoder and BM25, so later requests
do not pay for it) and swaps it in. The superseded Retriever is closed - releasing its
reader hold, so the next writer can delete it - when its last request ends.

A version that fails to open is tried again after 1 s, then 2, 4... up to 30 s, with one
warning per try (each try delays the request that makes it, and costs CPU the searches
need), and at once when `CURRENT` changes again.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from ..retriever import Retriever
from ..storage.indexdir import POINTER
from ..storage.manifest import MANIFEST

logger = logging.getLogger(__name__)
RETRY_FIRST = 1.0  # seconds before a version that failed to open is tried again; doubled each failure
RETRY_MAX = 30.0


class _Opened:
    """A Retriever with a count of the requests using it, and things cached per version."""

    def __init__(self, retriever: Retriever):
        self.retriever = retriever
        self.users = 0
        self.retired = False
        self.cache: dict = {}  # per-version results (e.g. the map), dropped with the version
        self.cache_lock = threading.RLock()  # a cached value may be computed from another one


class LiveIndex:
    """The newest version of `index_dir`, reopened when a writer publishes another one."""

    def __init__(self, index_dir: str | os.PathLike, interval: float = 0.25):
        self.index_dir = Path(index_dir)
        self.interval = interval
        self._lock = threading.Lock()  # guards _current and the users counts
        self._reopen = threading.Lock()  # one opener at a time; others keep using the old version
        self._current = _Opened(_warm(Retriever.load(self.index_dir)))
        self._pointer = self._pointer_stat()
        self._checked = time.monotonic()
        self._retry_delay = 0.0  # after the last failure to open what CURRENT names; 0: none failed
        self._retry_at = 0.0

    @property
    def version(self) -> str:
        """The name of the version new requests are given."""
        return self._current.retriever.version_dir.name

    @contextmanager
    def use(self) -> Iterator[Retriever]:
        """The current Retriever, held open until the `with` block ends."""
        self.refresh()
        with self._lock:
            opened = self._current
            opened.users += 1
        try:
            yield opened.retriever
        finally:
            with self._lock:
                opened.users -= 1
                done = opened.retired and opened.users == 0
            if done:
                opened.retriever.close()

    def cached(self, retriever: Retriever, key: str, compute: Callable[[Retriever], object]):
        """`compute(retriever)`, computed once per version and kept until that version is dropped."""
        with self._lock:
            opened = next((o for o in (self._current,) if o.retriever is retriever), None)
        if opened is None:  # a superseded version still finishing a request: no need to cache
            return compute(retriever)
        with opened.cache_lock:
            if key not in opened.cache:
                opened.cache[key] = compute(retriever)
            return opened.cache[key]

    def close(self) -> None:
        """Close the current version (once its requests end)."""
        with self._lock:
            self._retire(self._current)

    def refresh_due(self) -> bool:
        """Whether the next `refresh()` (or `use()`) will look at `CURRENT` again."""
        return time.monotonic() - self._checked >= self.interval

    def refresh(self) -> None:
        """Open the version `CURRENT` names if it is new, at most every `interval` seconds.

        Other callers meanwhile go on with the version they have: a server calls this
        outside its search slots, so opening a large version does not hold up searches.
        """
        now = time.monotonic()
        if now - self._checked < self.interval or not self._reopen.acquire(blocking=False):
            return
        try:
            self._checked = now
            pointer = self._pointer_stat()
            if pointer != self._pointer:
                self._pointer, self._retry_delay = pointer, 0.0  # a new CURRENT: tried at once
            elif not self._retry_delay or now < self._retry_at:
                return
            named = self._named_version()
            if named is None or named == self.version:
                return
            try:
                fresh = _Opened(_warm(Retriever.load(self.index_dir)))
            except Exception as error:  # e.g. a damaged version: keep serving the old one
                self._retry_delay = min(RETRY_MAX, 2 * self._retry_delay) if self._retry_delay else RETRY_FIRST
                self._retry_at = time.monotonic() + self._retry_delay
                logger.warning("could not open %s (%s); still serving %s; trying again in %g s",
                               named, error, self.version, self._retry_delay)
                return
            self._retry_delay = 0.0
            with self._lock:
                old, self._current = self._current, fresh
                self._retire(old)
        finally:
            self._reopen.release()

    def _retire(self, opened: _Opened) -> None:
        """Mark a version superseded; close it now if no request uses it. Call with _lock held."""
        opened.retired = True
        if opened.users == 0:
            opened.retriever.close()

    def _pointer_stat(self) -> tuple[int, int] | None:
        """What changes when a writer swaps CURRENT (it is replaced by rename: a new inode)."""
        try:
            stat = os.stat(self.index_dir / POINTER)
        except FileNotFoundError:
            return None
        return stat.st_ino, stat.st_mtime_ns

    def _named_version(self) -> str | None:
        try:
            named = (self.index_dir / POINTER).read_text().strip()
        except (OSError, UnicodeDecodeError):
            return None
        return named if (self.index_dir / named / MANIFEST).is_file() else None


def _warm(retriever: Retriever) -> Retriever:
    """Load what the first query would otherwise load, and keep in memory what each query reads."""
    retriever.keep_in_memory()
    return retriever
