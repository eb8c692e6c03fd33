"""Two-dimensional maps of word vectors (t-SNE or PCA) with analogy arrows.

The words' unit vectors (cosine geometry, the one similarity and analogies use) are projected
to 2-D, either by PCA (NumPy SVD of the centred vectors: no extra dependency) or by t-SNE
(van der Maaten & Hinton 2008, ``sklearn.manifold.TSNE``, from the ``viz`` extra). Labels are
placed by a small repulsion in pixel space so that about a hundred words stay readable, and a
label pushed far from its point gets a thin leader line. Analogy arrows (man -> woman,
king -> queen) join the projected points of each pair. Drawn on a private ``Figure`` +
``FigureCanvasAgg`` (no pyplot state) and written atomically.

Why arrows used to vanish, and what keeps them visible:

* t-SNE keeps neighbourhoods, not distances: a pair of mutual nearest neighbours (man and
  woman, king and queen) lands side by side. Appended to the 100 most frequent words (function
  words and punctuation), the four arrow words formed a clique of their own, which t-SNE
  squeezed to a few pixels (GloVe 6B 50d, ``top=100``: king -> queen 0.5% of the map's width,
  man -> woman 1.5%). Each arrow word the map lacks now brings its nearest neighbours
  (``context``, 5), so it lands among related words (boy, girl, prince, princess, mother ...):
  8.5% and 3.3% on the same map.
* The perplexity ``(N - 1) / 3`` was 1 for four words: each point saw only its nearest
  neighbour and the pairs collapsed (man, woman, king, queen alone: 1.2% of the width). It is
  now at least 5, below N (65%).
* Whatever the projection does, an arrow is drawn at least 18 points long: the ends of a
  shorter one are moved apart about their midpoint, a note at the bottom of the figure says
  so, and a :class:`ShortArrowWarning` is issued.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from seqlab._io import atomic_write_bytes

if TYPE_CHECKING:
    from seqlab.embeddings.keyed_vectors import KeyedVectors

__all__ = ["DEFAULT_ARROWS", "ShortArrowWarning", "arrow_shrink", "plot_embeddings", "project_2d"]

Projection = Literal["tsne", "pca"]

# Arrows drawn when ``arrows=None``: each pair whose two words are in the vocabulary.
DEFAULT_ARROWS: tuple[tuple[str, str], ...] = (("man", "woman"), ("king", "queen"))
# Words plotted when neither ``words`` nor ``top`` is given.
_DEFAULT_TOP = 100
# t-SNE's usual perplexity, capped below the number of points (it must be < n_samples), and
# its floor: with perplexity ~1 every point sees only its nearest neighbour and pairs collapse.
_PERPLEXITY = 30.0
_MIN_PERPLEXITY = 5.0
# Nearest neighbours an arrow word brings to a map that lacks it, from this many frequent words.
_CONTEXT = 5
_CONTEXT_VOCAB = 10_000
_MIN_ARROW_PT = 18.0  # an analogy arrow is drawn at least this long (a quarter inch)
_AXES_RECT = (0.04, 0.05, 0.92, 0.88)  # the map's axes in figure fractions
_MARGIN = 0.06  # of the points' range, on each side of the axes
# Exact t-SNE up to this many words: faster than Barnes-Hut at map sizes (0.5 s vs 3 s for
# 30 words, 1 s vs 12 s for 100 on a busy 2-core machine) and free of its approximation.
_EXACT_TSNE_MAX = 500
_POINT_BOX_PX = 6.0  # labels keep off a square of this side around every point
_LEADER_PX = 14.0  # a label moved farther than this from its point gets a leader line
_ARROW_SHRINK_PT = 4.0  # an analogy arrow stops this many points short of each dot


class ShortArrowWarning(UserWarning):
    """The projection put an arrow's two words so close that they were moved apart to draw it."""


def arrow_shrink(length: float) -> float:
    """Points an arrow of ``length`` points keeps off each end: 4 (clear of the dots), but
    at most a fifth of the length, so that the arrow between two words drawn side by side
    still shows (a fixed 4 + 4 points erased every arrow shorter than 8)."""
    return min(_ARROW_SHRINK_PT, 0.2 * max(length, 0.0))


