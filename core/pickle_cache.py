"""Files of derived data (a trained NLU model, a search index) kept between starts, each named by a hash of what
it was made from: a restart, or a second worker, reads the file instead of making the same thing again.

A file that cannot be read counts as absent. Writes are atomic, so a worker reading while another writes sees
the old file or the whole new one. Only the newest file of a kind is kept. Workers that start together make a
file once: the first makes it under the kind's lock (`making`) while the others wait, then read it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import pickle
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

log = logging.getLogger("core.pickle_cache")


def digest(parts: Iterable[str]) -> str:
    """A short hash of the parts, in order (each ends at a newline, so ("ab", "c") and ("a", "bc") differ)."""
    hashed = hashlib.sha256()
    for part in parts:
        hashed.update(part.encode("utf-8", "surrogatepass") + b"\n")
    return hashed.hexdigest()[:24]


def read(path: Path) -> Any | None:
    """What `write` stored at `path`, or None when it is missing or unreadable."""
    try:
        with path.open("rb") as handle:
            return pickle.load(handle)
    except Exception:
        return None


def write(path: Path, value: Any, *, replaces: str) -> None:
    """Store `value` at `path` as the only file of its kind: the others matching the glob `replaces` in the same
    directory are removed first.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    for old in path.parent.glob(replaces):
        if old != path:
            old.unlink(missing_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")  # per process: workers writing at once must not share it
    with tmp.open("wb") as handle:
        pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(path)


def take_lock(directory: Path, kind: str, *, wait: bool) -> FileLock | None:
    """The lock on making files of `kind` in `directory`, held; None where no lock file can be made (a read-only
    data dir, a file where the directory should be: nothing can be cached there either), or, with `wait` false,
    while another process holds it. With `wait` true it waits for that process. The lock file lies beside the
    files; the lock is not tied to a thread (a start takes it on the event loop's thread and may release it from
    a worker thread).
    """
    lock = FileLock(directory / f"{kind}.lock", thread_local=False)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        lock.acquire(blocking=wait)
    except Timeout:
        return None
    except OSError as exc:
        log.debug("no lock on %s in %s: %s", kind, directory, exc)
        return None
    return lock


@contextlib.contextmanager
def making(directory: Path, kind: str) -> Iterator[bool]:
    """Hold the lock on making files of `kind` in `directory`, waiting while another process holds it; yields
    whether it is held. Where no lock can be made, each process makes its own file, as without a lock.
    """
    lock = take_lock(directory, kind, wait=True)
    try:
        yield lock is not None
    finally:
        if lock is not None:
            lock.release()
