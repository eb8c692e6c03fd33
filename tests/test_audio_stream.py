"""``seqlab.audio.stream``: a stream read chunk by chunk (raw 16-bit PCM, a WAV stream) and
resampled as it comes, the concatenation of the chunks against the whole (scipy's
``resample_poly``, the samples written). Malformed streams are fuzzed in
test_fuzz_audio_readers.py; ``wake detect MODEL -`` reads standard input with them
(test_wake_stream.py)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from scipy.signal import resample_poly

from seqlab.audio import audio_stream, resample_chunks


def _split(x: np.ndarray, rng: np.random.Generator, n: int = 7) -> list[np.ndarray]:
    return np.split(x, np.sort(rng.integers(0, len(x), n)))


@pytest.mark.parametrize(("orig", "new"), [(16000, 8000), (8000, 16000), (44100, 16000)])
def test_chunked_resampling_equals_scipy_on_the_whole(orig: int, new: int) -> None:
    rng = np.random.default_rng(orig + new)
    x = rng.standard_normal(30001).astype(np.float32)  # several blocks of >= 0.2 s
    want = resample_poly(x.astype(np.float64), new // np.gcd(orig, new), orig // np.gcd(orig, new))
    for seed in range(3):
        chunks = _split(x, np.random.default_rng(seed), n=3 + 5 * seed)
        got = np.concatenate(list(resample_chunks(chunks, orig, new)))
        np.testing.assert_allclose(got, want, atol=2e-5)


def test_audio_stream_reads_raw_wav_and_cuts_a_partial_sample() -> None:
    pcm = np.arange(-500, 500, dtype="<i2") * 30
    rate, chunks = audio_stream(io.BytesIO(pcm.tobytes() + b"\x01"), rate=8000)
    got = np.concatenate(list(chunks))
    assert rate == 8000 and np.array_equal(got, pcm / 32768)
