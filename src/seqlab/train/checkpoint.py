"""Crash-safe files for training: atomic writes, model weights, resumable checkpoints.

* Files are written atomically: the bytes go to a temporary file in the same folder, are
  flushed to disk, and the temporary file is renamed over the target, so a reader (or a run
  killed with SIGKILL) sees either the old file or the new one, never half of one.
* A checkpoint is a *folder* (``model.safetensors`` + ``trainer.pt``) swapped into place as a
  whole: the new version is written to ``<name>.seqlab-tmp``, the old one is renamed to
  ``<name>.seqlab-old``, the new one to ``<name>``, and the old one is deleted.
  :func:`recover_directory` finishes or undoes a swap that a crash interrupted (it puts the
  old, complete version back when a crash fell between the two renames).
* Weights are safetensors, written with ``safetensors.torch.save_model`` so that tied
  (shared) tensors are stored once and re-tied on load; ``trainer.pt`` (optimizer state,
  counters, RNG state) is read with ``torch.load(..., weights_only=True)`` only: loading never
  unpickles arbitrary objects.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_model, save_model
from torch import nn

from seqlab._io import DataError

__all__ = [
    "MODEL_FILE",
    "STATE_FILE",
    "TEMP_MARKER",
    "atomic_directory",
    "atomic_write_bytes",
    "atomic_write_file",
    "atomic_write_text",
    "checkpoint_exists",
    "load_checkpoint",
    "load_weights",
    "recover_directory",
    "remove_stale_temporaries",
    "save_checkpoint",
    "save_weights",
]

MODEL_FILE = "model.safetensors"  # the weights inside a checkpoint folder
STATE_FILE = "trainer.pt"  # everything else a resumed run needs (torch.save of plain data)
TEMP_MARKER = ".seqlab-tmp"  # in the name of every temporary file or folder written here
_OLD_MARKER = ".seqlab-old"  # the previous version of a folder during a swap

PathLike = str | os.PathLike[str]


# -- atomic files ------------------------------------------------------------------------


def _fsync_directory(directory: Path) -> None:
    """Flush a folder's entries (renames) to disk where the OS allows it (not on Windows)."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _new_temporary(path: Path) -> Path:
    """Create an empty, uniquely named file beside ``path`` (mode 0o666 less the umask)."""
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}{TEMP_MARKER}")
        try:
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        except FileExistsError:
            continue
        return tmp


def atomic_write_file(path: PathLike, write: Callable[[Path], None]) -> Path:
    """Create ``path`` atomically: ``write(tmp)`` fills a temporary file, then it is renamed.

    ``write`` receives the temporary path (in the same folder, so the rename is atomic) and
    must create the file there. On any error the temporary file is removed and ``path`` is
    left as it was. Returns ``path``.
    """
    path = Path(path)
    tmp = _new_temporary(path)
    mode = tmp.stat().st_mode  # writers that replace the file (safetensors) may narrow it
    try:
        write(tmp)
        os.chmod(tmp, mode)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)
    return path


def atomic_write_bytes(path: PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write_file`)."""
    return atomic_write_file(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write_file`)."""
    return atomic_write_bytes(path, text.encode(encoding))


def remove_stale_temporaries(directory: PathLike) -> list[Path]:
    """Delete the temporary files and folders that killed writers left in ``directory``.

    Only names carrying :data:`TEMP_MARKER` are touched. Returns what was removed.
    """
    removed = []
    for entry in Path(directory).glob(f"*{TEMP_MARKER}*"):
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


# -- atomic folders ----------------------------------------------------------------------


def _siblings(path: Path) -> tuple[Path, Path]:
    """The temporary (new) and old names used while swapping the folder ``path``."""
    return path.with_name(path.name + TEMP_MARKER), path.with_name(path.name + _OLD_MARKER)


def recover_directory(path: PathLike) -> None:
    """Repair the folder ``path`` after a crash in :func:`atomic_directory`.

    * crashed while writing the new version: the partial ``<name>.seqlab-tmp`` is deleted;
    * crashed between the two renames (``<name>`` missing): the old, complete version is
      renamed back to ``<name>``;
    * crashed while deleting the old version: its remains are deleted.

    Call it from one process only (it renames and deletes).
    """
    path = Path(path)
    tmp, old = _siblings(path)
    if not path.exists() and old.is_dir():
        os.replace(old, path)
    for leftover in (old, tmp):
        if leftover.exists():
            shutil.rmtree(leftover)


@contextlib.contextmanager
def atomic_directory(path: PathLike) -> Iterator[Path]:
    """Replace the folder ``path`` as a whole with what the ``with`` block writes.

    Yields an empty temporary folder beside ``path``; when the block ends without error its
    files are flushed to disk and the folder is swapped into place (see the module
    docstring). On error the temporary folder is deleted and ``path`` is unchanged.
    """
    path = Path(path)
    tmp, old = _siblings(path)
    recover_directory(path)
    tmp.mkdir()
    try:
        yield tmp
        for file in tmp.iterdir():
            with open(file, "rb+") as f:
                os.fsync(f.fileno())
        _fsync_directory(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if path.exists():
        os.replace(path, old)
    os.replace(tmp, path)
    _fsync_directory(path.parent)
    if old.exists():
        shutil.rmtree(old)


# -- weights -----------------------------------------------------------------------------


def _save_model_file(model: nn.Module, path: Path) -> None:
    """safetensors' ``save_model``, keeping the usual file mode (it writes files as 0o600)."""
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o666))
    mode = path.stat().st_mode
    save_model(model, str(path), metadata={"format": "pt"})
    os.chmod(path, mode)


