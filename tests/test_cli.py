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
    assert f"(default: dates {dates.train.max_steps}, text {text.train.max_steps})" in out
    assert f"(default: dates {dates.train.time_budget / 60:g}m)" in out
