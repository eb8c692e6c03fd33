"""``seqlab classify train|evaluate|predict``: in-process calls with exit codes and ``--json``
output, a bad input for each reader, and one real subprocess run of the group."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from seqlab.cli import main
from seqlab.data.labelled import SequenceExample, write_sequences_npz

FAST = ["--steps", "30", "--threads", "1", "--no-progress", "--eval-every", "10"]


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["classify", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(code: int, err: str, *words: str) -> None:
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0], (word, lines[0])


@pytest.fixture(scope="module")
def dna_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cls") / "dna"
    code = main(
        [
            "classify",
            "train",
            "--dataset",
            "dna",
            "--train-size",
            "300",
            "--out",
            str(out),
            "--json",
            *FAST,
        ]
    )
    assert code == 0
    return out


@pytest.fixture
def emojify_dir(tmp_path: Path) -> Path:
    """A tiny folder laid out like the course's (its data is not in the repository)."""
    rows = [
        "I love you,0",
        "lets play ball,1",
        "so happy today,2",
        "this is sad,3",
        "lets eat food,4",
    ] * 6
    (tmp_path / "train_emoji.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (tmp_path / "test_emoji.csv").write_text("\n".join(rows[:5]) + "\n", encoding="utf-8")
    return tmp_path


def test_train_json_and_evaluate_json_with_confusion_png(
    dna_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (dna_model / "labels.json").is_file() and (dna_model / "tokenizer.json").is_file()
    code, out, _ = _run(capsys, "evaluate", str(dna_model), "--json")
    assert code == 0
    result = json.loads(out)
    assert 0.0 <= result["accuracy"] <= 1.0 and 0.0 <= result["macro_f1"] <= 1.0
    assert result["labels"] == ["motif", "none"] and result["n"] == 1000
    png = Path(result["confusion_png"])
    assert png == dna_model / "confusion.png" and png.read_bytes()[:4] == b"\x89PNG"
    elsewhere = tmp_path / "figs" / "c.png"
    code, out, err = _run(capsys, "evaluate", str(dna_model), "--confusion", str(elsewhere))
    assert code == 0 and elsewhere.is_file()
    assert out.startswith("accuracy ") and "macro avg" in out and "confusion matrix:" in err


def test_predict_stdin_file_top_k_json_and_explain(
    dna_model: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("ACGTTATAATGG\n\nGGCCAATTAAGT\n"))
    code, out, _ = _run(capsys, "predict", str(dna_model), "-", "--top-k", "2", "--json")
    assert code == 0
    rows = json.loads(out)
    assert [r["input"] for r in rows] == ["ACGTTATAATGG", "GGCCAATTAAGT"]
    for r in rows:
        assert {t["label"] for t in r["top"]} == {"motif", "none"}
        assert sum(t["probability"] for t in r["top"]) == pytest.approx(1.0, abs=1e-6)
        assert r["label"] == r["top"][0]["label"]
    texts = tmp_path / "dna.txt"
    texts.write_text("ACGTTATAATGG\n", encoding="utf-8")
    code, out, _ = _run(capsys, "predict", str(dna_model), str(texts), "--explain")
    assert code == 0
    first, second = out.splitlines()
    assert first.endswith("\tACGTTATAATGG") and "(" in first
    assert second.strip().startswith("A(") and len(second.split()) == 12


def test_train_from_files_with_dev_and_char_tokens(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [
        f"{'good' if i % 2 else 'bad'} movie {i},{'pos' if i % 2 else 'neg'}" for i in range(60)
    ]
    train, dev = tmp_path / "train.csv", tmp_path / "dev.csv"
    train.write_text("text,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    dev.write_text("text,label\n" + "\n".join(rows[:10]) + "\n", encoding="utf-8")
    out = tmp_path / "m"
    code, text, _ = _run(
        capsys,
        "train",
        "--train",
        str(train),
        "--dev",
        str(dev),
        "--model",
        "average",
        "--tokens",
        "char",
        "--out",
        str(out),
        "--json",
        *FAST,
    )
    assert code == 0
    summary = json.loads(text)
    assert summary["labels"] == ["neg", "pos"] and summary["valid_examples"] == 10
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert config["arch"] == "average" and config["tokens"] == "char"
    code, text, _ = _run(capsys, "evaluate", str(out), "--data", str(dev), "--json")
    assert code == 0 and json.loads(text)["n"] == 10


def test_feature_sequences_from_npz(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(0)
    seqs = [
        SequenceExample(
            rng.normal(size=(int(rng.integers(5, 12)), 3)).astype(np.float32),
            "up" if i % 2 else "down",
            0,
            f"s{i}",
        )
        for i in range(60)
    ]
    path = write_sequences_npz(tmp_path / "seqs.npz", seqs)
    out = tmp_path / "m"
    code, _, err = _run(capsys, "train", "--train", str(path), "--out", str(out), *FAST)
    assert code == 0, err
    code, text, _ = _run(capsys, "predict", str(out), str(path), "--json")
    assert code == 0
    assert [r["input"] for r in json.loads(text)][:2] == ["s0", "s1"]
    code, _, err = _run(capsys, "predict", str(out), "-")
    _one_line_error(code, err, "feature")


def test_emojify_shows_emoji_and_a_missing_folder_is_one_line(
    emojify_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "emo"
    code, _, err = _run(
        capsys,
        "train",
        "--dataset",
        "emojify",
        "--data-dir",
        str(emojify_dir),
        "--out",
        str(out),
        *FAST,
    )
    assert code == 0, err
    lines = tmp_path / "in.txt"
    lines.write_text("so happy today\n", encoding="utf-8")
    code, text, _ = _run(capsys, "predict", str(out), str(lines), "--json")
    assert code == 0
    row = json.loads(text)[0]
    assert row["emoji"] in "❤️⚾😄😞🍴"
    code, text, _ = _run(capsys, "evaluate", str(out), "--data-dir", str(emojify_dir), "--json")
    assert code == 0 and json.loads(text)["n"] == 5
    missing = tmp_path / "nowhere"
    code, _, err = _run(
        capsys,
        "train",
        "--dataset",
        "emojify",
        "--data-dir",
        str(missing),
        "--out",
        str(tmp_path / "x"),
        *FAST,
    )
    _one_line_error(code, err, str(missing), "no such folder")


def test_bad_inputs_are_one_line_errors(
    dna_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\nfine,a\n,b\n", encoding="utf-8")
    cases = [
        (["train", "--train", str(bad), "--out", str(tmp_path / "a")], [f"{bad}:3", "empty"]),
        (["train", "--train", str(tmp_path / "no.csv"), "--out", str(tmp_path / "b")], ["no.csv"]),
        (
            ["train", "--dataset", "dna", "--train", str(bad), "--out", str(tmp_path / "c")],
            ["exactly one"],
        ),
        (["train", "--dataset", "imdb", "--out", str(tmp_path / "d")], ["unknown dataset"]),
        (
            ["train", "--dataset", "dna", "--pooling", "first", "--out", str(tmp_path / "e")],
            ["--pooling"],
        ),
        (
            ["train", "--dataset", "dna", "--model", "average", "--bigrams", "64", "--out", "f"],
            ["--bigrams goes with --model rnn"],
        ),
        (["predict", str(tmp_path), str(bad)], ["config.json"]),
        (["evaluate", str(dna_model), "--data", str(bad)], [f"{bad}:3"]),
        (["predict", str(dna_model), str(tmp_path / "none.txt")], ["none.txt"]),
    ]
    for args, words in cases:
        code, _, err = _run(capsys, *args, *(FAST if args[0] == "train" else []))
        _one_line_error(code, err, *words)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n", encoding="utf-8")
    code, _, err = _run(capsys, "predict", str(dna_model), str(empty))
    _one_line_error(code, err, str(empty), "whitespace")


def test_subprocess_train_and_predict(tmp_path: Path) -> None:
    out = tmp_path / "m"
    cmd = [sys.executable, "-m", "seqlab", "classify"]
    train = subprocess.run(
        [
            *cmd,
            "train",
            "--dataset",
            "dna",
            "--train-size",
            "100",
            "--out",
            str(out),
            *FAST[2:],
            "--steps",
            "3",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert train.returncode == 0, train.stderr
    predict = subprocess.run(
        [*cmd, "predict", str(out)],
        input="ACGTTATAATGG\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert predict.returncode == 0, predict.stderr
    label, text = predict.stdout.strip().split("\t")
    assert text == "ACGTTATAATGG" and label.split()[0] in ("motif", "none")
