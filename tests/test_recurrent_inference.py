"""Inference with seqlab's BPTT kernels saves nothing for backward.

Where no gradient is wanted (``torch.no_grad``, or no input or parameter requiring one),
``bptt.scan`` runs the inference loop of ``seqlab.functional._inference``: no autograd node,
and no gate or cell buffer kept after the call. What stays allocated is observed, not assumed:
a dispatch mode records every tensor the aten ops create during the forward, and after it
returns we sum the storages still alive. In training that includes the buffers backward needs
(gate activations, cell states, tanh(c)); in inference only the results themselves. The
values are checked against the training path (which the other recurrent tests check against
torch.nn and the NumPy oracle).
"""

from __future__ import annotations

import multiprocessing
import os
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

import seqlab.nn as snn
from seqlab.functional import _fused_step, _mkl, bptt
from tests.reference import numpy_rnn

T, B, E, H = 12, 3, 5, 8
VARIANTS: dict[str, Callable[[], torch.nn.Module]] = {
    "GRU(reset_after=False)": lambda: snn.GRU(E, H, reset_after=False),
    "LSTM(peephole=True)": lambda: snn.LSTM(E, H, peephole=True),
    "GRU impl=bptt": lambda: snn.GRU(E, H, impl="bptt"),
    "LSTM impl=bptt": lambda: snn.LSTM(E, H, impl="bptt"),
    "RNN impl=bptt": lambda: snn.RNN(E, H, impl="bptt"),
}

# the kernels whose training forward allocates gate buffers beyond what inference works in
# (the RNN and torch's GRU save the input projection, which inference computes as well)
SAVED_GATES = ("GRU(reset_after=False)", "LSTM(peephole=True)", "LSTM impl=bptt")


class _Created(TorchDispatchMode):
    """Keeps a weak reference to every tensor an aten op returns, and the peak of the bytes
    those tensors hold alive at once."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[weakref.ref[Tensor]] = []
        self.peak = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        out = func(*args, **(kwargs or {}))
        self.refs += [weakref.ref(t) for t in tree_leaves(out) if isinstance(t, Tensor)]
        self.peak = max(self.peak, _alive_bytes(self.refs, []))
        return out


def _alive_bytes(refs: list[weakref.ref[Tensor]], exclude: list[Tensor]) -> int:
    """Bytes of the distinct storages behind the still-alive tensors, less ``exclude``'s."""
    skip = {t.untyped_storage().data_ptr() for t in exclude}
    storages: dict[int, int] = {}
    for ref in refs:
        t = ref()
        # oneDNN's reordered weights are opaque (no storage to read); they are weights, per
        # call, not activations: not what this probe is after
        if t is not None and not t.is_mkldnn and t.untyped_storage().data_ptr() not in skip:
            storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
    return sum(storages.values())


