"""``seqlab wake synth|train|detect|evaluate`` end to end on generated audio (seconds)."""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path

import pytest
import torch

from seqlab.cli import main


def _run(args: list[str], stdin: bytes | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    old = sys.stdin
    if stdin is not None:
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin))
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(args)
    finally:
        sys.stdin = old
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("wake_cli")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        synth = ["wake", "synth", "--synthetic", "-o", str(root / "syn"), "-n", "12"]
        assert _run([*synth, "--seconds", "2", "--sample-rate", "8000", "--json"])[0] == 0
        train = ["wake", "train", "--synthetic", "-o", str(root / "m"), "--steps", "40"]
        code, out, err = _run([*train, "--examples", "200", "--no-progress", "--json"])
        assert code == 0, err
        (root / "train.json").write_text(out)
    finally:
        torch.set_num_threads(threads)
    return root


def test_synth_writes_wavs_and_labels(work: Path) -> None:
    lines = (work / "syn" / "labels.jsonl").read_text().splitlines()
    assert len(lines) == 12 and len(list((work / "syn").glob("*.wav"))) == 12
    row = json.loads(lines[0])
    assert set(row) == {"file", "positives", "negatives"}


def test_train_summary(work: Path) -> None:
    summary = json.loads((work / "train.json").read_text())
    assert summary["steps"] == 40 and summary["preset"] == "tiny" and summary["clips"] == 180
    assert (work / "m" / "config.json").is_file()


def test_detect_file_stdin_and_chime(work: Path) -> None:
    wav = work / "syn" / "0001.wav"
    code, out, _ = _run(["wake", "detect", str(work / "m"), str(wav), "--json",
                         "--chime", str(work / "chimed.wav")])  # fmt: skip
    assert code == 0
    facts = json.loads(out)
    assert facts["seconds"] == 2.0 and all(0 <= t <= 2.1 for t in facts["detections"])
    assert (work / "chimed.wav").stat().st_size > 1000
    code, out2, _ = _run(["wake", "detect", str(work / "m"), "-", "--threshold", "0.5",
                          "--json"], stdin=wav.read_bytes())  # fmt: skip
    times = [json.loads(line)["time"] for line in out2.splitlines()]  # JSON lines from stdin
    assert code == 0 and times == facts["detections"]


def test_evaluate_json_det_and_false_activations(work: Path) -> None:
    args = ["wake", "evaluate", str(work / "m"), "--data", str(work / "syn"), "--json"]
    args += ["--det", str(work / "det.png"), "--save-false", str(work / "fa")]
    code, out, err = _run(args)
    assert code == 0, err
    facts = json.loads(out)
    assert {"fa_per_hour", "miss_rate", "det"} <= set(facts)
    assert (work / "det.png").read_bytes()[:4] == b"\x89PNG"
    assert len(list((work / "fa").glob("*.wav"))) == facts["false_activation_files"]


def test_one_line_errors(work: Path, tmp_path: Path) -> None:
    code, _, err = _run(["wake", "detect", str(work / "m"), str(tmp_path / "none.wav")])
    assert code == 2 and err.startswith("error: ") and "none.wav" in err
    (tmp_path / "t.wav").write_text("not audio")
    code, _, err = _run(["wake", "detect", str(work / "m"), str(tmp_path / "t.wav")])
    assert code == 2 and "t.wav" in err and len(err.strip().splitlines()) == 1
    code, _, err = _run(["wake", "train", "-o", str(tmp_path / "x"), "--steps", "1"])
    assert code == 2 and "--data DIR or --synthetic" in err
    code, _, err = _run(["wake", "synth", "--data", str(tmp_path), "-o", str(tmp_path / "s")])
    assert code == 2 and "positives" in err
    for cmd in (["synth", "-o", str(tmp_path / "s2")], ["train", "-o", str(tmp_path / "m2")]):
        code, _, err = _run(["wake", *cmd, "--synthetic", "--speed-jitter", "0.7"])
        assert code == 2 and "--speed-jitter must be in [0, 0.5)" in err


def test_synth_speed_jitter_changes_the_word_lengths(tmp_path: Path) -> None:
    # the same seed with and without --speed-jitter: the words' spans differ in length
    spans = []
    for jitter in ("0", "0.2"):
        out = tmp_path / jitter
        args = ["wake", "synth", "--synthetic", "-o", str(out), "-n", "6", "--seconds", "2"]
        assert _run([*args, "--sample-rate", "8000", "--speed-jitter", jitter])[0] == 0
        rows = [json.loads(line) for line in (out / "labels.jsonl").read_text().splitlines()]
        spans.append(sorted(round(e - s, 4) for r in rows for s, e in r["positives"]))
    assert spans[0] and spans[0] != spans[1]


def test_clipped_recordings_give_one_warning_line(tmp_path: Path) -> None:
    # two clipped positives: one `warning: ...` line naming the first and counting the
    # other, not a Python warning (with its source line) per file
    import warnings

    import numpy as np

    from seqlab.audio import write_audio

    rng = np.random.default_rng(0)
    for sub in ("positives", "negatives", "backgrounds"):
        (tmp_path / "raw" / sub).mkdir(parents=True)
    for i in range(2):
        loud = np.clip(3 * np.sin(np.arange(4000) * 0.2), -1, 1).astype(np.float32)
        write_audio(tmp_path / "raw" / "positives" / f"p{i}.wav", loud, 8000)
    quiet = (0.1 * rng.standard_normal(4000)).astype(np.float32)
    write_audio(tmp_path / "raw" / "negatives" / "n.wav", quiet, 8000)
    write_audio(tmp_path / "raw" / "backgrounds" / "b.wav", quiet, 8000)
    args = ["wake", "synth", "--data", str(tmp_path / "raw"), "-o", str(tmp_path / "s")]
    with warnings.catch_warnings(record=True) as leaked:
        warnings.simplefilter("always")
        code, _, err = _run([*args, "-n", "2", "--seconds", "1", "--sample-rate", "8000"])
    assert code == 0, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("warning: ") and "p0.wav" in lines[0]
    assert "(and 1 more file)" in lines[0] and "ClippingWarning" not in err
    assert not [w for w in leaked if "clipped" in str(w.message)]
