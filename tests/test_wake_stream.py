"""``wake detect MODEL -`` (a stream on standard input, chunk by chunk), the streaming pieces
behind it (the stream detector against ``detect``, both networks chunk by chunk against their
whole pass; the stream reader and chunked resampling are tested in test_audio_stream.py),
and ``wake synth``'s other word sources: FSDD digits as negatives and espeak-ng voices (a
fake ``espeak-ng`` script stands in)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from seqlab.audio import resample, write_audio
from seqlab.cli import app
from seqlab.data.wake import (
    StreamDetector,
    detect,
    fsdd_words,
    generated_clips,
    synthesize,
)
from seqlab.tasks.wake import PRESETS, WakeWord

TINY = PRESETS["tiny"].config  # 8 kHz


def _split(x: np.ndarray, rng: np.random.Generator, n: int = 7) -> list[np.ndarray]:
    return np.split(x, np.sort(rng.integers(0, len(x), n)))


def test_stream_detector_equals_detect_on_the_whole() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        p = rng.uniform(size=int(rng.integers(1, 80)))
        refractory = int(rng.integers(1, 9))
        detector = StreamDetector(0.7, refractory)
        got = [t for part in _split(p, rng) for t in detector.push(part)]
        assert got == detect(p, 0.7, refractory)


@pytest.mark.parametrize("arch", ["rnn", "streaming"])
def test_both_networks_stream_as_their_whole_pass(arch: str) -> None:
    torch.manual_seed(0)
    config = replace(TINY, arch=arch)
    task = WakeWord(WakeWord.build_model(config), config)
    audio = np.random.default_rng(1).standard_normal(12000).astype(np.float32) * 0.1
    whole = task.scores(audio)
    got = np.concatenate(list(task.stream_scores(_split(audio, np.random.default_rng(2)))))
    np.testing.assert_allclose(got, whole, atol=1e-5)


def test_detections_come_before_the_stream_ends() -> None:
    torch.manual_seed(0)
    task = WakeWord(WakeWord.build_model(TINY), TINY)
    audio = np.random.default_rng(3).standard_normal(24000).astype(np.float32) * 0.1
    threshold = _threshold(task.scores(audio))
    read = 0

    def chunks():
        nonlocal read
        for part in np.split(audio, 30):
            read += len(part)
            yield part

    seen = [(t, read) for t, _ in task.stream_detect(chunks(), threshold=threshold)]
    assert len(seen) >= 2 and [t for t, _ in seen] == task.detect(audio, threshold=threshold)
    for t, samples_read in seen:  # yielded by the chunk (0.1 s) that holds its time
        assert t <= samples_read / 8000 < t + 0.1 + 1e-9


def _threshold(scores: np.ndarray) -> float:
    """A threshold in the widest gap between sorted scores around the median: no score is
    near it, so float differences of 1e-6 cannot move a detection."""
    s = np.sort(scores)
    mid = len(s) // 2
    i = max(range(mid - len(s) // 4, mid + len(s) // 4), key=lambda i: s[i + 1] - s[i])
    return float((s[i] + s[i + 1]) / 2)


# -- the command ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Untrained models of both networks, a 6 s synthetic recording (16-bit WAV, so its
    raw bytes are the file's samples) and thresholds that fire several times."""
    root = tmp_path_factory.mktemp("wake_stream")
    clips = generated_clips(sample_rate=8000, seed=0)
    ex = synthesize(clips, np.random.default_rng(0), seconds=6.0, max_positives=4)
    pcm = np.round(np.clip(ex.audio, -1, 1) * 32767).astype("<i2")
    audio = pcm.astype(np.float32) / 32768
    write_audio(root / "talk.wav", audio, 8000)
    write_audio(root / "talk16k.wav", resample(torch.from_numpy(audio), 8000, 16000), 16000)
    out = {"root": root, "pcm": pcm, "audio": audio}
    for arch in ("rnn", "streaming"):
        torch.manual_seed(1)
        config = replace(TINY, arch=arch, refractory_seconds=0.3)
        task = WakeWord(WakeWord.build_model(config), config)
        task.save(root / arch)
        out[arch] = _threshold(task.scores(audio))
    return out


def _invoke(args: list[str], stdin: bytes | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["wake", *map(str, args)], input=stdin)
    return result.exit_code, result.stdout, result.stderr


def _file_times(model: Path, wav: Path, threshold: float) -> list[float]:
    code, out, err = _invoke(["detect", model, wav, "--threshold", threshold, "--json"])
    assert code == 0, err
    return json.loads(out)["detections"]


