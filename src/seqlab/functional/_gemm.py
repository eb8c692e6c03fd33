"""Matrix products for the BPTT kernels, on the fastest CPU GEMM torch ships.

On CPU, torch's ``addmm`` goes through MKL, which on some processors (AMD EPYC among them,
the machines seqlab is developed on) runs these skinny products slower than oneDNN, the
library torch's own fused LSTM uses (1 thread, B=64, 1024 x 384 weight: 542 vs 464 µs).
For float32 CPU tensors these helpers call oneDNN through
``torch.ops.mkldnn._linear_pointwise`` (the op torch's compiler uses for linear layers),
with the recurrent weight reordered once per sequence and the activation that follows a
product run inside it as a post-op (:class:`Weight`). The weight gradients, one large
product per sequence, use torch's GEMM (:func:`grad_weight`). Everything else (float64,
CUDA, a torch build without oneDNN) uses ordinary ``torch.addmm``, and so do products below
:data:`ONEDNN_MIN_MACS` multiply-adds, where oneDNN's fixed cost per call outweighs its
faster arithmetic (a fixed size rule, never a timing). A one-time self check compares both
on a small product and falls back to ``addmm`` if the op is missing or disagrees;
``SEQLAB_GEMM=torch`` forces the fallback.

While torch.compile, torch.export or torch.jit.trace records the computation (or the tensor
is a fake or otherwise wrapped one), the oneDNN path is off: its ops have no lowering, no
export schema and no ONNX symbol, and the self check must not run on fake tensors (its
cached verdict would then be wrong for the whole process). See :func:`tracing`.
"""

from __future__ import annotations

import functools
import os
from typing import Any, Literal

import torch
from torch import Tensor

__all__ = ["Activation", "Weight", "grad_weight", "linear", "onednn_enabled", "tracing"]


def tracing(t: Tensor | None = None) -> bool:
    """True while the computation is being recorded rather than run.

    That is: torch.compile (Dynamo) or torch.export is tracing, torch.jit.trace is (as
    ``torch.onnx.export(dynamo=False)`` does), or ``t`` is not a plain tensor (a
    ``FakeTensor`` or another tensor subclass, as non-strict export and other tracers pass).
    """
    if torch.compiler.is_compiling() or torch.jit.is_tracing():
        return True
    return t is not None and type(t) is not Tensor and not isinstance(t, torch.nn.Parameter)


@functools.cache
def _onednn_works() -> bool:
    """Check once, on small products of the shapes used here, that oneDNN agrees with addmm."""
    if os.environ.get("SEQLAB_GEMM", "").lower() == "torch":
        return False
    try:
        if not torch.backends.mkldnn.is_available():
            return False
        with torch.autocast("cpu", enabled=False):  # addmm would run in bfloat16 under it
            return _onednn_agrees()
    except (AttributeError, RuntimeError):
        return False


