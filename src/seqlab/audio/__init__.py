"""Audio: reading and writing WAV/FLAC (``soundfile``, the ``audio`` extra), mono mixing,
resampling, and features through ``torch.stft`` (spectrogram, mel filterbank, log-mel, MFCC).

* :func:`read_audio`, :func:`read_audio_bytes`, :func:`write_audio`, :func:`to_mono` —
  files, with one-line :class:`seqlab._io.DataError` for bad audio and
  :class:`ClippingWarning` for clipped audio;
* :func:`resample` — polyphase Kaiser-windowed sinc, equal to ``scipy.signal.resample_poly``;
* :func:`change_speed` — played faster or slower (tempo and pitch), linear interpolation;
* :func:`audio_stream`, :func:`resample_chunks` — a stream (standard input: raw 16-bit PCM, a
  WAV stream, a FLAC file) read chunk by chunk as it arrives, and resampled as it comes;
* :func:`spectrogram`, :func:`mel_filterbank`, :func:`log_mel`, :func:`mfcc`.
"""

from seqlab.audio.features import (
    dct_matrix,
    hz_to_mel,
    log_mel,
    mel_filterbank,
    mel_to_hz,
    mfcc,
    spectrogram,
)
from seqlab.audio.io import ClippingWarning, read_audio, read_audio_bytes, to_mono, write_audio
from seqlab.audio.resample import change_speed, resample, resample_filter
from seqlab.audio.stream import audio_stream, resample_chunks

__all__ = [
    "ClippingWarning",
    "audio_stream",
    "change_speed",
    "dct_matrix",
    "hz_to_mel",
    "log_mel",
    "mel_filterbank",
    "mel_to_hz",
    "mfcc",
    "read_audio",
    "read_audio_bytes",
    "resample",
    "resample_chunks",
    "resample_filter",
    "spectrogram",
    "to_mono",
    "write_audio",
]
