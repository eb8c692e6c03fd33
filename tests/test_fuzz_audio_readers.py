"""The speech and wake-word readers, fed random bytes, random text lines and truncated or
corrupted WAVs: the result is a correct read or a one-line DataError naming the file (and
the line, for a line of a manifest or of labels.jsonl), never another exception
(UnicodeDecodeError, IndexError, OverflowError, soundfile's errors, ...).

Readers: :func:`seqlab.audio.read_audio` / ``read_audio_bytes`` (under all of them),
:func:`seqlab.data.speech.read_manifest`, ``read_fsdd``, :func:`seqlab.data.wake.
read_dataset`, ``read_clip_folder``, and :func:`seqlab.audio.audio_stream` (``wake detect
MODEL -``).
"""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seqlab._io import DataError
from seqlab.audio import audio_stream, read_audio, read_audio_bytes, write_audio
from seqlab.data.speech import read_fsdd, read_manifest
from seqlab.data.wake import read_clip_folder, read_dataset

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,  # the same examples on every run: CI never sees a new one by chance
)


def _wav(suffix: str = ".wav", channels: int = 1, subtype: str | None = None) -> bytes:
    buf = io.BytesIO()
    t = np.arange(400) / 8000
    audio = 0.4 * np.sin(2 * np.pi * 440 * t * np.arange(1, channels + 1)[:, None])
    import soundfile as sf

    fmt = "WAV" if suffix == ".wav" else "FLAC"
    sf.write(buf, audio.T.astype(np.float32), 8000, format=fmt, subtype=subtype or "PCM_16")
    return buf.getvalue()


WAVS = [_wav(), _wav(channels=2), _wav(subtype="FLOAT"), _wav(".flac")]


