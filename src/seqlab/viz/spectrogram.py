"""A recording at a glance: the waveform on top, its log-mel spectrogram (or linear
spectrogram) below, on one time axis in seconds, frequencies in Hz.

The log-mel panel is drawn on a mel-scaled frequency axis (HTK formula, the bands equally
tall) labelled in Hz; the spectrogram panel on a linear one. Colours are decibels of power,
10·log10, from the loudest cell down to 80 dB below it.

:func:`plot_transcription` draws how a recognizer read a recording
(``seqlab speech transcribe --plot``): the log-mel spectrogram on top and, on the same time
axis below it, CTC's per-frame posteriors of every character (the frames where the blank is
most likely greyed, the most likely character written where it wins) or LAS's attention
(one row per output character, α over the listener frames).

Drawn on a private ``Figure`` + ``FigureCanvasAgg`` (no pyplot state), written atomically.
"""

from __future__ import annotations

import io
import math
import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import Tensor

from seqlab._io import atomic_write_bytes
from seqlab.audio.features import log_mel, spectrogram

__all__ = ["plot_speech", "plot_transcription", "speech_figure", "transcription_figure"]

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
    x = _checked_samples(samples, sample_rate)
    duration = x.numel() / sample_rate
    fig = Figure(figsize=(9, 5.5), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    wave_ax, spec_ax = fig.subplots(2, 1, sharex=True, height_ratios=[1, 2])
    wave_ax.plot(np.arange(x.numel()) / sample_rate, x.numpy(), linewidth=0.6, color="#1f4e79")
    wave_ax.set_ylabel("amplitude")
    extent = 1.05 * max(float(x.abs().max()), 1e-3)
    wave_ax.set_ylim(-extent, extent)
    _draw_spectrogram(fig, spec_ax, x, sample_rate, kind, n_mels)
    wave_ax.set_title(title or f"{duration:.2f} s at {sample_rate} Hz", fontsize="medium")
    return fig


def _checked_samples(samples: Tensor, sample_rate: int) -> Tensor:
    """The samples as float64 on the CPU; ``ValueError`` unless mono and long enough.

    Shape:
        samples: (N,) -> (N,)
    """
    if samples.dim() != 1:
        raise ValueError(f"expected mono samples of shape (N,), got {tuple(samples.shape)}")
    x = samples.detach().to("cpu", torch.float64)
    n_fft = _frame_params(sample_rate)[0]
    if x.numel() <= n_fft // 2:
        raise ValueError(f"{x.numel()} samples are too few to draw: give more than {n_fft // 2}")
    return x


def _draw_spectrogram(
    fig: Figure, spec_ax: Any, x: Tensor, sample_rate: int, kind: Kind, n_mels: int
) -> None:
    """The log-mel or linear spectrogram of ``x`` on ``spec_ax``, time in seconds, with a
    colour bar in dB.

    Shape:
        x: (N,) float64
    """
    n_fft, hop = _frame_params(sample_rate)
    duration = x.numel() / sample_rate
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


def _shown(label: str) -> str:
    """A character as a tick label: the space as ␣."""
    return "␣" if label == " " else label


def _draw_posteriors(
    fig: Figure, ax: Any, posteriors: np.ndarray, labels: list[str], blank: int, seconds: float
) -> None:
    """CTC: P(class) of every non-blank class per output frame; frames where the blank
    wins greyed, the winning character written where it is not the blank.

    Shape:
        posteriors: (T', C)
    """
    keep = [c for c in range(posteriors.shape[1]) if c != blank]
    values = posteriors[:, keep].T  # (C - 1, T')
    frames = values.shape[1]
    times = np.arange(frames + 1) * seconds
    mesh = ax.pcolormesh(times, np.arange(len(keep) + 1), values, cmap="Blues", vmin=0.0,
                         vmax=1.0, shading="flat", rasterized=True)  # fmt: skip
    best = posteriors.argmax(axis=1)  # (T',)
    for t in range(frames):
        if best[t] == blank:
            ax.axvspan(times[t], times[t + 1], color="0.55", alpha=0.35, linewidth=0)
        else:
            row = keep.index(int(best[t]))
            ax.text((times[t] + times[t + 1]) / 2, row + 0.5, _shown(labels[best[t]]),
                    ha="center", va="center", fontsize="x-small", color="white")  # fmt: skip
    ax.set_yticks(np.arange(len(keep)) + 0.5, [_shown(labels[c]) for c in keep])
    ax.set_ylim(len(keep), 0)
    ax.set_ylabel("character")
    fig.colorbar(mesh, ax=ax, label="P(character)", pad=0.01)


def _draw_attention(
    fig: Figure, ax: Any, attention: np.ndarray, labels: list[str], seconds: float
) -> None:
    """LAS: α of each output character (a row) over the listener frames.

    Shape:
        attention: (S, U)
    """
    steps, frames = attention.shape
    mesh = ax.pcolormesh(np.arange(frames + 1) * seconds, np.arange(steps + 1), attention,
                         cmap="viridis", vmin=0.0, vmax=max(float(attention.max()), 1e-6),
                         shading="flat", rasterized=True)  # fmt: skip
    ax.set_yticks(np.arange(steps) + 0.5, [_shown(t) for t in labels])
    ax.set_ylim(steps, 0)
    ax.set_ylabel("output character")
    fig.colorbar(mesh, ax=ax, label="attention α", pad=0.01)


def transcription_figure(
    samples: Tensor,
    sample_rate: int,
    *,
    text: str,
    frame_seconds: float,
    labels: list[str],
    posteriors: Tensor | None = None,
    attention: Tensor | None = None,
    blank: int = 0,
    n_mels: int = 40,
    title: str | None = None,
    dpi: int = 120,
) -> Figure:
    """The log-mel spectrogram with, below it on the same time axis, CTC's ``posteriors``
    (``labels`` names every class, ``blank`` the blank's) or LAS's ``attention`` (``labels``
    names every output character); ``frame_seconds``: how long one of their frames is.

    Shape:
        samples: (N,) mono; posteriors: (T', C) or attention: (S, U)
    """
    if (posteriors is None) == (attention is None):
        raise ValueError("give either posteriors (CTC) or attention (LAS)")
    if frame_seconds <= 0:
        raise ValueError(f"frame_seconds must be > 0, got {frame_seconds}")
    grid = (posteriors if posteriors is not None else attention).detach().cpu().double().numpy()  # type: ignore[union-attr]
    if grid.ndim != 2:
        raise ValueError(f"expected a 2-d posteriors or attention array, got {grid.shape}")
    wanted = grid.shape[1] if posteriors is not None else grid.shape[0]
    if len(labels) != wanted:
        raise ValueError(f"{len(labels)} labels for {wanted} rows of the lower panel")
    x = _checked_samples(samples, sample_rate)
    rows = grid.shape[1] - 1 if posteriors is not None else grid.shape[0]
    fig = Figure(figsize=(10, 4.5 + 0.18 * rows), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    spec_ax, low_ax = fig.subplots(2, 1, sharex=True, height_ratios=[2, 1 + 0.12 * rows])
    _draw_spectrogram(fig, spec_ax, x, sample_rate, "log-mel", n_mels)
    spec_ax.set_xlabel("")
    if posteriors is not None:
        _draw_posteriors(fig, low_ax, grid, labels, blank, frame_seconds)
        what = "CTC posteriors per output frame (grey: blank most likely)"
    else:
        _draw_attention(fig, low_ax, grid, labels, frame_seconds)
        what = "LAS attention: each output character over the listener frames"
    low_ax.set_title(what, fontsize="small", loc="left")
    low_ax.set_xlabel("time (s)")
    low_ax.set_xlim(0, x.numel() / sample_rate)
    spec_ax.set_title(f"{title + ': ' if title else ''}\u201c{text}\u201d", fontsize="medium")
    return fig


def plot_transcription(
    samples: Tensor, sample_rate: int, path: str | os.PathLike[str], **figure: Any
) -> Path:
    """Draw :func:`transcription_figure` (``figure``: its keyword arguments) and write it
    atomically (PNG, or the format of the suffix: .pdf, .svg). Returns the path.

    Shape:
        samples: (N,) mono
    """
    out = Path(path)
    fig = transcription_figure(samples, sample_rate, **figure)
    buffer = io.BytesIO()
    fig.savefig(buffer, format=out.suffix.lstrip(".").lower() or "png")
    return atomic_write_bytes(out, buffer.getvalue())
