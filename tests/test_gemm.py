"""The GEMM helpers of the BPTT kernels agree with torch.mm, on the oneDNN path and off it."""

from __future__ import annotations

import pytest
import torch

from seqlab.functional import _gemm


def _close(got: torch.Tensor, want: torch.Tensor, what: str) -> None:
    err = (got - want).abs().max().item()
    scale = want.abs().max().item()
    assert err <= 1e-5 * max(scale, 1.0), f"{what}: max abs error {err:.3e} (scale {scale:.3e})"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("rows", [1, 7, 64])
def test_products_equal_torch(dtype: torch.dtype, rows: int) -> None:
    g = torch.Generator().manual_seed(rows)
    x = torch.randn(rows, 24, generator=g, dtype=dtype)  # (N, in)
    w = torch.randn(40, 24, generator=g, dtype=dtype)  # (out, in)
    b = torch.randn(40, generator=g, dtype=dtype)
    dy = torch.randn(rows, 40, generator=g, dtype=dtype)  # (N, out)
    weight = _gemm.Weight(w, rows)
    _close(weight(x, b), torch.addmm(b, x, w.t()), "packed x W^T + b")
    _close(weight(x), x @ w.t(), "packed x W^T")
    _close(_gemm.Weight(w.t(), rows)(dy), dy @ w, "packed dy W (transposed weight)")
    _close(_gemm.linear(x, w, b), torch.addmm(b, x, w.t()), "linear")
    _close(_gemm.linear(dy, w.t()), dy @ w, "linear with a transposed weight")
    _close(_gemm.grad_weight(dy, x), dy.t() @ x, "grad_weight")


def test_float64_never_takes_the_onednn_path() -> None:
    assert not _gemm.onednn_enabled(torch.zeros(2, dtype=torch.float64))


def test_env_var_forces_the_torch_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEQLAB_GEMM", "torch")
    _gemm._onednn_works.cache_clear()
    try:
        assert not _gemm.onednn_enabled(torch.zeros(2))
    finally:
        monkeypatch.delenv("SEQLAB_GEMM")
        _gemm._onednn_works.cache_clear()