def save_weights(path: PathLike, model: nn.Module) -> Path:
    """Write ``model``'s state dict to a safetensors file, atomically.

    Tied (shared) tensors are stored once; :func:`load_weights` restores them into a model
    whose parameters are tied the same way.
    """
    return atomic_write_file(path, lambda tmp: _save_model_file(model, tmp))


def load_weights(path: PathLike, model: nn.Module, *, strict: bool = True) -> None:
    """Load a safetensors file written by :func:`save_weights` into ``model`` (in place).

    With ``strict`` a missing or unexpected tensor raises ``RuntimeError`` naming it; a file
    that is not safetensors (truncated, corrupted) raises a one-line
    :class:`~seqlab.data.DataError` (a ``ValueError``) naming the file.
    Tensors are copied onto the device of the model's own parameters.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no weights file at {path}")
    try:
        load_model(model, path, strict=strict)
    except SafetensorError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(
            path,
            f"not a readable safetensors file ({reason})",
            hint="restore it from a backup, or train again",
        ) from None


# -- checkpoints -------------------------------------------------------------------------


def checkpoint_exists(directory: PathLike) -> bool:
    """True when ``directory`` holds a complete checkpoint (both of its files)."""
    directory = Path(directory)
    return (directory / MODEL_FILE).is_file() and (directory / STATE_FILE).is_file()


def save_checkpoint(directory: PathLike, model: nn.Module, state: dict[str, Any]) -> Path:
    """Write a checkpoint folder atomically: the model's weights and ``state``.

    ``state`` must hold plain data only (tensors, numbers, strings, None, and lists, tuples
    and dicts of them) so that it loads with ``torch.load(weights_only=True)``.
    """
    directory = Path(directory)
    with atomic_directory(directory) as tmp:
        _save_model_file(model, tmp / MODEL_FILE)
        torch.save(state, tmp / STATE_FILE)
    return directory


def load_checkpoint(directory: PathLike, model: nn.Module) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`: weights into ``model``, and the
    state dict it was given (tensors on the CPU).

    Reads only; run :func:`recover_directory` first if a crash may have interrupted a save.
    """
    directory = Path(directory)
    if not checkpoint_exists(directory):
        raise FileNotFoundError(
            f"no checkpoint in {directory} (expected {MODEL_FILE} and {STATE_FILE})"
        )
    hint = f"restore it, or remove {directory} to start the run over"
    try:
        load_weights(directory / MODEL_FILE, model)
    except RuntimeError:
        raise DataError(
            directory / MODEL_FILE, "the weights do not fit the model", hint=hint
        ) from None
    try:
        state = torch.load(directory / STATE_FILE, map_location="cpu", weights_only=True)
    except Exception as exc:  # a damaged zip or pickle fails in many ways inside torch.load
        raise DataError(
            directory / STATE_FILE,
            f"not a readable checkpoint ({type(exc).__name__}: damaged or not seqlab's)",
            hint=hint,
        ) from None
    if not isinstance(state, dict):
        raise DataError(directory / STATE_FILE, "does not hold a checkpoint state dict", hint=hint)
    return state