@pytest.mark.parametrize("arch", ["rnn", "streaming"])
def test_raw_stdin_detects_what_the_file_does(recording: dict, arch: str) -> None:
    model, th = recording["root"] / arch, recording[arch]
    want = _file_times(model, recording["root"] / "talk.wav", th)
    assert len(want) >= 3
    code, out, err = _invoke(["detect", model, "-", "--threshold", th],
                             stdin=recording["pcm"].tobytes())  # fmt: skip
    assert code == 0, err
    got = [float(line) for line in out.split()]
    hop = PRESETS["tiny"].config.step_seconds
    assert len(got) == len(want) and np.allclose(got, want, atol=hop)
    code, out, _ = _invoke(["detect", model, "-", "--threshold", th, "--json"],
                           stdin=recording["root"].joinpath("talk.wav").read_bytes())  # fmt: skip
    lines = [json.loads(line) for line in out.splitlines()]  # JSON lines, one per detection
    assert code == 0 and [d["time"] for d in lines] == want
    assert all(th <= d["score"] <= 1 for d in lines)


def test_stdin_at_another_rate_and_with_two_channels(recording: dict) -> None:
    model, th = recording["root"] / "streaming", recording["streaming"]
    want = _file_times(model, recording["root"] / "talk16k.wav", th)
    pcm16k = np.round(resample(torch.from_numpy(recording["audio"]), 8000, 16000).numpy()
                      * 32768).clip(-32768, 32767).astype("<i2")  # fmt: skip
    code, out, err = _invoke(["detect", model, "-", "--threshold", th, "--rate", 16000],
                             stdin=pcm16k.tobytes())  # fmt: skip
    assert code == 0, err
    hop = PRESETS["tiny"].config.step_seconds
    got = [float(line) for line in out.split()]
    assert len(got) == len(want) and np.allclose(got, want, atol=hop)
    stereo = np.stack([recording["pcm"], recording["pcm"]], axis=1)  # (N, 2) interleaved
    code, out, _ = _invoke(["detect", model, "-", "--threshold", th, "--channels", 2],
                           stdin=stereo.tobytes())  # fmt: skip
    file_times = _file_times(model, recording["root"] / "talk.wav", th)
    assert code == 0 and np.allclose([float(x) for x in out.split()], file_times, atol=hop)


def test_stdin_chime_and_errors(recording: dict, tmp_path: Path) -> None:
    model, th = recording["root"] / "streaming", recording["streaming"]
    code, _, _ = _invoke(["detect", model, "-", "--threshold", th, "--chime",
                          tmp_path / "c.wav"], stdin=recording["pcm"].tobytes())  # fmt: skip
    assert code == 0 and (tmp_path / "c.wav").stat().st_size > 2 * len(recording["pcm"])
    code, _, err = _invoke(["detect", model, "-"], stdin=b"RIFF\x00\x00\x00\x00WAVEjunk")
    assert code == 2 and err.startswith("error: <stdin>") and len(err.splitlines()) == 1
    code, _, err = _invoke(["detect", model, recording["root"] / "talk.wav", "--rate", 8000])
    assert code == 2 and "standard input" in err
    code, _, err = _invoke(["detect", model, "-"], stdin=b"")
    assert code == 0 and "no detection" in err


def test_a_pipe_gets_each_detection_before_the_stream_ends(recording: dict) -> None:
    """A real pipe: the first detection's line arrives while standard input stays open."""
    model, th = recording["root"] / "streaming", recording["streaming"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    args = [sys.executable, "-m", "seqlab", "wake", "detect", str(model), "-", "--threshold"]
    proc = subprocess.Popen([*args, str(th)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=env)  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(recording["pcm"].tobytes())  # all of it, but stdin stays open
        proc.stdin.flush()
        line: list[bytes] = []
        reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()))
        reader.start()
        reader.join(timeout=60)
        assert line and line[0].strip(), "no detection line while the stream was open"
        first = float(line[0])
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)
    want = _file_times(model, recording["root"] / "talk.wav", th)[0]
    assert first == pytest.approx(want, abs=0.006)  # (printed with 2 decimals)


