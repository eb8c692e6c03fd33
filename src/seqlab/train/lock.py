"""One process at a time in an output folder: :func:`hold_folder` and :func:`check_folder`.

Two runs writing into one model folder interleave ``metrics.jsonl`` and overwrite each
other's checkpoints, so :meth:`~seqlab.train.Trainer.fit` (and ``Task.train``, around the
files it writes first) holds the folder for the whole run: an OS file lock on
``FOLDER/.lock`` (the ``filelock`` package: ``flock`` on POSIX, ``msvcrt`` on Windows),
which the OS releases when the process ends, however it ends. A lock left by a process
killed with ``kill -9`` is therefore free again, and the next run takes it over. The holder
writes its pid and start time into the sidecar ``FOLDER/.lock.holder`` (removed when it lets
go), so that a second process is told who holds the folder::

    runs/x is in use by process 1234 (started 2026-12-04 07:33:14): wait for it or use
    another output folder (--out)

The lock is re-entrant within a process (``Task.train`` holds it, then its Trainer takes it
again). Under torchrun only rank 0 takes it.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from seqlab._io import DataError, atomic_write_json, folder_problem

__all__ = ["FolderInUseError", "check_folder", "hold_folder"]

LOCK_FILE = ".lock"  # the file the OS lock is taken on (left in place: waiters share it)
HOLDER_FILE = ".lock.holder"  # JSON {"pid", "started", "host"} of the process holding it

_held: dict[Path, tuple[Any, int]] = {}  # folder -> (its FileLock, nesting depth)
_guard = threading.Lock()


class FolderInUseError(RuntimeError):
    """Another process holds the output folder (it trains into it now)."""

    def __init__(self, folder: Path, holder: dict[str, Any] | None) -> None:
        self.folder = folder  # the folder asked for
        self.pid: int | None = None  # the holder's process id, when it could be read
        self.started: str | None = None  # when the holder took the folder (local time)
        who = "another process"
        if holder is not None:
            self.pid, self.started = holder.get("pid"), holder.get("started")
            host = holder.get("host")
            where = f" on {host}" if host and host != _host() else ""
            when = f" (started {self.started})" if self.started else ""
            who = f"process {self.pid}{where}{when}"
        super().__init__(
            f"{folder} is in use by {who}: wait for it or use another output folder (--out)"
        )


def _host() -> str:
    return os.uname().nodename if hasattr(os, "uname") else os.environ.get("COMPUTERNAME", "")


def check_folder(folder: str | os.PathLike[str]) -> Path:
    """Check, without creating anything, that ``folder`` is a writable folder or can be
    created (as ``mkdir -p`` would). Raises :class:`seqlab.data.DataError` (one line) when
    it, or a path component above it, is a file, or when it is not writable."""
    path = Path(folder)
    problem = folder_problem(path)
    if problem is not None:
        problem = "the folder is not writable" if problem == "is not writable" else problem
        raise DataError(path, problem, hint="choose another output folder (--out)")
    return path


def _read_holder(folder: Path) -> dict[str, Any] | None:
    try:
        holder = json.loads((folder / HOLDER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # not written yet, or being replaced
    return holder if isinstance(holder, dict) else None


def _acquire(folder: Path) -> Any:
    from filelock import FileLock, Timeout

    lock = FileLock(str(folder / LOCK_FILE), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        holder = _read_holder(folder)
        if holder is None:  # the holder may be writing its sidecar right now
            time.sleep(0.05)
            holder = _read_holder(folder)
        raise FolderInUseError(folder, holder) from None
    try:
        started = time.strftime("%Y-%m-%d %H:%M:%S")
        atomic_write_json(
            folder / HOLDER_FILE, {"pid": os.getpid(), "started": started, "host": _host()}
        )
    except BaseException:
        lock.release()
        raise
    return lock


def _release(folder: Path, lock: Any) -> None:
    try:
        (folder / HOLDER_FILE).unlink(missing_ok=True)
    finally:
        lock.release()


@contextlib.contextmanager
def hold_folder(folder: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold ``folder`` for this process while the block runs; yields its path.

    Creates the folder (and missing parents) after :func:`check_folder`. Raises
    :class:`FolderInUseError` when another process holds it. Re-entrant within a process.
    """
    path = check_folder(folder)
    path.mkdir(parents=True, exist_ok=True)
    key = path.resolve()
    with _guard:
        lock, depth = _held.get(key, (None, 0))
        if lock is None:
            lock = _acquire(path)
        _held[key] = (lock, depth + 1)
    try:
        yield path
    finally:
        with _guard:
            lock, depth = _held.pop(key)
            if depth > 1:
                _held[key] = (lock, depth - 1)
            else:
                _release(path, lock)
