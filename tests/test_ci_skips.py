"""tests/conftest.py: under CI=true a skip for a missing test dependency is a failure; a skip
for a missing GPU stays a skip; outside CI both are skips."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
TESTS = """
import os

import pytest

def test_needs_an_oracle():
    pytest.importorskip("no_such_oracle_module")

def test_needs_a_gpu():
    if os.environ.get("NO_GPU_HERE"):  # stands for `not torch.cuda.is_available()`
        pytest.skip("needs a CUDA GPU")
"""
MODULE = 'import pytest\npytest.importorskip("no_such_oracle_module")\n\ndef test_x():\n    pass\n'


def _pytest(folder: Path, name: str, ci: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"} | ({"CI": "true"} if ci else {})
    env["NO_GPU_HERE"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA", name],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("ci", [True, False])
def test_missing_oracles_fail_only_under_ci(tmp_path: Path, ci: bool) -> None:
    shutil.copy(HERE / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_in_test.py").write_text(TESTS)
    (tmp_path / "test_at_import.py").write_text(MODULE)
    in_test = _pytest(tmp_path, "test_in_test.py", ci)
    at_import = _pytest(tmp_path, "test_at_import.py", ci)
    if ci:
        out = in_test.stdout
        assert in_test.returncode == 1, out
        assert "FAILED" in out and "test_needs_an_oracle" in out and "no_such_oracle" in out
        assert "1 skipped" in out  # the GPU skip stays a skip
        assert at_import.returncode != 0 and "ERROR" in at_import.stdout, at_import.stdout
        assert "a test dependency is missing" in at_import.stdout
    else:
        assert in_test.returncode == 0 and "2 skipped" in in_test.stdout, in_test.stdout
        assert at_import.returncode in (0, 5) and "1 skipped" in at_import.stdout, at_import.stdout