@st.composite
def corrupted(draw: st.DrawFn, valid: bytes) -> bytes:
    """``valid`` cut short (often inside its header), with header fields or random bytes
    overwritten, with junk spliced in, or replaced by noise."""
    kind = draw(st.sampled_from(["truncate", "header", "flip", "splice", "noise", "same"]))
    data = bytearray(valid)
    if kind == "truncate":
        return valid[: draw(st.integers(0, min(len(valid) - 1, 80)) | st.integers(0, len(valid)))]
    if kind == "header":  # a size, channel count, rate or bit depth of the RIFF header
        at = draw(st.sampled_from([4, 16, 20, 22, 24, 28, 32, 34, 40]))
        size = 2 if at in (20, 22, 32, 34) else 4
        data[at : at + size] = draw(st.binary(min_size=size, max_size=size))
        return bytes(data)
    if kind == "flip":
        for _ in range(draw(st.integers(1, 8))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        return bytes(data)
    if kind == "splice":
        at = draw(st.integers(0, len(valid)))
        return valid[:at] + draw(st.binary(min_size=1, max_size=16)) + valid[at:]
    if kind == "noise":
        return draw(st.binary(max_size=300))
    return valid


def check(read: Callable[[], Any], *paths: Path | str, line: bool = False) -> Any:
    """``read()``: a result, or a one-line DataError naming one of ``paths`` (with a line
    number when ``line`` and the problem is about a line)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (ClippingWarning on corrupted samples)
            return read()
    except DataError as err:
        message = str(err)
        assert "\n" not in message and "Traceback" not in message, message
        assert str(err.path) in {str(p) for p in paths}, message
        if line and not err.problem.startswith(("no recordings", "no examples")):
            assert err.line is not None and f":{err.line}:" in message, message
        return None


@given(data=st.sampled_from(WAVS).flatmap(corrupted), suffix=st.sampled_from([".wav", ".flac"]))
@SETTINGS
def test_audio_files_and_bytes(tmp_path: Path, data: bytes, suffix: str) -> None:
    file = tmp_path / f"clip{suffix}"
    file.write_bytes(data)
    got = check(lambda: read_audio(file), file)  # (resampling: through the readers below)
    if got is not None:
        samples, rate = got
        assert rate >= 1 and samples.dim() == 1 and samples.numel() >= 1
        assert bool(samples.isfinite().all())
    check(lambda: read_audio_bytes(data, name="<stdin>"), "<stdin>")


@given(data=st.sampled_from(WAVS[:3]).flatmap(corrupted) | st.binary(max_size=200))
@SETTINGS
def test_audio_stream(data: bytes) -> None:
    """``wake detect MODEL -``: raw samples, a WAV stream or FLAC, read chunk by chunk."""

    def read() -> list[np.ndarray]:
        rate, chunks = audio_stream(io.BytesIO(data), rate=8000, chunk_seconds=0.01)
        out = list(chunks)
        assert rate >= 1 and all(c.ndim == 1 and np.isfinite(c).all() for c in out)
        return out

    check(read, "<stdin>")


_LINE = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30)


@st.composite
def manifests(draw: st.DrawFn) -> bytes:
    """A manifest: good lines, random text lines, tabs in odd places, or random bytes."""
    if draw(st.booleans()) and draw(st.booleans()):
        return draw(st.binary(max_size=200))
    good = ["a.wav\tthree one", "# a comment", "", "b.wav\t  four  ", "a.wav \tzero\r"]
    odd = st.one_of(
        _LINE,
        st.builds(lambda a, b: f"{a}\t{b}", _LINE, _LINE),
        st.sampled_from(["missing.wav\tx", "a.wav\t", "\tx", "sub\tx", "a.wav", "x" * 300]),
    )
    lines = draw(st.lists(st.sampled_from(good) | odd, max_size=6))
    return "\n".join(lines).encode()


@pytest.fixture
def clips_dir(tmp_path: Path) -> Path:
    (tmp_path / "a.wav").write_bytes(WAVS[0])
    (tmp_path / "b.wav").write_bytes(WAVS[3][:60])  # a FLAC file cut short: unreadable
    (tmp_path / "sub").mkdir()
    return tmp_path


@given(data=manifests())
@SETTINGS
def test_manifest_reader(clips_dir: Path, data: bytes) -> None:
    file = clips_dir / "manifest.tsv"
    file.write_bytes(data)
    utterances = check(lambda: read_manifest(file), file, line=True)
    if utterances is not None:
        assert utterances and all(u.text and u.samples.numel() for u in utterances)


@given(data=st.sampled_from(WAVS[:3]).flatmap(corrupted))
@SETTINGS
def test_fsdd_reader(tmp_path: Path, data: bytes) -> None:
    folder = tmp_path / "recordings"
    folder.mkdir(exist_ok=True)
    (folder / "3_alice_0.wav").write_bytes(WAVS[0])
    bad = folder / "7_bob_12.wav"
    bad.write_bytes(data)
    got = check(lambda: read_fsdd(tmp_path, sample_rate=8000), bad)
    if got is not None:
        assert [u.text for u in got] == ["three", "seven"] and got[1].index == 12


@st.composite
def label_files(draw: st.DrawFn) -> bytes:
    """labels.jsonl: good lines, JSON of the wrong shape, odd numbers, text, bytes."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.binary(max_size=200))
    good = {"file": "0000.wav", "positives": [[0.01, 0.02]], "negatives": []}
    value = st.recursive(
        st.none() | st.booleans() | st.floats() | st.integers() | _LINE,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_LINE, inner, max_size=3),
        max_leaves=6,
    )
    span = st.lists(st.floats() | st.integers(-5, 10**400 // 10**399) | st.just(1e308),
                    min_size=0, max_size=3)  # fmt: skip
    row = st.fixed_dictionaries(
        {},
        optional={
            "file": st.sampled_from(["0000.wav", "none.wav", "", "sub", "x" * 300]) | value,
            "positives": st.lists(span, max_size=2) | value,
            "negatives": st.lists(span, max_size=2) | value,
        },
    )
    lines = draw(st.lists(
        st.just(json.dumps(good)) | row.map(json.dumps) | value.map(json.dumps) | _LINE
        | st.just("[" * 5000), max_size=4))  # fmt: skip
    return "\n".join(lines).encode()


@given(labels=label_files(), wav=st.sampled_from(WAVS[:1]).flatmap(corrupted))
@SETTINGS
def test_wake_dataset_reader(tmp_path: Path, labels: bytes, wav: bytes) -> None:
    (tmp_path / "sub").mkdir(exist_ok=True)
    (tmp_path / "0000.wav").write_bytes(wav)
    file = tmp_path / "labels.jsonl"
    file.write_bytes(labels)
    examples = check(lambda: read_dataset(tmp_path, 8000), file, line=True)
    for ex in examples or []:
        assert all(0 <= s <= e <= len(ex.audio) + 1 for s, e in ex.positives + ex.negatives)


@given(data=st.sampled_from(WAVS).flatmap(corrupted), kind=st.sampled_from(["activates",
       "negatives", "backgrounds"]))  # fmt: skip
@SETTINGS
def test_wake_clip_folder_reader(tmp_path: Path, data: bytes, kind: str) -> None:
    for sub in ("activates", "negatives", "backgrounds"):
        (tmp_path / sub).mkdir(exist_ok=True)
        (tmp_path / sub / "good.wav").write_bytes(WAVS[0])
        (tmp_path / sub / "x.wav").unlink(missing_ok=True)  # (an earlier example's)
    bad = tmp_path / kind / "x.wav"
    bad.write_bytes(data)
    clips = check(lambda: read_clip_folder(tmp_path, 16000), bad)
    if clips is not None:
        field = "positives" if kind == "activates" else kind
        assert len(getattr(clips, field)) == 2 and clips.sample_rate == 16000


def test_a_wav_with_a_huge_data_size_streams_what_is_there() -> None:
    """A streamed WAV's header may say 0xFFFFFFFF bytes (``arecord -t wav``)."""
    valid = bytearray(_wav())
    at = valid.index(b"data") + 4
    valid[at : at + 4] = b"\xff\xff\xff\xff"
    rate, chunks = audio_stream(io.BytesIO(bytes(valid)), rate=16000)
    got = np.concatenate(list(chunks))
    want, _ = read_audio_bytes(_wav())
    assert rate == 8000 and np.allclose(got, want.numpy(), atol=1 / 32768)


def test_write_then_stream_float_wav(tmp_path: Path) -> None:
    """A float WAV on standard input is read whole through libsndfile."""
    write_audio(tmp_path / "f.wav", np.full(100, 0.25, np.float32), 8000, subtype="FLOAT")
    rate, chunks = audio_stream(io.BytesIO((tmp_path / "f.wav").read_bytes()), rate=16000)
    assert rate == 8000 and np.allclose(np.concatenate(list(chunks)), 0.25)
