"""A task's model directory (config.json, model.safetensors, vocabularies): reading it with
one-line errors, and :class:`SavedTask`, the saving and device code every task shares."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import torch
from torch import nn

from seqlab._io import DataError
from seqlab.train.checkpoint import load_weights, save_weights

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


class SavedTask:
    """What every task object living in a model directory shares: its network ``model``,
    the directory ``path`` it was trained in or loaded from (``None`` before), ``save()``
    and ``device``. A subclass writes its config and vocabularies in ``_save_meta``."""

    model: nn.Module
    path: Path | None
    _what: ClassVar[str] = "model"  # "this <_what> was never saved"

    def _save_meta(self, out: Path) -> None:
        raise NotImplementedError

    def save(self, out_dir: str | Path | None = None) -> Path:
        """Write the model directory (config.json, model.safetensors, the vocabularies); by
        default where the model was trained or loaded from."""
        out = Path(out_dir) if out_dir is not None else self.path
        if out is None:
            raise ValueError(f"give a directory: this {self._what} was never saved")
        out.mkdir(parents=True, exist_ok=True)
        self._save_meta(out)
        save_weights(out / WEIGHTS_FILE, self.model)
        self.path = out
        return out

    def _load_best(self, out: Path) -> None:
        """After training into ``out``: the best validation weights, if saved; eval mode."""
        best = out / WEIGHTS_FILE
        if best.exists():
            load_weights(best, self.model)
        self.model.eval()

    @property
    def device(self) -> torch.device:
        """Where the network's parameters are."""
        return next(self.model.parameters()).device
