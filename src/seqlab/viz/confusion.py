"""Confusion matrices: true class on y, predicted class on x, a count in every cell.

With ``normalize=True`` (the default) each cell is coloured by the fraction of its row (of
the examples of that true class, the share predicted as the column's class: the diagonal is
the per-class recall) and shows its count over that percentage; with ``normalize=False`` the
colour follows the counts. The text on a cell is white where the cell is dark, black
elsewhere. Class names wider than their column are turned 45°, so up to ~20 classes stay
readable; the figure grows with the number of classes.

Emoji: ``display_labels`` maps labels to what the axes show (``seqlab.data.EMOJI`` maps the
Emojify labels to the course's emoji). Matplotlib draws with the fonts installed; when none
of them has a glyph of a display label (DejaVu Sans, matplotlib's own font, lacks ⚾ and 🍴;
colour emoji fonts cannot be drawn by Agg), every axis label is written as the label followed
by the symbols' names instead (``"0 heart"``, ``"1 baseball"``, ...), so that nothing is drawn
as an empty box and matplotlib warns about nothing. A monochrome emoji font (Symbola, Noto
Emoji) that has the glyphs is used when installed.

Drawn on a private ``Figure`` + ``FigureCanvasAgg`` (no pyplot state), written atomically.
"""

from __future__ import annotations

import functools
import io
import os
import textwrap
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps, font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.ft2font import FT2Font

from seqlab._io import atomic_write_bytes
from seqlab.metrics.classification import ClassificationReport

__all__ = ["confusion_figure", "display_names", "plot_confusion"]

_CMAP = "Blues"
_CELL_IN = 0.62  # inches per class (shrinks for many classes, see _cell_inches)
_INVISIBLE = {"\ufe0f", "\ufe0e", "\u200d"}  # emoji presentation selectors, zero-width joiner
# Fonts never used for missing glyphs: bitmap colour emoji (Agg cannot draw them) and
# "Last Resort" (a box for every character).
_UNUSABLE_FONTS = ("color", "last resort")
# Short names of the course's emoji (Unicode's names are long: "SMILING FACE WITH OPEN MOUTH
# AND SMILING EYES"); other symbols get their Unicode name in lower case.
_SYMBOL_NAMES = {
    "❤": "heart",
    "⚾": "baseball",
    "😄": "smile",
    "😞": "disappointed",
    "🍴": "fork and knife",
}


@functools.cache
def _charmap(path: str) -> frozenset[int]:
    """The code points a font file has glyphs for (empty when it cannot be read)."""
    try:
        return frozenset(FT2Font(path).get_charmap())
    except (OSError, RuntimeError, ValueError):
        return frozenset()


def _font_family(texts: Sequence[str]) -> list[str] | None:
    """Font families that draw every visible character of ``texts``: matplotlib's default,
    or it followed by an installed font that has the missing glyphs; None when none has."""
    default = font_manager.FontProperties()
    family = font_manager.fontManager.findfont(default)
    name = font_manager.FontProperties(fname=family).get_name()
    needed = {ord(c) for t in texts for c in t if c not in _INVISIBLE}
    missing = needed - _charmap(family)
    if not missing:
        return [name]
    for entry in font_manager.fontManager.ttflist:
        if any(word in entry.name.lower() for word in _UNUSABLE_FONTS):
            continue
        if missing <= _charmap(entry.fname):
            return [name, entry.name]
    return None


def _symbol_name(char: str) -> str:
    """A symbol's short name: ``❤`` -> ``heart``."""
    return _SYMBOL_NAMES.get(char, unicodedata.name(char, "symbol").lower())


def _named(label: str, text: str) -> str:
    """``text`` with its symbols written as names, after ``label``: ``"0 heart"``."""
    words = []
    for char in text:
        if char in _INVISIBLE:
            continue
        words.append(f" {_symbol_name(char)} " if unicodedata.category(char) == "So" else char)
    shown = " ".join("".join(words).split())
    return shown if shown.split(" ")[0] == label else f"{label} {shown}".strip()


def display_names(
    labels: Sequence[str], display_labels: Mapping[str, str] | None = None
) -> tuple[list[str], list[str] | None]:
    """``(names, fonts)``: what the axes show for each label, and the font families that draw
    them (None: matplotlib's default).

    A label shows as ``display_labels[label]`` (itself when absent). When an installed font
    lacks a glyph of them, every name becomes the label followed by its symbols' names
    (``"0 heart"``; see the module docstring).
    """
    if not display_labels:
        return list(labels), None
    names = [display_labels.get(label, label) for label in labels]
    family = _font_family(names)
    if family is None:
        return [_named(label, name) for label, name in zip(labels, names, strict=True)], None
    cleaned = ["".join(c for c in name if c not in _INVISIBLE) for name in names]
    return cleaned, family


