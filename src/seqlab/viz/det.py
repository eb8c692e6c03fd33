"""DET curves of a trigger-word detector: misses against false accepts per hour.

Each point is one detection threshold (``seqlab.data.wake.det_points``): x is the false
accepts per hour on audio without the trigger word, y the share of trigger words missed. The
x axis is symmetric-log (``symlog``): logarithmic from the smallest non-zero FA/h up (a
count's resolution, 1 / hours of negative audio), linear below it, so **zero is drawn at 0**
with its own tick labelled 0 instead of being pushed onto a log axis where it would read as
a small positive number. The operating threshold is marked.

Drawn on a private ``Figure`` + ``FigureCanvasAgg`` (no pyplot state), written atomically.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from seqlab._io import PathLike, atomic_write_bytes

__all__ = ["det_figure", "plot_det"]


def _linthresh(points: Sequence[tuple[float, float, float]]) -> float:
    """Where the x axis turns from linear to log: the power of ten at or below the smallest
    positive FA/h (1 when every point is 0)."""
    positive = [fa for _, fa, _ in points if fa > 0]
    return 10.0 ** math.floor(math.log10(min(positive))) if positive else 1.0


def _fa_label(x: float, _pos: object = None) -> str:
    return "0" if x == 0 else f"{x:g}"


def det_figure(
    points: Sequence[tuple[float, float, float]], *, threshold: float | None = None,
    title: str = "DET curve",
) -> Figure:  # fmt: skip
    """The figure of (threshold, FA/h, miss rate) points; FA/h = 0 is drawn at x = 0."""
    if not points:
        raise ValueError("no DET points to draw")
    fig = Figure(figsize=(5.5, 4.2))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    xs = [fa for _, fa, _ in points]
    ax.plot(xs, [100 * m for _, _, m in points], marker=".", lw=1.2)
    if threshold is not None:
        at = min(points, key=lambda p: abs(p[0] - threshold))
        label = f"threshold {at[0]:g}: {at[1]:.2f} FA/h, {100 * at[2]:.1f}% missed"
        ax.plot([at[1]], [100 * at[2]], "o", color="C3", label=label)
        ax.legend(loc="best", fontsize=8)
    lin = _linthresh(points)
    ax.set_xscale("symlog", linthresh=lin, linscale=0.5)
    top = max(max(xs), lin)
    decades = range(round(math.log10(lin)), math.floor(math.log10(top)) + 1)
    steps = (1, 2, 5) if len(decades) <= 2 else (1,)  # 1-2-5 ticks when few decades
    ticks = [m * 10.0**k for k in decades for m in steps if m * 10.0**k <= top * 1.5]
    ax.xaxis.set_major_locator(FixedLocator([0.0, *ticks]))
    ax.xaxis.set_major_formatter(FuncFormatter(_fa_label))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlim(-0.05 * lin, top * 1.5)
    ax.set_xlabel(f"false accepts per hour (linear below {lin:g}, log above)")
    ax.set_ylabel("miss rate (%)")
    ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_det(
    points: Sequence[tuple[float, float, float]], path: PathLike, *,
    threshold: float | None = None, title: str = "DET curve",
) -> Path:  # fmt: skip
    """Draw :func:`det_figure` and write it as a PNG (atomically)."""
    buf = io.BytesIO()
    det_figure(points, threshold=threshold, title=title).savefig(buf, format="png", dpi=110)
    return atomic_write_bytes(path, buf.getvalue())
