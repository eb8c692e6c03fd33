"""``seqlab music train|generate|evaluate|show`` end to end, in process: a tiny model on
generated melodies, a MIDI and a WAV out, evaluate --json, a piano roll, and bad input as
one-line errors (exit 2)."""

from __future__ import annotations

import contextlib
import io
import json
import random
import wave
from pathlib import Path

import pytest
import torch

import seqlab
from seqlab.cli import main
from seqlab.music import read_midi, write_midi
from seqlab.tasks.music import MusicModel
from tests.test_music import melody


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("music")
    train, test = root / "train", root / "test"
    for folder, seed, n in ((train, 0, 30), (test, 1, 4)):
        folder.mkdir()
        rng = random.Random(seed)
        for i in range(n):
            write_midi(melody(rng), folder / f"m{i:02d}.mid")
    (train / "broken.mid").write_bytes(b"MThd garbage")  # skipped, counted
    return {"root": root, "train": train, "test": test}


@pytest.fixture(scope="module")
def model(files: dict[str, Path]) -> Path:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    out = files["root"] / "model"
    args = ["music", "train", "--midi", str(files["train"]), "--out", str(out), "--steps", "30"]
    args += ["--hidden", "32", "--embedding", "16", "--layers", "1", "--bptt", "32"]
    args += ["--eval-every", "30", "--no-progress", "--json"]
    stdout, stderr = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            assert main(args) == 0
    finally:
        torch.set_num_threads(threads)
    (out / "train-stdout.json").write_text(stdout.getvalue())
    (out / "train-stderr.txt").write_text(stderr.getvalue())
    return out


def _error(capsys: pytest.CaptureFixture[str], *words: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()[-1]  # after any "skipped" line
    assert err.startswith("error: ") and "\n" not in err, err
    for word in words:
        assert word in err, err
    return err


def test_train_reports_and_skips_broken_files(
    model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = json.loads((model / "train-stdout.json").read_text())
    assert summary["songs"] == 30 and summary["skipped"] == 1 and summary["steps"] == 30
    skipped = (model / "train-stderr.txt").read_text().strip().splitlines()
    assert skipped[0].startswith("skipped 1 of 31 MIDI files") and "broken.mid" in skipped[0]
    loaded = seqlab.load(model)  # found by config.json's task name
    assert isinstance(loaded, MusicModel)
    assert loaded.config.model.hidden_size == 32 and loaded.config.corpus.endswith("train")
    assert {p.name for p in model.iterdir()} >= {
        "config.json", "model.safetensors", "vocab.json", "ngram.json", "loss_curve.png",
    }  # fmt: skip


def test_generate_writes_playable_midi_and_wav(
    model: Path, files: dict[str, Path], capsys: pytest.CaptureFixture[str], one_thread: None
) -> None:
    out, wav = files["root"] / "song" / "song.mid", files["root"] / "song.wav"
    args = ["music", "generate", str(model), "--out", str(out), "--wav", str(wav)]
    args += ["--seed", "7", "--length", "120", "--top-k", "20", "--temperature", "0.9", "--json"]
    assert main(args) == 0
    facts = json.loads(capsys.readouterr().out)
    song = read_midi(out)
    assert facts["notes"] == len(song.notes) > 0
    with wave.open(str(wav)) as w:
        assert w.getnframes() / w.getframerate() == pytest.approx(facts["seconds"], abs=0.2)
    first = out.read_bytes()
    assert main(args) == 0 and out.read_bytes() == first  # the same seed: the same piece
    primer = sorted(files["test"].iterdir())[0]
    assert main([*args[:-1], "--primer", str(primer)]) == 0
    assert read_midi(out).notes[: len(read_midi(primer).notes)] == read_midi(primer).notes


def test_evaluate_json_and_text(
    model: Path, files: dict[str, Path], capsys: pytest.CaptureFixture[str], one_thread: None
) -> None:
    args = ["music", "evaluate", str(model), "--midi", str(files["test"]), "--samples", "2"]
    assert main([*args, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["songs"] == 4 and result["skipped"] == 0
    assert result["nll_per_event"] > 0 and result["ngram_nll_per_event"] > 0
    assert set(result["generated"]) == {"note_density", "repetition", "pitch_classes"}
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "NLL per event" in text and "pitch-class distance" in text


def test_show_draws_a_piano_roll(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out = files["root"] / "roll.png"
    midi = sorted(files["test"].iterdir())[0]
    assert main(["music", "show", str(midi), "--out", str(out), "--beats", "16"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "wrote" in capsys.readouterr().out


def test_bad_input_is_one_line_errors(
    model: Path, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    broken = files["train"] / "broken.mid"
    png = str(files["root"] / "x.png")
    assert main(["music", "show", str(broken), "--out", png]) == 2
    _error(capsys, "broken.mid", "not a readable MIDI file")
    assert main(["music", "evaluate", str(model), "--midi", str(broken)]) == 2
    _error(capsys, "broken.mid")
    assert main(["music", "train", "--out", str(files["root"] / "m2")]) == 2
    _error(capsys, "--midi")
    assert main(["music", "train", "--dataset", "jazz", "--midi", str(files["test"]),
                 "--out", str(files["root"] / "m3")]) == 2  # fmt: skip
    _error(capsys, "original_metheny.mid")
    song = str(files["root"] / "s.mid")
    assert main(["music", "generate", str(model), "--out", song, "--length", "0"]) == 2
    _error(capsys, "--length")
    assert main(["music", "generate", str(files["root"]), "--out", song]) == 2
    _error(capsys, "config.json")
    assert main(["music", "train", "--midi", str(files["train"]), "--out", str(model)]) == 2
    _error(capsys, "already holds a model")


def test_resume_accepts_the_same_data(
    model: Path, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["music", "train", "--midi", str(files["train"]), "--out", str(model), "--steps", "30"]
    args += ["--hidden", "32", "--embedding", "16", "--layers", "1", "--bptt", "32"]
    assert main([*args, "--eval-every", "30", "--no-progress", "--resume"]) == 0
    assert "nothing to train" in capsys.readouterr().err  # same config, vocab and n-gram
