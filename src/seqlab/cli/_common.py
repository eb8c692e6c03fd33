"""What every subcommand shares: one-line errors with exit status 2, JSON output."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` on stderr; return the exit (status 2) to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def user_errors(fn: F) -> F:
    """Turn a user's mistake (bad file, bad value) into a one-line error and exit status 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from seqlab._io import DataError

        try:
            return fn(*args, **kwargs)
        except (
            DataError,
            ValueError,
            FileNotFoundError,
            FileExistsError,
            IsADirectoryError,
        ) as exc:
            raise fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
        except RuntimeError as exc:
            from seqlab.train import TrainingDiverged

            if isinstance(exc, TrainingDiverged):
                raise fail(str(exc)) from None
            raise

    return wrapper  # type: ignore[return-value]


def output_path(path: Path | None, what: str = "") -> Path | None:
    """Check an output file's folder before the work starts (a one-line error, exit 2).

    ``what`` names the argument in the message (``"--out"``).
    """
    if path is None:
        return None
    name = f"{what} {path}" if what else str(path)
    if path.is_dir():
        raise fail(f"{name}: is a folder; give a file name")
    parent = path.parent
    if not parent.is_dir():
        why = "does not exist" if not parent.exists() else "is not a folder"
        raise fail(f"{name}: the folder {parent} {why}; create it or choose another path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise fail(f"{name}: the folder {parent} is not writable")
    return path


def output_folder(path: Path, what: str) -> Path:
    """Exit 2 before any work if the folder ``path`` can neither be used nor created."""
    if path.exists():
        if not path.is_dir():
            raise fail(f"{what} {path} exists and is not a folder")
        if not os.access(path, os.W_OK | os.X_OK):
            raise fail(f"{what} {path} is not writable")
        return path
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
        raise fail(f"{what} {path} cannot be created: {ancestor} is not a writable folder")
    return path


def print_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def exit_if_interrupted(stopped_because: str, steps: int, out: object) -> None:
    """After a Ctrl-C'd training run (saved, resumable): say how to continue, exit 130."""
    if stopped_because == "interrupted":
        typer.echo(
            f"interrupted at step {steps}; the checkpoint in {out} is saved: run the same "
            "command with --resume to continue",
            err=True,
        )
        raise typer.Exit(130)
