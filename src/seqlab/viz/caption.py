"""Where a captioner looked: the image once per generated word, its attention laid over it.

Show, Attend and Tell's figure: panel 0 is the image with the caption as the title; panel t
shows word y<t> above the image with α<t,·> (a g × g grid of regions) stretched over it and
smoothed (bilinear), bright where the decoder looked. Drawn on a private ``Figure`` +
``FigureCanvasAgg`` (no pyplot state) and written atomically as PNG.
"""

from __future__ import annotations

import io
import os
import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from seqlab._io import atomic_write_bytes

__all__ = ["caption_attention_figure", "plot_caption_attention"]

_COLUMNS = 6  # panels per row
_PANEL_IN = 1.6  # a panel's side in inches


def caption_attention_figure(
    image: np.ndarray,
    words: Sequence[str],
    weights: torch.Tensor | np.ndarray,
    *,
    title: str | None = None,
) -> Figure:
    """The figure, unsaved.

    Shape:
        image: (H, W, 3) uint8, weights: (Ty, g, g) with one grid per word
    """
    alphas = (
        weights.detach().cpu().numpy() if isinstance(weights, torch.Tensor) else np.asarray(weights)
    )
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"expected an image of shape (H, W, 3), got {image.shape}")
    if alphas.ndim != 3 or alphas.shape[0] != len(words) or alphas.shape[1] != alphas.shape[2]:
        raise ValueError(f"expected weights of shape (Ty={len(words)}, g, g), got {alphas.shape}")
    panels = 1 + len(words)
    cols = min(_COLUMNS, panels)
    rows = -(-panels // cols)
    fig = Figure(figsize=(cols * _PANEL_IN, rows * (_PANEL_IN + 0.3) + 0.5))
    FigureCanvasAgg(fig)
    h, w = image.shape[:2]
    extent = (0.0, float(w), float(h), 0.0)
    grey = image.mean(axis=-1)  # (H, W): the image under the heat map
    for k in range(rows * cols):
        ax = fig.add_subplot(rows, cols, k + 1)
        ax.set_axis_off()
        if k == 0:
            ax.imshow(image, extent=extent, interpolation="nearest")
            ax.set_title("image", fontsize=9)
        elif k < panels:
            ax.imshow(grey, cmap="gray", extent=extent, interpolation="nearest", vmin=0, vmax=255)
            alpha = alphas[k - 1]  # (g, g)
            ax.imshow(
                alpha / max(float(alpha.max()), 1e-12),
                cmap="inferno",
                alpha=0.6,
                extent=extent,
                interpolation="bilinear",
                vmin=0.0,
                vmax=1.0,
            )
            ax.set_title(words[k - 1], fontsize=9)
    if title:
        fig.suptitle(textwrap.fill(title, 12 * cols), fontsize=10)
    fig.tight_layout()
    return fig


def plot_caption_attention(
    image: np.ndarray,
    words: Sequence[str],
    weights: torch.Tensor | np.ndarray,
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
    dpi: int = 100,
) -> Path:
    """Draw :func:`caption_attention_figure` and write it to ``path`` (PNG, atomically).

    Shape:
        image: (H, W, 3) uint8, weights: (Ty, g, g)
    """
    fig = caption_attention_figure(image, words, weights, title=title)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return atomic_write_bytes(path, buffer.getvalue())
