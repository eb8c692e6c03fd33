"""The float32 CPU inference loop of the LSTM, on a fused elementwise step.

Per time step: one oneDNN GEMM ``W [a<t-1>, x<t>] + b`` on the joint input
``[a<t-1>, x<t>]`` (as :mod:`seqlab.functional._inference`), then one call of the numba
kernel :func:`seqlab.functional._cell_kernels.lstm_step`, which does the whole elementwise
part (gates, peepholes, cell update, output) in one vectorised loop instead of about ten
torch ops, and writes ``[a<t>, x<t+1>]`` into the other of two rows, where the next GEMM
reads it (no (T+1, B, H+E) buffer to allocate and fill per sequence).

Used where the tensors are float32 on the CPU, run rather than traced, and numba imports;
``SEQLAB_FUSED=0`` turns it off (the torch-op loop of ``_inference`` then runs, as it does for
float64 and CUDA). numba is imported on first use.
"""

from __future__ import annotations

import functools
import os
from types import ModuleType

import numpy as np
import torch
from torch import Tensor

from seqlab.functional._gemm import Weight, tracing

__all__ = ["lstm", "usable"]


@functools.cache
def _kernels() -> ModuleType | None:
    """The numba module, imported (and its kernels compiled or loaded) on first use."""
    try:
        from seqlab.functional import _cell_kernels
    except ImportError:  # numba missing or broken: the torch-op loop serves
        return None
    return _cell_kernels


def usable(x: Tensor, *others: Tensor | None) -> bool:
    """True where the fused step serves ``x`` and the ``others`` (states, weights): all
    float32 on the CPU, run rather than traced."""
    tensors = [t for t in (x, *others) if t is not None]
    return (
        all(t.device.type == "cpu" and t.dtype == torch.float32 for t in tensors)
        and not tracing(x)
        and os.environ.get("SEQLAB_FUSED", "1") != "0"
        and _kernels() is not None
    )


def lstm(
    x: Tensor,
    h0: Tensor,
    c0: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b: Tensor | None,
    w_ch: Tensor | None,
    mask: Tensor | None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Run the LSTM (peepholes if ``w_ch``) over ``x``; ``b`` is b_ih + b_hh.

    Returns ``(out, a<T>, c<T>)``, ``out`` zero where ``mask`` is false.

    Shape:
        x: (T, B, E), h0/c0: (B, H), mask: (T, B, 1) -> out (T, B, H), (B, H), (B, H)
    """
    kernels = _kernels()
    if kernels is None:
        raise RuntimeError("the fused LSTM step needs numba (check usable() first)")
    steps, batch = x.shape[0], x.shape[1]
    hidden = c0.shape[-1]
    gemm = Weight(torch.cat([w_hh, w_ih], dim=1), batch)  # (4H, H+E): W [a, x]
    x = x.contiguous()
    z = x.new_empty(2, batch, hidden + x.shape[-1])  # (2, B, H+E): [a<t-1>, x<t>], in turn
    z[0, :, :hidden] = h0
    z[0, :, hidden:] = x[0]
    out = x.new_empty(steps, batch, hidden)  # (T, B, H)
    c = c0.detach().clone(memory_format=torch.contiguous_format)  # (B, H), updated in place
    peep = (
        np.zeros((0, hidden), np.float32)
        if w_ch is None
        else w_ch.detach().reshape(3, hidden).contiguous().numpy()
    )  # (3, H): [p_i; p_f; p_o]
    bias = (
        np.zeros((4, hidden), np.float32)
        if b is None
        else b.detach().reshape(4, hidden).contiguous().numpy()
    )  # (4, H): added in the kernel (a bias post-op in the GEMM costs more, ≈ 5 µs a step)
    valid = (
        np.zeros((0, batch), np.bool_) if mask is None else mask[..., 0].contiguous().numpy()
    )  # (T, B)
    zn, xn, cn, outn = z.numpy(), x.numpy(), c.numpy(), out.numpy()
    # one thread: numba's OpenMP runtime is not torch's (two thread teams would contend for
    # the cores between the GEMM and the step); torch's own elementwise ops below 32k
    # elements run on one thread too
    step = kernels.lstm_step
    for t in range(steps):
        pre = gemm(z[t % 2])  # (B, 4H): W_hh a<t-1> + W_ih x<t>
        gates = pre.view(batch, 4, hidden).numpy()  # (B, 4, H): [i, f, g, o]
        step(gates, bias, cn, zn, xn, outn, t, peep, valid)
    return out, z[steps % 2, :, :hidden].clone(), c  # (T, B, H), (B, H), (B, H)
