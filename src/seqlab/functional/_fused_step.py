"""The float32 CPU loops of the LSTM, the original GRU and torch's GRU, in compiled code.

:mod:`seqlab.functional._cell_kernels` runs the whole sequence: per step GEMM calls for
the input projection and the recurrent product (added to it) and a vectorised loop for the
gate math, with no Python between steps. The GEMM is MKL's packed one on Intel CPUs (the
weights packed once per call, :mod:`seqlab.functional._mkl`), torch's brgemm elsewhere
(:mod:`seqlab.functional._brgemm`). The step's projection is made where the
recurrent product and the gate math read it, in cache; computing all steps' at once in one
large GEMM (as the torch-op loop does) costs a (T, B, G) buffer in main memory and, at two
threads, as much time as it saves.

Nothing before a loop runs on torch's OpenMP threads (the weights are copied or packed on
the calling thread): after a parallel region those threads spin-wait for the next one,
and a spinning thread takes a core from one of the loop's (2 threads, 1-layer peephole LSTM:
21.8 ms a call with the weights transposed by torch, 15.6 ms without).

The batch is cut into row ranges run on parallel threads (the sequences of a batch are
independent, so the threads never wait for each other):
``min(torch.get_num_threads(), B // MIN_ROWS)`` ranges, at least one, a fixed rule that
gives every run the same result bit for bit.

Used where the tensors are float32 on the CPU, run rather than traced, numba imports and
torch's brgemm is found (:func:`usable`; MKL is optional); ``SEQLAB_FUSED=0`` turns it off
(the torch-op loop of ``_inference`` then runs, as it does for float64 and CUDA). numba is
imported on first use.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType

import numpy as np
import torch
from torch import Tensor

from seqlab.functional import _brgemm, _mkl
from seqlab.functional._gemm import linear, tracing

__all__ = [
    "MIN_ROWS",
    "MODES",
    "describe",
    "fills_threads",
    "gru",
    "gru_after",
    "gru_after_grads",
    "gru_after_train",
    "gru_grads",
    "gru_train",
    "lstm",
    "lstm_grads",
    "lstm_train",
    "usable",
]

# The fewest batch rows a thread is given: below it a brgemm call's fixed cost and its lower
# efficiency on few rows outweigh a second core (B = 16 per thread runs at ≈ 75 GFLOP/s
# where 64 runs at ≈ 150, 1 core of an Intel Xeon).
MIN_ROWS = 16

# the scan modes with compiled loops: the LSTM (peepholes or not), the original GRU, torch's
MODES = ("lstm", "lstm_peephole", "gru_reset_before", "gru")


@functools.cache
def _kernels() -> ModuleType | None:
    """The numba module, imported (and its kernels compiled or loaded) on first use."""
    if not _brgemm.available():
        return None
    try:
        _mkl.register()  # numba's code calls MKL by name: known to LLVM before it loads
        from seqlab.functional import _cell_kernels
    except ImportError:  # numba missing or broken: the torch-op loop serves
        return None
    return _cell_kernels


def _compiled() -> ModuleType:
    """The numba module, where :func:`usable` said yes."""
    kernels = _kernels()
    if kernels is None:
        raise RuntimeError("the compiled loops need numba and torch's brgemm (check usable())")
    return kernels


def usable(x: Tensor, *others: Tensor | None) -> bool:
    """True where the compiled loops serve ``x`` and the ``others`` (states, weights): all
    float32 on the CPU, run rather than traced."""
    tensors = [t for t in (x, *others) if t is not None]
    return (
        all(t.device.type == "cpu" and t.dtype == torch.float32 for t in tensors)
        and not tracing(x)
        and os.environ.get("SEQLAB_FUSED", "1") != "0"
        and _kernels() is not None
    )


def describe() -> str:
    """What runs the float32 CPU LSTM and GRU loops here, in words (for ``seqlab info``),
    without importing numba."""
    import importlib.util

    if os.environ.get("SEQLAB_FUSED", "1") == "0":
        return "torch ops (SEQLAB_FUSED=0)"
    if importlib.util.find_spec("numba") is None or not _brgemm.available():
        return "torch ops (numba or torch's brgemm missing)"
    return "compiled, " + ("MKL packed GEMM" if _mkl.preferred() else "oneDNN brgemm")


_POOLS: dict[int, ThreadPoolExecutor] = {}


def _pool(threads: int) -> ThreadPoolExecutor:
    """The worker threads (kept between calls)."""
    if threads not in _POOLS:
        _POOLS[threads] = ThreadPoolExecutor(threads, thread_name_prefix="seqlab-rnn")
    return _POOLS[threads]


def _end_pools() -> None:
    """End the worker threads before the process forks: a child (a DataLoader worker, a
    multiprocessing pool) would inherit the pool but not its threads, and its first call
    would wait on them forever. Both processes start new ones on their next call."""
    for pool in _POOLS.values():
        pool.shutdown(wait=True)
    _POOLS.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_end_pools)


def _parts(batch: int) -> int:
    """How many row ranges a batch is cut into."""
    return max(1, min(torch.get_num_threads(), batch // MIN_ROWS))


def fills_threads(batch: int) -> bool:
    """True where every torch thread gets a row range of its own (one thread, or at least
    :data:`MIN_ROWS` sequences per thread): with fewer rows per thread, torch's fused
    oneDNN LSTM, which splits columns among its threads, trains faster (2 threads, batch
    16: 47 vs 58 ms a step)."""
    threads = torch.get_num_threads()
    return threads == 1 or batch >= MIN_ROWS * threads


def _run_rows(kernel: Callable[..., None], batch: int, *args: object) -> None:
    """``kernel(*args, b0, b1)`` over row ranges covering the batch, on parallel threads."""
    parts = _parts(batch)
    if parts == 1:
        kernel(*args, 0, batch)
        return
    cuts = [batch * k // parts for k in range(parts + 1)]
    jobs = [_pool(parts).submit(kernel, *args, cuts[k], cuts[k + 1]) for k in range(parts)]
    for job in jobs:
        job.result()


def _transposed(w: Tensor) -> np.ndarray:
    """W^T, a view: :func:`_operands` makes the operand from it on this thread (a torch copy
    would run on torch's OpenMP threads, see the module's doc).  (G, K) -> (K, G)"""
    return w.detach().numpy().T


def _operands(batch: int, *weights: np.ndarray | None) -> tuple[bool | np.ndarray, ...]:
    """The loops' B operands from row-major (K, N) weights: packed by MKL where it is
    :func:`~seqlab.functional._mkl.preferred` (the i-th into this thread's slot i), else
    flat for brgemm; None (a weight the loop does not read) gives an empty array.

    Returns ``(*operands, mkl)``, the loops' first arguments.
    """
    mkl = _mkl.preferred()
    out = []
    for slot, w in enumerate(weights):
        if w is None:
            out.append(np.empty(0, np.float32))
        elif mkl:
            out.append(_mkl.pack(w, batch, slot))
        else:
            out.append(np.ascontiguousarray(w).reshape(-1))  # NumPy's copy: this thread
    return (*out, mkl)


def _step_inputs(
    x: Tensor, w_ih: Tensor, b: Tensor | None, hidden: int, keep: bool
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray, Tensor, bool]:
    """What every loop takes first: W_ih^T (None where the loop does not read it), the
    inputs, the bias, the steps' pre-activation buffer, and whether it already holds the
    input projections.

    The input projections of all steps are made ahead where the input is wider than the
    state (E > H: a deep or bidirectional network's upper layers), whose W_ih would crowd
    W_hh out of the core's cache if read at every step: one large product on torch's
    threads (its GEMM of choice, see _gemm). Else each step makes its own, into a buffer of
    one step, or of every step where training ``keep``s the gate activations there.

    Shape:
        x: (T, B, E), w_ih: (G, E) -> (E, G) or None, (T, B, E), (G,), (T or 1, B, G), bool
    """
    steps, batch = x.shape[0], x.shape[1]
    gates = w_ih.shape[0]
    bias = np.zeros(gates, np.float32) if b is None else b.detach().contiguous().numpy()
    ahead = x.shape[-1] > hidden
    if ahead:
        flat = x.detach().reshape(steps * batch, -1)
        pre = linear(flat, w_ih.detach()).view(steps, batch, gates)
    else:
        pre = x.new_empty(steps if keep else 1, batch, gates)
    xs = np.ascontiguousarray(x.detach().numpy())  # a copy (batch_first) made by NumPy, here
    return None if ahead else _transposed(w_ih), xs, bias, pre, ahead


def _valid(mask: Tensor | None, batch: int) -> np.ndarray:
    """(T, B) bool: step t of sequence b is valid; (0, B) where all are."""
    return np.zeros((0, batch), np.bool_) if mask is None else mask[..., 0].contiguous().numpy()


def lstm(
    x: Tensor,
    h0: Tensor,
    c0: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b: Tensor | None,
    w_ch: Tensor | None,
    mask: Tensor | None,
    reverse: bool = False,
) -> tuple[Tensor, Tensor, Tensor]:
    """Run the LSTM (peepholes if ``w_ch``) over ``x``; ``b`` is b_ih + b_hh; ``reverse``:
    from the last step to the first (masked steps, at the end, are skipped either way).

    Returns ``(out, a<T>, c<T>)``, ``out`` zero where ``mask`` is false.

    Shape:
        x: (T, B, E), h0/c0: (B, H), mask: (T, B, 1) -> out (T, B, H), (B, H), (B, H)
    """
    kernels = _compiled()
    steps, batch, hidden = x.shape[0], x.shape[1], c0.shape[-1]
    w_x, xs, bias, pre, ahead = _step_inputs(x, w_ih, b, hidden, keep=False)
    h = h0.detach().clone(memory_format=torch.contiguous_format)  # (B, H), updated in place
    c = c0.detach().clone(memory_format=torch.contiguous_format)  # (B, H), updated in place
    out = x.new_empty(steps, batch, hidden)
    weights = _operands(batch, w_x, _transposed(w_hh))
    args = (*weights, xs, bias, pre.numpy(), ahead, h.numpy(), c.numpy())
    peep = _peepholes(w_ch, hidden)
    _run_rows(kernels.lstm_rows, batch, *args, out.numpy(), peep, _valid(mask, batch), reverse)
    return out, h, c  # (T, B, H), (B, H), (B, H)


def gru(
    x: Tensor,
    h0: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b: Tensor | None,
    mask: Tensor | None,
    reverse: bool = False,
) -> tuple[Tensor, Tensor]:
    """Run the original GRU (reset gate before the product) over ``x``; ``b`` is
    b_ih + b_hh; ``reverse``: from the last step to the first.

    Returns ``(out, c<T>)``, ``out`` zero where ``mask`` is false.

    Shape:
        x: (T, B, E), h0: (B, H), mask: (T, B, 1) -> out (T, B, H), (B, H)
    """
    kernels = _compiled()
    steps, batch, hidden = x.shape[0], x.shape[1], h0.shape[-1]
    two = 2 * hidden
    w_x, xs, bias, pre, ahead = _step_inputs(x, w_ih, b, hidden, keep=False)
    h = h0.detach().clone(memory_format=torch.contiguous_format)  # (B, H), updated in place
    out = x.new_empty(steps, batch, hidden)
    rh = np.empty(h.shape, np.float32)  # (B, H): Γr ⊙ c<t-1>
    zs = np.empty(h.shape, np.float32)  # (B, H): z
    weights = _operands(batch, w_x, _transposed(w_hh[:two]), _transposed(w_hh[two:]))
    args = (*weights, xs, bias, pre.numpy(), ahead, h.numpy(), rh, zs, out.numpy())
    _run_rows(kernels.gru_rows, batch, *args, _valid(mask, batch), reverse)
    return out, h  # (T, B, H), (B, H)


def _peepholes(w_ch: Tensor | None, hidden: int) -> np.ndarray:
    """(3, H): [p_i; p_f; p_o], or (0, H) without peepholes."""
    if w_ch is None:
        return np.zeros((0, hidden), np.float32)
    return w_ch.detach().reshape(3, hidden).contiguous().numpy()


def lstm_train(
    x: Tensor,
    h0: Tensor,
    c0: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b: Tensor | None,
    w_ch: Tensor | None,
    mask: Tensor | None,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The LSTM's training forward (peepholes if ``w_ch``; ``b`` is b_ih + b_hh), keeping
    what :func:`lstm_grads` needs: every state, cell, gate activation and tanh(c<t>).

    Shape:
        x: (T, B, E), h0/c0: (B, H) -> a (T+1, B, H), c (T+1, B, H), gates [Γu, Γf, c̃, Γo]
        (T, B, 4H), tanh(c) (T, B, H)
    """
    kernels = _compiled()
    steps, batch, hidden = x.shape[0], x.shape[1], h0.shape[-1]
    w_x, xs, bias, gates, ahead = _step_inputs(x, w_ih, b, hidden, keep=True)
    h = x.new_empty(steps + 1, batch, hidden)
    c = x.new_empty(steps + 1, batch, hidden)
    h[0], c[0] = h0.detach(), c0.detach()
    tanh_c = x.new_empty(steps, batch, hidden)
    args = (*_operands(batch, w_x, _transposed(w_hh)), xs, bias, ahead)
    arrays = (h.numpy(), c.numpy(), gates.numpy(), tanh_c.numpy())
    peep = _peepholes(w_ch, hidden)
    _run_rows(kernels.lstm_train_rows, batch, *args, *arrays, peep, _valid(mask, batch))
    return h, c, gates, tanh_c


def lstm_grads(
    w_hh: Tensor,
    gates: Tensor,
    tanh_c: Tensor,
    c: Tensor,
    w_ch: Tensor | None,
    mask: Tensor | None,
    d_out: Tensor | None,
    d_hn: Tensor | None,
    d_cn: Tensor | None,
) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
    """Backward through time of :func:`lstm_train`: the pre-activations' gradients, those
    of a<0> and c<0>, and the peepholes' (None without).

    Shape:
        gates: (T, B, 4H), tanh_c: (T, B, H), c: (T+1, B, H), d_out: (T, B, H),
        d_hn/d_cn: (B, H) -> d pre (T, B, 4H), (B, H), (B, H), (3H,)
    """
    kernels = _compiled()
    batch, hidden = tanh_c.shape[1:]
    dh = c.new_zeros(batch, hidden) if d_hn is None else d_hn.contiguous().clone()
    dc = c.new_zeros(batch, hidden) if d_cn is None else d_cn.contiguous().clone()
    grads_out = _grads_out(d_out, mask, batch, hidden)
    dpre = gates.new_empty(gates.shape)
    acc = np.zeros((3 if w_ch is not None else 0, batch, hidden), np.float32)
    arrays = (gates.numpy(), tanh_c.numpy(), c.numpy(), _peepholes(w_ch, hidden))
    outs = (grads_out, dh.numpy(), dc.numpy(), dpre.numpy(), acc)
    weights = _operands(batch, w_hh.detach().numpy())
    _run_rows(kernels.lstm_grad_rows, batch, *weights, *arrays, _valid(mask, batch), *outs)
    d_wch = None if w_ch is None else torch.from_numpy(acc.sum(1).reshape(-1))
    return dpre, dh, dc, d_wch


def _grads_out(d_out: Tensor | None, mask: Tensor | None, batch: int, hidden: int) -> np.ndarray:
    """dL/d out as the backward loops read it: zero where not valid; (0, B, H) for none."""
    if d_out is None:
        return np.zeros((0, batch, hidden), np.float32)
    d = d_out.detach().numpy()  # NumPy's ops: on this thread (see the module's doc)
    return np.ascontiguousarray(d if mask is None else d * mask.detach().numpy())


def gru_train(
    x: Tensor, h0: Tensor, w_ih: Tensor, w_hh: Tensor, b: Tensor | None, mask: Tensor | None
) -> tuple[Tensor, Tensor, Tensor]:
    """The original GRU's training forward (``b`` is b_ih + b_hh), keeping what
    :func:`gru_grads` needs.

    Shape:
        x: (T, B, E), h0: (B, H) -> c (T+1, B, H), gates [Γr, z, c̃] (T, B, 3H),
        Γr ⊙ c<t-1> (T, B, H)
    """
    kernels = _compiled()
    steps, batch, hidden = x.shape[0], x.shape[1], h0.shape[-1]
    two = 2 * hidden
    w_x, xs, bias, gates, ahead = _step_inputs(x, w_ih, b, hidden, keep=True)
    h = x.new_empty(steps + 1, batch, hidden)
    h[0] = h0.detach()
    rh = x.new_empty(steps, batch, hidden)
    weights = _operands(batch, w_x, _transposed(w_hh[:two]), _transposed(w_hh[two:]))
    args = (xs, bias, ahead, h.numpy(), gates.numpy(), rh.numpy())
    _run_rows(kernels.gru_train_rows, batch, *weights, *args, _valid(mask, batch))
    return h, gates, rh


def gru_grads(
    w_hh: Tensor,
    gates: Tensor,
    h: Tensor,
    mask: Tensor | None,
    d_out: Tensor | None,
    d_hn: Tensor | None,
) -> tuple[Tensor, Tensor]:
    """Backward through time of :func:`gru_train`: the pre-activations' gradients and
    that of c<0>.

    Shape:
        gates: (T, B, 3H), h: (T+1, B, H), d_out: (T, B, H), d_hn: (B, H) ->
        d pre (T, B, 3H), (B, H)
    """
    kernels = _compiled()
    batch, hidden = h.shape[1:]
    dh = h.new_zeros(batch, hidden) if d_hn is None else d_hn.contiguous().clone()
    dpre = gates.new_empty(gates.shape)
    drh = np.empty((batch, hidden), np.float32)
    grads_out = _grads_out(d_out, mask, batch, hidden)
    arrays = (gates.numpy(), h.numpy(), _valid(mask, batch), grads_out, dh.numpy(), drh)
    w = w_hh.detach().numpy()  # (3H, H)
    hidden2 = 2 * hidden
    weights = _operands(batch, w[:hidden2], w[hidden2:])
    _run_rows(kernels.gru_grad_rows, batch, *weights, *arrays, dpre.numpy())
    return dpre, dh


def _gru_after_biases(
    b_ih: Tensor | None, b_hh: Tensor | None, hidden: int
) -> tuple[Tensor, np.ndarray]:
    """torch's GRU's biases as its loops take them: b_ih + b_hh with b_hn left out (r
    multiplies it), for :func:`_step_inputs`, and b_hn alone.  (3H,), (3H,) -> (3H,), (H,)"""
    two = 2 * hidden
    b = torch.zeros(3 * hidden)  # (3H,)
    if b_ih is not None:
        b += b_ih.detach()
    if b_hh is None:
        return b, np.zeros(hidden, np.float32)
    b[:two] += b_hh[:two].detach()
    return b, np.ascontiguousarray(b_hh[two:].detach().numpy())


def gru_after(
    x: Tensor,
    h0: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None,
    b_hh: Tensor | None,
    mask: Tensor | None,
    reverse: bool = False,
) -> tuple[Tensor, Tensor]:
    """Run torch's GRU (the reset gate after the product) over ``x``; ``reverse``: from the
    last step to the first.

    Returns ``(out, h<T>)``, ``out`` zero where ``mask`` is false.

    Shape:
        x: (T, B, E), h0: (B, H), mask: (T, B, 1) -> out (T, B, H), (B, H)
    """
    kernels = _compiled()
    steps, batch, hidden = x.shape[0], x.shape[1], h0.shape[-1]
    b, b_hn = _gru_after_biases(b_ih, b_hh, hidden)
    w_x, xs, bias, pre, ahead = _step_inputs(x, w_ih, b, hidden, keep=False)
    h = h0.detach().clone(memory_format=torch.contiguous_format)  # (B, H), updated in place
    out = x.new_empty(steps, batch, hidden)
    hp = np.empty((batch, 3 * hidden), np.float32)  # (B, 3H): h<t-1> W_hh^T
    weights = _operands(batch, w_x, _transposed(w_hh))
    args = (*weights, xs, bias, b_hn, pre.numpy(), ahead, hp, h.numpy(), out.numpy())
    _run_rows(kernels.gru_after_rows, batch, *args, _valid(mask, batch), reverse)
    return out, h  # (T, B, H), (B, H)


def gru_after_train(
    x: Tensor,
    h0: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None,
    b_hh: Tensor | None,
    mask: Tensor | None,
) -> tuple[Tensor, Tensor, Tensor]:
    """torch's GRU's training forward, keeping what :func:`gru_after_grads` needs.

    Shape:
        x: (T, B, E), h0: (B, H) -> h (T+1, B, H), gates [r, z, n] (T, B, 3H),
        W_hn h<t-1> + b_hn (T, B, H)
    """
    kernels = _compiled()
    steps, batch, hidden = x.shape[0], x.shape[1], h0.shape[-1]
    b, b_hn = _gru_after_biases(b_ih, b_hh, hidden)
    w_x, xs, bias, gates, ahead = _step_inputs(x, w_ih, b, hidden, keep=True)
    h = x.new_empty(steps + 1, batch, hidden)
    h[0] = h0.detach()
    hns = x.new_empty(steps, batch, hidden)
    hp = np.empty((batch, 3 * hidden), np.float32)  # (B, 3H): h<t-1> W_hh^T
    weights = _operands(batch, w_x, _transposed(w_hh))
    args = (xs, bias, b_hn, ahead, hp, h.numpy(), gates.numpy(), hns.numpy())
    _run_rows(kernels.gru_after_train_rows, batch, *weights, *args, _valid(mask, batch))
    return h, gates, hns


def gru_after_grads(
    w_hh: Tensor,
    gates: Tensor,
    hns: Tensor,
    h: Tensor,
    mask: Tensor | None,
    d_out: Tensor | None,
    d_hn: Tensor | None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Backward through time of :func:`gru_after_train`: the gradients of the input side's
    pre-activations (W_ih x + b_ih), of the recurrent side's (W_hh h + b_hh), and of h<0>.

    Shape:
        gates: (T, B, 3H), hns: (T, B, H), h: (T+1, B, H), d_out: (T, B, H),
        d_hn: (B, H) -> (T, B, 3H), (T, B, 3H), (B, H)
    """
    kernels = _compiled()
    batch, hidden = h.shape[1:]
    dh = h.new_zeros(batch, hidden) if d_hn is None else d_hn.contiguous().clone()
    dxp, dhp = gates.new_empty(gates.shape), gates.new_empty(gates.shape)
    grads_out = _grads_out(d_out, mask, batch, hidden)
    arrays = (gates.numpy(), hns.numpy(), h.numpy(), _valid(mask, batch), grads_out)
    weights = _operands(batch, w_hh.detach().numpy())
    _run_rows(kernels.gru_after_grad_rows, batch, *weights, *arrays, dh.numpy(),
              dxp.numpy(), dhp.numpy())  # fmt: skip
    return dxp, dhp, dh
