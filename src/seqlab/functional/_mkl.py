"""MKL's packed GEMM, as torch ships it, callable from numba: the recurrent loops' products on
Intel CPUs.

A recurrent layer multiplies by the same weight at every step. MKL's packed interface is made
for that: ``cblas_sgemm_pack`` copies the weight once into the layout its kernel reads, and
``cblas_sgemm_compute`` then runs each step's product from it. On a 2-core Intel Xeon (1
thread, the step's product of 64 rows by a 256 × 1024 weight) it runs at 216 GFLOP/s, near
the core's peak, where oneDNN's brgemm (:mod:`seqlab.functional._brgemm`) runs at 173; with
the 128 × 1024 input weight, 205 against 165. On AMD EPYC torch's MKL ran these skinny
products slower than oneDNN (see :mod:`seqlab.functional._gemm`), so the loops use MKL on
Intel CPUs only (:func:`preferred`), a fixed rule: a machine always takes the same path, so
its runs give the same bits.

torch links MKL into ``libtorch_cpu`` and exports its C interface; a torch without it (an
ARM build) has no such symbols and the loops keep brgemm. A one-time self check compares
pack and compute with NumPy (plain and accumulating, strided operands) before the first use.
``SEQLAB_MKL=0`` turns the path off, ``SEQLAB_MKL=1`` turns it on on any CPU.

Each loop sets MKL to one thread on its own thread (``MKL_Set_Num_Threads_Local``) while it
runs, as the loops split the batch among threads themselves, and MKL's result for a row
then depends on nothing but that row (checked by the tests: the same bits at any thread
count).
"""

from __future__ import annotations

import ctypes
import functools
import os
import threading

import numpy as np

__all__ = ["COMPUTE", "THREADS", "available", "pack", "preferred", "register"]

COMPUTE = "seqlab_mkl_sgemm_compute"  # the names numba's compiled code calls them by
THREADS = "seqlab_mkl_threads_local"

# CBLAS constants (mkl_cblas.h)
ROW_MAJOR, NO_TRANS, TRANS, PACKED, B_MATRIX = 101, 111, 112, 151, 162


@functools.cache
def _library() -> ctypes.CDLL | None:
    """libtorch_cpu with MKL's packed GEMM in it, or None."""
    import torch

    path = os.path.join(os.path.dirname(torch.__file__), "lib", "libtorch_cpu.so")
    try:
        lib = ctypes.CDLL(path)
        for name in ("cblas_sgemm_compute", "cblas_sgemm_pack", "cblas_sgemm_pack_get_size"):
            getattr(lib, name)
        lib.MKL_Set_Num_Threads_Local  # noqa: B018 (looked up: raises AttributeError if absent)
    except (OSError, AttributeError):
        return None
    lib.cblas_sgemm_pack_get_size.restype = ctypes.c_size_t
    lib.cblas_sgemm_pack_get_size.argtypes = [ctypes.c_int] * 4
    lib.cblas_sgemm_pack.restype = None
    lib.cblas_sgemm_pack.argtypes = [ctypes.c_int] * 6 + [
        ctypes.c_float, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p
    ]  # fmt: skip
    lib.cblas_sgemm_compute.restype = None
    lib.cblas_sgemm_compute.argtypes = [ctypes.c_int] * 6 + [
        ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_float,
        ctypes.c_void_p, ctypes.c_int,
    ]  # fmt: skip
    lib.MKL_Set_Num_Threads_Local.restype = ctypes.c_int
    lib.MKL_Set_Num_Threads_Local.argtypes = [ctypes.c_int]
    return lib


_BUFFERS = threading.local()  # per thread: slot -> the float32 array packed weights go in


