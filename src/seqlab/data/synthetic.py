"""Generated classification sets, where order matters: DNA motifs and activity signals.

Both are made with ``np.random.default_rng(seed)`` only (the same seed gives the same data on
every machine) and are balanced over their classes, in shuffled order.

* :func:`dna_motif` — random ``ACGT`` strings labelled ``"motif"`` when a planted motif
  (``TATAAT``, the bacterial promoter's Pribnow box, by default) occurs and ``"none"``
  otherwise. Each ``"none"`` string carries a *decoy*: the motif's letters in another order.
  Both classes therefore have exactly the same letter counts on average, so a bag-of-characters
  model is at chance, while a model that reads the letters in order (an RNN, or a 6-gram
  check) is perfect; ``noise`` mutates the planted motifs to make the task harder.
* :func:`activity` — accelerometer-like signals of ``"standing"``, ``"walking"`` and
  ``"running"`` (T steps of ``channels`` values, in g). Standing is gravity plus a slow sway;
  walking a ~2 Hz step rhythm; running a ~3 Hz rhythm, larger, with harmonics. Every example
  is seen through a random orientation of the sensor (gravity can fall on any axis), with
  amplitude jitter and noise, so that per-channel means do not tell the classes apart and
  amplitude alone only partly: the rhythm does.

The course's Emojify set is read from the user's copy: :func:`read_emojify` and
:data:`EMOJI` (from :mod:`seqlab.data.labelled`, also importable from here).
"""

from __future__ import annotations

import numpy as np

from seqlab._validate import check_positive_int, require
from seqlab.data.labelled import EMOJI, Example, SequenceExample, read_emojify

__all__ = ["ACTIVITIES", "EMOJI", "activity", "dna_motif", "read_emojify"]

BASES = "ACGT"
ACTIVITIES = ("standing", "walking", "running")
_MIN_RATE_HZ = 25.0  # running's 3rd harmonic reaches ~10 Hz: sample above twice that


def _balanced(classes: tuple[str, ...], n: int, rng: np.random.Generator) -> list[str]:
    """``n`` labels cycling through ``classes`` (counts differ by at most 1), shuffled."""
    labels = [classes[i % len(classes)] for i in range(n)]
    return [labels[i] for i in rng.permutation(n)]


def _mutate(motif: str, noise: float, rng: np.random.Generator) -> str:
    """``motif`` with each letter replaced, with probability ``noise``, by another base."""
    letters = list(motif)
    for i, letter in enumerate(letters):
        if rng.random() < noise:
            letters[i] = str(rng.choice([b for b in BASES if b != letter]))
    return "".join(letters)


def _decoy(motif: str, rng: np.random.Generator) -> str:
    """The motif's letters in another order (same composition, not the motif)."""
    while True:
        shuffled = "".join(motif[i] for i in rng.permutation(len(motif)))
        if shuffled != motif:
            return shuffled


def _plant(background: str, piece: str, rng: np.random.Generator) -> str:
    """``background`` with ``piece`` written over it at a random position."""
    at = int(rng.integers(0, len(background) - len(piece) + 1))
    return background[:at] + piece + background[at + len(piece) :]


def dna_motif(
    n: int,
    *,
    seed: int = 0,
    length: int | tuple[int, int] = 60,
    motif: str = "TATAAT",
    noise: float = 0.0,
    decoys: bool = True,
) -> list[Example]:
    """``n`` DNA strings, half labelled ``"motif"`` (``motif`` planted at a random position),
    half ``"none"`` (the motif nowhere, resampled until so; with ``decoys`` a shuffle of the
    motif's letters planted instead).

    ``length`` is the strings' length, or a range ``(low, high)`` (inclusive) to draw each
    length from. ``noise`` is the probability that each letter of a planted motif is mutated
    (0: every ``"motif"`` string holds the motif exactly). ``Example.line`` is the example's
    1-based index.
    """
    check_positive_int("n", n)
    low, high = (length, length) if isinstance(length, int) else length
    require(
        set(motif) <= set(BASES) and len(motif) >= 2,
        f"motif must be 2 or more of the letters ACGT, got {motif!r}",
    )
    require(
        isinstance(low, int) and isinstance(high, int) and len(motif) <= low <= high,
        f"length must be at least len(motif)={len(motif)} (or a range low <= high), got {length!r}",
    )
    require(0.0 <= noise <= 1.0, f"noise must be in [0, 1], got {noise!r}")
    require(
        not decoys or len(set(motif)) >= 2,
        f"decoys need a motif with 2 different letters, got {motif!r}",
    )
    rng = np.random.default_rng(seed)
    examples = []
    for index, label in enumerate(_balanced(("motif", "none"), n, rng), 1):
        size = int(rng.integers(low, high + 1))
        while True:
            text = "".join(BASES[i] for i in rng.integers(0, 4, size))
            if label == "motif":
                text = _plant(text, _mutate(motif, noise, rng), rng)
                break
            if decoys:
                text = _plant(text, _decoy(motif, rng), rng)
            if motif not in text:
                break
        examples.append(Example(text, label, index))
    return examples


