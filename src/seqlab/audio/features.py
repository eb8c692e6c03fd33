"""Spectrogram, mel filterbank, log-mel and MFCC features through ``torch.stft``.

No torchaudio or librosa: the conventions are written here and tested against NumPy oracles
(a direct DFT on frames, the mel formulas, ``scipy.fft.dct``).

Framing (``torch.stft``'s): with ``center=True`` the signal is padded by ``n_fft // 2`` on
both sides (reflection by default), frame ``t`` covers samples ``[t·hop, t·hop + n_fft)`` of
the padded signal, multiplied by a periodic Hann window of ``win_length`` samples centred in
``n_fft``; there are ``1 + N // hop`` frames (``center=True``). Then

    X[k, t] = Σ_n w[n] x[t·hop + n] e^{-2πi k n / n_fft},   k = 0 .. n_fft / 2
    S[k, t] = |X[k, t]|^p           (p = 2: power, p = 1: magnitude)

Mel scales (frequency f in Hz → mel m):

* ``"htk"``: m = 2595 · log10(1 + f / 700);
* ``"slaney"`` (Auditory Toolbox, librosa's default): linear below 1 kHz, m = 3 f / 200,
  logarithmic above, m = 15 + 27 · ln(f / 1000) / ln(6.4).

The filterbank has ``n_mels`` triangles whose corners are ``n_mels + 2`` points equally
spaced in mel between ``f_min`` and ``f_max``, evaluated at the STFT bins' frequencies
``k · sr / n_fft`` (torchaudio's ``melscale_fbanks`` and librosa's ``mel`` convention);
``norm="slaney"`` divides each triangle by its width in Hz / 2 (equal area), ``None`` keeps
peaks of 1.

    log_mel = ln(max(M^T S, floor))          MFCC = DCT-II_ortho(log_mel)[:n_mfcc]

(MFCCs are the DCT of the natural-log mel energies, not of decibels.)
"""

from __future__ import annotations

import math
import warnings
from typing import Literal

import torch
from torch import Tensor

__all__ = [
    "MelScale",
    "dct_matrix",
    "hz_to_mel",
    "log_mel",
    "mel_filterbank",
    "mel_to_hz",
    "mfcc",
    "spectrogram",
]

MelScale = Literal["htk", "slaney"]
_SLANEY_BREAK_HZ = 1000.0  # linear below, logarithmic above
_SLANEY_HZ_PER_MEL = 200.0 / 3  # the linear part's slope
_SLANEY_LOG_STEP = math.log(6.4) / 27.0  # ln(f/1000) per mel above the break


def hz_to_mel(freq: Tensor, scale: MelScale = "htk") -> Tensor:
    """Frequencies in Hz to mels (the module docstring's formulas)."""
    if scale == "htk":
        return 2595.0 * torch.log10(1.0 + freq / 700.0)  # m = 2595 log10(1 + f/700)
    if scale == "slaney":
        linear = freq / _SLANEY_HZ_PER_MEL  # m = 3f/200 below 1 kHz
        brk = _SLANEY_BREAK_HZ / _SLANEY_HZ_PER_MEL
        log = brk + torch.log(freq.clamp_min(1e-10) / _SLANEY_BREAK_HZ) / _SLANEY_LOG_STEP
        return torch.where(freq >= _SLANEY_BREAK_HZ, log, linear)
    raise ValueError(f"scale must be 'htk' or 'slaney', got {scale!r}")


def mel_to_hz(mel: Tensor, scale: MelScale = "htk") -> Tensor:
    """Mels to frequencies in Hz (the inverse of :func:`hz_to_mel`)."""
    if scale == "htk":
        return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)
    if scale == "slaney":
        brk = _SLANEY_BREAK_HZ / _SLANEY_HZ_PER_MEL
        log = _SLANEY_BREAK_HZ * torch.exp(_SLANEY_LOG_STEP * (mel - brk))
        return torch.where(mel >= brk, log, mel * _SLANEY_HZ_PER_MEL)
    raise ValueError(f"scale must be 'htk' or 'slaney', got {scale!r}")