def _kept(model: torch.nn.Module, x: Tensor, grad: bool) -> tuple[int, int, object]:
    """Bytes the forward leaves allocated besides its results, its peak, and the results."""
    mode = _Created()
    with torch.set_grad_enabled(grad), mode:
        result = model(x)
    outs = [t for t in tree_leaves(result) if isinstance(t, Tensor)]
    return _alive_bytes(mode.refs, outs), mode.peak, result


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_no_grad_keeps_no_buffer_for_backward(variant: str) -> None:
    torch.manual_seed(0)
    model = VARIANTS[variant]()
    x = torch.randn(T, B, E)
    kept_train, peak_train, trained = _kept(model, x, grad=True)
    kept_infer, peak_infer, inferred = _kept(model, x, grad=False)
    buffer = T * B * H * 4  # one (T, B, H) float32 buffer
    # training keeps at least one such buffer for backward: the probe sees it
    assert kept_train >= buffer, f"{variant}: probe saw only {kept_train} bytes"
    assert kept_infer == 0, f"{variant}: inference kept {kept_infer} bytes besides its results"
    if variant in SAVED_GATES:  # and inference does not even allocate them for the call
        assert peak_infer <= peak_train - buffer, f"{variant}: peak {peak_infer} vs {peak_train}"
    out_t, out_i = trained[0], inferred[0]  # type: ignore[index]
    assert out_t.grad_fn is not None and out_i.grad_fn is None and not out_i.requires_grad
    torch.testing.assert_close(out_i, out_t.detach(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_no_grad_never_enters_the_autograd_kernel(
    variant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No input needing a gradient (no_grad, or frozen weights and data) takes the inference
    loop; training takes the autograd function, and outputs agree (masked batches too)."""
    torch.manual_seed(1)
    model = VARIANTS[variant]()
    x = torch.randn(T, B, E)
    lengths = torch.tensor([T, 5, 1])
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, enforce_sorted=False)
    want = [model(x)[0].detach(), model(packed)[0].data.detach()]
    calls: list[int] = []
    apply = bptt._Scan.apply
    monkeypatch.setattr(bptt._Scan, "apply", lambda *a: calls.append(1) or apply(*a))
    with torch.no_grad():
        got = [model(x)[0], model(packed)[0].data]
    model.requires_grad_(False)
    got.append(model(x)[0])
    assert not calls, f"{variant}: the autograd kernel ran without a gradient wanted"
    model.requires_grad_(True)
    model(x)
    assert calls, f"{variant}: training no longer runs the autograd kernel"
    for g, w in zip(got, [*want, want[0]], strict=True):
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-5)


# -- the compiled float32 loops (numba + brgemm) ----------------------------------------------


def test_fused_tanh_and_sigmoid_within_bounds() -> None:
    """The kernel's rational tanh and σ against float64 NumPy on 2·10⁶ points of [−12, 12]
    and at the extremes: within 4e-7 and 2.5e-7 (measured 2.6e-7 and 1.6e-7; float32's
    spacing near 1 is 6e-8)."""
    kernels = pytest.importorskip("seqlab.functional._cell_kernels")
    x = np.concatenate([np.linspace(-12, 12, 2_000_001), [-1e30, -80.0, 0.0, 80.0, 1e30]])
    x = x.astype(np.float32)
    out = np.empty_like(x)
    exact = x.astype(np.float64)
    kernels.tanh(x, out)
    assert np.abs(out - np.tanh(exact)).max() <= 4e-7
    kernels.sigmoid(x, out)
    assert np.abs(out - 0.5 * (1.0 + np.tanh(exact / 2))).max() <= 2.5e-7


# a batch the compiled loops cut into two row ranges at two threads (B // MIN_ROWS >= 2)
WIDE = 2 * _fused_step.MIN_ROWS + 3
COMPILED: dict[str, Callable[[], torch.nn.Module]] = {
    "LSTM(peephole=True)": lambda: snn.LSTM(E, H, 2, bidirectional=True, peephole=True),
    "LSTM impl=bptt": lambda: snn.LSTM(E, H, 2, bidirectional=True, impl="bptt"),
    "GRU(reset_after=False)": lambda: snn.GRU(E, H, 2, bidirectional=True, reset_after=False),
    "GRU impl=bptt": lambda: snn.GRU(E, H, 2, bidirectional=True, impl="bptt"),
}


def _compiled_case(variant: str) -> tuple[torch.nn.Module, Tensor, list[int], tuple]:
    """A 2-layer bidirectional model with parameters large enough to matter, a wide batch
    of varied lengths and a given initial state."""
    torch.manual_seed(3)
    model = COMPILED[variant]()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.uniform_(-0.8, 0.8) if "weight_ch" in name or "bias" in name else None
    x = 2 * torch.randn(T, WIDE, E)
    lengths = [T, 5, 1] + [1 + (7 * k) % T for k in range(WIDE - 3)]
    h0 = torch.randn(4, WIDE, H)
    hx = (h0, torch.randn(4, WIDE, H)) if "LSTM" in variant else h0
    return model, x, lengths, hx


def _loop(variant: str) -> str:
    """The ``_fused_step`` loop that runs ``variant``'s inference."""
    return "lstm" if "LSTM" in variant else "gru" if "reset_after=False" in variant else "gru_after"


def _count_calls(monkeypatch: pytest.MonkeyPatch, name: str) -> list[int]:
    """A list that grows by one at each call of ``_fused_step.<name>``."""
    calls: list[int] = []
    loop = getattr(_fused_step, name)
    monkeypatch.setattr(_fused_step, name, lambda *a: calls.append(1) or loop(*a))
    return calls


def _at_threads(threads: int, fn: Callable[[], list]) -> list:
    """``fn()`` with torch set to ``threads`` threads (restored after)."""
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return fn()
    finally:
        torch.set_num_threads(old)


def _run(model: torch.nn.Module, x: Tensor, lengths: list[int], hx: object) -> list[Tensor]:
    packed = torch.nn.utils.rnn.pack_padded_sequence(
        x, torch.tensor(lengths), False, enforce_sorted=False
    )
    with torch.no_grad():
        out, state = model(packed, hx)
    out = torch.nn.utils.rnn.pad_packed_sequence(out, total_length=T)[0]
    return [out, *(state if isinstance(state, tuple) else (state,))]


def _oracle(model: torch.nn.Module, x: Tensor, lengths: list[int], hx: object) -> list:
    params = {n: p.detach().double().numpy() for n, p in model.named_parameters()}
    lstm = isinstance(hx, tuple)
    out, h_n, c_n, _ = numpy_rnn.forward(
        x.double().numpy(),
        tuple(s.double().numpy() for s in hx) if lstm else hx.double().numpy(),  # type: ignore[union-attr]
        params,
        "lstm" if lstm else "gru",
        num_layers=model.num_layers,  # type: ignore[arg-type]
        bidirectional=model.bidirectional,  # type: ignore[arg-type]
        reset_after=getattr(model, "reset_after", True),
        peephole=getattr(model, "peephole", False),
        lengths=lengths,
    )
    return [out, h_n, c_n] if lstm else [out, h_n]


@pytest.mark.usefixtures("compiled_loops", "loop_gemm")
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("variant", sorted(COMPILED))
def test_compiled_loops_match_the_oracle(
    variant: str, threads: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """float32 inference of the LSTM (peepholes or not) and the original GRU (2 layers,
    bidirectional, variable lengths, a given initial state) runs the compiled loop, with
    torch on one thread or two (the batch then cut into two row ranges), and agrees with the
    float64 NumPy oracle and with the torch-op loop (SEQLAB_FUSED=0)."""
    model, x, lengths, hx = _compiled_case(variant)
    calls = _count_calls(monkeypatch, _loop(variant))
    got = _at_threads(threads, lambda: _run(model, x, lengths, hx))
    assert len(calls) == 4, f"the compiled loop ran {len(calls)} times, not once a layer and way"
    for what, g, exp in zip(
        ("output", "h_n", "c_n"), got, _oracle(model, x, lengths, hx), strict=False
    ):
        err = np.abs(g.double().numpy() - exp).max()
        assert err <= 3e-6, f"{what}: max abs error {err:.2e} against the oracle"
    monkeypatch.setenv("SEQLAB_FUSED", "0")
    torch_ops = _run(model, x, lengths, hx)
    assert len(calls) == 4, "SEQLAB_FUSED=0 still ran the compiled loop"
    for g, exp in zip(got, torch_ops, strict=True):
        torch.testing.assert_close(g, exp, rtol=1e-5, atol=3e-6)


@pytest.mark.usefixtures("compiled_loops", "loop_gemm")
@pytest.mark.parametrize("variant", sorted(COMPILED))
def test_compiled_loops_same_bits_at_any_thread_count(variant: str) -> None:
    """The rows of a batch are cut among threads, never a product: one thread or two give
    the same bits."""
    model, x, lengths, hx = _compiled_case(variant)
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = _run(model, x, lengths, hx)
        torch.set_num_threads(2)
        two = _run(model, x, lengths, hx)
    finally:
        torch.set_num_threads(old)
    for a, b in zip(one, two, strict=True):
        assert torch.equal(a, b)


def _train_grads(model: torch.nn.Module, x: Tensor, lengths: list[int], hx: object) -> list:
    """Outputs and every gradient of a random linear loss, through a packed batch."""
    x = x.clone().requires_grad_()
    states = tuple(s.clone().requires_grad_() for s in (hx if isinstance(hx, tuple) else (hx,)))
    model.zero_grad(set_to_none=True)
    packed = torch.nn.utils.rnn.pack_padded_sequence(
        x, torch.tensor(lengths), False, enforce_sorted=False
    )
    out, final = model(packed, states if isinstance(hx, tuple) else states[0])
    out = torch.nn.utils.rnn.pad_packed_sequence(out, total_length=T)[0]
    results = [out, *(final if isinstance(final, tuple) else (final,))]
    g = torch.Generator().manual_seed(1)
    loss = sum((y * torch.randn(y.shape, generator=g)).sum() for y in results)
    loss.backward()  # type: ignore[union-attr]
    grads = [x.grad, *(s.grad for s in states), *(p.grad for p in model.parameters())]
    return [y.detach() for y in results] + grads


@pytest.mark.usefixtures("compiled_loops", "loop_gemm")
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("variant", sorted(COMPILED))
def test_compiled_training_matches_the_torch_op_loop(
    variant: str, threads: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """float32 training of the LSTM (peepholes or not) and the original GRU (2 layers,
    bidirectional, variable lengths) runs the compiled forward and backward through time,
    and its outputs and gradients (input, initial states, every weight, bias and peephole)
    agree with the torch-op kernel (SEQLAB_FUSED=0, itself tested against the oracle), at
    one thread or two (the batch then cut into two row ranges)."""
    model, x, lengths, hx = _compiled_case(variant)
    calls = _count_calls(monkeypatch, _loop(variant) + "_train")
    got = _at_threads(threads, lambda: _train_grads(model, x, lengths, hx))
    assert len(calls) == 4, f"the compiled forward ran {len(calls)} times, not 4"
    monkeypatch.setenv("SEQLAB_FUSED", "0")
    want = _train_grads(model, x, lengths, hx)
    assert len(calls) == 4, "SEQLAB_FUSED=0 still ran the compiled forward"
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-5, atol=2e-5)


def _one_layer() -> tuple[torch.nn.Module, Tensor]:
    """A 1-layer peephole LSTM (E < H: no large input product, no OpenMP-threaded op, which
    GNU OpenMP cannot run in a child forked after the parent used its threads) and a wide
    batch the compiled loop cuts into two row ranges at two threads."""
    torch.manual_seed(3)
    return snn.LSTM(E, H, peephole=True), torch.randn(T, WIDE, E)


def _infer_in_child(queue: object) -> None:
    model, x = _one_layer()
    with torch.no_grad():
        out = _at_threads(2, lambda: [model(x)[0]])[0]
    queue.put(out.sum().item())  # type: ignore[attr-defined]


@pytest.mark.usefixtures("compiled_loops")
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_compiled_loops_run_in_a_forked_child() -> None:
    """A process forked after the loops' worker threads ran (a DataLoader worker, a
    multiprocessing pool) gets worker threads of its own: the same inference completes
    there with the same result (a child given the parent's pool would wait forever on
    threads it does not have)."""
    model, x = _one_layer()
    with torch.no_grad():
        want = _at_threads(2, lambda: [model(x)[0]])[0].sum().item()
    assert _fused_step._POOLS, "the parent's call used no worker threads"
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_infer_in_child, args=(queue,))
    child.start()
    child.join(timeout=60)
    alive = child.is_alive()
    if alive:
        child.kill()
    assert not alive and child.exitcode == 0, "the forked child hung or failed"
    assert queue.get(timeout=5) == want


@pytest.mark.usefixtures("compiled_loops")
def test_mkl_threads_restored_after_a_loop(
    monkeypatch: pytest.MonkeyPatch, mkl_library: Any
) -> None:
    """A loop on MKL sets MKL to one thread on the calling thread while it runs, and leaves
    the thread's setting as it found it (0: none of its own), in inference and training."""
    monkeypatch.setattr(_mkl, "preferred", lambda: True)
    lib = mkl_library
    model, x = _one_layer()
    calls = _count_calls(monkeypatch, "lstm")
    old = torch.get_num_threads()
    torch.set_num_threads(1)  # one row range, run on this thread (torch sets MKL's here too)
    try:
        for setting in (0, 3):
            lib.MKL_Set_Num_Threads_Local(setting)
            with torch.no_grad():
                model(x)
            assert calls, "the compiled loop did not run"
            model(x)[0].sum().backward()
            assert lib.MKL_Set_Num_Threads_Local(setting) == setting
    finally:
        torch.set_num_threads(old)


def test_mkl_taken_on_intel_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The loops take MKL on an Intel CPU and brgemm elsewhere, unless SEQLAB_MKL says."""
    monkeypatch.setattr(_mkl, "available", lambda: True)
    for intel, env, want in [
        (True, None, True),
        (False, None, False),
        (False, "1", True),
    ]:
        monkeypatch.setattr(_mkl, "_intel", lambda intel=intel: intel)
        if env is None:
            monkeypatch.delenv("SEQLAB_MKL", raising=False)
        else:
            monkeypatch.setenv("SEQLAB_MKL", env)
        _mkl.preferred.cache_clear()
        assert _mkl.preferred() is want, (intel, env)
    _mkl.preferred.cache_clear()
    monkeypatch.undo()
    monkeypatch.setenv("SEQLAB_MKL", "0")
    _mkl.available.cache_clear()
    assert not _mkl.available() and not _mkl.preferred.__wrapped__()
    monkeypatch.undo()
    _mkl.available.cache_clear()
    _mkl.preferred.cache_clear()


class _Ops(TorchDispatchMode):
    """Records every aten op run, with the most elements of a tensor it read or wrote."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[tuple[str, int]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        out = func(*args, **(kwargs or {}))
        leaves = tree_leaves((args, kwargs, out))
        self.ops.append(
            (str(func), max((t.numel() for t in leaves if isinstance(t, Tensor)), default=0))
        )
        return out


# ops that run no arithmetic and touch no element: allocations and views
_NO_WORK = ("empty", "new_empty", "detach", "t.", "transpose", "view", "select", "slice", "alias")
_GRAIN = 32768  # torch's parallel grain: an op over more elements runs on its OpenMP threads


@pytest.mark.usefixtures("compiled_loops", "loop_gemm")
@pytest.mark.parametrize(
    "loop", ["lstm", "lstm_train", "gru", "gru_train", "gru_after", "gru_after_train"]
)
def test_compiled_loops_start_with_no_wide_torch_op(loop: str) -> None:
    """Before a compiled loop starts, no torch op over a weight or the input runs: it would
    run on torch's OpenMP threads, which then spin-wait beside the loop's threads and take a
    core from one (21.8 against 15.6 ms a call, 2 threads). The weights are transposed and
    the (batch-first, non-contiguous) input copied by NumPy, or packed by MKL, on the
    calling thread."""
    torch.manual_seed(0)
    steps, batch, e, h = 20, 40, 96, 128  # W_hh (4H, H) and x: over torch's parallel grain
    gates = (4 if loop.startswith("lstm") else 3) * h
    x = torch.randn(batch, steps, e).transpose(0, 1)  # (T, B, E), not contiguous
    w_ih, w_hh, b = torch.randn(gates, e), torch.randn(gates, h), torch.randn(gates)
    h0, c0 = torch.randn(batch, h), torch.randn(batch, h)
    assert min(x.numel(), w_hh.numel()) > _GRAIN
    run: dict[str, Callable[[], object]] = {
        "lstm": lambda: _fused_step.lstm(x, h0, c0, w_ih, w_hh, b, None, None),
        "lstm_train": lambda: _fused_step.lstm_train(x, h0, c0, w_ih, w_hh, b, None, None),
        "gru": lambda: _fused_step.gru(x, h0, w_ih, w_hh, b, None),
        "gru_train": lambda: _fused_step.gru_train(x, h0, w_ih, w_hh, b, None),
        "gru_after": lambda: _fused_step.gru_after(x, h0, w_ih, w_hh, b, b, None),
        "gru_after_train": lambda: _fused_step.gru_after_train(x, h0, w_ih, w_hh, b, b, None),
    }
    with _Ops() as ops:
        run[loop]()
    wide = [op for op, n in ops.ops if n > _GRAIN and not any(w in op for w in _NO_WORK)]
    assert not wide, f"torch ops over more than {_GRAIN} elements before the loop: {wide}"


@pytest.mark.usefixtures("compiled_loops")
def test_auto_gru_runs_the_compiled_loop_as_torch_nn_gru(monkeypatch: pytest.MonkeyPatch) -> None:
    """``GRU()`` ("auto", torch's equations) runs the compiled loop in float32 on the CPU,
    in inference and in training, and computes what torch.nn.GRU computes; in float64 it
    runs torch's own kernel."""
    torch.manual_seed(0)
    ours, theirs = snn.GRU(E, H, 2, bidirectional=True), torch.nn.GRU(E, H, 2, bidirectional=True)
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(T, WIDE, E)
    inference, training = (
        _count_calls(monkeypatch, "gru_after"),
        _count_calls(monkeypatch, "gru_after_train"),
    )
    with torch.no_grad():
        torch.testing.assert_close(ours(x)[0], theirs(x)[0], rtol=1e-5, atol=2e-6)
    assert len(inference) == 4, "inference did not run the compiled loop once a layer and way"
    got, want = ours(x)[0], theirs(x)[0]
    torch.testing.assert_close(got, want, rtol=1e-5, atol=2e-6)
    got.square().sum().backward()
    want.square().sum().backward()
    assert len(training) == 4, "training did not run the compiled loop once a layer and way"
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=2e-5, msg=name)
    with torch.no_grad():
        ours.double()(x.double())
    assert len(inference) == 4, "float64 ran the compiled loop"
