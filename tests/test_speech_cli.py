"""`seqlab speech show` and its figure (seqlab.viz.spectrogram), on audio the tests write."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from seqlab.audio import write_audio
from seqlab.cli import main
from seqlab.viz.spectrogram import speech_figure


def _tone(tmp_path: Path, freq: float = 1000.0, sr: int = 8000, seconds: float = 0.5) -> Path:
    t = np.arange(int(sr * seconds)) / sr
    return write_audio(tmp_path / "tone.wav", 0.5 * np.sin(2 * np.pi * freq * t), sr)


@pytest.mark.parametrize("kind", ["log-mel", "spectrogram"])
def test_the_brightest_band_holds_the_tone(kind: str) -> None:
    sr, freq = 8000, 1000.0
    x = torch.sin(2 * torch.pi * freq * torch.arange(4000) / sr)
    fig = speech_figure(x, sr, kind=kind)  # type: ignore[arg-type]
    wave_ax, spec_ax = fig.axes[:2]
    assert spec_ax.get_xlabel() == "time (s)" and spec_ax.get_ylabel() == "frequency (Hz)"
    assert spec_ax.get_ylim() == (0, sr / 2) and spec_ax.get_xlim() == (0, 0.5)
    mesh = spec_ax.collections[0]
    values = np.asarray(mesh.get_array()).reshape(mesh._coordinates.shape[0] - 1, -1)  # type: ignore[attr-defined]
    edges = mesh._coordinates[:, 0, 1]  # type: ignore[attr-defined]  # band edges in Hz
    row = int(values.mean(axis=1).argmax())
    assert edges[row] <= freq <= edges[row + 1], (edges[row], edges[row + 1])
    assert len(wave_ax.lines[0].get_xdata()) == 4000


def test_show_writes_a_png_and_reports_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wav, png = _tone(tmp_path), tmp_path / "figs" / "spec.png"
    assert main(["speech", "show", str(wav), "--out", str(png), "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["sample_rate"] == 8000 and facts["samples"] == 4000 and facts["seconds"] == 0.5
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["speech", "show", str(wav), "-o", str(png), "--kind", "spectrogram"]) == 0
    assert "wrote" in capsys.readouterr().out


def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = tmp_path / "notes.wav"
    text.write_text("hello\n")
    wav = _tone(tmp_path)
    cases = [
        ([str(text), "--out", str(tmp_path / "a.png")], "notes.wav: not audio"),
        ([str(tmp_path / "nope.wav"), "--out", str(tmp_path / "a.png")], "nope.wav: no such file"),
        ([str(wav), "--out", str(tmp_path / "a.png"), "--kind", "mfcc"], "--kind must be"),
        ([str(wav), "--out", str(tmp_path / "a.txt")], "give a .png"),
    ]
    for args, message in cases:
        assert main(["speech", "show", *args]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and "Traceback" not in err, err


def test_clipped_audio_warns_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    x = np.clip(3 * np.sin(np.linspace(0, 80, 8000)), -1, 1)
    wav = write_audio(tmp_path / "loud.wav", x, 8000)
    assert main(["speech", "show", str(wav), "--out", str(tmp_path / "l.png")]) == 0
    err = capsys.readouterr().err
    assert err.startswith("warning: ") and "loud.wav" in err and err.count("\n") == 1


def test_show_reads_standard_input(tmp_path: Path) -> None:
    wav, png = _tone(tmp_path), tmp_path / "stdin.png"
    proc = subprocess.run(
        [sys.executable, "-m", "seqlab", "speech", "show", "-", "--out", str(png), "--json"],
        input=wav.read_bytes(), capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["samples"] == 4000 and png.exists()
