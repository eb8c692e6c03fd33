"""The confusion-matrix figure, read back from the PNG: the darkest cell is the largest value
(the row fraction by default, the count with ``normalize=False``), the text on a dark cell
is light and on a light cell dark, the title and axis names are drawn; symbols that no
installed font has are written as names, without warnings; the write is atomic."""

from __future__ import annotations

import itertools
import warnings
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from seqlab.data import EMOJI
from seqlab.metrics import classification_report
from seqlab.viz import confusion as confusion_module
from seqlab.viz import confusion_figure, plot_confusion
from seqlab.viz.confusion import display_names

# rows = true, columns = predicted. Cell (0, 1) has the largest count (50); row 2's single
# example makes the largest fraction (1.0).
COUNTS = np.array([[40, 50, 10], [5, 15, 0], [0, 0, 1]])
LABELS = ["low", "mid", "high"]


def _pixels(fig: Figure) -> np.ndarray:
    """The figure as an (H, W, 3) uint8 array."""
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3]  # type: ignore[attr-defined]


def _cell_colour(fig: Figure, image: np.ndarray, i: int, j: int) -> np.ndarray:
    """The mean colour of a patch in the corner of cell (row i, column j), away from text."""
    ax = fig.axes[0]
    x, y = ax.transData.transform((j - 0.35, i - 0.35))  # display coords, origin bottom left
    row, col = round(image.shape[0] - y), round(x)
    return image[row - 2 : row + 3, col - 2 : col + 3].reshape(-1, 3).mean(axis=0)


def _brightness(colour: np.ndarray) -> float:
    return float(colour @ np.array([0.299, 0.587, 0.114]))


def _cell_brightness(fig: Figure) -> np.ndarray:
    image = _pixels(fig)
    c = len(fig.axes[0].get_xticks())
    return np.array(
        [[_brightness(_cell_colour(fig, image, i, j)) for j in range(c)] for i in range(c)]
    )


@pytest.mark.parametrize("normalize", [True, False])
def test_the_darkest_cell_is_the_largest_value(normalize: bool) -> None:
    fig = confusion_figure(COUNTS, LABELS, normalize=normalize)
    light = _cell_brightness(fig)
    values = COUNTS / COUNTS.sum(axis=1, keepdims=True) if normalize else COUNTS
    assert np.unravel_index(light.argmin(), light.shape) == np.unravel_index(
        values.argmax(), values.shape
    )
    zero = light[COUNTS == 0]
    assert zero.min() > 240  # empty cells are (near) white
    # brighter cells hold smaller values: the ranks agree
    order = np.argsort(values.ravel(), kind="stable")
    assert np.all(np.diff(light.ravel()[order][values.ravel()[order] > 0]) <= 1.0)


def test_cells_show_counts_and_percentages_in_a_readable_colour() -> None:
    fig = confusion_figure(COUNTS, LABELS, title="three classes")
    ax = fig.axes[0]
    texts = {(round(t.get_position()[1]), round(t.get_position()[0])): t for t in ax.texts}
    assert texts[(0, 1)].get_text() == "50\n50%"
    assert texts[(2, 2)].get_text() == "1\n100%"
    assert texts[(2, 0)].get_text() == "0\n0%"
    assert texts[(2, 2)].get_color() == "white"  # the darkest cell
    assert texts[(2, 0)].get_color() == "black"  # a white cell
    # ... and the pixels agree: light ink on the dark cell, dark ink on the light one
    image = _pixels(fig)
    for (i, j), ink in (((2, 2), "light"), ((1, 0), "dark")):
        x, y = ax.transData.transform((j, i))
        patch = image[
            int(image.shape[0] - y) - 8 : int(image.shape[0] - y) + 8, int(x) - 8 : int(x) + 8
        ]
        levels = patch.reshape(-1, 3) @ np.array([0.299, 0.587, 0.114])
        assert (levels.max() > 230) if ink == "light" else (levels.min() < 60)
    assert ax.get_xlabel() == "predicted" and ax.get_ylabel() == "true"
    assert ax.get_title() == "three classes"
    assert [t.get_text() for t in ax.get_xticklabels()] == LABELS
    assert [t.get_text() for t in ax.get_yticklabels()] == LABELS


def test_plot_confusion_writes_a_png_atomically(tmp_path: Path) -> None:
    report = classification_report(list("aabbbc"), list("abbbcc"))
    path = plot_confusion(report, None, tmp_path / "confusion.png", title="a title")
    assert path == tmp_path / "confusion.png"
    assert [p.name for p in tmp_path.iterdir()] == ["confusion.png"]
    image = np.asarray(Image.open(path).convert("RGB"))
    assert image.shape[0] > 300 and image.shape[1] > 400
    assert (image[:30].mean(axis=2) < 200).any()  # the title's ink at the top
    assert (image.mean(axis=2) < 100).sum() > 500  # dark cells / text / axes drawn
    with pytest.raises(OSError):
        plot_confusion(report, None, tmp_path / "absent" / "c.png")
    assert not (tmp_path / "absent").exists()


def test_twenty_classes_stay_readable() -> None:
    labels = [f"class_{i:02d}_name" for i in range(20)]
    rng = np.random.default_rng(0)
    fig = confusion_figure(rng.integers(0, 30, size=(20, 20)), labels)
    ticks = fig.axes[0].get_xticklabels()
    assert all(t.get_rotation() == 45 for t in ticks)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    boxes = [t.get_window_extent(renderer) for t in fig.axes[0].get_yticklabels()]
    assert all(a.y0 >= b.y1 - 0.5 for a, b in itertools.pairwise(boxes))  # no overlap
    assert all(b.x0 >= 0 for b in boxes)  # inside the figure
    short = confusion_figure(np.eye(3), ["a", "b", "c"])
    assert all(t.get_rotation() == 0 for t in short.axes[0].get_xticklabels())


def test_symbols_without_a_font_become_names_without_warnings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names, family = display_names(["0", "2"], {"0": "♥", "2": "😄"})  # DejaVu Sans has both
    assert names == ["♥", "😄"] and family is not None
    monkeypatch.setattr(confusion_module, "_font_family", lambda texts: None)  # no font has them
    names, family = display_names(list(EMOJI), EMOJI)
    assert names == ["0 heart", "1 baseball", "2 smile", "3 disappointed", "4 fork and knife"]
    assert family is None
    monkeypatch.undo()
    counts = np.diag([3, 4, 5, 6, 7])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Glyph ... missing from font" would fail here
        path = plot_confusion(counts, list(EMOJI), tmp_path / "emoji.png", display_labels=EMOJI)
        fig = confusion_figure(counts, list(EMOJI), display_labels=EMOJI)
        fig.canvas.draw()
    assert path.stat().st_size > 5000
    shown = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    # with an emoji font installed the emoji are drawn, else their names (DejaVu lacks ⚾)
    assert shown in (["❤", "⚾", "😄", "😞", "🍴"], names)


@pytest.mark.parametrize(
    ("matrix", "labels", "message"),
    [
        (np.zeros((2, 3)), ["a", "b"], r"square \(C, C\)"),
        (np.zeros((2, 2)), ["a"], "expected 2 labels"),
        (np.array([[1, -1], [0, 0]]), ["a", "b"], "finite and >= 0"),
        (np.zeros((2, 2)), None, "give the labels"),
    ],
)
def test_bad_matrices(matrix: np.ndarray, labels: list[str] | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        confusion_figure(matrix, labels)
