"""Reading and writing WAV and FLAC through ``soundfile`` (libsndfile), with mono mixing.

``soundfile`` is the optional extra ``audio``: ``pip install 'seqlab[audio]'``. Without it,
the readers raise an ``ImportError`` that says so.

What a read returns: float32 samples in [-1, 1] (integer PCM is scaled by 1 / 2^(bits-1),
as libsndfile does), shape ``(N,)`` after mono mixing or ``(C, N)`` with ``mono=False``.

Bad audio, and what happens (one line, :class:`seqlab._io.DataError`, naming the file):

* a missing file, a folder, a file that is not audio libsndfile reads (a text file, a
  truncated header, an MP4): an error;
* an empty file, or audio with no samples: an error;
* NaN or infinite samples (float files): an error;
* several channels: mixed to mono by the mean of the channels, ``x[n] = (1/C) Σ_c x_c[n]``
  (``mono=False`` keeps them);
* clipped audio: a :class:`ClippingWarning` naming the file and the share of samples at full
  scale (|x| ≥ 0.999, at least 3 of them and 0.1% of the samples); samples beyond ±1 in float
  files are kept as they are, not clipped;
* another sample rate than the one asked for (``sample_rate=16000``): converted with
  :func:`seqlab.audio.resample` (polyphase, Kaiser-windowed sinc), the documented conversion.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from types import ModuleType

import numpy as np
import torch
from torch import Tensor

from seqlab._io import DataError, atomic_write_bytes
from seqlab.audio.resample import resample

__all__ = ["ClippingWarning", "read_audio", "read_audio_bytes", "to_mono", "write_audio"]

PathLike = str | os.PathLike[str]

_FULL_SCALE = 0.999  # |x| at or above this counts as clipped
_CLIP_MIN_COUNT = 3  # a clipped file has at least this many full-scale samples ...
_CLIP_MIN_SHARE = 1e-3  # ... and at least this share of its samples at full scale
_FORMATS = {".wav": "WAV", ".flac": "FLAC"}
_SUBTYPES = {"WAV": "PCM_16", "FLAC": "PCM_16"}


class ClippingWarning(UserWarning):
    """Audio with many samples at full scale: the recording was probably clipped."""


def _soundfile() -> ModuleType:
    """The ``soundfile`` module, or an ImportError that says how to install it."""
    try:
        import soundfile
    except ImportError as exc:  # pragma: no cover - the extra is installed in the tests
        raise ImportError(
            "reading and writing audio needs soundfile: pip install 'seqlab[audio]'"
        ) from exc
    return soundfile


def to_mono(samples: Tensor) -> Tensor:
    """The mean of the channels: ``x[n] = (1/C) Σ_c x_c[n]`` (a 1-D signal is returned as is).

    Shape:
        samples: (C, N) or (N,) -> (N,)
    """
    if samples.dim() == 1:
        return samples
    if samples.dim() != 2:
        raise ValueError(f"expected samples of shape (C, N) or (N,), got {tuple(samples.shape)}")
    return samples.mean(dim=0)  # (C, N) -> (N,)


def _check_clipping(path: PathLike, samples: np.ndarray) -> None:
    clipped = int(np.count_nonzero(np.abs(samples) >= _FULL_SCALE))
    if clipped >= max(_CLIP_MIN_COUNT, _CLIP_MIN_SHARE * samples.size):
        warnings.warn(
            f"{path}: {clipped} of {samples.size} samples ({clipped / samples.size:.1%}) are at "
            "full scale: the recording is probably clipped",
            ClippingWarning,
            stacklevel=3,
        )


def read_audio(
    path: PathLike, *, sample_rate: int | None = None, mono: bool = True
) -> tuple[Tensor, int]:
    """Read a WAV or FLAC file (anything libsndfile reads) as float32 samples in [-1, 1].

    ``sample_rate``: resample to this rate when the file has another one (``None``: keep the
    file's rate). ``mono``: mix the channels to one (their mean). Returns ``(samples, rate)``.
    Bad files raise a one-line :class:`~seqlab._io.DataError` (see the module docstring).

    Shape:
        -> (N,) with mono=True, (C, N) with mono=False
    """
    _soundfile()
    file = Path(path)
    if not file.exists():
        raise DataError(file, "no such file", hint="check the path")
    if file.is_dir():
        raise DataError(file, "is a folder, not an audio file", hint="give a WAV or FLAC file")
    return _decode(file, file, sample_rate=sample_rate, mono=mono)


def read_audio_bytes(
    data: bytes, *, name: str = "<stdin>", sample_rate: int | None = None, mono: bool = True
) -> tuple[Tensor, int]:
    """:func:`read_audio` of a file's bytes (standard input, an archive member); ``name``
    is what error messages call it.

    Shape:
        -> (N,) with mono=True, (C, N) with mono=False
    """
    _soundfile()
    return _decode(io.BytesIO(data), Path(name), sample_rate=sample_rate, mono=mono, size=len(data))


MAX_RATE = 768_000  # Hz: a file that says more has a corrupted header (and resampling from
# such a rate would build a filter of millions of taps)


def _decode(
    source: Path | io.BytesIO,
    file: Path,
    *,
    sample_rate: int | None,
    mono: bool,
    size: int | None = None,
) -> tuple[Tensor, int]:
    sf = _soundfile()
    if (size if size is not None else file.stat().st_size) == 0:
        raise DataError(file, "empty file", hint="give a WAV or FLAC file with samples")
    try:
        data, rate = sf.read(source, dtype="float32", always_2d=True)  # (N, C)
    except (sf.SoundFileError, RuntimeError) as exc:
        reason = getattr(exc, "error_string", None) or str(exc) or type(exc).__name__
        reason = reason.splitlines()[0].rstrip(".")
        raise DataError(
            file, f"not audio that libsndfile reads ({reason})", hint="give a WAV or FLAC file"
        ) from None
    if not 1 <= rate <= MAX_RATE:  # before resampling: its filter grows with the rate
        raise DataError(file, f"a sample rate of {rate} Hz", hint="a corrupted header? give a "
                        f"WAV or FLAC file of at most {MAX_RATE} Hz")  # fmt: skip
    if data.size == 0:
        raise DataError(file, "no samples", hint="give a WAV or FLAC file with samples")
    if not np.isfinite(data).all():
        raise DataError(file, "NaN or infinite samples", hint="fix or re-export the audio")
    _check_clipping(file, data)
    samples = torch.from_numpy(np.ascontiguousarray(data.T))  # (N, C) -> (C, N)
    if mono:
        samples = to_mono(samples)  # (C, N) -> (N,)
    if sample_rate is not None and sample_rate != rate:
        samples = resample(samples, int(rate), sample_rate)  # (..., N) -> (..., N')
        rate = sample_rate
    return samples, int(rate)


def write_audio(
    path: PathLike, samples: Tensor | np.ndarray, sample_rate: int, *, subtype: str | None = None
) -> Path:
    """Write samples in [-1, 1] as WAV or FLAC (chosen by the suffix), atomically.

    ``subtype``: libsndfile's sample format (default ``"PCM_16"``; ``"FLOAT"`` for WAV keeps
    float32 exactly). Returns the path.

    Shape:
        samples: (N,) mono or (C, N) channels first
    """
    sf = _soundfile()
    file = Path(path)
    kind = _FORMATS.get(file.suffix.lower())
    if kind is None:
        raise ValueError(f"{file}: unknown audio suffix {file.suffix!r}; use .wav or .flac")
    if sample_rate < 1:
        raise ValueError(f"sample_rate must be >= 1, got {sample_rate}")
    array = samples.detach().cpu().numpy() if isinstance(samples, Tensor) else np.asarray(samples)
    if array.ndim not in (1, 2) or array.size == 0:
        raise ValueError(f"expected samples of shape (N,) or (C, N), got {array.shape}")
    buffer = io.BytesIO()
    frames = array.T if array.ndim == 2 else array  # (C, N) -> (N, C)
    sf.write(buffer, frames, sample_rate, format=kind, subtype=subtype or _SUBTYPES[kind])
    return atomic_write_bytes(file, buffer.getvalue())
