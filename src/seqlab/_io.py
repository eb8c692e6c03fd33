"""Atomic file writes and the one-line data error used across seqlab.

A write never leaves a half-written file behind: the bytes go to a temporary file in the
destination's folder, are flushed and fsync'ed, and the temporary file is renamed over the
destination with :func:`os.replace` (atomic on POSIX and Windows). If anything fails before the
rename, the temporary file is removed and the destination is untouched. An ``OSError`` names
the destination, never the temporary file.

:class:`DataError` is how readers report bad input: one line, ``FILE:LINE: problem — what to
do``, which the CLI prints as is (exit status 2, no traceback).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = [
    "DataError",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "folder_problem",
]

PathLike = str | os.PathLike[str]


def _read_umask() -> int:
    """The process umask (read once, at import, so no thread sees a temporary umask of 0)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


class DataError(ValueError):
    """Bad input data: a one-line message ``FILE:LINE: problem — what to do``.

    ``line`` is 1-based and optional (a missing file has no line). The parts are kept as
    attributes so callers can reformat them (``path``, ``line``, ``problem``, ``hint``).

    >>> str(DataError("names.txt", "line is empty", hint="remove blank lines", line=3))
    'names.txt:3: line is empty — remove blank lines'
    """

    def __init__(self, path: PathLike, problem: str, *, hint: str, line: int | None = None):
        self.path = Path(path)
        self.line = line
        self.problem = problem
        self.hint = hint
        where = f"{self.path}:{line}" if line is not None else f"{self.path}"
        super().__init__(f"{where}: {problem} — {hint}")

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle by keyword parts (the default would pass the formatted message back in)."""
        return (_rebuild_data_error, (str(self.path), self.problem, self.hint, self.line))


def _rebuild_data_error(path: str, problem: str, hint: str, line: int | None) -> DataError:
    """Unpickling helper for :class:`DataError`."""
    return DataError(path, problem, hint=hint, line=line)


def _fsync_dir(folder: Path) -> None:
    """Flush the folder entry of a rename to disk (best effort: not every OS allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the path.

    The file gets the mode a plain ``open(path, "wb")`` would give it (``0o666`` less the
    umask), or keeps the mode of the file it replaces. The destination's folder must exist.
    """
    dest = Path(path)
    folder = dest.parent
    try:
        mode = dest.stat().st_mode & 0o7777 if dest.exists() else 0o666 & ~_UMASK
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=folder)
    except OSError as err:
        raise _about(err, dest) from err
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, dest)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise _about(err, dest) from err
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(folder)
    return dest


def _about(err: OSError, dest: Path) -> OSError:
    """``err`` re-aimed at ``dest``: same type and errno, the destination as its file name.

    The temporary file's name (``.out.txt.k3j9.tmp``) means nothing to the user; the message
    reads ``[Errno 2] No such file or directory: 'out/dir/vectors.txt'``, and a missing folder
    says so.
    """
    if err.errno is None:
        return err
    reason = err.strerror or os.strerror(err.errno)
    if isinstance(err, FileNotFoundError) and not dest.parent.is_dir():
        reason = f"{reason} (the folder {dest.parent} does not exist)"
    try:
        return type(err)(err.errno, reason, str(dest))
    except TypeError:  # a subclass with another signature
        return OSError(err.errno, reason, str(dest))


def atomic_write_text(path: PathLike, text: str) -> Path:
    """Write ``text`` as UTF-8 to ``path`` atomically (no newline translation)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: PathLike, obj: Any, *, indent: int | None = 2) -> Path:
    """Write ``obj`` as JSON (UTF-8, trailing newline) to ``path`` atomically.

    The object is serialised before anything is written, so an unserialisable object (or a
    NaN/infinite float, which strict JSON readers reject) raises ``TypeError``/``ValueError``
    and leaves the destination untouched.
    """
    text = json.dumps(obj, indent=indent, ensure_ascii=False, allow_nan=False)
    return atomic_write_text(path, text + "\n")


def folder_problem(path: PathLike) -> str | None:
    """Why ``path`` cannot be used as an output folder, created as ``mkdir -p`` would
    (``None`` when it can): ``"is a file, not a folder"``, ``"is not writable"``, or
    ``"cannot be created: ANCESTOR is a file"`` / ``"... is not writable"``. Creates nothing.
    """
    folder = Path(path)
    if folder.exists():
        if not folder.is_dir():
            return "is a file, not a folder"
        return None if os.access(folder, os.W_OK | os.X_OK) else "is not writable"
    ancestor = folder.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return f"cannot be created: {ancestor} is a file"
    if not os.access(ancestor, os.W_OK | os.X_OK):
        return f"cannot be created: {ancestor} is not writable"
    return None