def _rotation(channels: int, rng: np.random.Generator) -> np.ndarray:
    """A random orientation: a (channels, 3) matrix with orthonormal columns (or rows)."""
    size = max(3, channels)
    q, r = np.linalg.qr(rng.normal(size=(size, size)))  # (size, size)
    q = q * np.sign(np.diag(r))  # uniform (Haar) over orthogonal matrices
    return q[:, :3] if channels >= 3 else q[:channels, :]  # (channels, 3)


def _body_signal(label: str, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(T, 3) acceleration in the body frame (vertical, forward, lateral), in g."""
    phase = rng.uniform(0.0, 2 * np.pi, size=4)
    if label == "standing":
        sway = rng.uniform(0.1, 0.5)  # Hz
        amp = rng.uniform(0.005, 0.03)
        vertical = 1.0 + amp * np.sin(2 * np.pi * sway * t + phase[0])
        forward = amp * np.sin(2 * np.pi * sway * t + phase[1])
        lateral = amp * np.sin(2 * np.pi * sway * t + phase[2])
        return np.stack([vertical, forward, lateral], axis=1)  # (T, 3)
    if label == "walking":
        f, amp, harmonics = rng.uniform(1.6, 2.2), rng.uniform(0.15, 0.45), (1.0, 0.3, 0.0)
    else:
        f, amp, harmonics = rng.uniform(2.6, 3.4), rng.uniform(0.35, 0.9), (1.0, 0.5, 0.25)
    step = 2 * np.pi * f * t + phase[0]  # (T,)
    vertical = 1.0 + amp * sum(h * np.sin(k * step) for k, h in enumerate(harmonics, 1))
    forward = 0.6 * amp * np.sin(step + phase[1])
    lateral = 0.4 * amp * np.sin(0.5 * step + phase[2])  # the sway of a stride: half the rate
    return np.stack([vertical, forward, lateral], axis=1)  # (T, 3)


def activity(
    n: int,
    *,
    seed: int = 0,
    length: int = 100,
    rate_hz: float = 50.0,
    channels: int = 3,
    noise: float = 0.05,
) -> list[SequenceExample]:
    """``n`` accelerometer-like sequences, a third each ``"standing"``, ``"walking"``,
    ``"running"`` (see the module docstring): ``length`` steps sampled at ``rate_hz`` of
    ``channels`` values, plus Gaussian noise of standard deviation ``noise`` (g).

    ``SequenceExample.item`` is the example's index (``"0"``, ``"1"``, ...).

    Shape:
        each ``features``: (length, channels) float32
    """
    check_positive_int("n", n)
    check_positive_int("channels", channels)
    require(isinstance(length, int) and length >= 8, f"length must be >= 8, got {length!r}")
    require(rate_hz >= _MIN_RATE_HZ, f"rate_hz must be at least {_MIN_RATE_HZ:g}, got {rate_hz!r}")
    require(noise >= 0.0, f"noise must be >= 0, got {noise!r}")
    rng = np.random.default_rng(seed)
    t = np.arange(length) / rate_hz  # (T,) seconds
    examples = []
    for index, label in enumerate(_balanced(ACTIVITIES, n, rng)):
        body = _body_signal(label, t, rng)  # (T, 3)
        x = body @ _rotation(channels, rng).T  # (T, 3) x (3, C) -> (T, C)
        x = x + noise * rng.normal(size=x.shape)  # (T, C)
        examples.append(SequenceExample(x.astype(np.float32), label, 0, str(index)))
    return examples
