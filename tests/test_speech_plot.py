"""``seqlab speech transcribe --plot`` and :func:`seqlab.viz.spectrogram.transcription_figure`:
the spectrogram with CTC's posteriors or LAS's attention below it."""

from __future__ import annotations

import struct
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.patches import Rectangle

from seqlab.audio import write_audio
from seqlab.cli import main
from seqlab.data.speech import Utterance
from seqlab.models.las import LASConfig
from seqlab.models.speech import SpeechCTCConfig
from seqlab.tasks.speech import LAS_PRESET, PRESET, SpeechRecognizer
from seqlab.viz.spectrogram import transcription_figure

SR = 8000


def _tone(freq: float, seconds: float = 0.6) -> torch.Tensor:
    t = torch.arange(int(seconds * SR)) / SR
    return 0.4 * torch.sin(2 * torch.pi * freq * t)


def _png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (``ValueError`` when not a PNG)."""
    head = path.read_bytes()[:24]
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        raise ValueError(f"{path} is not a PNG")
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def test_ctc_panel_shows_the_posteriors_greys_blanks_and_names_winners() -> None:
    labels = ["<PAD>", " ", "a", "b"]
    posteriors = torch.tensor(
        [[0.7, 0.1, 0.1, 0.1], [0.1, 0.0, 0.8, 0.1], [0.2, 0.1, 0.2, 0.5], [0.9, 0.0, 0.05, 0.05]]
    )  # (T' = 4, C = 4): blank, a, b, blank win
    fig = transcription_figure(
        _tone(500), SR, text="ab", frame_seconds=0.1, labels=labels, posteriors=posteriors
    )
    low = fig.axes[1]  # [spectrogram, lower panel, colour bars...]
    mesh = low.collections[0]
    np.testing.assert_allclose(
        np.asarray(mesh.get_array()).reshape(3, 4), posteriors[:, 1:].T.numpy()
    )  # rows: the non-blank classes, columns: frames
    grey = [p for p in low.patches if isinstance(p, Rectangle)]
    assert len(grey) == 2  # the two frames where the blank wins
    assert [t.get_text() for t in low.texts] == ["a", "b"]
    assert [t.get_text() for t in low.get_yticklabels()] == ["␣", "a", "b"]


def test_las_panel_is_the_attention_and_arguments_are_checked() -> None:
    attention = torch.softmax(torch.randn(3, 5), dim=-1)  # (S, U)
    fig = transcription_figure(
        _tone(500), SR, text="ab", frame_seconds=0.08, labels=["a", "b", "<EOS>"],
        attention=attention,
    )  # fmt: skip
    mesh = fig.axes[1].collections[0]
    np.testing.assert_allclose(np.asarray(mesh.get_array()).reshape(3, 5), attention.numpy())
    with pytest.raises(ValueError, match="either posteriors"):
        transcription_figure(_tone(500), SR, text="", frame_seconds=0.1, labels=[])
    with pytest.raises(ValueError, match="2 labels for 3 rows"):
        transcription_figure(_tone(500), SR, text="", frame_seconds=0.1, labels=["a", "b"],
                             attention=attention)  # fmt: skip


def _data() -> list[Utterance]:
    words = {"a": 500.0, "b": 1500.0}
    return [
        Utterance(torch.cat([_tone(words[w]) for w in text.split()]), SR, text)
        for text in ("a", "b", "a b", "b a", "a a", "b b")
    ]


@pytest.mark.parametrize("arch", ["ctc", "las"])
def test_cli_transcribe_plot_writes_a_png(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], arch: str
) -> None:
    preset = PRESET if arch == "ctc" else LAS_PRESET
    small = (
        SpeechCTCConfig(conv_channels=8, conv_layers=1, hidden_size=8, num_layers=1)
        if arch == "ctc"
        else LASConfig(hidden_size=8, num_layers=2, decoder_size=16, attention_dim=8)
    )
    config = replace(preset.config, model=small, n_mels=16)
    model = tmp_path / "model"
    SpeechRecognizer.build(_data(), config)[0].save(model)
    wav = tmp_path / "ab.wav"
    write_audio(wav, _data()[2].samples, SR)
    out = tmp_path / "plot.png"
    assert main(["speech", "transcribe", str(model), str(wav), "--plot", str(out), "--json"]) == 0
    capsys.readouterr()
    width, height = _png_size(out)
    assert 800 <= width <= 2000 and 400 <= height <= 2000, (width, height)
    assert main(["speech", "transcribe", str(model), str(wav), str(wav), "--plot", str(out)]) == 2
    assert "--plot draws one recording" in capsys.readouterr().err