def mel_filterbank(
    n_mels: int,
    n_fft: int,
    sample_rate: int,
    *,
    f_min: float = 0.0,
    f_max: float | None = None,
    scale: MelScale = "htk",
    norm: Literal["slaney"] | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Triangular mel filters over the STFT bins (``f_max`` defaults to ``sample_rate / 2``).

    Shape:
        -> (n_fft // 2 + 1, n_mels): ``mel = spec.transpose(-1, -2) @ fb``
    """
    f_max = sample_rate / 2 if f_max is None else f_max
    if n_mels < 1 or n_fft < 2 or sample_rate < 1:
        raise ValueError(f"need n_mels >= 1, n_fft >= 2, sample_rate >= 1; got "
                         f"{n_mels}, {n_fft}, {sample_rate}")  # fmt: skip
    if not 0 <= f_min < f_max <= sample_rate / 2:
        raise ValueError(f"need 0 <= f_min < f_max <= sample_rate / 2, got {f_min}, {f_max}")
    bins = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)  # (F,)
    lo, hi = hz_to_mel(torch.tensor([f_min, f_max], dtype=torch.float64), scale)
    corners = mel_to_hz(torch.linspace(lo, hi, n_mels + 2, dtype=torch.float64), scale)
    width = corners.diff()  # (n_mels + 1,)
    slopes = corners.unsqueeze(0) - bins.unsqueeze(1)  # (F, n_mels + 2): corner - f
    rising = -slopes[:, :-2] / width[:-1]  # (F, n_mels): (f - lower) / (centre - lower)
    falling = slopes[:, 2:] / width[1:]  # (F, n_mels): (upper - f) / (upper - centre)
    fb = torch.minimum(rising, falling).clamp_min(0.0)  # (F, n_mels)
    if norm == "slaney":
        fb = fb * (2.0 / (corners[2:] - corners[:-2]))  # equal area: / (width in Hz / 2)
    elif norm is not None:
        raise ValueError(f"norm must be 'slaney' or None, got {norm!r}")
    return fb.to(dtype)


def _check_signal(samples: Tensor) -> None:
    if not samples.is_floating_point():
        raise ValueError(f"expected floating-point samples, got {samples.dtype}")
    if samples.dim() not in (1, 2):
        raise ValueError(f"expected samples of shape (N,) or (B, N), got {tuple(samples.shape)}")


def spectrogram(
    samples: Tensor,
    *,
    n_fft: int = 400,
    hop_length: int | None = None,
    win_length: int | None = None,
    power: float = 2.0,
    center: bool = True,
    pad_mode: str = "reflect",
) -> Tensor:
    """The power (``power=2``) or magnitude (``power=1``) spectrogram ``|STFT|^p``.

    Defaults: 25 ms frames every 10 ms at 16 kHz (``n_fft=400``, ``hop_length=n_fft // 4``
    → set 160 for 10 ms), a periodic Hann window of ``win_length = n_fft`` samples.

    The STFT is the real-valued one (``return_complex=False``: real and imaginary parts),
    so this one function serves training, inference and the ONNX graphs of
    :mod:`seqlab.models.export` (``torch.onnx.export`` records it as ONNX's STFT operator,
    opset 17; a complex STFT does not export). Equal to ``|stft(return_complex=True)|^p``
    to float rounding.

    Shape:
        samples: (N,) or (B, N) -> (F, T) or (B, F, T), F = n_fft // 2 + 1, T = 1 + N // hop
    """
    _check_signal(samples)
    hop = n_fft // 4 if hop_length is None else hop_length
    win = n_fft if win_length is None else win_length
    if not (hop >= 1 and 1 <= win <= n_fft) or power <= 0:
        raise ValueError(f"need hop_length >= 1, 1 <= win_length <= n_fft, power > 0; got "
                         f"{hop}, {win}, {n_fft}, {power}")  # fmt: skip
    if center and pad_mode == "reflect" and samples.shape[-1] <= n_fft // 2:
        raise ValueError(
            f"signal of {samples.shape[-1]} samples is too short for n_fft={n_fft} with "
            f"reflection padding: give more than {n_fft // 2} samples"
        )
    window = torch.hann_window(win, dtype=samples.dtype, device=samples.device)  # (win,)
    with warnings.catch_warnings():  # the real-valued form is the one ONNX exports
        warnings.filterwarnings("ignore", "stft with return_complex=False", UserWarning)
        stft = torch.stft(
            samples,
            n_fft,
            hop_length=hop,
            win_length=win,
            window=window,
            center=center,
            pad_mode=pad_mode,
            return_complex=False,
        )  # (..., F, T, 2): Re X, Im X
    power2 = stft.pow(2).sum(-1)  # (..., F, T): |X|² = (Re X)² + (Im X)²
    return power2 if power == 2 else power2.pow(power / 2)  # (..., F, T): |X|^p


def log_mel(
    samples: Tensor,
    sample_rate: int,
    *,
    n_mels: int = 80,
    n_fft: int = 400,
    hop_length: int | None = None,
    f_min: float = 0.0,
    f_max: float | None = None,
    scale: MelScale = "htk",
    norm: Literal["slaney"] | None = None,
    floor: float = 1e-10,
    center: bool = True,
    filterbank: Tensor | None = None,
) -> Tensor:
    """``ln(max(mel power, floor))``: the natural log of the mel-filtered power spectrogram.

    ``center=True`` (the default) centres frame t on sample t · hop (the signal
    reflect-padded by ``n_fft // 2``); ``center=False`` starts it there, so each frame
    depends on its own samples only and a stream's frames equal the whole file's (the
    wake-word detector's). ``filterbank`` (F, n_mels) replaces the one ``n_mels``, ``f_min``,
    ``f_max``, ``scale`` and ``norm`` describe: a module that holds it as a buffer (the ONNX
    graphs of :mod:`seqlab.models.export`) passes it.

    Shape:
        samples: (N,) or (B, N) -> (n_mels, T) or (B, n_mels, T)
    """
    if floor <= 0:
        raise ValueError(f"floor must be > 0, got {floor}")
    power = spectrogram(samples, n_fft=n_fft, hop_length=hop_length, center=center)  # (..., F, T)
    fb = filterbank if filterbank is not None else mel_filterbank(
        n_mels, n_fft, sample_rate, f_min=f_min, f_max=f_max, scale=scale, norm=norm,
        dtype=power.dtype,
    ).to(power.device)  # (F, n_mels)  # fmt: skip
    mel = (power.transpose(-1, -2) @ fb).transpose(-1, -2)  # (..., T, F) x (F, M) -> (..., M, T)
    return mel.clamp_min(floor).log()  # (..., M, T)


def dct_matrix(n_in: int, n_out: int, *, dtype: torch.dtype = torch.float32) -> Tensor:
    """The orthonormal DCT-II as a matrix: ``y = D x`` with
    ``D[k, n] = s_k cos(π k (2n + 1) / (2 n_in))``, ``s_0 = √(1/n_in)``, ``s_k = √(2/n_in)``.

    Shape:
        -> (n_out, n_in)
    """
    if not 1 <= n_out <= n_in:
        raise ValueError(f"need 1 <= n_out <= n_in, got n_out={n_out}, n_in={n_in}")
    n = torch.arange(n_in, dtype=torch.float64)  # (n_in,)
    k = torch.arange(n_out, dtype=torch.float64).unsqueeze(1)  # (n_out, 1)
    d = torch.cos(math.pi * k * (2 * n + 1) / (2 * n_in)) * math.sqrt(2.0 / n_in)  # (n_out, n_in)
    d[0] /= math.sqrt(2.0)  # s_0 = √(1/n_in)
    return d.to(dtype)


def mfcc(
    samples: Tensor,
    sample_rate: int,
    *,
    n_mfcc: int = 13,
    n_mels: int = 40,
    n_fft: int = 400,
    hop_length: int | None = None,
    scale: MelScale = "htk",
    norm: Literal["slaney"] | None = None,
) -> Tensor:
    """Mel-frequency cepstral coefficients: the orthonormal DCT-II of :func:`log_mel` over
    the mel axis, the first ``n_mfcc`` kept.

    Shape:
        samples: (N,) or (B, N) -> (n_mfcc, T) or (B, n_mfcc, T)
    """
    logmel = log_mel(
        samples, sample_rate, n_mels=n_mels, n_fft=n_fft, hop_length=hop_length, scale=scale,
        norm=norm,
    )  # (..., M, T)  # fmt: skip
    d = dct_matrix(n_mels, n_mfcc, dtype=logmel.dtype).to(logmel.device)  # (n_mfcc, M)
    return d @ logmel  # (n_mfcc, M) x (..., M, T) -> (..., n_mfcc, T)
