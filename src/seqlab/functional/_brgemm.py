"""oneDNN's batch-reduce GEMM micro-kernel (brgemm), as torch ships it, callable from numba.

torch's own fused LSTM (oneDNN's RNN primitive) runs its recurrent products with oneDNN's
brgemm: a JIT-compiled, single-threaded kernel for one small product ``C (+)= A B``, called
from inside the loop over time steps with nothing around it. torch exports the float32
kernel from ``libtorch_cpu`` as ``at::native::cpublas::brgemm`` (the ukernel its CPU
attention and compiler templates use). Called from a numba loop, it lets the course's cells
run their whole sequence in compiled code (:mod:`seqlab.functional._cell_kernels`): a GEMM
and the gate math per step, with no Python, no operator dispatch and no per-call descriptor
lookup between steps (a oneDNN ``linear`` call costs ≈ 15 µs before any arithmetic).

The symbol's C++ name encodes its parameter types, so a torch whose signature differs, or an older
one without it, does not match, and the callers fall back to torch ops. Where
oneDNN's ukernel is not built or the CPU lacks AVX2, torch's function itself falls back to its
BLAS ``gemm``: same results, no brgemm speed. A one-time self check compares the kernel with
NumPy on small products (plain and accumulating, strided operands) before the first use;
``SEQLAB_BRGEMM=0`` turns the path off.

``C`` is row-major ``M x N`` with row stride ``ld_c``, ``A`` row-major ``M x K`` (``ld_a``),
``B`` row-major ``K x N`` (``ld_b``); ``add_c`` accumulates into ``C``. All addresses and
sizes are int64 (the flags too: a 0/1 in a 64-bit register is a valid ``bool`` argument).
"""

from __future__ import annotations

import ctypes
import functools
import os

import numpy as np

__all__ = ["NAME", "available", "check_problem"]

# at::native::cpublas::brgemm(int64 M, N, K, ld_a, ld_b, ld_c, bool add_C,
#                             const float* A, const float* B, float* C, bool is_vnni)
_SYMBOL = "_ZN2at6native7cpublas6brgemmEllllllbPKfS3_Pfb"
NAME = "seqlab_brgemm_f32"  # the name numba's compiled code calls it by


@functools.cache
def _function() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    """torch's float32 brgemm through ctypes, or None where this torch has none."""
    import torch

    path = os.path.join(os.path.dirname(torch.__file__), "lib", "libtorch_cpu.so")
    try:
        fn = getattr(ctypes.CDLL(path), _SYMBOL)
    except (OSError, AttributeError):
        return None
    fn.restype = None
    fn.argtypes = [ctypes.c_int64] * 11
    return fn


def check_problem() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The product the GEMM self checks (here and in :mod:`seqlab.functional._mkl`) run:
    A (5, 20) of which 16 columns are read, B (16, 30) of which 24 columns are read, C zeros
    (5, 40) of which 24 columns may be written, and A B in float64 (5, 24)."""
    rng = np.random.default_rng(0)
    m, n, k = 5, 24, 16
    a = rng.standard_normal((m, 20)).astype(np.float32)
    b = rng.standard_normal((k, 30)).astype(np.float32)
    c = np.zeros((m, 40), np.float32)
    return a, b, c, a[:, :k].astype(np.float64) @ b[:, :n].astype(np.float64)


def _agrees(fn: ctypes._CFuncPtr) -> bool:  # type: ignore[name-defined]
    """The kernel against float64 NumPy: C = A B, then C += A B, on strided operands."""
    a, b, c, want = check_problem()
    (m, n), k = want.shape, 16
    ld_a, ld_b, ld_c = a.shape[1], b.shape[1], c.shape[1]
    ptr = [x.ctypes.data for x in (a, b, c)]
    fn(m, n, k, ld_a, ld_b, ld_c, 0, *ptr, 0)
    first = np.abs(c[:, :n] - want).max() <= 1e-4 and not c[:, n:].any()
    fn(m, n, k, ld_a, ld_b, ld_c, 1, *ptr, 0)
    return bool(first and np.abs(c[:, :n] - 2 * want).max() <= 2e-4 and not c[:, n:].any())


@functools.cache
def available() -> bool:
    """True where torch's float32 brgemm is found and sane; it is then registered with
    LLVM as :data:`NAME` for numba's compiled code (once per process)."""
    if os.environ.get("SEQLAB_BRGEMM", "1") == "0":
        return False
    fn = _function()
    if fn is None or not _agrees(fn):
        return False
    import llvmlite.binding

    llvmlite.binding.add_symbol(NAME, ctypes.cast(fn, ctypes.c_void_p).value)
    return True