def test_ctrl_c_on_a_live_stream_ends_cleanly_with_status_130(recording: dict) -> None:
    """SIGINT while standard input stays open (``arecord ... | seqlab wake detect MODEL -``
    ended by Ctrl-C): the lines printed stay, one line on stderr, exit status 130."""
    model, th = recording["root"] / "streaming", recording["streaming"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    args = [sys.executable, "-m", "seqlab", "wake", "detect", str(model), "-", "--threshold"]
    proc = subprocess.Popen([*args, str(th)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    try:
        proc.stdin.write(recording["pcm"].tobytes())  # all of it, but stdin stays open
        proc.stdin.flush()
        first: list[bytes] = []  # a detection line: the stream is being read, then Ctrl-C
        reader = threading.Thread(target=lambda: first.append(proc.stdout.readline()))
        reader.start()
        reader.join(timeout=60)
        assert first and first[0].strip(), "no detection line while the stream was open"
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    want = _file_times(model, recording["root"] / "talk.wav", th)
    got = [float(x) for x in (first[0] + rest).split()]
    assert proc.returncode == 130
    assert 1 <= len(got) <= len(want) and np.allclose(got, want[: len(got)], atol=0.006)
    lines = err.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stopped (Ctrl-C) after"), err.decode()


def test_ctrl_c_keeps_the_detections_and_writes_the_chime(
    recording: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """KeyboardInterrupt from the reader after 3 s of audio: the detections of those 3 s
    are printed, --chime holds those 3 s, the summary says so, exit status 130."""
    import seqlab.audio

    model, th, pcm = recording["root"] / "streaming", recording["streaming"], recording["pcm"]

    def interrupted_stream(stream: object, *, rate: int, channels: int) -> tuple:
        def chunks():
            yield from np.split(pcm[: 3 * 8000].astype(np.float32) / 32768, 30)  # 0.1 s each
            raise KeyboardInterrupt

        return 8000, chunks()

    monkeypatch.setattr(seqlab.audio, "audio_stream", interrupted_stream)
    chime = tmp_path / "c.wav"
    code, out, err = _invoke(["detect", model, "-", "--threshold", th, "--json", "--chime",
                              chime])  # fmt: skip
    want = WakeWord.load(model).detect(recording["audio"][: 3 * 8000], threshold=th)
    assert code == 130 and len(want) >= 1
    assert [json.loads(line)["time"] for line in out.splitlines()] == [round(t, 3) for t in want]
    n = len(want)
    assert err == f"stopped (Ctrl-C) after 3.0 s of audio: {n} detection{'s' * (n != 1)}\n"
    from seqlab.audio import read_audio

    assert len(read_audio(chime)[0]) == 3 * 8000


# -- other word sources for `wake synth` ------------------------------------------------------


def _fsdd(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    folder.mkdir()
    for speaker in ("alice", "bob", "carol"):
        for digit in (1, 7):
            audio = 0.3 * np.sin(np.arange(int(rng.integers(2000, 3000))) * (0.1 + digit / 50))
            write_audio(folder / f"{digit}_{speaker}_0.wav", audio.astype(np.float32), 8000)
    return folder


def test_fsdd_digits_resampled_as_negatives(tmp_path: Path) -> None:
    folder = _fsdd(tmp_path / "fsdd")
    words = fsdd_words(folder, 16000, exclude=["bob"])
    assert len(words) == 4
    from seqlab.audio import read_audio

    first = read_audio(folder / "1_alice_0.wav")[0]
    np.testing.assert_allclose(words[0], resample(first, 8000, 16000).numpy(), atol=1e-6)
    assert len(fsdd_words(folder, 8000, only=["bob"])) == 2
    args = ["synth", "--synthetic", "-n", 3, "--seconds", 2, "--sample-rate", 8000, "--json"]
    code, out, err = _invoke([*args, "-o", tmp_path / "s", "--fsdd-negatives", folder,
                              "--fsdd-exclude", "carol"])  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["sources"]["negatives"] == 12 + 4  # generated_clips has 12
    code, _, err = _invoke([*args, "-o", tmp_path / "t", "--fsdd-negatives", folder,
                            "--fsdd-only", "dave"])  # fmt: skip
    assert code == 2 and "dave" in err and "alice, bob, carol" in err


FAKE_ESPEAK = """#!{python}
import io, math, sys, wave
args = sys.argv[1:]
open({log!r}, "a").write(" ".join(args) + "\\n")
if args[-1] == "fail":
    sys.stderr.write("espeak-ng: no such voice\\n")
    sys.exit(1)
speed, pitch = int(args[args.index("-s") + 1]), int(args[args.index("-p") + 1])
n = int(22050 * 60 / speed)  # a longer "word" when slower
f = (200 + 4 * pitch) / 22050
pcm = b"".join(int(9000 * math.sin(2 * math.pi * f * i)).to_bytes(2, "little", signed=True)
               for i in range(n))
buf = io.BytesIO()
with wave.open(buf, "wb") as w:
    w.setnchannels(1), w.setsampwidth(2), w.setframerate(22050), w.writeframes(pcm)
sys.stdout.buffer.write(buf.getvalue())
"""


def test_espeak_voices_from_a_fake_espeak_ng(tmp_path: Path, monkeypatch) -> None:
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.txt"
    bin_dir.mkdir()
    script = bin_dir / "espeak-ng"
    script.write_text(FAKE_ESPEAK.format(python=sys.executable, log=str(log)))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    args = ["synth", "--synthetic", "-n", 2, "--seconds", 2, "--sample-rate", 8000, "--json"]
    code, out, err = _invoke([*args, "-o", tmp_path / "s", "--espeak-positive", "activate",
                              "--espeak-negative", "hello"])  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["sources"] | {"backgrounds": 0} == {
        "positives": 12 + 12, "negatives": 12 + 12, "backgrounds": 0}  # fmt: skip
    calls = log.read_text().splitlines()  # 2 voices x 2 speeds x 3 pitches per word
    assert len(calls) == 24 and "--stdout -v en-us -s 175 -p 65 activate" in calls
    code, _, err = _invoke([*args, "-o", tmp_path / "t", "--espeak-negative", "fail"])
    assert code == 2 and "no such voice" in err and len(err.splitlines()) == 1
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    code, _, err = _invoke([*args, "-o", tmp_path / "u", "--espeak-positive", "activate"])
    assert code == 2 and "apt install espeak-ng" in err and len(err.splitlines()) == 1
