"""The GEMM helpers of the BPTT kernels agree with torch.mm, on the oneDNN path and off it.

Which path ran is observed, not assumed: torch.profiler records the op each product calls,
``mkldnn::_linear_pointwise`` on the oneDNN path, ``aten::mm``/``aten::addmm`` off it. Where
torch has oneDNN's linear ops, float32 CPU products (the helpers, and a whole BPTT scan
forward and backward) must take them: if the self check fails (oneDNN disagrees with addmm,
the op raises) or the choice of path breaks, the products silently fall back to addmm, still
right, and only these tests notice. A torch build without those ops skips them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator

import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from seqlab.functional import _fused_step, _gemm, bptt

ONEDNN_OP = "mkldnn::_linear_pointwise"
TORCH_GEMMS = ("aten::mm", "aten::addmm", "aten::matmul", "aten::bmm")


def ops_called(fn: Callable[[], object]) -> Counter[str]:
    """How many times each op ran in ``fn()`` (torch.profiler, CPU events)."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    return Counter(e.name for e in prof.events())


@pytest.fixture
def default_gemm(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The path choice as shipped: SEQLAB_GEMM unset and the self check run afresh (first,
    so its own reference products are not in a profile)."""
    try:  # a build without oneDNN or its linear ops: addmm is then the intended path
        ops = (torch.ops.mkldnn._linear_pointwise, torch.ops.mkldnn._reorder_linear_weight)
    except (AttributeError, RuntimeError):
        ops = ()
    if not (torch.backends.mkldnn.is_available() and ops):
        pytest.skip("oneDNN is not installed in this torch build (no mkldnn linear ops)")
    monkeypatch.delenv("SEQLAB_GEMM", raising=False)
    # these tests' products are small: take oneDNN at any size (the size rule has its own test)
    monkeypatch.setattr(_gemm, "ONEDNN_MIN_MACS", 0)
    _gemm._onednn_works.cache_clear()
    _gemm._onednn_works()
    yield
    _gemm._onednn_works.cache_clear()


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


@pytest.mark.usefixtures("default_gemm")
def test_float32_products_run_on_onednn() -> None:
    """Where torch has oneDNN the self check passes and every float32 CPU product calls the
    oneDNN op, one call per product, except the weight gradient: one torch GEMM (MKL reads
    its strided operands in place)."""
    assert _gemm._onednn_works(), "oneDNN self check failed: products silently use addmm"
    g = torch.Generator().manual_seed(0)
    x, w = torch.randn(7, 24, generator=g), torch.randn(40, 24, generator=g)
    b, dy = torch.randn(40, generator=g), torch.randn(7, 40, generator=g)
    weight = _gemm.Weight(w, 7)
    assert weight.fast and _gemm.onednn_enabled(x)

    def products() -> None:
        weight(x, b)
        weight(x)
        _gemm.linear(x, w, b)
        _gemm.grad_weight(dy, x)

    ops = ops_called(products)
    assert ops[ONEDNN_OP] == 3, ops
    assert sum(ops[name] for name in TORCH_GEMMS) == 1, ops


def scan_ops(mode: str, dtype: torch.dtype, steps: int) -> Counter[str]:
    """The ops of one bptt.scan forward and backward (batch 3, input 4, hidden 6)."""
    gates = {"lstm": 4, "gru": 3, "rnn_tanh": 1}[mode]
    g = torch.Generator().manual_seed(1)
    x, w_ih, w_hh, b_ih, b_hh = (
        torch.randn(*shape, generator=g, dtype=dtype).requires_grad_()
        for shape in [(steps, 3, 4), (gates * 6, 4), (gates * 6, 6), (gates * 6,), (gates * 6,)]
    )
    h0 = torch.zeros(3, 6, dtype=dtype)
    c0 = torch.zeros(3, 6, dtype=dtype) if mode == "lstm" else None

    def run() -> None:
        out, _, _ = bptt.scan(mode, x, h0, c0, w_ih, b_ih, w_hh, b_hh)  # type: ignore[arg-type]
        out.sum().backward()

    return ops_called(run)


@pytest.mark.usefixtures("default_gemm", "compiled_loops")
@pytest.mark.parametrize("mode", ["lstm", "gru"])
def test_bptt_scan_float32_runs_no_op_per_step(mode: str) -> None:
    """The LSTM's and torch's GRU's float32 CPU scans run their steps in compiled code (the
    products inside the loop): forward and backward dispatch the same torch ops for 5 steps
    as for 9."""
    short, longer = scan_ops(mode, torch.float32, steps=5), scan_ops(mode, torch.float32, 9)
    assert short == longer, (short, longer)
    assert short[ONEDNN_OP] + sum(short[n] for n in TORCH_GEMMS) <= 6, short  # whole-sequence


@pytest.mark.usefixtures("default_gemm")
@pytest.mark.parametrize("mode", ["rnn_tanh"])
def test_bptt_scan_float32_runs_every_product_on_onednn(mode: str) -> None:
    """A whole scan, forward and backward, in float32 on the CPU: every per-step matrix
    product is a oneDNN call, torch's GEMM serves only the weight gradients (one or two per
    weight, whatever the length); the same scan in float64 uses torch's GEMMs and no oneDNN
    (so the observable tells the two paths apart)."""
    ops = scan_ops(mode, torch.float32, steps=5)
    assert ops[ONEDNN_OP] >= 10, ops  # at least one recurrent product per step, each way
    assert sum(ops[name] for name in TORCH_GEMMS) <= 4, ops  # the weight gradients only
    longer = scan_ops(mode, torch.float32, steps=9)
    assert sum(ops[n] for n in TORCH_GEMMS) == sum(longer[n] for n in TORCH_GEMMS), longer
    ops = scan_ops(mode, torch.float64, steps=5)
    assert ops[ONEDNN_OP] == 0 and ops["aten::mm"] + ops["aten::addmm"] >= 5, ops


def test_size_rule_small_products_use_addmm(monkeypatch: pytest.MonkeyPatch) -> None:
    """A oneDNN call costs ≈ 15 µs before any arithmetic, addmm ≈ 4 µs: products below
    ONEDNN_MIN_MACS multiply-adds (per-step products of small networks) call addmm, larger
    ones oneDNN, where oneDNN is present. The rule is fixed by sizes, never by timing."""
    monkeypatch.delenv("SEQLAB_GEMM", raising=False)
    _gemm._onednn_works.cache_clear()
    try:
        g = torch.Generator().manual_seed(2)
        small_w, small_x = torch.randn(128, 48, generator=g), torch.randn(8, 48, generator=g)
        rows = _gemm.ONEDNN_MIN_MACS // (512 * 64) + 1  # just above the threshold
        big_w, big_x = torch.randn(512, 64, generator=g), torch.randn(rows, 64, generator=g)
        small, big = _gemm.Weight(small_w, 8), _gemm.Weight(big_w, rows)
        assert not small.fast
        ops = ops_called(lambda: (small(small_x), _gemm.linear(small_x, small_w)))
        assert ops[ONEDNN_OP] == 0 and ops["aten::mm"] == 2, ops
        _close(small(small_x), small_x @ small_w.t(), "small packed product")
        if not _gemm._onednn_works():
            pytest.skip("oneDNN is not installed in this torch build (or disagrees with addmm)")
        assert big.fast
        ops = ops_called(lambda: (big(big_x), _gemm.linear(big_x, big_w)))
        assert ops[ONEDNN_OP] == 2, ops
        _close(big(big_x), big_x @ big_w.t(), "large packed product")
    finally:
        _gemm._onednn_works.cache_clear()


@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn_tanh"])
def test_small_scans_neither_reorder_nor_call_onednn(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A small network's scan (batch 3, hidden 6), forward and backward, makes no oneDNN call
    and reorders no weight (the LSTM's and the GRU's compiled loops call their GEMM, no
    torch op): those fixed costs (≈ 15 µs a call, 110–210 µs a reorder) made
    ``impl="bptt"`` 2x slower than the textbook loop on small networks."""
    monkeypatch.delenv("SEQLAB_GEMM", raising=False)
    ops = scan_ops(mode, torch.float32, steps=5)
    assert ops[ONEDNN_OP] == 0 and ops["mkldnn::_reorder_linear_weight"] == 0, ops
    if mode in ("lstm", "gru") and _fused_step.usable(torch.zeros(1)):
        return  # its per-step products run inside the compiled loop, no torch op
    assert ops["aten::mm"] + ops["aten::addmm"] >= 10, ops  # the products ran on addmm