def pack(w: np.ndarray, rows: int, slot: int) -> np.ndarray:
    """``w`` (K, N) float32, row-major or the transpose of a row-major (N, K) array (as
    ``W.T`` of a weight torch stores (N, K)), packed as the B operand of products with
    ``rows`` rows, into this thread's buffer number ``slot`` (reused by the next call with
    that slot: a call keeps each operand it packs in a slot of its own).  (K, N) -> (S,)"""
    lib = _library()
    assert lib is not None, "pack() needs available()"
    k, n = w.shape
    if w.strides[1] == 4:  # rows of K contiguous
        trans, ld = NO_TRANS, w.strides[0] // 4
    elif w.strides[0] == 4:  # W.T: W (N, K) has contiguous rows
        trans, ld = TRANS, w.strides[1] // 4
    else:
        w, trans, ld = np.ascontiguousarray(w), NO_TRANS, n
    size = lib.cblas_sgemm_pack_get_size(B_MATRIX, rows, n, k) // 4 + 1
    buffers = _BUFFERS.__dict__.setdefault("slots", {})
    if slot not in buffers or buffers[slot].shape[0] < size:
        buffers[slot] = np.empty(size, np.float32)  # kept: a fresh one costs page faults
    out = buffers[slot]
    before = lib.MKL_Set_Num_Threads_Local(1)  # on OpenMP threads, they would then spin
    try:  # beside the loop's threads, taking a core from one
        lib.cblas_sgemm_pack(
            ROW_MAJOR, B_MATRIX, trans, rows, n, k, 1.0, w.ctypes.data, ld, out.ctypes.data
        )
    finally:
        lib.MKL_Set_Num_Threads_Local(before)
    return out


def _agrees(lib: ctypes.CDLL) -> bool:
    """Pack and compute against float64 NumPy (:func:`~seqlab.functional._brgemm.check_problem`):
    C = A B from a strided B, then C += A B from a transposed one, strided A and C."""
    from seqlab.functional._brgemm import check_problem

    a, b, c, want = check_problem()
    (m, n), k = want.shape, b.shape[0]
    strided, transposed = b[:, :n], np.ascontiguousarray(b[:, :n].T).T  # (K, N) both
    before = lib.MKL_Set_Num_Threads_Local(1)
    try:
        for beta, packed in ((0.0, pack(strided, m, slot=-1)), (1.0, pack(transposed, m, -2))):
            lib.cblas_sgemm_compute(
                ROW_MAJOR, NO_TRANS, PACKED, m, n, k, a.ctypes.data, a.shape[1],
                packed.ctypes.data, n, beta, c.ctypes.data, c.shape[1],
            )  # fmt: skip
            if np.abs(c[:, :n] - (1 + beta) * want).max() > 2e-4 or c[:, n:].any():
                return False
    finally:
        lib.MKL_Set_Num_Threads_Local(before)
    return True


@functools.cache
def available() -> bool:
    """True where torch ships MKL's packed GEMM and it agrees with NumPy."""
    if os.environ.get("SEQLAB_MKL", "") == "0":
        return False
    lib = _library()
    return lib is not None and _agrees(lib)


def _intel() -> bool:
    """True on an Intel CPU (``GenuineIntel`` in /proc/cpuinfo; False where unknown)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            return any(line.startswith("vendor_id") and "GenuineIntel" in line for line in f)
    except OSError:
        return False


@functools.cache
def preferred() -> bool:
    """True where the loops use MKL: available, on an Intel CPU or with ``SEQLAB_MKL=1``."""
    return available() and (os.environ.get("SEQLAB_MKL", "") == "1" or _intel())


# Stand-ins that numba's code links against where torch has no MKL (never called then: the
# loops call MKL only where preferred() said so).
_COMPUTE_STUB = ctypes.CFUNCTYPE(None, *([ctypes.c_int] * 6), ctypes.c_void_p, ctypes.c_int,
                                 ctypes.c_void_p, ctypes.c_int, ctypes.c_float,
                                 ctypes.c_void_p, ctypes.c_int)(lambda *_: None)  # fmt: skip
_THREADS_STUB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int)(lambda _: 0)


@functools.cache
def register() -> None:
    """Register :data:`COMPUTE` and :data:`THREADS` with LLVM for numba's compiled code:
    MKL's functions where :func:`available`, else stand-ins (once per process)."""
    import llvmlite.binding

    lib = _library() if available() else None
    compute = lib.cblas_sgemm_compute if lib else _COMPUTE_STUB
    threads = lib.MKL_Set_Num_Threads_Local if lib else _THREADS_STUB
    for name, fn in ((COMPUTE, compute), (THREADS, threads)):
        llvmlite.binding.add_symbol(name, ctypes.cast(fn, ctypes.c_void_p).value)
