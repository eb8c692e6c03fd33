"""Audio streams read as they arrive: a binary file object (standard input, a pipe, a
socket) of raw 16-bit PCM or a WAV stream, as mono float32 chunks in bounded memory, and
:func:`resample` of a stream given in chunks.

* :func:`audio_stream` — ``(rate, chunks)`` of a stream whose first bytes tell what it holds:
  a WAV stream (``arecord -t wav``; 16-bit PCM streamed at the header's rate and channels, a
  streamed WAV's unknown length fine, other sample formats read whole), a FLAC file (read
  whole), or raw little-endian 16-bit PCM (``arecord -f S16_LE -t raw``) at a given rate and
  number of interleaved channels;
* :func:`resample_chunks` — the chunks at another rate, their concatenation equal to
  resampling the whole stream.

``seqlab wake detect MODEL -`` reads standard input with them. A bad WAV header or FLAC file
is a one-line :class:`seqlab._io.DataError` naming the stream.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator
from typing import BinaryIO

import numpy as np
import torch

from seqlab._io import DataError
from seqlab.audio.io import MAX_RATE, read_audio_bytes
from seqlab.audio.resample import _HALF_TAPS_PER_RATE, resample

__all__ = ["audio_stream", "resample_chunks"]


def resample_chunks(
    chunks: Iterable[np.ndarray], orig_rate: int, new_rate: int
) -> Iterator[np.ndarray]:
    """:func:`seqlab.audio.resample` of a stream given in chunks, with bounded memory: the
    concatenation of the outputs equals the resampling of the whole stream.

    The filter is shift-invariant for shifts by a multiple of ``down`` input samples
    (``up`` output samples), so the stream is cut at multiples of ``down`` and each block is
    resampled with ``ctx`` ≥ H/up + 2 input samples of context on both sides (H: the
    filter's half length), which every output of the block reaches at most."""
    g = math.gcd(orig_rate, new_rate)
    up, down = new_rate // g, orig_rate // g
    if up == down:
        yield from (np.asarray(c, dtype=np.float32) for c in chunks)
        return
    half = _HALF_TAPS_PER_RATE * max(up, down)  # H of seqlab.audio.resample_filter
    ctx = down * -(-(half // up + 2) // down)  # context in input samples, a multiple of down
    buf = np.zeros(0, dtype=np.float32)  # the input from sample `lo` of the stream on
    lo = done = 0  # stream index of buf[0]; input before `done` is resampled (multiple of down)

    def block(end: int, last: bool) -> np.ndarray:
        """The outputs of the input [done, end) (to the stream's end when ``last``)."""
        out = resample(torch.from_numpy(buf), orig_rate, new_rate).numpy()  # (M,)
        first = (done - lo) * up // down
        return out[first:] if last else out[first : (end - lo) * up // down]

    for chunk in chunks:
        buf = np.concatenate([buf, np.asarray(chunk, dtype=np.float32)])
        end = (lo + len(buf) - ctx) // down * down  # the last block boundary with context
        if end - done >= max(8 * down, orig_rate // 5):  # blocks of >= 0.2 s (speed)
            yield block(end, last=False)
            done, cut = end, max(0, end - ctx - lo)
            buf, lo = buf[cut:], lo + cut
    if lo + len(buf) > done:
        yield block(0, last=True)


_WAV_PCM, _WAV_EXTENSIBLE = 1, 0xFFFE  # WAV format tags
_MAX_CHANNELS = 64  # beyond this (or MAX_RATE) a WAV header is taken for garbage
_UNKNOWN_LENGTHS = (0, 0xFFFFFFFF)  # what a streamed WAV's header gives as its data size


def _read_exactly(stream: BinaryIO, n: int) -> bytes:
    """Up to ``n`` bytes (fewer only at the end of the stream)."""
    parts, got = [], 0
    while got < n:
        part = stream.read(min(n - got, 1 << 20))  # (a huge n is not allocated at once)
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def _reads(stream: BinaryIO, size: int, limit: int | None = None) -> Iterator[bytes]:
    """The stream's bytes as they arrive, at most ``size`` at a time (and ``limit`` in all)."""
    read = getattr(stream, "read1", stream.read)
    left = -1 if limit is None else limit
    while left != 0 and (part := read(size if left < 0 else min(size, left))):
        left -= len(part) if left > 0 else 0
        yield part


def _pcm16(parts: Iterable[bytes], channels: int) -> Iterator[np.ndarray]:
    """Little-endian 16-bit samples (channels interleaved) as mono float32 chunks in [-1, 1]
    (the mean of the channels); a frame cut short at the end is dropped."""
    frame = 2 * channels
    rest = b""
    for part in parts:
        data = rest + part
        whole = len(data) // frame * frame
        rest = data[whole:]
        if whole:
            x = np.frombuffer(data[:whole], dtype="<i2").astype(np.float32) / 32768.0
            yield x.reshape(-1, channels).mean(axis=1)  # (n, C) -> (n,)


def _wav_header(stream: BinaryIO, name: str) -> tuple[tuple[int, int, int, int], int]:
    """Read a WAV stream up to its ``data`` chunk: ((format tag, channels, rate, bits), the
    data chunk's size)."""

    def bad(problem: str) -> DataError:
        return DataError(name, problem, hint="give 16-bit PCM WAV, FLAC, or raw S16_LE samples")

    fmt = None
    while True:
        head = _read_exactly(stream, 8)
        if len(head) < 8:
            raise bad("WAV stream ends before its data chunk")
        kind, size = head[:4], int.from_bytes(head[4:], "little")
        if kind == b"data":
            if fmt is None:
                raise bad("WAV data chunk before its fmt chunk")
            return fmt, size
        body = _read_exactly(stream, size + size % 2)
        if len(body) < size:
            raise bad(f"WAV {kind!r} chunk cut short")
        if kind == b"fmt ":
            if size < 16:
                raise bad(f"WAV fmt chunk of {size} bytes (expected >= 16)")
            tag, channels, rate = (int.from_bytes(body[a:b], "little") for a, b in
                                   ((0, 2), (2, 4), (4, 8)))  # fmt: skip
            bits = int.from_bytes(body[14:16], "little")
            if tag == _WAV_EXTENSIBLE and size >= 26:
                tag = int.from_bytes(body[24:26], "little")  # the sub-format's tag
            if not 1 <= channels <= _MAX_CHANNELS or not 1 <= rate <= MAX_RATE:
                raise bad(f"WAV fmt chunk with {channels} channels at {rate} Hz")
            fmt = (tag, channels, rate, bits)


def audio_stream(
    stream: BinaryIO, *, rate: int, channels: int = 1, name: str = "<stdin>",
    chunk_seconds: float = 0.1,
) -> tuple[int, Iterator[np.ndarray]]:  # fmt: skip
    """An audio stream (standard input) as ``(rate, chunks)``: mono float32 chunks of at
    most ``chunk_seconds``, read as they arrive, in bounded memory.

    What the stream holds is told by its first bytes:

    * ``RIFF....WAVE`` (``arecord -t wav``, ``sox ... -t wav -``): a WAV stream; 16-bit PCM
      is streamed at the header's rate and channels (their mean), a stream's unknown
      length (0 or 0xFFFFFFFF) is fine; other WAV sample formats are read whole;
    * ``fLaC``: a FLAC file, read whole (the stream must end);
    * anything else: raw little-endian 16-bit PCM (``arecord -f S16_LE -t raw``, ``sox ... -t
      raw -``), ``channels`` interleaved, at ``rate`` Hz.

    A bad WAV header or FLAC file is a one-line :class:`DataError` naming ``name``.
    """
    if rate < 1 or channels < 1 or chunk_seconds <= 0:
        raise ValueError(f"need rate >= 1, channels >= 1, chunk_seconds > 0; got {rate}, "
                         f"{channels}, {chunk_seconds}")  # fmt: skip
    head = _read_exactly(stream, 12)
    size = 2 * channels * max(1, round(chunk_seconds * rate))
    if head[:4] == b"fLaC":
        return _whole(head + stream.read(), name)
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return rate, _pcm16(itertools.chain([head], _reads(stream, size)), channels)
    (tag, channels, rate, bits), length = _wav_header(stream, name)
    if tag != _WAV_PCM or bits != 16:  # 8/24/32-bit or float samples: libsndfile, whole
        rest = stream.read() if length in _UNKNOWN_LENGTHS else _read_exactly(stream, length)
        return _whole(_wav_bytes(tag, channels, rate, bits) + rest, name)
    size = 2 * channels * max(1, round(chunk_seconds * rate))
    limit = None if length in _UNKNOWN_LENGTHS else length
    return rate, _pcm16(_reads(stream, size, limit), channels)


def _whole(data: bytes, name: str) -> tuple[int, Iterator[np.ndarray]]:
    samples, rate = read_audio_bytes(data, name=name)
    return rate, iter([samples.numpy()])


def _wav_bytes(tag: int, channels: int, rate: int, bits: int) -> bytes:
    """A WAV header whose data chunk runs to the end (libsndfile reads it)."""
    block = min(channels * max(1, bits // 8), 0xFFFF)  # bytes per frame
    fields = ((tag, 2), (channels, 2), (rate, 4), (min(rate * block, 0xFFFFFFFF), 4),
              (block, 2), (bits, 2))  # fmt: skip
    fmt = b"".join(v.to_bytes(n, "little") for v, n in fields)
    return b"RIFF\xff\xff\xff\xffWAVEfmt \x10\x00\x00\x00" + fmt + b"data\xff\xff\xff\xff"
