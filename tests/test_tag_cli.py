"""``seqlab tag train|predict|evaluate|score``: in-process calls with exit codes and --json
output, bad input as one-line errors (exit 2), ``tag score`` without torch, and one real
subprocess smoke test."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import typer

from seqlab.cli import app, main
from seqlab.data.conll import Sentence, write_conll
from seqlab.metrics.tagging import entity_scores
from seqlab.train import read_metrics
from tests.test_architecture import SHARED
from tests.test_tagger import planted


def _write(path: Path, sentences: list[tuple[list[str], list[str]]]) -> Path:
    rows = [Sentence(tuple(w), tuple(t), tuple(zip(w, t, strict=True))) for w, t in sentences]
    write_conll(path, rows)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tag")
    return {
        "train": _write(root / "train.conll", planted(600, 1)),
        "dev": _write(root / "dev.conll", planted(60, 2)),
        "test": _write(root / "test.conll", planted(80, 3)),
        "root": root,
    }


@pytest.fixture(scope="module")
def model(files: dict[str, Path]) -> Path:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    out = files["root"] / "model"
    args = ["tag", "train", "--train", str(files["train"]), "--dev", str(files["dev"])]
    args += ["--out", str(out), "--steps", "120", "--eval-every", "120", "--hidden", "32"]
    args += ["--embedding", "24", "--lr", "0.01", "--no-progress", "--json"]
    try:
        assert main(args) == 0
    finally:
        torch.set_num_threads(threads)
    return out


def _stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))


def _one_line_error(capsys: pytest.CaptureFixture[str], *words: str) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    for w in words:
        assert w in err, err
    return err


def test_train_reports_json_and_the_model_tags_well(
    model: Path, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["tag", "evaluate", str(model), "--data", str(files["test"]), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    # calibrated like tests/test_tagger.py: ~100 after 120 steps; the per-word baseline ~69
    assert result["f1"] > 95
    assert set(result["per_type"]) == {"PER", "LOC", "ORG"}
    assert (model / "tags.json").is_file() and (model / "chars.json").is_file()


def test_the_train_summary_is_json(files: dict[str, Path], tmp_path: Path, capsys) -> None:
    args = ["tag", "train", "--train", str(files["dev"]), "--out", str(tmp_path / "m")]
    args += ["--steps", "2", "--hidden", "8", "--embedding", "8", "--no-crf", "--json"]
    args += ["--no-char-features", "--no-progress"]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["steps"] == 2 and "O" in summary["tags"]
    assert json.loads((tmp_path / "m" / "config.json").read_text())["model"]["crf"] is False


@pytest.mark.parametrize("metric", [None, "loss"])
def test_the_kept_weights_are_those_of_the_best_dev_f1_unless_told(
    files: dict[str, Path], tmp_path: Path, capsys, metric: str | None
) -> None:
    args = ["tag", "train", "--train", str(files["dev"]), "--dev", str(files["test"])]
    args += ["--out", str(tmp_path / "m"), "--steps", "4", "--eval-every", "2"]
    args += ["--hidden", "8", "--embedding", "8", "--no-char-features", "--no-progress"]
    args += [] if metric is None else ["--best-metric", metric]
    assert main(args) == 0
    out = capsys.readouterr().out
    valid = [r for r in read_metrics(tmp_path / "m" / "metrics.jsonl") if "valid_f1" in r]
    assert [r["step"] for r in valid] == [2, 4]
    if metric is None:  # the preset: the best dev entity F1
        best = max(r["valid_f1"] for r in valid)
        assert f"best validation f1 (valid_f1 {best:.4g} in metrics.jsonl" in out, out
        saved = json.loads((tmp_path / "m" / "train_config.json").read_text())
        assert saved["best_metric"] == "f1"
    else:
        assert "best validation loss" in out and "kept the weights" not in out, out


def test_predict_formats(model: Path, monkeypatch, capsys: pytest.CaptureFixture[str]) -> None:
    text = "Mr. Jordan said\n\nwe flew to Jordan\n"
    capsys.readouterr()
    _stdin(monkeypatch, text)
    assert main(["tag", "predict", str(model)]) == 0
    lines = capsys.readouterr().out.split("\n")
    assert lines[0] == "Mr./O Jordan/B-PER said/O"
    assert lines[1] == ""
    assert lines[2] == "we/O flew/O to/O Jordan/B-LOC"
    _stdin(monkeypatch, text)
    assert main(["tag", "predict", str(model), "-", "--format", "brackets"]) == 0
    assert capsys.readouterr().out.split("\n")[0] == "Mr. [PER Jordan] said"
    _stdin(monkeypatch, "we flew to Berlin, again.\n")
    assert main(["tag", "predict", str(model), "--raw", "--format", "json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["tokens"] == ["we", "flew", "to", "Berlin", ",", "again", "."]
    assert {"type": "LOC", "start": 3, "end": 4, "text": "Berlin"} in row["entities"]
    assert len(row["tags"]) == len(row["tokens"])


def test_predict_conll_output_scores_with_tag_score(
    model: Path, files: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    capsys.readouterr()
    assert main(["tag", "predict", str(model), str(files["test"]), "--conll", "-f", "conll"]) == 0
    out = tmp_path / "scored.conll"
    out.write_text(capsys.readouterr().out)
    assert main(["tag", "score", str(out), "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert main(["tag", "evaluate", str(model), "--data", str(files["test"]), "--json"]) == 0
    assert scored == json.loads(capsys.readouterr().out)


def test_evaluate_lists_the_errors(model: Path, files: dict[str, Path], capsys) -> None:
    gold = planted(5, 9)
    gold[0][1][gold[0][1].index("O")] = "B-MISC"  # a planted error: a gold entity never found
    data = _write(files["root"] / "wrong.conll", gold)
    capsys.readouterr()
    assert main(["tag", "evaluate", str(model), "--data", str(data), "--errors"]) == 0
    out = capsys.readouterr().out
    assert "micro avg" in out and "missed   MISC" in out
    assert main(["tag", "evaluate", str(model), "--data", str(data), "--errors", "--json"]) == 0
    errors = json.loads(capsys.readouterr().out)["errors"]
    assert {"kind": "missed", "type": "MISC", "sentence": 0} == {
        k: errors[0][k] for k in ("kind", "type", "sentence")
    }


def test_score_matches_the_metric_in_both_modes(tmp_path: Path, capsys) -> None:
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-ORG", "I-ORG"]]
    pred = [["B-PER", "I-PER", "O", "I-LOC"], ["O", "B-ORG", "O"]]
    lines = []
    for g, p in zip(gold, pred, strict=True):
        lines += [f"w{i} NN {a} {b}" for i, (a, b) in enumerate(zip(g, p, strict=True))] + [""]
    (tmp_path / "gp.txt").write_text("\n".join(lines))
    for mode in ("strict", "conlleval"):
        capsys.readouterr()
        assert main(["tag", "score", str(tmp_path / "gp.txt"), "--json", "--mode", mode]) == 0
        result = json.loads(capsys.readouterr().out)
        expected = entity_scores(gold, pred, mode=mode).to_dict()
        assert result == expected
    assert result["f1"] == pytest.approx(100 * 2 / 3)  # conlleval: PER and LOC right of 3
    assert main(["tag", "score", str(tmp_path / "gp.txt")]) == 0
    assert "micro avg" in capsys.readouterr().out


def test_score_never_imports_torch(tmp_path: Path) -> None:
    (tmp_path / "gp.txt").write_text("a B-PER B-PER\nb O O\n")
    code = (
        "import contextlib, io, json, sys\n"
        "from seqlab.cli import main\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf):\n"
        f"    code = main(['tag', 'score', {str(tmp_path / 'gp.txt')!r}, '--json'])\n"
        "print(json.dumps({'code': code, 'f1': json.loads(buf.getvalue())['f1'],\n"
        "    'torch': [m for m in sys.modules if m.split('.')[0] == 'torch']}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"code": 0, "f1": 100.0, "torch": []}


def test_bad_input_is_a_one_line_error(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    ragged = tmp_path / "ragged.txt"
    ragged.write_text("a B-PER B-PER\nb O\n")
    assert main(["tag", "score", str(ragged)]) == 2
    _one_line_error(capsys, "ragged.txt:2:")
    bad_tag = tmp_path / "bad.txt"
    bad_tag.write_text("a B-PER PERSON\n")
    assert main(["tag", "score", str(bad_tag)]) == 2
    _one_line_error(capsys, "bad.txt", "PERSON")
    assert main(["tag", "evaluate", str(model), "--data", str(ragged)]) == 2
    _one_line_error(capsys, "ragged.txt")
    assert main(["tag", "predict", str(tmp_path / "nope"), str(ragged)]) == 2
    _one_line_error(capsys, "nope")
    assert main(["tag", "predict", str(model), str(ragged), "-f", "xml"]) == 2
    _one_line_error(capsys, "--format")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    assert main(["tag", "predict", str(model), str(empty)]) == 2
    _one_line_error(capsys, "empty.txt")
    out = tmp_path / "m"
    assert main(["tag", "train", "--train", str(ragged), "--out", str(out), "--scheme", "x"]) == 2
    _one_line_error(capsys, "--scheme")
    args = ["tag", "train", "--train", str(bad_tag), "--out", str(out), "--hidden", "0"]
    assert main(args) == 2
    _one_line_error(capsys, "bad.txt")


def test_the_group_lists_train_and_shares_the_training_options() -> None:
    group = typer.main.get_command(app).commands["tag"]  # type: ignore[attr-defined]
    assert group.list_commands(None) == ["train", "predict", "evaluate", "score"]
    params = {p.name: p.default for p in group.commands["train"].params}
    assert SHARED <= set(params)
    lm = {
        p.name: p.default
        for p in typer.main.get_command(app).commands["lm"].commands["train"].params
    }  # type: ignore[attr-defined]
    assert {k: params[k] for k in SHARED} == {k: lm[k] for k in SHARED}


def test_subprocess_smoke(tmp_path: Path) -> None:
    (tmp_path / "gp.txt").write_text("EU B-ORG B-ORG\nrejects O O\nGerman B-MISC O\n")
    proc = subprocess.run(
        [sys.executable, "-m", "seqlab", "tag", "score", str(tmp_path / "gp.txt")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "found 1; correct 1" in proc.stdout
