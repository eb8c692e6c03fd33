"""The vanishing-gradient picture: how far back each model's gradient reaches.

Two panels from :class:`seqlab.nn.diagnostics.GradientFlow` measurements, one line per
model, log-scaled y: on the left ‖∂L/∂a<t>‖ against the step t, on the right
‖∂a<T>/∂a<t>‖_F against the distance T − t (d ≥ 1; d = 0 is the identity). A plain RNN's
right-hand line falls as a straight line on the log scale (geometric decay); a gate held
open keeps it level. Drawn on a private ``Figure`` + ``FigureCanvasAgg`` and written
atomically as PNG.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from seqlab._io import atomic_write_bytes
from seqlab.nn.diagnostics import GradientFlow

__all__ = ["plot_gradient_flow"]


def _positive(values: np.ndarray) -> np.ndarray:
    """``values`` with zeros and non-finite entries as NaN (gaps on a log axis)."""
    out = np.asarray(values, dtype=np.float64).copy()
    out[~np.isfinite(out) | (out <= 0)] = np.nan
    return out


def plot_gradient_flow(
    flows: Mapping[str, GradientFlow],
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
    styles: Mapping[str, Mapping[str, Any]] | None = None,
    dpi: int = 110,
) -> Path:
    """Draw the gradient flow of each model (label → measurement) and write a PNG to ``path``.

    Left: ‖∂L/∂a<t>‖ by step t = 1..T; right: ‖∂a<T>/∂a<t>‖_F by distance T − t = 1..T−1.
    Both y axes are logarithmic; a value that is exactly 0 (no path) leaves a gap.
    ``styles`` gives matplotlib line options per label (``{"GRU (fresh)": {"linestyle":
    "--", "color": "C1"}}``). The file is written atomically. Returns the path.
    """
    if not flows:
        raise ValueError("nothing to draw: give at least one gradient flow")
    styles = styles or {}
    figure = Figure(figsize=(11.0, 4.6), dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    left, right = figure.subplots(1, 2)
    for k, (label, flow) in enumerate(flows.items()):
        style: dict[str, Any] = {"color": f"C{k % 10}", "linewidth": 1.4}
        style.update(styles.get(label, {}))
        steps = np.arange(1, flow.steps + 1)
        left.plot(steps, _positive(flow.loss_grad_norms), label=label, **style)
        right.plot(flow.distances[1:], _positive(flow.jacobian_norms[1:]), label=label, **style)
    left.set_xlabel("step t")
    left.set_ylabel(r"$\|\partial L\,/\,\partial a^{\langle t\rangle}\|$")
    left.set_title("gradient of the loss at each step")
    right.set_xlabel("distance T − t (steps)")
    right.set_ylabel(r"$\|\partial a^{\langle T\rangle}\,/\,\partial a^{\langle t\rangle}\|_F$")
    right.set_title("how much of a⟨t⟩ reaches a⟨T⟩")
    for ax in (left, right):
        ax.set_yscale("log")
        ax.grid(True, which="major", alpha=0.3)
    right.legend(fontsize=9, loc="best")
    if title:
        figure.suptitle(title)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return atomic_write_bytes(Path(path), buffer.getvalue())
