"""A small additive synthesizer: a :class:`~seqlab.music.midi.Song` as a WAV file.

So that people without a MIDI player can listen. Each note is a sum of harmonics of its
fundamental frequency f = 440 · 2^((p − 69) / 12) Hz (p the MIDI pitch, 69 = A4), the k-th
with amplitude 1/2^(k−1), shaped by an envelope: a linear attack, an exponential decay while
held, and a linear release after the note ends. The notes are summed, scaled to a peak of
0.9 and written as 16-bit mono PCM with the standard library's :mod:`wave` (atomically).
"""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np

from seqlab._io import atomic_write_bytes
from seqlab.music.midi import Song

__all__ = ["midi_frequency", "render", "write_wav"]

SAMPLE_RATE = 22_050  # samples per second
HARMONICS = (1.0, 0.5, 0.25, 0.125)  # amplitude of harmonic k = 1, 2, 3, 4
ATTACK_S = 0.01  # seconds from silence to full level
DECAY_PER_S = 1.5  # exponential decay rate while the note is held (1/s)
RELEASE_S = 0.08  # seconds from the note's end to silence
PEAK = 0.9  # the loudest sample, as a fraction of full scale
MAX_SECONDS = 3600.0  # longer songs are refused rather than rendered for minutes


def midi_frequency(pitch: int | np.ndarray) -> float | np.ndarray:
    """f = 440 · 2^((p − 69) / 12) Hz: A4 (69) is 440 Hz, middle C (60) 261.63 Hz."""
    return 440.0 * 2.0 ** ((np.asarray(pitch, dtype=np.float64) - 69.0) / 12.0)


def _note_wave(pitch: int, held_s: float, sample_rate: int) -> np.ndarray:
    """One note: harmonics x envelope, ``held_s`` seconds plus the release."""
    n = round((held_s + RELEASE_S) * sample_rate)
    t = np.arange(n) / sample_rate  # (N,)
    f0 = float(midi_frequency(pitch))
    tone = np.zeros(n)
    for k, amp in enumerate(HARMONICS, start=1):
        if k * f0 < sample_rate / 2:  # no harmonic above the Nyquist frequency
            tone += amp * np.sin(2 * np.pi * k * f0 * t)
    attack = np.clip(t / ATTACK_S, 0.0, 1.0)
    held = np.exp(-DECAY_PER_S * np.minimum(t, held_s))
    release = np.clip(1.0 - (t - held_s) / RELEASE_S, 0.0, 1.0)
    return tone * attack * held * release  # (N,)


def render(song: Song, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The song as float samples in [−0.9, 0.9] (silence is zeros): ``(N,)`` float64."""
    step_s = song.seconds_per_step
    total_s = song.steps * step_s + RELEASE_S
    if total_s > MAX_SECONDS:
        raise ValueError(f"the song lasts {total_s / 60:.0f} minutes; at most 60 are rendered")
    out = np.zeros(round(total_s * sample_rate) + 1)  # (N,)
    for note in song.notes:
        wave_ = _note_wave(note.pitch, (note.end - note.start) * step_s, sample_rate)
        at = round(note.start * step_s * sample_rate)
        part = wave_[: len(out) - at]
        out[at : at + len(part)] += part
    peak = np.abs(out).max(initial=0.0)
    return out * (PEAK / peak) if peak > 0 else out


def write_wav(song: Song, path: str | Path, *, sample_rate: int = SAMPLE_RATE) -> Path:
    """Render ``song`` and write it as a 16-bit mono WAV file (atomically)."""
    samples = np.round(render(song, sample_rate) * 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(samples.tobytes())
    return atomic_write_bytes(path, buf.getvalue())
