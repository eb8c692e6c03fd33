"""``seqlab.viz.det``: the DET figure draws FA/h = 0 at 0 (with its own tick), not on a log
axis where it would read as a small positive number."""

from __future__ import annotations

from pathlib import Path

import pytest

from seqlab.viz.det import det_figure, plot_det

POINTS = [(0.1, 20.0, 0.0), (0.5, 1.0, 0.05), (0.9, 0.0, 0.3)]


def test_zero_false_accepts_are_drawn_at_zero_with_a_zero_tick() -> None:
    fig = det_figure(POINTS, threshold=0.9)
    ax = fig.axes[0]
    curve, marker = ax.lines[0], ax.lines[1]
    assert list(curve.get_xdata()) == [20.0, 1.0, 0.0]  # the data, not a floor value
    assert list(marker.get_xdata()) == [0.0]  # the operating point at 0 FA/h
    fig.canvas.draw()
    labels = {t.get_text(): t.get_position()[0] for t in ax.get_xticklabels()}
    assert labels["0"] == 0.0 and {"1", "10"} <= set(labels)
    # on screen: 0 sits left of 1 by the linear part, 1 → 10 is one log decade
    to_px = ax.transData.transform
    x0, x1, x10 = (to_px((x, 0))[0] for x in (0.0, 1.0, 10.0))
    assert x0 < x1 < x10 and (x1 - x0) < (x10 - x1)
    left, right = ax.get_xlim()
    assert left < 0 < right  # the zero point is inside the axes, not on its edge


def test_all_zero_and_png(tmp_path: Path) -> None:
    fig = det_figure([(0.1, 0.0, 0.0), (0.5, 0.0, 0.05)])
    fig.canvas.draw()
    assert "0" in [t.get_text() for t in fig.axes[0].get_xticklabels()]
    out = plot_det(POINTS, tmp_path / "d.png", threshold=0.5)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000
    with pytest.raises(ValueError, match="no DET points"):
        det_figure([])
