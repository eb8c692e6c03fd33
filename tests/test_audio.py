"""seqlab.audio: files (WAV/FLAC through soundfile), resampling (equal to
scipy.signal.resample_poly, and to the analytic sine), and features checked against NumPy
oracles written here: a direct DFT on frames, the mel formulas in loops, scipy.fft.dct."""

from __future__ import annotations

import math
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.fft
import scipy.signal
import soundfile
import torch

from seqlab._io import DataError
from seqlab.audio import (
    ClippingWarning,
    hz_to_mel,
    log_mel,
    mel_filterbank,
    mel_to_hz,
    mfcc,
    read_audio,
    read_audio_bytes,
    resample,
    spectrogram,
    to_mono,
    write_audio,
)


def _chirp(n: int, sr: int, seed: int = 0) -> np.ndarray:
    t = np.arange(n) / sr
    noise = np.random.default_rng(seed).standard_normal(n) * 0.01
    return 0.5 * scipy.signal.chirp(t, 100, t[-1], sr / 3) + noise


# -- oracles ---------------------------------------------------------------------------------


def _stft_oracle(x: np.ndarray, n_fft: int, hop: int, win: int) -> np.ndarray:
    """|X[k, t]| by a direct DFT of reflect-padded, Hann-windowed frames (float64)."""
    padded = np.pad(x, n_fft // 2, mode="reflect")
    n = np.arange(win)
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * n / win)  # periodic Hann
    window = np.zeros(n_fft)
    left = (n_fft - win) // 2
    window[left : left + win] = hann
    frames = 1 + len(x) // hop
    k = np.arange(n_fft // 2 + 1)[:, None]
    dft = np.exp(-2j * np.pi * k * np.arange(n_fft)[None, :] / n_fft)
    out = np.empty((n_fft // 2 + 1, frames))
    for t in range(frames):
        out[:, t] = np.abs(dft @ (padded[t * hop : t * hop + n_fft] * window))
    return out


def _mel_oracle(n_mels: int, n_fft: int, sr: int, scale: str, norm: str | None) -> np.ndarray:
    def to_mel(f: float) -> float:
        if scale == "htk":
            return 2595 * math.log10(1 + f / 700)
        return f / (200 / 3) if f < 1000 else 15 + math.log(f / 1000) * 27 / math.log(6.4)

    def to_hz(m: float) -> float:
        if scale == "htk":
            return 700 * (10 ** (m / 2595) - 1)
        return m * 200 / 3 if m < 15 else 1000 * math.exp((m - 15) * math.log(6.4) / 27)

    top = to_mel(sr / 2)
    corners = [to_hz(top * i / (n_mels + 1)) for i in range(n_mels + 2)]
    fb = np.zeros((n_fft // 2 + 1, n_mels))
    for k in range(n_fft // 2 + 1):
        f = k * sr / n_fft
        for j in range(n_mels):
            lo, mid, hi = corners[j : j + 3]
            if lo < f <= mid:
                fb[k, j] = (f - lo) / (mid - lo)
            elif mid < f < hi:
                fb[k, j] = (hi - f) / (hi - mid)
            if norm == "slaney":
                fb[k, j] *= 2 / (hi - lo)
    return fb


# -- features --------------------------------------------------------------------------------


@pytest.mark.parametrize(("n_fft", "hop", "win"), [(64, 16, 64), (50, 7, 31), (128, 32, 100)])
@pytest.mark.parametrize("power", [1.0, 2.0])
def test_spectrogram_equals_a_direct_dft(n_fft: int, hop: int, win: int, power: float) -> None:
    x = _chirp(501, 8000)
    got = spectrogram(torch.tensor(x), n_fft=n_fft, hop_length=hop, win_length=win, power=power)
    want = _stft_oracle(x, n_fft, hop, win) ** power
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("center", [True, False])
def test_real_stft_features_equal_the_complex_formula(center: bool) -> None:
    # the spectrogram went from |stft(return_complex=True)|^p to the real-valued STFT (the
    # one ONNX exports): float32 features of trained models must not move. Measured worst
    # differences: power 1.8e-7 and magnitude 1.0e-7 of the peak, log-mel 1.9e-6 (absolute,
    # on values around -20 for quiet frames), so the bounds leave 5x room
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 8000, generator=g)  # (B, N) float32
    x[:, :2000] *= 1e-4  # quiet frames: log-mel far below the loud ones
    window = torch.hann_window(200)
    stft = torch.stft(x, 200, hop_length=80, window=window, center=center, return_complex=True)
    fb = mel_filterbank(24, 200, 8000)  # (F, M)
    for power in (1.0, 2.0):
        want = stft.abs().pow(power)  # (B, F, T)
        got = spectrogram(x, n_fft=200, hop_length=80, center=center, power=power)
        assert got.dtype == torch.float32 and got.shape == want.shape
        assert float((got - want).abs().max() / want.max()) < 1e-6
    want_mel = (stft.abs().pow(2).transpose(1, 2) @ fb).clamp_min(1e-10).log()  # (B, T, M)
    got_mel = (got.transpose(1, 2) @ fb).clamp_min(1e-10).log()
    assert float((got_mel - want_mel).abs().max()) < 1e-5


def test_spectrogram_warns_nothing() -> None:
    # torch warns (once per process) that return_complex=False is deprecated; the library
    # silences it, so a user's training run shows no warning: checked in a fresh process
    code = (
        "import torch\nfrom seqlab.audio import spectrogram\n"
        "spectrogram(torch.randn(1000), n_fft=64)\n"
    )
    import subprocess

    run = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True)
    assert run.returncode == 0, run.stderr.decode()[-500:]


def test_batch_and_single_signal_shapes_agree() -> None:
    x = torch.tensor(np.stack([_chirp(800, 8000, s) for s in range(3)]))  # (3, 800)
    batch = spectrogram(x, n_fft=64, hop_length=16)
    assert batch.shape == (3, 33, 51)
    torch.testing.assert_close(batch[1], spectrogram(x[1], n_fft=64, hop_length=16))
    assert log_mel(x, 8000, n_mels=10, n_fft=64).shape == (3, 10, 51)
    assert mfcc(x, 8000, n_mfcc=5, n_mels=10, n_fft=64).shape == (3, 5, 51)
    torch.testing.assert_close(mfcc(x, 8000, n_mels=20)[2], mfcc(x[2], 8000, n_mels=20))


@pytest.mark.parametrize("scale", ["htk", "slaney"])
@pytest.mark.parametrize("norm", [None, "slaney"])
def test_mel_filterbank_equals_the_formula(scale: str, norm: str | None) -> None:
    got = mel_filterbank(20, 256, 16000, scale=scale, norm=norm, dtype=torch.float64)  # type: ignore[arg-type]
    np.testing.assert_allclose(got.numpy(), _mel_oracle(20, 256, 16000, scale, norm), atol=1e-12)


def test_mel_scales_at_known_points() -> None:
    f = torch.tensor([0.0, 700.0, 1000.0, 6400.0], dtype=torch.float64)
    htk = hz_to_mel(f, "htk")
    np.testing.assert_allclose(htk.numpy()[:2], [0.0, 2595 * math.log10(2)])
    np.testing.assert_allclose(hz_to_mel(f, "slaney").numpy(), [0.0, 10.5, 15.0, 42.0])
    for scale in ("htk", "slaney"):
        torch.testing.assert_close(mel_to_hz(hz_to_mel(f, scale), scale), f)  # type: ignore[arg-type]


def test_log_mel_and_mfcc_equal_the_oracles() -> None:
    x = _chirp(1200, 16000)
    power = _stft_oracle(x, 256, 64, 256) ** 2
    fb = _mel_oracle(24, 256, 16000, "htk", None)
    want_logmel = np.log(np.maximum(fb.T @ power, 1e-10))
    got_logmel = log_mel(torch.tensor(x), 16000, n_mels=24, n_fft=256, hop_length=64)
    np.testing.assert_allclose(got_logmel.numpy(), want_logmel, rtol=1e-8, atol=1e-8)
    want = scipy.fft.dct(want_logmel, type=2, norm="ortho", axis=0)[:13]
    got = mfcc(torch.tensor(x), 16000, n_mfcc=13, n_mels=24, n_fft=256, hop_length=64)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-8, atol=1e-8)


def test_a_sine_peaks_at_its_frequency() -> None:
    sr, f0 = 8000, 1000.0
    x = torch.sin(2 * math.pi * f0 * torch.arange(4000, dtype=torch.float64) / sr)
    spec = spectrogram(x, n_fft=256, hop_length=64)
    assert spec[:, 5:-5].argmax(dim=0).eq(round(f0 * 256 / sr)).all()


def test_feature_errors_are_clear() -> None:
    with pytest.raises(ValueError, match="too short"):
        spectrogram(torch.zeros(10), n_fft=64)
    with pytest.raises(ValueError, match="floating-point"):
        spectrogram(torch.zeros(100, dtype=torch.int16))
    with pytest.raises(ValueError, match=r"\(N,\) or \(B, N\)"):
        spectrogram(torch.zeros(2, 2, 100))
    with pytest.raises(ValueError, match="f_max"):
        mel_filterbank(10, 64, 8000, f_max=5000)


# -- resampling ------------------------------------------------------------------------------

RATES = [(8000, 16000), (16000, 8000), (44100, 16000), (22050, 16000), (16000, 44100), (3, 7)]


@pytest.mark.parametrize(("orig", "new"), RATES)
def test_resample_equals_scipy_resample_poly(orig: int, new: int) -> None:
    x = np.random.default_rng(1).standard_normal((2, 997))
    got = resample(torch.tensor(x), orig, new).numpy()
    np.testing.assert_allclose(got, scipy.signal.resample_poly(x, new, orig, axis=-1), atol=1e-12)


@pytest.mark.parametrize(("orig", "new"), [(8000, 16000), (44100, 16000), (16000, 8000)])
def test_resampled_sine_equals_the_analytic_sine(orig: int, new: int) -> None:
    f0, seconds = 440.0, 0.5
    x = torch.sin(2 * math.pi * f0 * torch.arange(int(orig * seconds)) / orig).double()
    y = resample(x, orig, new)
    want = torch.sin(2 * math.pi * f0 * torch.arange(len(y), dtype=torch.float64) / new)
    edge = new // 20  # the filter sees zeros beyond the ends
    # Kaiser β=5 has ~-45 dB stopband / passband ripple ~1e-3: bound 5e-3
    assert (y - want)[edge:-edge].abs().max() < 5e-3


@pytest.mark.parametrize("freq", [4800.0, 7000.0])
def test_resample_removes_what_the_new_rate_cannot_hold(freq: float) -> None:
    x = torch.sin(2 * math.pi * freq * torch.arange(16000) / 16000).double()  # above 4 kHz
    y = resample(x, 16000, 8000)
    # aliased to 8000 - freq without the low-pass; Kaiser β=5 leaves < 1% at 4.8 kHz
    assert y[500:-500].abs().max() < 0.01


# -- files -----------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".wav", ".flac"])
def test_write_then_read_round_trips(tmp_path: Path, suffix: str) -> None:
    x = _chirp(1600, 8000).astype(np.float32)
    path = write_audio(tmp_path / f"a{suffix}", torch.tensor(x), 8000)
    got, sr = read_audio(path)
    assert sr == 8000 and got.dtype == torch.float32 and got.shape == (1600,)
    np.testing.assert_allclose(got.numpy(), x, atol=1 / 32768)  # PCM_16 rounding
    assert [p.name for p in tmp_path.iterdir()] == [f"a{suffix}"]  # no temporary left


def test_several_channels_are_mixed_by_their_mean(tmp_path: Path) -> None:
    x = np.stack([_chirp(800, 8000, 0), _chirp(800, 8000, 1) * 0.5]).astype(np.float32)
    path = write_audio(tmp_path / "s.wav", x, 8000, subtype="FLOAT")
    mono, _ = read_audio(path)
    np.testing.assert_allclose(mono.numpy(), x.mean(axis=0), atol=1e-7)
    both, _ = read_audio(path, mono=False)
    assert both.shape == (2, 800)
    torch.testing.assert_close(to_mono(both), mono)


def test_another_rate_is_resampled_on_read(tmp_path: Path) -> None:
    x = _chirp(4410, 44100).astype(np.float32)
    path = write_audio(tmp_path / "r.wav", x, 44100, subtype="FLOAT")
    got, sr = read_audio(path, sample_rate=16000)
    assert sr == 16000
    want = scipy.signal.resample_poly(x.astype(np.float64), 160, 441)
    np.testing.assert_allclose(got.numpy(), want, atol=1e-5)


def test_bad_audio_gets_one_line_naming_the_file(tmp_path: Path) -> None:
    text = tmp_path / "notes.wav"
    text.write_text("not audio at all\n" * 10)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    silent = tmp_path / "nothing.wav"
    soundfile.write(silent, np.zeros((0,), dtype=np.float32), 8000)
    nan = tmp_path / "nan.wav"
    soundfile.write(nan, np.array([0.1, np.nan, 0.2] * 100), 8000, subtype="FLOAT")
    cases = {
        text: "not audio",
        empty: "empty file",
        silent: "no samples",
        nan: "NaN",
        tmp_path / "missing.wav": "no such file",
        tmp_path: "is a folder",
    }
    for path, problem in cases.items():
        with pytest.raises(DataError, match=problem) as info:
            read_audio(path)
        message = str(info.value)
        assert message.startswith(str(path)) and "\n" not in message, message


def test_clipped_audio_warns_and_quiet_audio_does_not(tmp_path: Path) -> None:
    x = np.clip(3 * np.sin(np.linspace(0, 60, 8000)), -1, 1).astype(np.float32)
    path = write_audio(tmp_path / "loud.wav", x, 8000)
    with pytest.warns(ClippingWarning, match="loud.wav.*clipped"):
        read_audio(path)
    quiet = write_audio(tmp_path / "quiet.wav", x * 0.5, 8000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_audio(quiet)


def test_without_soundfile_the_error_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "soundfile", None)
    with pytest.raises(ImportError, match=r"pip install 'seqlab\[audio\]'"):
        read_audio(tmp_path / "a.wav")


def test_write_refuses_unknown_suffixes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"use \.wav or \.flac"):
        write_audio(tmp_path / "a.mp3", np.zeros(10), 8000)


def test_bytes_read_like_files_and_errors_name_the_source(tmp_path: Path) -> None:
    x = _chirp(800, 8000).astype(np.float32)
    path = write_audio(tmp_path / "b.flac", x, 8000)
    got, sr = read_audio_bytes(path.read_bytes(), sample_rate=16000)
    want, _ = read_audio(path, sample_rate=16000)
    assert sr == 16000
    torch.testing.assert_close(got, want)
    with pytest.raises(DataError, match=r"^<stdin>: empty file"):
        read_audio_bytes(b"")
    with pytest.raises(DataError, match=r"^upload\.wav: not audio"):
        read_audio_bytes(b"RIFF not really", name="upload.wav")