def _onednn_agrees() -> bool:
    """Compare oneDNN with addmm on small products of the shapes used here."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(12, 16, generator=g)  # (N, in)
    w = torch.randn(24, 16, generator=g)  # (out, in)
    b = torch.randn(24, generator=g)
    dy = torch.randn(12, 24, generator=g)  # (N, out)
    checks = [
        (_onednn_packed(x, w, b, 12), torch.addmm(b, x, w.t())),
        (_onednn_linear(x, w, None), x @ w.t()),
        (_onednn_linear(dy, w.t(), None), dy @ w),
        (_onednn_packed(x, w, b, 12, "sigmoid"), torch.addmm(b, x, w.t()).sigmoid()),
        (_onednn_packed(x, w, b, 12, "tanh"), torch.addmm(b, x, w.t()).tanh()),
    ]
    return all(torch.allclose(a, e, rtol=1e-4, atol=1e-4) for a, e in checks)


def _onednn_linear(x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
    return torch.ops.mkldnn._linear_pointwise(x, w, b, "none", [], "")


def _onednn_packed(x: Tensor, w: Tensor, b: Tensor | None, rows: int, act: str = "none") -> Tensor:
    packed = torch.ops.mkldnn._reorder_linear_weight(w.contiguous(), rows)
    return torch.ops.mkldnn._linear_pointwise(x, packed, b, act, [], "")


# The smallest product (rows x out x in multiply-adds) worth a oneDNN call. A oneDNN linear
# call costs ≈ 15 µs before any arithmetic (ideep's descriptors and primitive-cache lookup)
# where addmm costs ≈ 4 µs, and reordering a weight ≈ 110-210 µs per sequence; oneDNN's
# kernels are 10-15% faster than MKL's on the AMD EPYC measured. Measured there, 1 thread:
# 0.1 M multiply-adds (B=8, H=32) oneDNN 16.6 µs vs addmm 5.0 µs; 3.1 M (B=32, H=128) 75
# vs 74 µs; 25 M (B=64, H=256) 464 vs 542 µs. Below the threshold the products use addmm.
ONEDNN_MIN_MACS = 4_000_000


def onednn_enabled(t: Tensor, macs: int | None = None) -> bool:
    """True where the oneDNN path serves ``t`` (float32 on CPU, oneDNN present and sane,
    the computation run rather than traced), for products of ``macs`` multiply-adds
    (at least :data:`ONEDNN_MIN_MACS`; ``None``: any size)."""
    return (
        t.device.type == "cpu"
        and t.dtype == torch.float32
        and (macs is None or macs >= ONEDNN_MIN_MACS)
        and not tracing(t)
        and _onednn_works()
    )


_LINEAR: Any = None  # the op's resolved overload: a few µs less per call than the packet
try:
    _LINEAR = torch.ops.mkldnn._linear_pointwise.default
except (AttributeError, RuntimeError):  # a build without it: _onednn_works() is then False
    pass

Activation = Literal["none", "sigmoid", "tanh", "relu"]
_ACTIVATIONS = {"sigmoid": torch.sigmoid_, "tanh": torch.tanh_, "relu": torch.relu_}


class Weight:
    """A weight ``W`` (out, in) prepared for many products ``act(x W^T + b)`` with ``x`` of
    ``rows`` rows.

    ``act`` is applied inside the GEMM on the oneDNN path (a post-op: no second pass over
    the output, no extra op dispatched); elsewhere by torch after the product.
    """

    def __init__(self, w: Tensor, rows: int, act: Activation = "none") -> None:
        self.w = w
        self.act = act
        self.fast = onednn_enabled(w, rows * w.shape[0] * w.shape[1])
        self.packed = (
            torch.ops.mkldnn._reorder_linear_weight(w.contiguous(), rows) if self.fast else w
        )

    def __call__(self, x: Tensor, b: Tensor | None = None) -> Tensor:
        """act(x W^T + b).  (N, in) -> (N, out)"""
        if self.fast:
            # a strided input makes oneDNN build a new primitive per call: copy it instead
            return _LINEAR(x.contiguous(), self.packed, b, self.act, [], "")
        y = torch.mm(x, self.w.t()) if b is None else torch.addmm(b, x, self.w.t())
        return y if self.act == "none" else _ACTIVATIONS[self.act](y)


def linear(x: Tensor, w: Tensor, b: Tensor | None = None) -> Tensor:
    """x W^T + b for a one-off product.  (N, in) x (out, in) -> (N, out)"""
    if onednn_enabled(x, x.shape[0] * w.shape[0] * w.shape[1]):
        return _onednn_linear(x, w, b)
    return torch.mm(x, w.t()) if b is None else torch.addmm(b, x, w.t())


def grad_weight(dy: Tensor, x: Tensor) -> Tensor:
    """sum_n dy_n^T x_n, the gradient of a weight W in y = x W^T.  (N, out), (N, in) -> (out, in)

    Always torch's GEMM: this is one large product (the reduction runs over every step and
    sequence), where MKL and oneDNN run equally fast, and MKL reads the transposed, strided
    operands in place where oneDNN needs transposed copies of both (measured: the original
    GRU's backward 10% faster, the LSTM's unchanged).
    """
    return torch.mm(dy.t(), x)
