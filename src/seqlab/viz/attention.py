"""Attention heatmaps: α<t,t'> with the source tokens on x and the output tokens on y.

The course's picture of an attentive translator (week 3): row t is the distribution
α<t,·> the decoder used for output y<t>, column t' is source token x<t'>. Drawn on a private
``Figure`` + ``FigureCanvasAgg`` (no pyplot state, no backend selection) and written
atomically as PNG.

The title (``seqlab translate decode --heatmap`` writes "source  →  translation") is wrapped at
spaces to lie inside the figure, which grows a line's height per extra line; a word wider than
the figure makes the font smaller (down to 7 points), then is broken. Source tokens wider than
their column (words, not characters) are written upright so that they do not overlap.
"""

from __future__ import annotations

import io
import os
import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from seqlab._io import atomic_write_bytes

__all__ = [
    "attention_figure",
    "attention_heads_figure",
    "plot_attention",
    "save_attention_heads",
]

# How a few invisible characters are shown on the axes.
_VISIBLE = {" ": "␣", "\t": "⇥", "\n": "↵", "": "∅"}


_TITLE_PT = 10.0  # the title's font size
_MIN_TITLE_PT = 7.0  # the smallest it shrinks to for a word wider than the figure
_EDGE_PX = 4.0  # the title keeps this far from the figure's edges


def _label(token: str) -> str:
    return _VISIBLE.get(token, token)


def _inside(box: Bbox, fig: Figure) -> bool:
    """Whether a window extent lies inside the figure, ``_EDGE_PX`` from its edges."""
    return bool(
        box.x0 >= _EDGE_PX - 0.5
        and box.x1 <= fig.bbox.width - _EDGE_PX + 0.5
        and box.y1 <= fig.bbox.height - _EDGE_PX + 0.5
    )


def _wrap_to_width(text: Text, title: str, width_px: float, renderer: RendererAgg) -> bool:
    """Set ``text`` to ``title`` wrapped at spaces onto the fewest lines no wider than
    ``width_px`` pixels; shrink its font (down to ``_MIN_TITLE_PT``) when one word is wider,
    and break words as a last resort. Returns whether it now fits."""

    def width() -> float:
        return float(text.get_window_extent(renderer).width)

    text.set_fontsize(_TITLE_PT)
    text.set_text(title)
    if width() <= width_px:
        return True
    for chars in range(len(title) - 1, 0, -1):
        text.set_text(textwrap.fill(title, chars, break_long_words=False, break_on_hyphens=False))
        if width() <= width_px:
            return True
    # one word per line and still too wide: a smaller font, then broken words
    text.set_fontsize(max(_MIN_TITLE_PT, _TITLE_PT * width_px / width()))
    if width() <= width_px:
        return True
    for chars in range(max(len(w) for w in title.split()), 0, -1):
        text.set_text(textwrap.fill(title, chars, break_on_hyphens=False))
        if width() <= width_px:
            return True
    return False


def _fit_title(fig: Figure, ax: Axes, renderer: RendererAgg, title: str) -> Text:
    """Put ``title`` over ``ax`` inside the figure: wrapped (the figure taller by the extra
    lines), smaller or broken as needed; the layout is redone after each change."""
    text = ax.set_title(title, fontsize=_TITLE_PT, pad=24)
    fig.tight_layout()
    width = fig.get_size_inches()[0]
    lines = 1
    for _ in range(6):
        box = text.get_window_extent(renderer)
        if _inside(box, fig):
            break
        centre = (box.x0 + box.x1) / 2  # the title is centred over the axes
        room = 2 * min(centre - _EDGE_PX, fig.bbox.width - _EDGE_PX - centre)
        _wrap_to_width(text, title, max(room, 1.0), renderer)
        extra = text.get_text().count("\n") + 1 - lines  # lines added since the last layout
        if extra > 0:
            line_in = 1.25 * text.get_fontsize() / 72.0
            fig.set_size_inches(width, fig.get_size_inches()[1] + extra * line_in)
            lines += extra
        fig.tight_layout()
    return text


