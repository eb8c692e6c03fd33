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
