"""A recording at a glance: the waveform on top, its log-mel spectrogram (or linear
spectrogram) below, on one time axis in seconds, frequencies in Hz.

The log-mel panel is drawn on a mel-scaled frequency axis (HTK formula, the bands equally
tall) labelled in Hz; the spectrogram panel on a linear one. Colours are decibels of power,
10·log10, from the loudest cell down to 80 dB below it.

Drawn on a private ``Figure`` + ``FigureCanvasAgg`` (no pyplot state), written atomically.
"""

from __future__ import annotations

import io
import math
import os
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import Tensor

from seqlab._io import atomic_write_bytes
from seqlab.audio.features import log_mel, spectrogram

__all__ = ["plot_speech", "speech_figure"]

Kind = Literal["log-mel", "spectrogram"]
_DYNAMIC_RANGE_DB = 80.0  # the colour scale's span below the loudest cell
_DB_PER_NEPER = 10.0 / math.log(10.0)  # ln(power) -> 10·log10(power)


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.maximum(f, 0.0) / 700.0)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (m / 2595.0) - 1.0)


def _frame_params(sample_rate: int) -> tuple[int, int]:
    """25 ms windows every 10 ms (n_fft rounded up to a power of two)."""
    hop = max(1, round(sample_rate / 100))
    n_fft = 2 ** math.ceil(math.log2(max(2, round(sample_rate * 0.025))))
    return n_fft, hop


def speech_figure(
    samples: Tensor,
    sample_rate: int,
    *,
    kind: Kind = "log-mel",
    n_mels: int = 40,
    title: str | None = None,
    dpi: int = 120,
) -> Figure:
    """The waveform and its spectrogram as a figure (unsaved).

    Frames of 25 ms every 10 ms (``n_fft`` the next power of two); 40 mel bands keep every
    band wider than an FFT bin down to 8 kHz recordings.

    Shape:
        samples: (N,) mono
    """
    if samples.dim() != 1:
        raise ValueError(f"expected mono samples of shape (N,), got {tuple(samples.shape)}")
    x = samples.detach().to("cpu", torch.float64)
    n_fft, hop = _frame_params(sample_rate)
    if x.numel() <= n_fft // 2:
        raise ValueError(f"{x.numel()} samples are too few to draw: give more than {n_fft // 2}")
    duration = x.numel() / sample_rate
    fig = Figure(figsize=(9, 5.5), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    wave_ax, spec_ax = fig.subplots(2, 1, sharex=True, height_ratios=[1, 2])
    wave_ax.plot(np.arange(x.numel()) / sample_rate, x.numpy(), linewidth=0.6, color="#1f4e79")
    wave_ax.set_ylabel("amplitude")
    extent = 1.05 * max(float(x.abs().max()), 1e-3)
    wave_ax.set_ylim(-extent, extent)
    if kind == "log-mel":
        db = _DB_PER_NEPER * log_mel(x, sample_rate, n_mels=n_mels, n_fft=n_fft, hop_length=hop)
        top = _hz_to_mel(np.array([sample_rate / 2]))[0]
        edges_hz = _mel_to_hz(np.linspace(0, top, n_mels + 1))  # (M + 1,) equally tall in mel
        spec_ax.set_yscale("function", functions=(_hz_to_mel, _mel_to_hz))
        label = f"log-mel ({n_mels} bands)"
    elif kind == "spectrogram":
        power = spectrogram(x, n_fft=n_fft, hop_length=hop)  # (F, T)
        db = 10.0 * torch.log10(power.clamp_min(1e-10))
        edges_hz = (np.arange(n_fft // 2 + 2) - 0.5) * sample_rate / n_fft
        edges_hz[0], edges_hz[-1] = 0.0, sample_rate / 2
        label = "spectrogram"
    else:
        raise ValueError(f"kind must be 'log-mel' or 'spectrogram', got {kind!r}")
    values = db.numpy()  # (bands, T)
    frames = values.shape[1]
    times = np.clip((np.arange(frames + 1) - 0.5) * hop / sample_rate, 0.0, duration)
    times[-1] = duration  # the last frame reaches the end of the signal
    peak = float(values.max())
    mesh = spec_ax.pcolormesh(
        times, edges_hz, values, cmap="magma", vmin=peak - _DYNAMIC_RANGE_DB, vmax=peak,
        shading="flat", rasterized=True,
    )  # fmt: skip
    spec_ax.set_ylim(0, sample_rate / 2)
    spec_ax.set_ylabel("frequency (Hz)")
    spec_ax.set_xlabel("time (s)")
    spec_ax.set_xlim(0, duration)
    spec_ax.set_title(label, fontsize="small", loc="left")
    fig.colorbar(mesh, ax=spec_ax, label="power (dB)", pad=0.01)
    wave_ax.set_title(title or f"{duration:.2f} s at {sample_rate} Hz", fontsize="medium")
    return fig


def plot_speech(
    samples: Tensor,
    sample_rate: int,
    path: str | os.PathLike[str],
    *,
    kind: Kind = "log-mel",
    n_mels: int = 40,
    title: str | None = None,
) -> Path:
    """Draw :func:`speech_figure` and write it atomically (PNG, or the format of the
    suffix: .pdf, .svg). Returns the path.

    Shape:
        samples: (N,) mono
    """
    out = Path(path)
    fig = speech_figure(samples, sample_rate, kind=kind, n_mels=n_mels, title=title)
    buffer = io.BytesIO()
    fig.savefig(buffer, format=out.suffix.lstrip(".").lower() or "png")
    return atomic_write_bytes(out, buffer.getvalue())
