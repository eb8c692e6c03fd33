"""Attention heatmaps: α<t,t'> with the source tokens on x and the output tokens on y.

The course's picture of an attentive translator (week 3): row t is the distribution
α<t,·> the decoder used for output y<t>, column t' is source token x<t'>. Drawn on a private
``Figure`` + ``FigureCanvasAgg`` (no pyplot state, no backend selection) and written
atomically as PNG.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from seqlab._io import atomic_write_bytes

__all__ = ["attention_figure", "plot_attention"]

# How a few invisible characters are shown on the axes.
_VISIBLE = {" ": "␣", "\t": "⇥", "\n": "↵", "": "∅"}


def _label(token: str) -> str:
    return _VISIBLE.get(token, token)


def attention_figure(
    weights: torch.Tensor | np.ndarray,
    source_tokens: Sequence[str],
    output_tokens: Sequence[str],
    *,
    title: str | None = None,
    dpi: int = 120,
) -> Figure:
    """The heatmap of ``weights`` (Ty, Tx) as a matplotlib ``Figure`` (not saved).

    x axis: ``source_tokens`` (Tx), on top; y axis: ``output_tokens`` (Ty), top to bottom
    in output order; a colorbar shows α. Spaces are drawn as ``␣``.

    Shape:
        weights: (Ty, Tx), len(output_tokens) == Ty, len(source_tokens) == Tx
    """
    alphas = weights.detach().cpu().double().numpy() if torch.is_tensor(weights) else weights
    alphas = np.asarray(alphas, dtype=np.float64)
    ty, tx = len(output_tokens), len(source_tokens)
    if alphas.shape != (ty, tx):
        raise ValueError(
            f"expected weights of shape (Ty={ty}, Tx={tx}) to match the tokens, "
            f"got {tuple(alphas.shape)}"
        )
    if ty == 0 or tx == 0:
        raise ValueError("nothing to draw: no source or no output tokens")
    cell = 0.32  # inches per token
    fig = Figure(figsize=(max(4.0, 1.8 + cell * tx), max(3.0, 1.4 + cell * ty)), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(alphas, cmap="viridis", vmin=0.0, vmax=max(1e-9, float(alphas.max())))
    ax.set_xticks(range(tx))
    ax.set_xticklabels([_label(t) for t in source_tokens], fontsize=9)
    ax.set_yticks(range(ty))
    ax.set_yticklabels([_label(t) for t in output_tokens], fontsize=9)
    ax.set_xlabel("source x<t'>")
    ax.set_ylabel("output y<t>")
    ax.xaxis.set_ticks_position("top")
    ax.xaxis.set_label_position("top")
    if title:
        ax.set_title(title, fontsize=10, pad=24)
    bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    bar.set_label("attention α<t,t'>")
    fig.tight_layout()
    return fig


def plot_attention(
    weights: torch.Tensor | np.ndarray,
    source_tokens: Sequence[str],
    output_tokens: Sequence[str],
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
    dpi: int = 120,
) -> Path:
    """Draw :func:`attention_figure` and write it to ``path`` (PNG) atomically.

    Returns the path.

    Shape:
        weights: (Ty, Tx), len(output_tokens) == Ty, len(source_tokens) == Tx
    """
    fig = attention_figure(weights, source_tokens, output_tokens, title=title, dpi=dpi)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return atomic_write_bytes(Path(path), buffer.getvalue())
