"""Loss curves: training and validation loss against the optimizer step.

Reads the records a :class:`seqlab.train.Trainer` appends to ``metrics.jsonl`` (dicts with
``"step"`` and ``"train_loss"`` or ``"valid_loss"``) and writes a PNG. Drawn on a private
``Figure`` + ``FigureCanvasAgg``, so importing this module neither selects a backend nor
creates pyplot figures.
"""

from __future__ import annotations

import io
import math
import os
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["plot_loss_curve"]

# A log-scaled y axis once the plotted losses span at least this ratio (max / min).
_LOG_SCALE_RATIO = 20.0


def _series(records: Sequence[Mapping[str, Any]], key: str) -> tuple[list[float], list[float]]:
    """(steps, values) of the records that carry a finite ``key``."""
    steps, values = [], []
    for record in records:
        value = record.get(key)
        if "step" in record and isinstance(value, int | float) and math.isfinite(value):
            steps.append(float(record["step"]))
            values.append(float(value))
    return steps, values


def _wants_log_scale(values: Sequence[float]) -> bool:
    """True when every value is positive and they span :data:`_LOG_SCALE_RATIO` or more."""
    return bool(values) and min(values) > 0 and max(values) / min(values) >= _LOG_SCALE_RATIO


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.seqlab-tmp")
    try:
        with open(tmp, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def plot_loss_curve(
    records: Sequence[Mapping[str, Any]],
    path: str | os.PathLike[str],
    *,
    title: str = "Training curve",
) -> Path:
    """Plot training and validation loss against the step and write a PNG to ``path``.

    ``records`` are metrics lines: those with ``"train_loss"`` draw the training curve,
    those with ``"valid_loss"`` the validation curve (with markers); other records and
    non-finite values are skipped. The y axis is logarithmic when the losses are positive
    and span a factor of 20 or more. The file is written atomically. Returns ``path``.
    """
    path = Path(path)
    train_steps, train_loss = _series(records, "train_loss")
    valid_steps, valid_loss = _series(records, "valid_loss")
    figure = Figure(figsize=(7.0, 4.5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    if train_loss:
        ax.plot(train_steps, train_loss, linewidth=1.2, label="train")
    if valid_loss:
        ax.plot(valid_steps, valid_loss, marker="o", markersize=3, label="validation")
    if train_loss or valid_loss:
        ax.legend()
    else:
        ax.text(0.5, 0.5, "no losses recorded yet", ha="center", va="center")
    if _wants_log_scale(train_loss + valid_loss):
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    _atomic_write_bytes(path, buffer.getvalue())
    return path
