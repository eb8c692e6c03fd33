"""A task's model directory (config.json, model.safetensors, vocabularies): reading it with
one-line errors (:class:`seqlab.tasks.base.Task` saves and loads through these)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from torch import nn

from seqlab._io import DataError
from seqlab.train.checkpoint import load_weights

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
C = TypeVar("C")


def read_task_config(root: Path, task: str, what: str) -> dict[str, Any]:
    """The parsed ``root/config.json`` of a ``task`` model (``what`` names it in errors).

    Raises :class:`DataError` when the file is missing, is not JSON, or is another task's.
    """
    cfg_path = root / CONFIG_FILE
    if not cfg_path.is_file():
        raise DataError(
            root, f"not a seqlab model directory (no {CONFIG_FILE})", hint="train one first"
        )
    try:
        raw = json.loads(cfg_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(
            cfg_path, f"invalid JSON ({exc.msg})", hint="retrain the model", line=exc.lineno
        ) from None
    except UnicodeDecodeError:
        raise DataError(cfg_path, "not UTF-8 text", hint="retrain the model") from None
    found = raw.get("task") if isinstance(raw, dict) else None
    if found != task:
        raise DataError(
            cfg_path, f"a {found!r} model, not {what}", hint="use the matching seqlab command"
        )
    return raw


def read_weights(root: Path, model: nn.Module, command: str) -> None:
    """Load ``root/model.safetensors`` into ``model`` (``command`` trains such a model).

    Raises :class:`DataError` when the file is missing or does not fit the model.
    """
    weights = root / WEIGHTS_FILE
    if not weights.is_file():
        raise DataError(
            root,
            f"no {WEIGHTS_FILE} (training has not saved a model yet)",
            hint=f"train with `{command}`, or --resume an interrupted run",
        )
    try:
        load_weights(weights, model)
    except ValueError:
        raise DataError(
            weights,
            "not a readable safetensors file (truncated or corrupted)",
            hint="retrain or restore it",
        ) from None
    except RuntimeError:
        raise DataError(
            weights,
            f"the weights do not match {CONFIG_FILE}",
            hint="the directory was modified; retrain or restore it",
        ) from None


def read_config(root: Path, task: str, what: str, from_dict: Callable[[dict[str, Any]], C]) -> C:
    """``root/config.json`` of a ``task`` model parsed by ``from_dict``.

    Raises :class:`DataError` as :func:`read_task_config` does, and when ``from_dict`` rejects
    the values (``not a <task> config``).
    """
    raw = read_task_config(root, task, what)
    try:
        return from_dict(raw)
    except (TypeError, KeyError, ValueError) as exc:
        raise DataError(
            root / CONFIG_FILE,
            f"not a {task.replace('_', '-')} config ({exc})",
            hint="retrain the model",
        ) from None
