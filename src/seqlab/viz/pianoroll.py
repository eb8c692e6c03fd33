"""Piano rolls: each note a bar, time (beats) on x, pitch on y.

Drawn on a private ``Figure`` + ``FigureCanvasAgg`` (no pyplot state) and written atomically
as PNG. The pitch axis spans the notes played (at least an octave), with the C of every
octave named (C4 = middle C = 60); thin vertical lines mark the beats and darker ones every
fourth beat (the bar of 4/4).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

from seqlab._io import atomic_write_bytes
from seqlab.music.midi import Song

__all__ = ["note_name", "pianoroll_figure", "plot_pianoroll"]

_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def note_name(pitch: int) -> str:
    """``60 -> "C4"`` (scientific pitch notation, middle C = C4)."""
    return f"{_NAMES[pitch % 12]}{pitch // 12 - 1}"


def pianoroll_figure(song: Song, *, title: str = "", max_beats: float | None = None) -> Figure:
    """The piano roll of ``song`` (its first ``max_beats`` beats when given)."""
    notes = [
        n for n in song.notes if max_beats is None or n.start / song.steps_per_beat < max_beats
    ]
    spb = song.steps_per_beat
    end_beat = max((n.end / spb for n in notes), default=1.0)
    if max_beats is not None:
        end_beat = min(end_beat, max_beats)
    lo = min((n.pitch for n in notes), default=60) - 1
    hi = max((n.pitch for n in notes), default=71) + 1
    if hi - lo < 13:
        lo, hi = lo - (13 - (hi - lo)) // 2, lo + 13
    width = float(np.clip(end_beat / 4, 8, 24))
    fig = Figure(figsize=(width, float(np.clip((hi - lo) / 6, 3, 9))), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    boxes = [
        [(n.start / spb, n.pitch - 0.4), (n.end / spb, n.pitch - 0.4),
         (n.end / spb, n.pitch + 0.4), (n.start / spb, n.pitch + 0.4)]
        for n in notes
    ]  # fmt: skip
    ax.add_collection(
        PolyCollection(boxes, facecolors="#1f77b4", edgecolors="#0b3c61", linewidths=0.5)
    )
    for beat in range(int(end_beat) + 1):
        ax.axvline(beat, color="0.55" if beat % 4 == 0 else "0.88", linewidth=0.6, zorder=0)
    for pitch in range(lo, hi + 1):
        if pitch % 12 in (1, 3, 6, 8, 10):  # the black keys: shaded rows
            ax.axhspan(pitch - 0.5, pitch + 0.5, color="0.95", zorder=-1, linewidth=0)
    cs = [p for p in range(lo, hi + 1) if p % 12 == 0] or [lo]
    ax.set_yticks(cs, [note_name(p) for p in cs])
    ax.set_xlim(0, max(end_beat, 1.0))
    ax.set_ylim(lo - 0.5, hi + 0.5)
    ax.set_xlabel("beat (quarter notes)")
    ax.set_ylabel("pitch")
    shown = f"{len(notes)} notes, {end_beat:g} beats at {song.tempo:.0f} bpm"
    ax.set_title(f"{title}  ({shown})" if title else shown, fontsize=10)
    fig.tight_layout()
    return fig


def plot_pianoroll(
    song: Song, path: str | Path, *, title: str = "", max_beats: float | None = None
) -> Path:
    """Draw :func:`pianoroll_figure` and write it as a PNG (atomically)."""
    fig = pianoroll_figure(song, title=title, max_beats=max_beats)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return atomic_write_bytes(path, buf.getvalue())
