"""What every subcommand shares: one-line errors with exit status 2 (naming the command's
flags, not the config fields behind them), output paths (missing folders are created, as
``mkdir -p`` does), JSON output."""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar, overload

import typer

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` on stderr; return the exit (status 2) to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


FLAGS_ATTRIBUTE = "seqlab_flags"  # a command's field -> flag table, set by @train_options


def name_flags(message: str, flags: Mapping[str, str]) -> str:
    """``message`` with the config fields it names replaced by the command's flags.

    ``flags`` maps a field (``"max_steps"``) or a phrase (``"reset_after=False"``) to the
    option that sets it (``"--steps"``, ``"--reset-before"``); the longest keys go first. A
    key with an underscore or an ``=`` is replaced wherever it stands as a whole word; a
    plain word (``"level"``, ``"cell"``) only where it is clearly the field: at the start of
    the message or followed by ``=``. ``"max_steps must be a positive integer, got 0"``
    becomes ``"--steps must be a positive integer, got 0"``.
    """
    for key in sorted(flags, key=len, reverse=True):
        word = re.escape(key)
        if "_" in key or "=" in key:
            pattern = rf"(?<![\w-]){word}(?!\w)"
        else:
            pattern = rf"^{word}(?!\w)|(?<![\w-]){word}(?==)"
        message = re.sub(pattern, lambda _, flag=flags[key]: flag, message)
    return message


@overload
def user_errors(fn: F) -> F: ...
@overload
def user_errors(*, flags: Mapping[str, str]) -> Callable[[F], F]: ...
def user_errors(
    fn: F | None = None, *, flags: Mapping[str, str] | None = None
) -> F | Callable[[F], F]:
    """Turn a user's mistake (bad file, bad value) into a one-line error and exit status 2.

    A ``ValueError`` about a config field names the command's flag instead
    (:func:`name_flags`): the table is ``flags``, plus the one ``@train_options`` attaches
    to a ``train`` command. Use as ``@user_errors`` or ``@user_errors(flags={...})``.
    """
    if fn is None:
        return lambda f: _user_errors(f, flags or {})
    return _user_errors(fn, flags or {})


def _user_errors(fn: F, flags: Mapping[str, str]) -> F:
    table = {**getattr(fn, FLAGS_ATTRIBUTE, {}), **flags}

    def one_line(exc: BaseException, *, flags: bool) -> typer.Exit:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return fail(name_flags(text, table) if flags else text)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from seqlab._io import DataError

        try:
            return fn(*args, **kwargs)
        except DataError as exc:  # it names a file: the path stays as it is
            raise one_line(exc, flags=False) from None
        except ValueError as exc:
            raise one_line(exc, flags=True) from None
        except (FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError) as exc:
            raise one_line(exc, flags=False) from None
        except RuntimeError as exc:
            from seqlab.train import FolderInUseError, TrainingDiverged  # (imports torch)

            if isinstance(exc, TrainingDiverged):
                raise one_line(exc, flags=True) from None
            if isinstance(exc, FolderInUseError):
                raise one_line(exc, flags=False) from None
            raise

    return wrapper  # type: ignore[return-value]


def output_path(path: Path | None, what: str = "") -> Path | None:
    """Check an output file before the work starts, creating its missing folders as
    ``mkdir -p`` does (a one-line error, exit 2, when a path component is a file or the
    folder is not writable).

    ``what`` names the argument in the message (``"--out"``).
    """
    if path is None:
        return None
    name = f"{what} {path}" if what else str(path)
    if path.is_dir():
        raise fail(f"{name}: is a folder; give a file name")
    output_folder(path.parent, f"{name}: the folder")
    return path


def output_folder(path: Path, what: str) -> Path:
    """Exit 2 before any work if the folder ``path`` can neither be used nor created;
    create it (and its missing parents) otherwise, as ``mkdir -p`` does."""
    from seqlab._io import folder_problem

    problem = folder_problem(path)
    if problem == "is a file, not a folder":
        problem = "exists and is not a folder"
    if problem is not None:
        raise fail(f"{what} {path} {problem}")
    if path.exists():
        return path
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise fail(f"{what} {path} cannot be created: {exc.strerror or exc}") from None
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