def project_2d(x: np.ndarray, *, method: Projection = "pca", seed: int = 0) -> np.ndarray:
    """Project rows ``x`` (N, E) to 2-D coordinates (N, 2) by PCA or t-SNE.

    Rows are scaled to unit length first. PCA takes the top two right singular vectors of the
    centred rows (each signed so that its largest loading is positive, for a reproducible
    picture). t-SNE uses scikit-learn with ``init="pca"``, ``random_state=seed`` and perplexity
    ``min(30, max(5, (N - 1) / 3), N - 1)``: the usual 30 for a hundred words and more, at
    least 5 for a few (perplexity 1, which ``(N - 1) / 3`` gave four words, collapses every
    pair of nearest neighbours onto one spot) and below N as t-SNE requires; exact gradients up
    to 500 words, Barnes-Hut beyond.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 3:
        raise ValueError(f"a 2-D map needs at least 3 word vectors, got array of shape {x.shape}")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)  # (N, E) unit rows
    if method == "pca":
        centred = x - x.mean(axis=0)  # (N, E)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)  # vt: (min(N, E), E)
        components = vt[:2]  # (2, E)
        flip = np.sign(components[np.arange(2), np.abs(components).argmax(axis=1)])
        components = components * flip[:, None]
        coords = centred @ components.T  # (N, E) x (E, 2) -> (N, 2)
        if coords.shape[1] < 2:  # E == 1: a line
            coords = np.column_stack([coords[:, 0], np.zeros(len(coords))])
        return coords
    if method == "tsne":
        try:
            from sklearn.manifold import TSNE
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "t-SNE maps need scikit-learn: pip install 'seqlab[viz]' (or use --method pca)"
            ) from exc
        n = x.shape[0]
        perplexity = min(_PERPLEXITY, max(_MIN_PERPLEXITY, (n - 1) / 3), n - 1.0)
        method_ = "exact" if n <= _EXACT_TSNE_MAX else "barnes_hut"
        tsne = TSNE(
            n_components=2, perplexity=perplexity, init="pca", random_state=seed, method=method_
        )
        return np.asarray(tsne.fit_transform(x), dtype=np.float64)  # (N, 2)
    raise ValueError(f"unknown projection {method!r}: use 'tsne' or 'pca'")


def _choose_words(
    kv: KeyedVectors,
    words: Sequence[str] | None,
    top: int | None,
    arrows: Sequence[tuple[str, str]],
    context: int = _CONTEXT,
) -> list[str]:
    """The words to plot: the given ones or the ``top`` most frequent, plus arrow words.

    Each arrow word not among them is added with its ``context`` nearest neighbours (cosine,
    among the 10,000 most frequent words) that are not there yet: alone among unrelated words,
    man, woman, king and queen would form a clique that t-SNE squeezes to a dot.
    """
    if words is not None and top is not None:
        raise ValueError("give either words or top, not both")
    if words is not None:
        chosen = list(dict.fromkeys(str(w) for w in words))
        kv.indices(chosen)  # OOVError naming every unknown word
    else:
        n = _DEFAULT_TOP if top is None else int(top)
        if n < 1:
            raise ValueError(f"top must be at least 1, got {n}")
        chosen = list(kv.index_to_key[:n])
    if context < 0:
        raise ValueError(f"context must be at least 0, got {context}")
    seen = set(chosen)
    added = []
    for a, b in arrows:
        for w in (a, b):
            if w not in seen:
                seen.add(w)
                chosen.append(w)
                added.append(w)
    for w in added if context else ():
        for neighbour, _ in kv.most_similar(w, topn=context, restrict_vocab=_CONTEXT_VOCAB):
            if neighbour not in seen:
                seen.add(neighbour)
                chosen.append(neighbour)
    if len(chosen) < 3:
        raise ValueError(f"a 2-D map needs at least 3 words, got {len(chosen)}")
    return chosen


def _check_arrows(
    kv: KeyedVectors, arrows: Sequence[tuple[str, str]] | None
) -> list[tuple[str, str]]:
    """Arrow pairs to draw: explicit ones must all be known; defaults are kept where known."""
    if arrows is None:
        return [(a, b) for a, b in DEFAULT_ARROWS if a in kv and b in kv]
    pairs = []
    for pair in arrows:
        if len(pair) != 2:
            raise ValueError(f"an arrow joins two words, got {list(pair)!r}")
        pairs.append((str(pair[0]), str(pair[1])))
    kv.indices([w for pair in pairs for w in pair])  # OOVError naming every unknown word
    return pairs


def _lengthen_short_arrows(
    coords: np.ndarray,
    pairs: Sequence[tuple[int, int]],
    axes_px: tuple[float, float],
    min_px: float,
) -> tuple[np.ndarray, dict[int, float]]:
    """Coordinates (N, 2) in which every arrow ``coords[i] -> coords[j]`` is at least
    ``min_px`` pixels long, on axes ``axes_px`` pixels wide and high that show the points'
    range plus 6% on each side; and, for each arrow moved, its length before, in pixels.

    A short arrow's two ends move apart about their midpoint, along the arrow (to the right
    for two identical points). That widens the range a little, so the check is repeated until
    it holds.
    """
    coords = np.array(coords, dtype=np.float64)  # (N, 2), a copy
    before: dict[int, float] = {}
    for _ in range(20):
        span = np.ptp(coords, axis=0)  # (2,)
        span[span == 0] = 1.0
        px_per_unit = np.asarray(axes_px, dtype=np.float64) / ((1 + 2 * _MARGIN) * span)  # (2,)
        moved = False
        for k, (i, j) in enumerate(pairs):
            delta = (coords[j] - coords[i]) * px_per_unit  # (2,) pixels
            length = float(np.hypot(*delta))
            if length >= min_px:
                continue
            before.setdefault(k, length)
            direction = delta / length if length > 1e-9 else np.array([1.0, 0.0])
            half = direction * (0.51 * min_px) / px_per_unit  # (2,) data units
            middle = (coords[i] + coords[j]) / 2
            coords[i], coords[j] = middle - half, middle + half
            moved = True
        if not moved:
            break
    return coords, before


def _place_labels(
    anchors: np.ndarray,
    sizes: np.ndarray,
    bounds: tuple[float, float, float, float],
    *,
    obstacles: np.ndarray | None = None,
    order: Sequence[int] | None = None,
    rings: int = 60,
    step: float = 3.0,
) -> np.ndarray:
    """Lower-left corners (N, 2), in pixels, for label boxes ``sizes`` (N, 2) near ``anchors``.

    Greedy, in the given order (put the important words first): each label takes the first
    candidate spot that overlaps no label placed before it and covers no point, trying eight
    spots around its point (up-right first, then right, down-right, up-left, left, down-left,
    above, below) at distances 0, ``step``, 2 ``step``, ... (``rings`` of them), kept inside
    ``bounds`` (x0, y0, x1, y1). ``obstacles`` (M, 2) are further pixels to keep clear (points
    along the arrows); ``order`` the order of placement (default: as given). When no spot is
    free it takes the one that overlaps the fewest labels, then points.
    """
    n = len(anchors)
    x0, y0, x1, y1 = bounds
    half = _POINT_BOX_PX / 2
    centres = anchors if obstacles is None else np.concatenate([anchors, obstacles])  # (N+M, 2)
    points = np.concatenate([centres - half, centres + half], axis=1)  # (N+M, 4) x0 y0 x1 y1
    placed = np.zeros((0, 4))  # boxes taken so far
    pos = np.zeros((n, 2))
    d = np.arange(rings, dtype=np.float64)[:, None] * step  # (R, 1)
    for i in range(n) if order is None else order:
        (ax, ay), (w, h) = anchors[i], sizes[i]
        right, left = ax + 3 + d, ax - w - 3 - d  # (R, 1) lower-left x beside the point
        up, down, mid = ay + 2 + d, ay - h - 2 - d, np.full_like(d, ay - h / 2)  # (R, 1) y
        centre_x = np.full_like(d, ax - w / 2)
        # up-right, right, down-right, up-left, left, down-left, above, below
        xs = np.hstack([right, right + 1, right, left, left - 1, left, centre_x, centre_x])
        ys = np.hstack([up, mid, down, up, mid, down, up + 1, down - 1])  # (R, 8)
        cand = np.column_stack(
            [np.clip(xs.ravel(), x0, max(x0, x1 - w)), np.clip(ys.ravel(), y0, max(y0, y1 - h))]
        )  # (C, 2)
        boxes = np.hstack([cand, cand + np.array([w, h])])  # (C, 4)

        def hits(others: np.ndarray, boxes: np.ndarray = boxes) -> np.ndarray:
            """(C,) how many of ``others`` (M, 4) each candidate box intersects."""
            if len(others) == 0:
                return np.zeros(len(boxes), dtype=np.int64)
            ox = np.minimum(boxes[:, None, 2], others[None, :, 2]) - np.maximum(
                boxes[:, None, 0], others[None, :, 0]
            )  # (C, M)
            oy = np.minimum(boxes[:, None, 3], others[None, :, 3]) - np.maximum(
                boxes[:, None, 1], others[None, :, 1]
            )  # (C, M)
            return ((ox > 0) & (oy > 0)).sum(axis=1)

        label_hits, point_hits = hits(placed), hits(points)
        free = np.flatnonzero((label_hits == 0) & (point_hits == 0))
        if free.size == 0:
            free = np.flatnonzero(label_hits == 0)
        penalty = label_hits * (len(points) + 1) + point_hits
        best = int(free[0]) if free.size else int(np.argmin(penalty))
        pos[i] = cand[best]
        placed = np.concatenate([placed, boxes[best : best + 1]])
    return pos


def plot_embeddings(
    kv: KeyedVectors,
    words: Sequence[str] | None = None,
    *,
    top: int | None = None,
    method: Projection = "tsne",
    arrows: Sequence[tuple[str, str]] | None = None,
    context: int = _CONTEXT,
    seed: int = 0,
    out: str | os.PathLike[str],
    title: str | None = None,
    figsize: tuple[float, float] = (11.0, 8.5),
    dpi: int = 110,
) -> Path:
    """Draw a 2-D map of word vectors with analogy arrows and write a PNG to ``out``.

    Args:
        kv: the word vectors.
        words: the words to plot (every one must be in the vocabulary), or
        top: the ``top`` most frequent words (default 100 when ``words`` is not given).
        method: ``"tsne"`` (scikit-learn, the ``viz`` extra) or ``"pca"`` (NumPy).
        arrows: pairs ``(a, b)`` to join with an arrow a -> b; their words are added to the
            map. ``None`` draws man -> woman and king -> queen where the vocabulary has them;
            ``[]`` draws none; an explicit pair with an unknown word raises ``OOVError``.
            An arrow is drawn at least 18 points long: when the projection puts its two
            words closer, they are moved apart, a note at the bottom of the figure names
            the arrow and a :class:`ShortArrowWarning` is issued.
        context: nearest neighbours (among the 10,000 most frequent words) added with each
            arrow word that ``words``/``top`` did not include, so that t-SNE places it among
            related words instead of squeezing the arrow words together; 0 adds none.
        seed: t-SNE's random state.
        out: the PNG path (written atomically).
        title: the figure title (default: method and number of words).
        figsize, dpi: the figure's size in inches and resolution (pixels = figsize x dpi).

    Returns:
        ``Path(out)``.
    """
    out = Path(out)
    pairs = _check_arrows(kv, arrows)
    chosen = _choose_words(kv, words, top, pairs, context)
    x = np.asarray(kv[chosen], dtype=np.float64)  # (N, E)
    coords = project_2d(x, method=method, seed=seed)  # (N, 2)
    n = len(chosen)
    index = {w: i for i, w in enumerate(chosen)}
    axes_px = (figsize[0] * _AXES_RECT[2] * dpi, figsize[1] * _AXES_RECT[3] * dpi)
    coords, short = _lengthen_short_arrows(
        coords, [(index[a], index[b]) for a, b in pairs], axes_px, _MIN_ARROW_PT * dpi / 72.0
    )
    name = "t-SNE" if method == "tsne" else "PCA"
    notes = [
        f"{pairs[k][0]} -> {pairs[k][1]}: the {name} map put the two words "
        f"{length / axes_px[0]:.1%} of its width apart; they are moved apart to show the arrow"
        for k, length in short.items()
    ]
    for note in notes:
        warnings.warn(note, ShortArrowWarning, stacklevel=2)

    figure = Figure(figsize=figsize, dpi=dpi)
    canvas = FigureCanvasAgg(figure)
    ax = figure.add_axes(_AXES_RECT)
    arrow_words = {w for pair in pairs for w in pair}
    is_arrow = np.array([w in arrow_words for w in chosen])
    ax.scatter(coords[~is_arrow, 0], coords[~is_arrow, 1], s=10, alpha=0.55, color="C0", lw=0)
    if is_arrow.any():
        ax.scatter(coords[is_arrow, 0], coords[is_arrow, 1], s=22, color="C3", lw=0, zorder=3)
    span = np.ptp(coords, axis=0)
    span[span == 0] = 1.0
    lo, hi = coords.min(axis=0) - _MARGIN * span, coords.max(axis=0) + _MARGIN * span
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if title is None:
        title = f"{name} map of {n} word vectors"
    ax.set_title(title, fontsize=12)
    if notes:
        figure.text(
            0.01,
            0.005,
            "\n".join(notes),
            fontsize=7,
            color="0.35",
            ha="left",
            va="bottom",
        )

    fontsize = 8.0 if n <= 60 else 7.0 if n <= 150 else 6.0
    renderer = canvas.get_renderer()
    texts = [
        ax.text(0, 0, w, fontsize=fontsize, fontweight="bold" if is_arrow[i] else "normal")
        for i, w in enumerate(chosen)
    ]
    sizes = np.array(
        [[t.get_window_extent(renderer).width, t.get_window_extent(renderer).height] for t in texts]
    ) + np.array([3.0, 1.0])  # (N, 2) pixels, with a small margin between neighbours
    for t in texts:
        t.remove()
    anchors = ax.transData.transform(coords)  # (N, 2) pixels
    box = ax.get_window_extent(renderer)
    along = [  # pixels along each arrow, every few pixels, for the labels to keep clear of
        anchors[index[a]] + t * (anchors[index[b]] - anchors[index[a]])
        for a, b in pairs
        for t in np.linspace(
            0.0, 1.0, 2 + int(np.hypot(*(anchors[index[b]] - anchors[index[a]])) // 4)
        )
    ]
    order = sorted(range(n), key=lambda i: not is_arrow[i])  # arrow words choose first
    pos = _place_labels(
        anchors,
        sizes,
        (box.x0, box.y0, box.x1, box.y1),
        obstacles=np.array(along).reshape(-1, 2),
        order=order,
    )
    points_per_px = 72.0 / dpi
    for i, w in enumerate(chosen):
        offset = (pos[i] - anchors[i]) * points_per_px  # points
        gap = np.maximum(np.maximum(pos[i] - anchors[i], anchors[i] - pos[i] - sizes[i]), 0.0)
        far = float(np.hypot(gap[0], gap[1])) > _LEADER_PX  # box's distance from its point
        ax.annotate(
            w,
            xy=(coords[i, 0], coords[i, 1]),
            xytext=(float(offset[0]), float(offset[1])),
            textcoords="offset points",
            ha="left",
            va="bottom",
            fontsize=fontsize,
            color="C3" if is_arrow[i] else "0.15",
            fontweight="bold" if is_arrow[i] else "normal",
            bbox={"boxstyle": "square,pad=0.05", "fc": "white", "ec": "none", "alpha": 0.7},
            zorder=5,
            arrowprops={"arrowstyle": "-", "lw": 0.4, "color": "0.6", "shrinkA": 0, "shrinkB": 2}
            if far
            else None,
        )
    for a, b in pairs:
        length = float(np.hypot(*(anchors[index[b]] - anchors[index[a]]))) * points_per_px
        shrink = arrow_shrink(length)
        ax.annotate(
            "",
            xy=(coords[index[b], 0], coords[index[b], 1]),
            xytext=(coords[index[a], 0], coords[index[a], 1]),
            arrowprops={
                "arrowstyle": "-|>",
                "color": "C3",
                "lw": 1.3,
                "shrinkA": shrink,
                "shrinkB": shrink,
                "mutation_scale": min(10.0, max(4.0, 0.6 * length)),  # head fits short arrows
            },
            zorder=4,
        )
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    atomic_write_bytes(out, buffer.getvalue())
    return out
