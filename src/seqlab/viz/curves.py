"""Loss curves: training and validation loss against the optimizer step (and the validation
metric that picks the kept weights, when it is not the loss).

Reads the records a :class:`seqlab.train.Trainer` appends to ``metrics.jsonl`` (dicts with
``"step"`` and ``"train_loss"`` or ``"valid_loss"``) and writes a PNG. Drawn on a private
``Figure`` + ``FigureCanvasAgg``, so importing this module neither selects a backend nor
creates pyplot figures.

* :func:`plot_loss_curve` — draw the records once;
* :class:`LossCurve` — the trainer callback that keeps ``loss_curve.png`` up to date while a
  run trains (the tasks attach it: the trainer itself draws nothing).
"""

from __future__ import annotations

import io
import math
import os
import secrets
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from seqlab._validate import is_number, require
from seqlab.train import Callback, improves

__all__ = ["LossCurve", "plot_loss_curve"]

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


def _plot_metric(
    ax: Any, records: Sequence[Mapping[str, Any]], metric: str, maximize: bool
) -> list[Any]:
    """``valid_<metric>`` on a twin y axis of ``ax`` and the kept step; the legend handles."""
    steps, values = _series(records, f"valid_{metric}")
    if not values:
        return []
    right = ax.twinx()
    (line,) = right.plot(
        steps, values, color="tab:green", marker="s", markersize=3, label=f"validation {metric}"
    )
    right.set_ylabel(metric)
    best = 0  # the step the trainer kept: the values' best by the trainer's own rule
    for i, value in enumerate(values):
        if improves(value, values[best] if i else None, maximize=maximize):
            best = i
    kept = right.axvline(
        steps[best],
        color="tab:green",
        linestyle="--",
        linewidth=1,
        label=f"kept: step {steps[best]:.0f}",
    )
    return [line, kept]


def plot_loss_curve(
    records: Sequence[Mapping[str, Any]],
    path: str | os.PathLike[str],
    *,
    title: str = "Training curve",
    metric: str | None = None,
    maximize: bool = True,
) -> Path:
    """Plot training and validation loss against the step and write a PNG to ``path``.

    ``records`` are metrics lines: those with ``"train_loss"`` draw the training curve,
    those with ``"valid_loss"`` the validation curve (with markers); other records and
    non-finite values are skipped. The y axis is logarithmic when the losses are positive
    and span a factor of 20 or more. The file is written atomically. Returns ``path``.

    ``metric`` (a name other than ``"loss"``: the trainer's ``best_metric``) also draws
    ``valid_<metric>`` on a right-hand axis and a dashed vertical line at the step whose
    value is best (the largest when ``maximize``, else the smallest; the first of equals, as
    the trainer keeps it): the weights the run kept.
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
    extra = [] if metric in (None, "loss") else _plot_metric(ax, records, metric, maximize)
    if extra:  # on the twin axes, drawn above the curves of both
        extra[0].axes.legend(handles=ax.get_lines() + extra, loc="lower left")
    elif train_loss or valid_loss:
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


class LossCurve(Callback):
    """A :class:`~seqlab.train.Callback` that redraws :func:`plot_loss_curve` to ``path``.

    Redrawn after a validation line, at most every ``min_interval`` seconds (drawing takes
    a fraction of a second; the clock starts at the first line of a ``fit()``), and always
    when ``fit()`` ends (divergence included), so the file shows the whole run at the end.
    ``metric``/``maximize``: see :func:`plot_loss_curve` (the tasks pass the trainer's
    ``best_metric``).

    >>> Trainer(task, config, out, callbacks=[LossCurve(out / "loss_curve.png")])  # doctest: +SKIP
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        min_interval: float = 10.0,
        *,
        metric: str | None = None,
        maximize: bool = True,
    ) -> None:
        require(
            is_number(min_interval) and min_interval >= 0,
            f"min_interval must be a number of seconds >= 0, got {min_interval!r}",
        )
        self.path = Path(path)  # the PNG, rewritten atomically
        self.min_interval = float(min_interval)  # seconds between two redraws while training
        self._last_draw: float | None = None  # when the file was last drawn (or the fit began)
        self.metric, self.maximize = metric, maximize  # the kept weights' metric, if not loss

    def on_record(self, record: dict[str, Any], records: list[dict[str, Any]]) -> None:
        now = time.perf_counter()
        if self._last_draw is None:
            self._last_draw = now
        is_validation = any(key.startswith("valid_") for key in record)
        if is_validation and now - self._last_draw >= self.min_interval:
            self._draw(records)

    def on_end(self, records: list[dict[str, Any]]) -> None:
        self._draw(records)
        self._last_draw = None  # a later fit() starts its own clock

    def _draw(self, records: Sequence[Mapping[str, Any]]) -> None:
        plot_loss_curve(records, self.path, metric=self.metric, maximize=self.maximize)
        self._last_draw = time.perf_counter()
