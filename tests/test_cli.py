"""CLI: in-process calls with exit codes and --json output; one real subprocess smoke test."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy
import pytest
import torch

import seqlab
from seqlab.cli import main


def test_info_json_reports_versions_and_threads(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["seqlab"] == seqlab.__version__
    assert facts["torch"] == torch.__version__
    assert facts["numpy"] == numpy.__version__
    assert facts["python"] == sys.version.split()[0]
    assert facts["torch_threads"] == torch.get_num_threads()
    assert facts["devices"][0]["type"] == "cpu"
    assert len(facts["devices"]) == 1 + (
        torch.cuda.device_count() if torch.cuda.is_available() else 0
    )


def test_info_says_what_runs_the_recurrent_loops(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``rnn_loops``: the compiled loops and their GEMM (MKL on Intel, brgemm elsewhere), or
    torch ops where they are off."""
    from seqlab.functional import _fused_step, _mkl

    assert main(["info", "--json"]) == 0
    said = json.loads(capsys.readouterr().out)["rnn_loops"]
    if _fused_step.usable(torch.zeros(1)):
        gemm = "MKL packed GEMM" if _mkl.preferred() else "oneDNN brgemm"
        assert said == f"compiled, {gemm}"
    else:
        assert said.startswith("torch ops")
    monkeypatch.setenv("SEQLAB_FUSED", "0")
    assert main(["info", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rnn_loops"] == "torch ops (SEQLAB_FUSED=0)"


def test_info_human_output_names_every_fact(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    for key in ("seqlab", "torch", "numpy", "python", "devices", "torch_threads"):
        assert any(line.split()[0] == key for line in out.splitlines()), key
    assert torch.__version__ in out


def test_unknown_command_exits_2_without_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["no-such-command"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "no-such-command" in err


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == seqlab.__version__


def test_subprocess_python_m_seqlab_info_json() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "seqlab", "info", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["seqlab"] == seqlab.__version__


def _commands(command, path=()):  # type: ignore[no-untyped-def]
    """Every leaf click command under ``command``, with its path of names."""
    subs = getattr(command, "commands", None)
    if not subs:
        yield path, command
        return
    for name, sub in subs.items():
        yield from _commands(sub, (*path, name))


def test_no_help_text_is_eaten_by_rich_markup() -> None:
    # rich reads "[dates 64, text 256]" as a markup tag and drops it from --help
    import typer.main

    from seqlab.cli import app

    seen = 0
    for path, command in _commands(typer.main.get_command(app)):
        texts = [command.help or ""] + [getattr(p, "help", None) or "" for p in command.params]
        for text in texts:
            assert "[" not in text.replace("\\[", ""), (" ".join(path), text)
        seen += 1
    assert seen >= 15  # lm, embed and translate commands were all walked


def test_translate_train_help_shows_the_preset_defaults(capsys, monkeypatch) -> None:
    from seqlab.tasks.translator import PRESETS

    monkeypatch.setenv("COLUMNS", "200")  # one line per option
    assert main(["translate", "train", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    dates, text = PRESETS["dates"], PRESETS["text"]
    hidden = dates.config.model.hidden_size, text.config.model.hidden_size
    assert f"Hidden size H (default: dates {hidden[0]}, text {hidden[1]})" in out
    from seqlab.tasks.translator import TRANSFORMER_PRESETS as TP

    steps = f"dates {dates.train.max_steps}, text {text.train.max_steps}"
    steps += f", transformer dates {TP['dates'].train.max_steps}"
    assert f"(default: {steps}, transformer text {TP['text'].train.max_steps})" in out
    budget = dates.train.time_budget / 60, TP["dates"].train.time_budget / 60
    assert f"(default: dates {budget[0]:g}m, transformer dates {budget[1]:g}m)" in out


def test_config_defaults_name_each_preset_only_where_they_differ(capsys, monkeypatch) -> None:
    from types import SimpleNamespace as NS

    from seqlab.cli._train import config_default
    from seqlab.tasks.language_model import PRESET, TRANSFORMER_PRESET

    presets = {
        "a": NS(config=NS(model=NS(dropout=0.1, layers=2), level="char")),
        "b": NS(config=NS(model=NS(dropout=0.25, layers=2), level="char")),
    }
    assert config_default("model.dropout", presets) == "(default: a 0.1, b 0.25)"
    assert config_default("model.layers", presets) == "(default: 2)"
    assert config_default("level", presets) == "(default: char)"
    # lm train's help reads both presets instead of numbers written into the help text
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["lm", "train", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    rnn, tf = PRESET.config, TRANSFORMER_PRESET.config
    assert f"rnn: hidden size H (default: {rnn.model.hidden_size})" in out
    assert f"(default: rnn {rnn.bptt}, transformer {tf.bptt})" in out
    assert f"transformer: width d_model (default: {tf.model.d_model})" in out


def _every_path(command, path=()):  # type: ignore[no-untyped-def]
    """The path of every command and group under ``command`` (the root first)."""
    yield path, command
    for name, sub in (getattr(command, "commands", None) or {}).items():
        yield from _every_path(sub, (*path, name))


@pytest.mark.parametrize("columns", [80, 200])
def test_every_help_reads_well(capsys, monkeypatch, columns: int) -> None:
    import re

    import typer.main

    from seqlab.cli import app

    monkeypatch.setenv("COLUMNS", str(columns))
    seen = 0
    for path, command in _every_path(typer.main.get_command(app)):
        where = " ".join(("seqlab", *path))
        assert main([*path, "--help"]) == 0, where
        out = capsys.readouterr().out
        assert "<bool>" not in out, where  # a flag takes no value
        assert "``" not in out, where  # reST literals from docstrings show as plain text
        usage = next(line for line in out.splitlines() if "Usage:" in line)
        assert not re.search(r"[{}]", usage), usage  # MODEL_DIR, not {model_dir}
        for piece in usage.split("[OPTIONS]")[1].split():  # arguments in upper case
            assert piece.strip("[].") == piece.strip("[].").upper(), usage
        assert max(map(len, out.splitlines())) <= columns, where
        # the terminal wraps the help, not the docstring: no line break inside a paragraph
        for paragraph in (command.help or "").split("\n\n"):
            lines = paragraph.splitlines()
            assert all(line.lstrip().startswith(("-", "*")) for line in lines[1:]), paragraph
        seen += 1
    assert seen >= 23  # the root, 3 groups and their commands, bleu and info


def test_help_shows_flags_without_a_type_and_values_with_one(capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["lm", "sample", "--help"]) == 0
    rows = {line.split()[1]: line for line in capsys.readouterr().out.splitlines() if "│ -" in line}
    assert "<int>" in rows["--max-length"] and "<float>" in rows["--temperature"]
    for flag in ("--greedy", "--json", "--no-unk", "--help"):
        assert "<" not in rows[flag].replace("<UNK>", ""), rows[flag]
    assert main(["lm", "sample"]) == 2  # a missing argument is named as in the usage line
    assert "Missing argument 'MODEL_DIR'" in capsys.readouterr().err


def test_docstring_help_becomes_plain_paragraphs() -> None:
    from seqlab.cli._help import plain_text

    doc = "Read ``--json`` output.\n\nOne paragraph\nwrapped at 90.\n\n- a list\n  item\n- two"
    assert plain_text(doc) == (
        "Read --json output.\n\nOne paragraph wrapped at 90.\n\n- a list item\n- two"
    )
    assert plain_text("\b\nkeep\nthese lines") == "\b\nkeep\nthese lines"