def attention_figure(
    weights: torch.Tensor | np.ndarray,
    source_tokens: Sequence[str],
    output_tokens: Sequence[str],
    *,
    title: str | None = None,
    dpi: int = 120,
) -> Figure:
    """The heatmap of ``weights`` (Ty, Tx) as a matplotlib ``Figure`` (not saved).

    x axis: ``source_tokens`` (Tx), on top (upright when one is wider than its column);
    y axis: ``output_tokens`` (Ty), top to bottom in output order; a colorbar shows α. Spaces
    are drawn as ``␣``. A ``title`` too wide for the figure is wrapped (the figure grows a line
    per extra line), or set smaller, so that it lies inside the figure.

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
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(alphas, cmap="viridis", vmin=0.0, vmax=max(1e-9, float(alphas.max())))
    ax.set_xticks(range(tx))
    names = [_label(t) for t in source_tokens]
    ax.set_xticklabels(names, fontsize=9)
    renderer = canvas.get_renderer()
    probe = fig.text(0, 0, "", fontsize=9)
    widths = []  # pixels
    for name in set(names):
        probe.set_text(name)
        widths.append(probe.get_window_extent(renderer).width)
    probe.remove()
    widest = max(widths)
    if widest > 0.9 * cell * dpi:  # words, not characters: they would overlap side by side
        ax.tick_params(axis="x", labelrotation=90)
    ax.set_yticks(range(ty))
    ax.set_yticklabels([_label(t) for t in output_tokens], fontsize=9)
    ax.set_xlabel("source x<t'>")
    ax.set_ylabel("output y<t>")
    ax.xaxis.set_ticks_position("top")
    ax.xaxis.set_label_position("top")
    bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    bar.set_label("attention α<t,t'>")
    if title:
        _fit_title(fig, ax, renderer, title)
    else:
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


def attention_heads_figure(
    weights: torch.Tensor | np.ndarray,
    query_tokens: Sequence[str],
    key_tokens: Sequence[str],
    *,
    title: str | None = None,
    dpi: int = 100,
) -> Figure:
    """One layer's attention heads side by side, as a matplotlib ``Figure`` (not saved).

    A grid of up to 4 heads per row; in each heatmap row i is query ``query_tokens[i]`` and
    column j key ``key_tokens[j]`` (on top, upright when there are many), one colour scale
    0 … 1 for every head so that the heads compare.

    Shape:
        weights: (nh, Tq, Tk), len(query_tokens) == Tq, len(key_tokens) == Tk
    """
    alphas = weights.detach().cpu().double().numpy() if torch.is_tensor(weights) else weights
    alphas = np.asarray(alphas, dtype=np.float64)
    tq, tk = len(query_tokens), len(key_tokens)
    if alphas.ndim != 3 or alphas.shape[1:] != (tq, tk) or alphas.shape[0] == 0 or not tq * tk:
        raise ValueError(
            f"expected weights of shape (nh, Tq={tq}, Tk={tk}) to match the tokens, "
            f"got {tuple(alphas.shape)}"
        )
    heads = alphas.shape[0]
    cols = min(heads, 4)
    rows = -(-heads // cols)
    cell = 0.28  # inches per token
    width, height = max(2.4, 0.9 + cell * tk), max(2.0, 0.9 + cell * tq)
    size = (cols * width + 0.8, rows * height + 0.6)
    fig = Figure(figsize=size, dpi=dpi, layout="constrained")  # leaves room for the colorbar
    FigureCanvasAgg(fig)
    upright = tk > 12 or max(len(t) for t in key_tokens) > 2
    image = None
    for h in range(heads):
        ax = fig.add_subplot(rows, cols, h + 1)
        image = ax.imshow(alphas[h], cmap="viridis", vmin=0.0, vmax=1.0)
        ax.set_title(f"head {h + 1}", fontsize=9)
        ax.set_xticks(range(tk))
        ax.set_xticklabels([_label(t) for t in key_tokens], fontsize=7)
        ax.set_yticks(range(tq))
        ax.set_yticklabels([_label(t) for t in query_tokens], fontsize=7)
        ax.xaxis.set_ticks_position("top")
        if upright:
            ax.tick_params(axis="x", labelrotation=90)
    if title:
        fig.suptitle(title, fontsize=10)
    if image is None:
        raise ValueError("no attention head to draw")
    fig.colorbar(image, ax=fig.axes, fraction=0.02, pad=0.02, label="α")
    return fig


def save_attention_heads(
    weights: torch.Tensor | np.ndarray,
    query_tokens: Sequence[str],
    key_tokens: Sequence[str],
    out_dir: str | os.PathLike[str],
    prefix: str = "attention",
    *,
    dpi: int = 100,
) -> list[Path]:
    """Write one PNG per layer, each a grid of its heads (:func:`attention_heads_figure`),
    to ``out_dir/{prefix}-layer{l}.png`` (l from 1; the folder is created). For a
    Transformer's self-attention pass the same tokens twice; for cross-attention the output
    tokens as queries and the source tokens as keys. Returns the paths, layer order.

    Shape:
        weights: (L, nh, Tq, Tk), len(query_tokens) == Tq, len(key_tokens) == Tk
    """
    if weights.ndim != 4:
        raise ValueError(f"expected weights of shape (L, nh, Tq, Tk), got {tuple(weights.shape)}")
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for layer in range(weights.shape[0]):
        fig = attention_heads_figure(
            weights[layer], query_tokens, key_tokens, title=f"{prefix}: layer {layer + 1}", dpi=dpi
        )
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        paths.append(
            atomic_write_bytes(folder / f"{prefix}-layer{layer + 1}.png", buffer.getvalue())
        )
    return paths
