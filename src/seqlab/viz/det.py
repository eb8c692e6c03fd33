"""DET curves of a trigger-word detector: misses against false accepts per hour.

Each point is one detection threshold (``seqlab.data.wake.det_points``): x is the false
accepts per hour on audio without the trigger word (log scale; zero drawn at the axis's
left end), y the share of trigger words missed. The operating threshold is marked.

Drawn on a private ``Figure`` + ``FigureCanvasAgg`` (no pyplot state), written atomically.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from seqlab._io import PathLike, atomic_write_bytes

__all__ = ["det_figure", "plot_det"]


def det_figure(
    points: Sequence[tuple[float, float, float]], *, threshold: float | None = None,
    title: str = "DET curve",
) -> Figure:  # fmt: skip
    """The figure of (threshold, FA/h, miss rate) points."""
    if not points:
        raise ValueError("no DET points to draw")
    fig = Figure(figsize=(5.5, 4.2))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    positive = [fa for _, fa, _ in points if fa > 0]
    floor = min(positive) / 3 if positive else 0.01
    xs = [max(fa, floor) for _, fa, _ in points]
    ax.plot(xs, [100 * m for _, _, m in points], marker=".", lw=1.2)
    if threshold is not None:
        at = min(points, key=lambda p: abs(p[0] - threshold))
        label = f"threshold {at[0]:g}: {at[1]:.2f} FA/h, {100 * at[2]:.1f}% missed"
        ax.plot([max(at[1], floor)], [100 * at[2]], "o", color="C3", label=label)
        ax.legend(loc="upper right", fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("false accepts per hour (0 drawn at the left edge)")
    ax.set_ylabel("miss rate (%)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
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
