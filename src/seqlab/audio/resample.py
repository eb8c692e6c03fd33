"""Polyphase resampling with a Kaiser-windowed sinc low-pass: the filter of
``scipy.signal.resample_poly`` (tested equal to it), applied with ``torch``.

Resampling by ``up / down`` (the rates' ratio in lowest terms) is: insert ``up - 1`` zeros
between samples, low-pass at the lower of the two Nyquist frequencies, keep every
``down``-th sample:

    y[m] = Σ_i h[i] · x_up[m·down + H - i],    x_up[n] = x[n / up] when up divides n, else 0

with the filter ``h[i] = up · w[i] · sinc(f_c (i - H)) · f_c / Σ(...)`` for i = 0..2H,
``f_c = 1 / max(up, down)``, ``H = 10 · max(up, down)`` and ``w`` a Kaiser window with
β = 5 (``scipy.signal.firwin(2H + 1, f_c, window=("kaiser", 5.0))``). Only the taps that meet
a non-zero ``x_up`` are summed: output ``m`` uses the phase ``φ = (m·down + H) mod up`` of the
filter, ``h[φ], h[φ + up], ...``, against ``x[(m·down + H - φ) / up - j]``. Samples outside
the signal are zeros, so the first and last ~H/up input samples see the edge.

:func:`change_speed` is the other resampling here: a signal played ``factor`` times as fast
(tempo and pitch together, speed perturbation), by linear interpolation and without a
low-pass filter.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

__all__ = ["change_speed", "resample", "resample_filter"]

_KAISER_BETA = 5.0  # scipy.signal.resample_poly's default window ("kaiser", 5.0)
_HALF_TAPS_PER_RATE = 10  # H = 10 · max(up, down), as scipy


def resample_filter(up: int, down: int) -> np.ndarray:
    """The low-pass filter ``h`` (2H + 1 taps, float64, DC gain ``up``) of the module docstring."""
    max_rate = max(up, down)
    cutoff = 1.0 / max_rate  # f_c, as a fraction of the Nyquist frequency
    half = _HALF_TAPS_PER_RATE * max_rate  # H
    n = np.arange(-half, half + 1, dtype=np.float64)  # (2H + 1,)
    h = cutoff * np.sinc(cutoff * n) * np.kaiser(2 * half + 1, _KAISER_BETA)
    return up * h / h.sum()


def resample(samples: Tensor, orig_rate: int, new_rate: int) -> Tensor:
    """``samples`` at ``orig_rate`` Hz resampled to ``new_rate`` Hz along the last axis.

    The output has ``ceil(N · up / down)`` samples (as ``scipy.signal.resample_poly``) and
    the input's dtype; equal rates return the input unchanged.

    Shape:
        samples: (..., N) -> (..., ceil(N · new_rate / orig_rate))
    """
    if orig_rate < 1 or new_rate < 1:
        raise ValueError(f"sample rates must be >= 1, got {orig_rate} and {new_rate}")
    if not samples.is_floating_point():
        raise ValueError(f"expected floating-point samples, got {samples.dtype}")
    if samples.dim() < 1 or samples.shape[-1] == 0:
        raise ValueError(f"expected samples of shape (..., N) with N >= 1, got {samples.shape}")
    g = math.gcd(orig_rate, new_rate)
    up, down = new_rate // g, orig_rate // g
    if up == down:
        return samples
    h = torch.as_tensor(resample_filter(up, down), dtype=samples.dtype, device=samples.device)
    half = (h.numel() - 1) // 2  # H
    taps = -(-h.numel() // up)  # J: taps per phase
    h = torch.nn.functional.pad(h, (0, taps * up - h.numel()))  # (J·up,)
    n_in = samples.shape[-1]
    n_out = -(-n_in * up // down)  # ceil(N·up/down)
    lead = samples.shape[:-1]
    x = samples.reshape(-1, n_in)  # (..., N) -> (R, N)
    x = torch.nn.functional.pad(x, (taps, taps + 2))  # (R, J + N + J + 2): zeros outside
    out = x.new_zeros(x.shape[0], n_out)  # (R, M)
    for r in range(min(up, n_out)):  # outputs m = r, r + up, r + 2·up, ... share a phase
        p = r * down + half
        phase = p % up  # φ
        base = (p - phase) // up  # input index of tap j = 0 for output r
        # output r + q·up reads x[base + q·down - j], j = 0..J-1 (windows step by down)
        weights = h[phase::up].flip(0)  # (J,): h[φ + (J-1)·up], ..., h[φ]
        start = base - (taps - 1) + taps  # in the padded x
        count = len(range(r, n_out, up))
        windows = x[:, start:].unfold(-1, taps, down)[:, :count]  # (R, count, J)
        out[:, r::up] = windows @ weights  # (R, count, J) x (J,) -> (R, count)
    return out.reshape(*lead, n_out)  # (R, M) -> (..., M)


SPEED_RANGE = (0.5, 2.0)  # the factors change_speed accepts


def change_speed(samples: Tensor, factor: float) -> Tensor:
    """``samples`` played ``factor`` times as fast, along the last axis: tempo and pitch
    scale together (speed perturbation, a tape played faster). Output sample j is the input
    at time u = j · factor, linearly interpolated:

        y[j] = (1 − a) · x[i] + a · x[i + 1],    i = ⌊u⌋, a = u − i

    (read times stay ≤ N − 1; i is capped at N − 2, so u = N − 1 reads x[N − 2 .. N − 1]
    with a = 1). No anti-aliasing filter: for |1 − factor| ≤ 0.2 the folded band is the top 20%
    of the spectrum, where speech has little energy. ``factor`` must be in [0.5, 2]; a
    signal of fewer than 2 samples is returned as a copy.

    Shape:
        samples: (..., N) -> (..., ⌊(N − 1) / factor⌋ + 1)
    """
    lo, hi = SPEED_RANGE
    if not lo <= factor <= hi:
        raise ValueError(f"speed factor must be in [{lo:g}, {hi:g}], got {factor}")
    if samples.dim() < 1 or not samples.is_floating_point():
        raise ValueError(f"expected floating-point samples (..., N), got {samples.dtype} "
                         f"{tuple(samples.shape)}")  # fmt: skip
    n = samples.shape[-1]
    if n < 2:
        return samples.clone()
    m = int((n - 1) / factor) + 1  # output length: read times 0, f, 2f, ... <= N - 1
    u = torch.arange(m, dtype=torch.float64) * factor  # (M,) read times, in samples
    i = u.floor().long().clamp(max=n - 2)  # (M,) left neighbour; u = N - 1 uses a = 1
    a = (u - i).to(samples.dtype)  # (M,) in [0, 1]
    left, right = samples[..., i], samples[..., i + 1]  # (..., M) each
    return left + a * (right - left)  # (..., M)
