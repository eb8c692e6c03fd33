"""Simple musical statistics, to compare generated music with real music.

* :func:`pitch_class_histogram` — how often each of the 12 pitch classes (C, C#, ... B)
  starts a note, as shares summing to 1;
* :func:`pitch_class_distance` — the total-variation distance ½ Σ_c |p_c − q_c| between two
  such histograms: 0 for the same key profile, 1 for disjoint pitch classes;
* :func:`note_density` — notes started per beat (quarter note), over the piece's span;
* :func:`repetition` — the share of the piece's pitch n-grams (consecutive onsets, in time
  then pitch order) that already occurred earlier in the piece: 0 for no repeated figure,
  near 1 for a loop.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from seqlab.music.midi import Song

__all__ = [
    "music_statistics",
    "note_density",
    "pitch_class_distance",
    "pitch_class_histogram",
    "repetition",
]


def pitch_class_histogram(songs: Song | Sequence[Song]) -> np.ndarray:
    """Shares of note onsets per pitch class (pitch mod 12, 0 = C), over one or several
    songs: ``(12,)`` summing to 1 (all zeros without notes)."""
    songs = [songs] if isinstance(songs, Song) else songs
    counts = np.zeros(12)
    for song in songs:
        for note in song.notes:
            counts[note.pitch % 12] += 1
    total = counts.sum()
    return counts / total if total else counts


def pitch_class_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Total-variation distance ½ Σ_c |a_c − b_c| between two pitch-class histograms."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != (12,) or b.shape != (12,):
        raise ValueError(f"expected two histograms of shape (12,), got {a.shape} and {b.shape}")
    return float(0.5 * np.abs(a - b).sum())


def note_density(song: Song) -> float:
    """Notes per beat: the number of notes over the beats from the first onset to the last
    release (0 for an empty song)."""
    if not song.notes:
        return 0.0
    span = song.steps - min(n.start for n in song.notes)
    return len(song.notes) / (span / song.steps_per_beat)


def repetition(song: Song, n: int = 4) -> float:
    """The share of pitch ``n``-grams of the onset sequence (notes in (start, pitch) order)
    that occurred earlier in it; 0 when the piece has fewer than ``n + 1`` notes."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    pitches = [note.pitch for note in sorted(song.notes, key=lambda x: (x.start, x.pitch))]
    grams = [tuple(pitches[i : i + n]) for i in range(len(pitches) - n + 1)]
    if len(grams) < 2:
        return 0.0
    seen: set[tuple[int, ...]] = set()
    repeated = 0
    for gram in grams:
        repeated += gram in seen
        seen.add(gram)
    return repeated / len(grams)


def music_statistics(songs: Sequence[Song]) -> dict[str, float]:
    """Mean note density and repetition over ``songs``, and their pooled pitch-class
    histogram (a list of 12 shares)."""
    if not songs:
        raise ValueError("no songs")
    return {
        "note_density": float(np.mean([note_density(s) for s in songs])),
        "repetition": float(np.mean([repetition(s) for s in songs])),
        "pitch_classes": [round(float(x), 6) for x in pitch_class_histogram(songs)],
    }
