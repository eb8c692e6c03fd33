"""Under CI (CI=true), a test skipped because an oracle or tool is missing fails instead: the
oracles (sacrebleu, gensim, scipy, tensorboard, the docs tools) are test dependencies, and a
CI run that quietly skips the comparison with them proves nothing. Skips that depend on the
machine (no CUDA GPU) stay skips."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_MISSING = ("could not import", "is not installed", "needs make")


def _strict() -> bool:
    return os.environ.get("CI") == "true"


def _fail_if_a_tool_is_missing(report: pytest.CollectReport | pytest.TestReport, what: str) -> None:
    """Under CI=true, turn ``report``'s skip for a missing test dependency into a failure."""
    if not (report.skipped and _strict()):
        return
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    if any(m in reason for m in _MISSING):
        report.outcome = "failed"
        report.longrepr = f"CI=true: a test dependency is missing, so {what} did not run: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    _fail_if_a_tool_is_missing(outcome.get_result(), "this check")


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[None]:
    outcome = yield
    _fail_if_a_tool_is_missing(outcome.get_result(), collector.nodeid)


@pytest.fixture(autouse=True, scope="session")
def _private_token_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Encoded corpora go to a folder of this run, never to the user's ~/.cache/seqlab
    (subprocesses inherit the variable); a test that checks the cache sets its own."""
    old = os.environ.get("SEQLAB_CACHE")
    os.environ["SEQLAB_CACHE"] = str(tmp_path_factory.mktemp("seqlab-cache"))
    yield
    if old is None:
        os.environ.pop("SEQLAB_CACHE", None)
    else:
        os.environ["SEQLAB_CACHE"] = old


@pytest.fixture
def one_thread() -> Iterator[None]:
    """torch on one CPU thread during the test (calibrated learning bounds assume it)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def held_folder(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """A folder held by another process (its pid), until the test ends."""
    folder = tmp_path / "held"
    script = "import sys, time\nfrom seqlab.train import hold_folder\n"
    script += "with hold_folder(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(120)\n"
    import seqlab

    env = os.environ | {"PYTHONPATH": str(Path(seqlab.__file__).parents[1])}
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(folder)], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        yield folder, proc.pid
    finally:
        proc.kill()
        proc.wait(timeout=30)


@pytest.fixture
def compiled_loops() -> None:
    """The compiled LSTM/GRU loops (numba and torch's brgemm kernel) are available; a test
    that needs them skips where they are not, which CI=true turns into a failure (the
    pinned torch ships the kernel)."""
    import torch

    from seqlab.functional import _fused_step

    if not _fused_step.usable(torch.zeros(1)):
        pytest.skip("numba or torch's brgemm kernel is not installed: no compiled loops")


def _mkl_library():  # type: ignore[no-untyped-def]
    """torch's MKL library with the packed GEMM, checked against NumPy; a skip where this
    torch build has none (CI=true turns it into a failure: the pinned x86 torch ships it)."""
    from seqlab.functional import _mkl

    lib = _mkl._library()
    if lib is None:
        pytest.skip("MKL's packed GEMM is not installed in this torch build")
    assert _mkl.available(), "MKL's packed GEMM disagrees with NumPy (or SEQLAB_MKL=0 is set)"
    return lib


@pytest.fixture
def mkl_library():  # type: ignore[no-untyped-def]
    """torch's MKL library (ctypes), for tests of MKL's packed GEMM (see _mkl_library)."""
    return _mkl_library()


@pytest.fixture(params=["brgemm", "mkl"])
def loop_gemm(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each GEMM the compiled loops can call, on any CPU: torch's brgemm, and MKL's packed
    GEMM (which only Intel CPUs take by default)."""
    from seqlab.functional import _mkl

    if request.param == "mkl":
        _mkl_library()
    monkeypatch.setattr(_mkl, "preferred", lambda: request.param == "mkl")
    return request.param