def _matrix(
    report_or_matrix: ClassificationReport | np.ndarray, labels: Sequence[str] | None
) -> tuple[np.ndarray, list[str]]:
    """The (C, C) counts and the C labels, checked."""
    if isinstance(report_or_matrix, ClassificationReport):
        counts = np.asarray(report_or_matrix.confusion)
        labels = list(report_or_matrix.labels if labels is None else labels)
    else:
        counts = np.asarray(report_or_matrix)
        if labels is None:
            raise ValueError("give the labels of the confusion matrix's rows and columns")
        labels = list(labels)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1] or counts.shape[0] == 0:
        raise ValueError(f"expected a square (C, C) confusion matrix, got shape {counts.shape}")
    if len(labels) != counts.shape[0]:
        raise ValueError(
            f"expected {counts.shape[0]} labels for a {counts.shape} matrix, got {len(labels)}"
        )
    if not np.isfinite(counts).all() or (counts < 0).any():
        raise ValueError("a confusion matrix holds counts: finite and >= 0")
    return counts.astype(np.float64), labels


def _cell_inches(classes: int) -> float:
    """The side of a cell: smaller for many classes, so that 20 fit on a page."""
    return _CELL_IN if classes <= 8 else max(0.42, _CELL_IN * 8 / classes + 0.2)


def _cell_text(count: float, fraction: float | None) -> str:
    """``"12"`` or ``"12\\n40%"`` (counts are whole numbers unless given otherwise)."""
    shown = f"{count:.0f}" if float(count).is_integer() else f"{count:.3g}"
    return shown if fraction is None else f"{shown}\n{100 * fraction:.0f}%"


def confusion_figure(
    report_or_matrix: ClassificationReport | np.ndarray,
    labels: Sequence[str] | None = None,
    *,
    title: str | None = None,
    normalize: bool = True,
    display_labels: Mapping[str, str] | None = None,
    dpi: int = 120,
) -> Figure:
    """The confusion-matrix heatmap as a matplotlib ``Figure`` (not saved).

    ``report_or_matrix``: a :class:`~seqlab.metrics.classification.ClassificationReport`
    (``labels`` defaults to its labels) or a (C, C) array of counts, rows = true class,
    columns = predicted class, in ``labels`` order.

    Shape:
        report_or_matrix: (C, C), len(labels) == C
    """
    counts, labels = _matrix(report_or_matrix, labels)
    c = len(labels)
    rows = counts.sum(axis=1, keepdims=True)  # (C, 1)
    fractions = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)  # (C, C)
    values = fractions if normalize else counts  # (C, C) what the colours show
    names, family = display_names(labels, display_labels)
    cell = _cell_inches(c)
    fig = Figure(figsize=(max(4.2, 2.6 + cell * c), max(3.4, 1.9 + cell * c)), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    norm = Normalize(vmin=0.0, vmax=1.0 if normalize else max(1.0, float(values.max())))
    cmap = colormaps[_CMAP]
    image = ax.imshow(values, cmap=cmap, norm=norm, interpolation="nearest")
    fontsize = 9 if c <= 8 else (8 if c <= 12 else 6)
    for i in range(c):
        for j in range(c):
            r, g, b, _ = cmap(norm(values[i, j]))
            dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5  # perceived brightness
            text = _cell_text(counts[i, j], fractions[i, j] if normalize and rows[i, 0] else None)
            ax.text(j, i, text, ha="center", va="center", fontsize=fontsize,
                    color="white" if dark else "black")  # fmt: skip
    tick = {"fontsize": 9 if c <= 12 else 7}
    if family is not None:
        tick["fontfamily"] = family  # type: ignore[assignment]
    ax.set_xticks(range(c))
    ax.set_yticks(range(c))
    ax.set_yticklabels(names, **tick)  # type: ignore[arg-type]
    widest = max(len(n) for n in names)
    if widest * 0.6 * tick["fontsize"] / 72 > 0.9 * cell:  # a label wider than its column
        ax.set_xticklabels(names, rotation=45, ha="right", rotation_mode="anchor", **tick)  # type: ignore[arg-type]
    else:
        ax.set_xticklabels(names, **tick)  # type: ignore[arg-type]
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.tick_params(length=0)
    bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    bar.set_label("fraction of the true class" if normalize else "count")
    if title:
        ax.set_title(textwrap.fill(title, max(20, int(8 * fig.get_size_inches()[0]))), fontsize=10)
    fig.tight_layout()
    return fig


def plot_confusion(
    report_or_matrix: ClassificationReport | np.ndarray,
    labels: Sequence[str] | None,
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
    normalize: bool = True,
    display_labels: Mapping[str, str] | None = None,
    dpi: int = 120,
) -> Path:
    """Draw :func:`confusion_figure` and write it to ``path`` (PNG) atomically.

    ``labels`` may be None for a report (its labels). Returns the path.

    Shape:
        report_or_matrix: (C, C), len(labels) == C
    """
    fig = confusion_figure(
        report_or_matrix,
        labels,
        title=title,
        normalize=normalize,
        display_labels=display_labels,
        dpi=dpi,
    )
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return atomic_write_bytes(Path(path), buffer.getvalue())
