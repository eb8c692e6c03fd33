"""The course's LSTM (peepholes or not), its original GRU and torch's GRU over a whole
sequence, compiled: the float32 CPU loops (inference, training forward, backward through
time).

After its matrix product, an LSTM step is elementwise: three sigmoids, two tanh, the cell
update and the peepholes, about ten torch ops of (B, H) each, each a dispatch through
torch's operator machinery (≈ 5 µs) and a pass over memory, and every step's product is one
more oneDNN call (≈ 15 µs before any arithmetic). :func:`lstm_rows`, :func:`gru_rows` and
:func:`gru_after_rows` run the loop over time steps in numba: per step one single-threaded
GEMM call for the recurrent product (:func:`_mm`: MKL's packed GEMM on Intel CPUs,
:mod:`seqlab.functional._mkl`, else torch's brgemm kernel, :mod:`seqlab.functional._brgemm`,
the kernel oneDNN's own fused RNN uses) and one loop that LLVM vectorises for the host CPU
(AVX-512 or AVX2) for the gate math. They run a range of sequences (batch rows), so several
threads can run one batch with no synchronisation between steps (rows of a batch are independent).

LLVM did not vectorise two gate loops as first written: the original GRU's wrote z back
into the pre-activations (column H + j, H known at run time only) in a loop that read
column j, and torch's GRU's took its gate values as a tuple from a helper. Written as they
are now (z in a buffer of its own, the gate math in the loop), every gate loop here is
vectorised (checked in the assembly: packed divisions and multiply-adds); the original
GRU's inference took 30 ms a call before, 21 after (1 thread, T = 100, B = 64, H = 256).

tanh is a rational function, the approximation Eigen (and through it TensorFlow) uses for
float32 tanh: odd polynomial of degree 13 over even polynomial of degree 6 on the input
clamped to ±7.998 (where tanh rounds to ±1 in float32), only multiply-adds and one division,
which vectorise (libm's ``tanhf``/``expf`` do not: numba without Intel's SVML calls them once
per element). σ(x) = (1 + tanh(x/2)) / 2. Measured against float64 on 2·10⁶ points of
[−12, 12]: tanh within 2.6e-7, σ within 1.6e-7 (float32's spacing near 1 is 6e-8;
tests/test_recurrent_inference.py checks 4e-7 and 2.5e-7). NaN stays NaN. Only for float32:
float64 runs torch's ops.

Compiled on first use (≈ 2 s, then cached on disk by numba), so ``import seqlab`` does not
import numba.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types

from seqlab.functional._brgemm import NAME
from seqlab.functional._mkl import COMPUTE, THREADS

__all__ = [
    "gru_after_grad_rows",
    "gru_after_rows",
    "gru_after_train_rows",
    "gru_grad_rows",
    "gru_rows",
    "gru_train_rows",
    "lstm_grad_rows",
    "lstm_rows",
    "lstm_train_rows",
    "sigmoid",
    "tanh",
]

# Let LLVM use FMAs and reassociate, keep NaN/inf semantics.
_FAST = {"reassoc", "contract", "arcp", "nsz"}

_F = np.float32
_HALF = _F(0.5)
_ZERO = _F(0.0)
_ONE = _F(1.0)
_TWO = _F(2.0)
_CLAMP = _F(7.99881172180175781)  # tanh(x) rounds to ±1 in float32 beyond
# tanh(x) ≈ x·P(x²) / Q(x²) (Eigen's generic_fast_tanh_float coefficients)
_A1, _A3, _A5, _A7 = (
    _F(4.89352455891786e-03),
    _F(6.37261928875436e-04),
    _F(1.48572235717979e-05),
    _F(5.12229709037114e-08),
)
_A9, _A11, _A13 = _F(-8.60467152213735e-11), _F(2.00018790482477e-13), _F(-2.76076847742355e-16)
_B0, _B2, _B4, _B6 = (
    _F(4.89352518554385e-03),
    _F(2.26843463243900e-03),
    _F(1.18534705686654e-04),
    _F(1.19825839466702e-06),
)


@njit(nogil=True, fastmath=_FAST, error_model="numpy", cache=True, inline="always")
def _tanh(x: float) -> float:
    """tanh(x) = x P(x²) / Q(x²) on x clamped to ±7.998 (float32 in, float32 out)."""
    x = max(min(x, _CLAMP), -_CLAMP)  # one vminps and one vmaxps; NaN stays NaN
    x2 = x * x
    p = ((((((_A13 * x2 + _A11) * x2 + _A9) * x2 + _A7) * x2 + _A5) * x2 + _A3) * x2 + _A1) * x
    q = ((_B6 * x2 + _B4) * x2 + _B2) * x2 + _B0
    return p / q


@njit(nogil=True, fastmath=_FAST, error_model="numpy", cache=True, inline="always")
def _sigmoid(x: float) -> float:
    """σ(x) = (1 + tanh(x/2)) / 2."""
    return _HALF + _HALF * _tanh(_HALF * x)


@njit(nogil=True, fastmath=_FAST, error_model="numpy", cache=True)
def tanh(x: np.ndarray, out: np.ndarray) -> None:
    """out = tanh(x) elementwise, float32 (1-D arrays; for the tests)."""
    for k in range(x.shape[0]):
        out[k] = _tanh(x[k])


@njit(nogil=True, fastmath=_FAST, error_model="numpy", cache=True)
def sigmoid(x: np.ndarray, out: np.ndarray) -> None:
    """out = σ(x) elementwise, float32 (1-D arrays; for the tests)."""
    for k in range(x.shape[0]):
        out[k] = _sigmoid(x[k])


@njit(nogil=True, fastmath=_FAST, error_model="numpy", cache=True, inline="always")
def _pq(x: float) -> tuple[float, float]:
    """(P, Q) with tanh(x) = P / Q and Q > 0: :func:`_tanh` before its division."""
    x = max(min(x, _CLAMP), -_CLAMP)  # one vminps and one vmaxps; NaN stays NaN
    x2 = x * x
    p = ((((((_A13 * x2 + _A11) * x2 + _A9) * x2 + _A7) * x2 + _A5) * x2 + _A3) * x2 + _A1) * x
    q = ((_B6 * x2 + _B4) * x2 + _B2) * x2 + _B0
    return p, q


_I32, _I64 = types.int32, types.int64
# The products, C (+)= A B. seqlab.functional._brgemm and seqlab.functional._mkl register the
# names with LLVM before any function below is compiled or loaded from numba's cache.
# torch's float32 brgemm: B row-major (K, N)
_gemm = types.ExternalFunction(NAME, types.void(*([_I64] * 11)))
# MKL's cblas_sgemm_compute: B packed by cblas_sgemm_pack (seqlab.functional._mkl.pack)
_mkl_compute = types.ExternalFunction(
    COMPUTE, types.void(*([_I32] * 6), _I64, _I32, _I64, _I32, types.float32, _I64, _I32)
)
_mkl_threads = types.ExternalFunction(THREADS, types.int32(types.int32))


@njit(nogil=True, fastmath=_FAST, error_model="numpy", cache=True, inline="always")
def _mm(mkl, m, n, k, lda, ldb, ldc, add, a, b, c):  # type: ignore[no-untyped-def]
    """C (+= if ``add``) A B at addresses a, b, c: A (m, k) and C (m, n) row-major with row
    strides lda and ldc; B is the weight operand, packed by MKL where ``mkl`` (ldb unused),
    else row-major (k, n) with row stride ldb for torch's brgemm."""
    if mkl:
        beta = _ONE if add else _ZERO
        _mkl_compute(101, 111, 151, m, n, k, a, lda, b, ldb, beta, c, ldc)  # row-major, B packed
    else:
        _gemm(m, n, k, lda, ldb, ldc, add, a, b, c, 0)


@njit(nogil=True, fastmath=_FAST, error_model="numpy", cache=True, inline="always")
def _mkl_alone(mkl):  # type: ignore[no-untyped-def]
    """Where ``mkl``, MKL runs on this thread only (the loops split the batch themselves);
    returns the thread's previous setting, for :func:`_mkl_restore`."""
    return _mkl_threads(1) if mkl else 0


@njit(nogil=True, fastmath=_FAST, error_model="numpy", cache=True, inline="always")
def _mkl_restore(mkl, before):  # type: ignore[no-untyped-def]
    """Undo :func:`_mkl_alone` (0: the process-wide setting again)."""
    if mkl:
        _mkl_threads(before)


@njit(nogil=True, fastmath=_FAST, error_model="numpy", cache=True, inline="always")
def _step_input(w_x, mkl, x, pre, ahead, t, b0, b1):  # type: ignore[no-untyped-def]
    """Step t's pre-activations (B, G): ``pre[t]`` where the input projections of all steps
    were made ``ahead`` (``pre`` (T, B, G)); else ``pre[0]`` (``pre`` (1, B, G)) with rows
    b0..b1 set to x<t> W_ih^T here, in cache where the recurrent product and the gate math
    read them."""
    if ahead:
        return pre[t]
    p = pre[0]
    n, e = pre.shape[2], x.shape[2]
    xt = x[t]
    _mm(mkl, b1 - b0, n, e, e, n, n, False, xt[b0:].ctypes.data, w_x.ctypes.data,
        p[b0:].ctypes.data)  # fmt: skip
    return p


@njit(nogil=True, fastmath=_FAST, error_model="numpy", cache=True)
def lstm_rows(
    w_x: np.ndarray,  # W_ih^T (E, 4H), gate columns [i, f, g, o], as a B operand (see _mm)
    w_h: np.ndarray,  # W_hh^T (H, 4H) as a B operand
    mkl: bool,  # the operands are packed for MKL (else row-major for brgemm)
    x: np.ndarray,  # (T, B, E) float32 inputs
    bias: np.ndarray,  # (4H,) float32: b_ih + b_hh (zeros without biases)
    pre: np.ndarray,  # (T, B, 4H) float32: x<t> W_ih^T made ahead, or (1, B, 4H) scratch
    ahead: bool,  # pre holds every step's input projection
    h: np.ndarray,  # (B, H) float32: a<0>, overwritten with a<T>
    c: np.ndarray,  # (B, H) float32: c<0>, overwritten with c<T>
    out: np.ndarray,  # (T, B, H) float32: a<t> (zero where not valid)
    peep: np.ndarray,  # (3, H) float32 peepholes [p_i; p_f; p_o], or (0, H): none
    valid: np.ndarray,  # (T, B) bool: step t of sequence b is valid, or (0, B): all are
    rev: bool,  # run from the last step to the first (outputs stay in input order)
    b0: int,  # the rows (sequences) b0 <= b < b1 this call runs
    b1: int,
) -> None:
    """The LSTM (peepholes if ``peep`` has 3 rows) over every step, for sequences b0..b1::

        Γu = σ(W_i [a<t-1>, x<t>] + b_i + p_i ⊙ c<t-1>)
        Γf = σ(W_f [a<t-1>, x<t>] + b_f + p_f ⊙ c<t-1>)
        c̃ = tanh(W_c [a<t-1>, x<t>] + b_c),  c<t> = Γf ⊙ c<t-1> + Γu ⊙ c̃
        Γo = σ(W_o [a<t-1>, x<t>] + b_o + p_o ⊙ c<t>),  a<t> = Γo ⊙ tanh(c<t>)

    Per step a GEMM call adds the recurrent product to the step's input projection (made
    ahead, or here by another GEMM call), then one vectorised loop does the gate math.
    Where ``valid[t, b]`` is false, a and c keep their values and out is 0. Calls for
    disjoint row ranges touch disjoint memory and may run at once (nogil).
    """
    hidden, n = h.shape[1], bias.shape[0]
    two, three = 2 * hidden, 3 * hidden
    steps = x.shape[0]
    before = _mkl_alone(mkl)
    for k in range(steps):
        t = steps - 1 - k if rev else k
        p = _step_input(w_x, mkl, x, pre, ahead, t, b0, b1)  # (B, G)
        _mm(mkl, b1 - b0, n, hidden, hidden, n, n, True, h[b0:].ctypes.data, w_h.ctypes.data,
            p[b0:].ctypes.data)  # fmt: skip
        for b in range(b0, b1):
            if valid.shape[0] > 0 and not valid[t, b]:
                out[t, b, :] = _ZERO
            elif peep.shape[0] == 3:
                for j in range(hidden):
                    cj = c[b, j]
                    # σ(y) = (Q + P) / 2Q and tanh(y) = P / Q with (P, Q) = _pq(y / 2) and
                    # _pq(y): the products below share one division where five would do it
                    pi, qi = _pq(_HALF * (p[b, j] + bias[j] + peep[0, j] * cj))
                    pf, qf = _pq(_HALF * (p[b, hidden + j] + bias[hidden + j] + peep[1, j] * cj))
                    pg, qg = _pq(p[b, two + j] + bias[two + j])
                    # c<t> = Γf c<t-1> + Γu c̃ = (Qf+Pf) c / 2Qf + (Qi+Pi) Pg / (2 Qi Qg)
                    qig = qi * qg
                    cn = ((qf + pf) * cj * qig + (qi + pi) * pg * qf) / (_TWO * qf * qig)
                    po, qo = _pq(_HALF * (p[b, three + j] + bias[three + j] + peep[2, j] * cn))
                    pc, qc = _pq(cn)
                    # a<t> = Γo tanh(c<t>) = (Qo+Po) Pc / (2 Qo Qc)
                    a = (qo + po) * pc / (_TWO * qo * qc)
                    c[b, j] = cn
                    h[b, j] = a
                    out[t, b, j] = a
            else:
                for j in range(hidden):
                    i = _sigmoid(p[b, j] + bias[j])
                    f = _sigmoid(p[b, hidden + j] + bias[hidden + j])
                    cn = f * c[b, j] + i * _tanh(p[b, two + j] + bias[two + j])
                    a = _sigmoid(p[b, three + j] + bias[three + j]) * _tanh(cn)
                    c[b, j] = cn
                    h[b, j] = a
                    out[t, b, j] = a
    _mkl_restore(mkl, before)


@njit(nogil=True, fastmath=_FAST, error_model="numpy", cache=True)
def gru_rows(
    w_x: np.ndarray,  # W_ih^T (E, 3H), columns [Γr, z, c̃], as a B operand (see _mm)
    w_rz: np.ndarray,  # W_hh[:2H]^T (H, 2H) as a B operand
    w_c: np.ndarray,  # W_hh[2H:]^T (H, H), the candidate's recurrent weight, as a B operand
    mkl: bool,  # the operands are packed for MKL (else row-major for brgemm)
    x: np.ndarray,  # (T, B, E) float32 inputs
    bias: np.ndarray,  # (3H,) float32: b_ih + b_hh (zeros without biases)
    pre: np.ndarray,  # (T, B, 3H) float32: x<t> W_ih^T made ahead, or (1, B, 3H) scratch
    ahead: bool,  # pre holds every step's input projection
    h: np.ndarray,  # (B, H) float32: c<0>, overwritten with c<T>
    rh: np.ndarray,  # (B, H) float32 scratch: Γr ⊙ c<t-1>
    zs: np.ndarray,  # (B, H) float32 scratch: z
    out: np.ndarray,  # (T, B, H) float32: c<t> (zero where not valid)
    valid: np.ndarray,  # (T, B) bool: step t of sequence b is valid, or (0, B): all are
    rev: bool,  # run from the last step to the first (outputs stay in input order)
    b0: int,  # the rows (sequences) b0 <= b < b1 this call runs
    b1: int,
) -> None:
    """The original GRU (Cho et al. 2014, the reset gate before the product) over every
    step, for sequences b0..b1::

        Γr, z = σ(W_rz [c<t-1>, x<t>] + b_rz),  c̃ = tanh(W_c [Γr ⊙ c<t-1>, x<t>] + b_c)
        c<t> = (1 − z) ⊙ c̃ + z ⊙ c<t-1>          (z = 1 − Γu)

    Per step: a GEMM call adds the gates' recurrent product to the step's input projection
    (made ahead, or here by another GEMM call), one loop does σ and Γr ⊙ c<t-1>, a GEMM
    call adds the candidate's, one loop does the update.
    Where ``valid[t, b]`` is false, c keeps its value and out is 0. Calls for disjoint row
    ranges may run at once (nogil).
    """
    hidden = h.shape[1]
    two, three = 2 * hidden, 3 * hidden
    m = b1 - b0
    steps = x.shape[0]
    before = _mkl_alone(mkl)
    for k in range(steps):
        t = steps - 1 - k if rev else k
        p = _step_input(w_x, mkl, x, pre, ahead, t, b0, b1)  # (B, G)
        _mm(mkl, m, two, hidden, hidden, two, three, True, h[b0:].ctypes.data,
            w_rz.ctypes.data, p[b0:].ctypes.data)  # fmt: skip
        for b in range(b0, b1):
            for j in range(hidden):  # z into its own buffer: in p, LLVM does not vectorise it
                rh[b, j] = _sigmoid(p[b, j] + bias[j]) * h[b, j]
                zs[b, j] = _sigmoid(p[b, hidden + j] + bias[hidden + j])
        _mm(mkl, m, hidden, hidden, hidden, hidden, three, True, rh[b0:].ctypes.data,
            w_c.ctypes.data, p[b0:, two:].ctypes.data)  # fmt: skip
        for b in range(b0, b1):
            if valid.shape[0] > 0 and not valid[t, b]:
                out[t, b, :] = _ZERO
                continue
            for j in range(hidden):
                cand = _tanh(p[b, two + j] + bias[two + j])
                new = cand + zs[b, j] * (h[b, j] - cand)
                h[b, j] = new
                out[t, b, j] = new
    _mkl_restore(mkl, before)


@njit(nogil=True, fastmath=_FAST, error_model="numpy", cache=True)
def lstm_train_rows(
    w_x: np.ndarray,  # W_ih^T (E, 4H) as a B operand (see _mm)
    w_h: np.ndarray,  # W_hh^T (H, 4H) as a B operand
    mkl: bool,  # the operands are packed for MKL (else row-major for brgemm)
    x: np.ndarray,  # (T, B, E) float32 inputs
    bias: np.ndarray,  # (4H,) float32: b_ih + b_hh (zeros without biases)
    ahead: bool,  # gates already holds every step's input projection x<t> W_ih^T
    h: np.ndarray,  # (T+1, B, H) float32: a<0> given; writes a<1..T>
    c: np.ndarray,  # (T+1, B, H) float32: c<0> given; writes c<1..T>
    gates: np.ndarray,  # (T, B, 4H) float32: writes the activations [Γu, Γf, c̃, Γo]
    tanh_c: np.ndarray,  # (T, B, H) float32: writes tanh(c<t>)
    peep: np.ndarray,  # (3, H) float32 peepholes [p_i; p_f; p_o], or (0, H): none
    valid: np.ndarray,  # (T, B) bool: step t of sequence b is valid, or (0, B): all are
    b0: int,  # the rows (sequences) b0 <= b < b1 this call runs
    b1: int,
) -> None:
    """The LSTM's training forward for sequences b0..b1: :func:`lstm_rows`' equations,
    keeping what backward needs (every state, cell, gate activation and tanh(c<t>)).

    Where ``valid[t, b]`` is false, a<t> = a<t-1> and c<t> = c<t-1>.
    """
    hidden, n, e = h.shape[2], bias.shape[0], x.shape[2]
    two, three = 2 * hidden, 3 * hidden
    m = b1 - b0
    before = _mkl_alone(mkl)
    for t in range(x.shape[0]):
        p, xt, ht = gates[t], x[t], h[t]
        if not ahead:
            _mm(mkl, m, n, e, e, n, n, False, xt[b0:].ctypes.data, w_x.ctypes.data,
                p[b0:].ctypes.data)  # fmt: skip
        _mm(mkl, m, n, hidden, hidden, n, n, True, ht[b0:].ctypes.data, w_h.ctypes.data,
            p[b0:].ctypes.data)  # fmt: skip
        for b in range(b0, b1):
            keep = valid.shape[0] > 0 and not valid[t, b]
            for j in range(hidden):
                cj = c[t, b, j]
                pi, pf = p[b, j] + bias[j], p[b, hidden + j] + bias[hidden + j]
                if peep.shape[0] == 3:
                    pi += peep[0, j] * cj
                    pf += peep[1, j] * cj
                i, f = _sigmoid(pi), _sigmoid(pf)
                g = _tanh(p[b, two + j] + bias[two + j])
                cn = f * cj + i * g
                po = p[b, three + j] + bias[three + j]
                if peep.shape[0] == 3:
                    po += peep[2, j] * cn
                o = _sigmoid(po)
                tc = _tanh(cn)
                p[b, j], p[b, hidden + j], p[b, two + j], p[b, three + j] = i, f, g, o
                tanh_c[t, b, j] = tc
                if keep:
                    c[t + 1, b, j] = cj
                    h[t + 1, b, j] = h[t, b, j]
                else:
                    c[t + 1, b, j] = cn
                    h[t + 1, b, j] = o * tc
    _mkl_restore(mkl, before)


@njit(nogil=True, fastmath=_FAST, error_model="numpy", cache=True, inline="always")
def _skipped(d_out, valid, dh, d, t, b):  # type: ignore[no-untyped-def]
    """Backward's step start for sequence b: dL/d out<t> joins dL/da<t>; a step that was
    not valid gets zero gate gradients (d[b]) and is skipped (True): dL/da and dL/dc go
    straight to the step before."""
    if d_out.shape[0] > 0:
        for j in range(dh.shape[1]):
            dh[b, j] += d_out[t, b, j]
    if valid.shape[0] > 0 and not valid[t, b]:
        d[b, :] = _ZERO
        return True
    return False


@njit(nogil=True, fastmath=_FAST, error_model="numpy", cache=True)
def lstm_grad_rows(
    w_hh: np.ndarray,  # W_hh (4H, H) as torch stores it, as a B operand (see _mm)
    mkl: bool,  # the operand is packed for MKL (else row-major for brgemm)
    gates: np.ndarray,  # (T, B, 4H) float32: the forward's [Γu, Γf, c̃, Γo]
    tanh_c: np.ndarray,  # (T, B, H) float32: tanh(c<t>)
    c: np.ndarray,  # (T+1, B, H) float32: c<0..T>
    peep: np.ndarray,  # (3, H) float32 peepholes, or (0, H): none
    valid: np.ndarray,  # (T, B) bool, or (0, B): all steps valid
    d_out: np.ndarray,  # (T, B, H) float32: dL/d out (zero where not valid), or (0, B, H)
    dh: np.ndarray,  # (B, H) float32: dL/da<T> in, dL/da<0> out
    dc: np.ndarray,  # (B, H) float32: dL/dc<T> in, dL/dc<0> out
    dpre: np.ndarray,  # (T, B, 4H) float32: writes dL/d pre-activations [i, f, g, o]
    acc: np.ndarray,  # (3, B, H) float32: adds Σ_t of d pre ⊙ c for the peepholes
    b0: int,  # the rows (sequences) b0 <= b < b1 this call runs
    b1: int,
) -> None:
    """Backward through time of :func:`lstm_train_rows` for sequences b0..b1.

    Per step, from the last: one loop for the gate derivatives, then one GEMM call
    dL/da<t-1> = d pre<t> W_hh. A step that was not valid passes dL/da and dL/dc straight
    to the step before and gets zero gate gradients.
    """
    hidden = dh.shape[1]
    n, two, three = 4 * hidden, 2 * hidden, 3 * hidden
    before = _mkl_alone(mkl)
    for t in range(gates.shape[0] - 1, -1, -1):
        p, d = gates[t], dpre[t]
        for b in range(b0, b1):
            if _skipped(d_out, valid, dh, d, t, b):
                continue
            for j in range(hidden):
                i, f, g, o = p[b, j], p[b, hidden + j], p[b, two + j], p[b, three + j]
                tc, cp = tanh_c[t, b, j], c[t, b, j]
                da = dh[b, j]
                # a = Γo tanh(c): dc += da Γo (1 − tanh²c); do_pre = da tanh(c) Γo (1 − Γo)
                dcn = dc[b, j] + da * o * (_ONE - tc * tc)
                d_o = da * tc * o * (_ONE - o)
                if peep.shape[0] == 3:
                    dcn += d_o * peep[2, j]
                # c = Γf c<t-1> + Γu c̃
                d_i = dcn * g * i * (_ONE - i)
                d_f = dcn * cp * f * (_ONE - f)
                d_g = dcn * i * (_ONE - g * g)
                dcp = dcn * f
                if peep.shape[0] == 3:
                    dcp += d_i * peep[0, j] + d_f * peep[1, j]
                    acc[0, b, j] += d_i * cp
                    acc[1, b, j] += d_f * cp
                    acc[2, b, j] += d_o * c[t + 1, b, j]
                d[b, j], d[b, hidden + j], d[b, two + j], d[b, three + j] = d_i, d_f, d_g, d_o
                dc[b, j] = dcp
                dh[b, j] = _ZERO  # replaced by d pre W_hh below (a skipped row keeps its dh)
        _mm(mkl, b1 - b0, hidden, n, n, hidden, hidden, True, d[b0:].ctypes.data,
            w_hh.ctypes.data, dh[b0:].ctypes.data)  # fmt: skip
    _mkl_restore(mkl, before)


@njit(nogil=True, fastmath=_FAST, error_model="numpy", cache=True)
def gru_train_rows(
    w_x: np.ndarray,  # W_ih^T (E, 3H) as a B operand (see _mm)
    w_rz: np.ndarray,  # W_hh[:2H]^T (H, 2H) as a B operand
    w_c: np.ndarray,  # W_hh[2H:]^T (H, H) as a B operand
    mkl: bool,  # the operands are packed for MKL (else row-major for brgemm)
    x: np.ndarray,  # (T, B, E) float32 inputs
    bias: np.ndarray,  # (3H,) float32: b_ih + b_hh (zeros without biases)
    ahead: bool,  # gates already holds every step's input projection x<t> W_ih^T
    h: np.ndarray,  # (T+1, B, H) float32: c<0> given; writes c<1..T>
    gates: np.ndarray,  # (T, B, 3H) float32: writes the activations [Γr, z, c̃]
    rh: np.ndarray,  # (T, B, H) float32: writes Γr ⊙ c<t-1>
    valid: np.ndarray,  # (T, B) bool, or (0, B): all steps valid
    b0: int,  # the rows (sequences) b0 <= b < b1 this call runs
    b1: int,
) -> None:
    """The original GRU's training forward for sequences b0..b1: :func:`gru_rows`'
    equations, keeping what backward needs (every state, gate activation and Γr ⊙ c<t-1>).

    Where ``valid[t, b]`` is false, c<t> = c<t-1>.
    """
    hidden, e = h.shape[2], x.shape[2]
    two, three = 2 * hidden, 3 * hidden
    m = b1 - b0
    before = _mkl_alone(mkl)
    for t in range(x.shape[0]):
        p, xt, ht, yt = gates[t], x[t], h[t], rh[t]
        if not ahead:
            _mm(mkl, m, three, e, e, three, three, False, xt[b0:].ctypes.data,
                w_x.ctypes.data, p[b0:].ctypes.data)  # fmt: skip
        _mm(mkl, m, two, hidden, hidden, two, three, True, ht[b0:].ctypes.data,
            w_rz.ctypes.data, p[b0:].ctypes.data)  # fmt: skip
        for b in range(b0, b1):
            for j in range(hidden):  # z waits for the loop below (here LLVM would not vectorise)
                r = _sigmoid(p[b, j] + bias[j])
                p[b, j] = r
                yt[b, j] = r * ht[b, j]
        _mm(mkl, m, hidden, hidden, hidden, hidden, three, True, yt[b0:].ctypes.data,
            w_c.ctypes.data, p[b0:, two:].ctypes.data)  # fmt: skip
        for b in range(b0, b1):
            keep = valid.shape[0] > 0 and not valid[t, b]
            for j in range(hidden):
                z = _sigmoid(p[b, hidden + j] + bias[hidden + j])
                cand = _tanh(p[b, two + j] + bias[two + j])
                p[b, hidden + j], p[b, two + j] = z, cand
                hp = ht[b, j]
                h[t + 1, b, j] = hp if keep else cand + z * (hp - cand)
    _mkl_restore(mkl, before)


@njit(nogil=True, fastmath=_FAST, error_model="numpy", cache=True)
def gru_grad_rows(
    w_rz: np.ndarray,  # W_hh[:2H] (2H, H) as torch stores it, as a B operand (see _mm)
    w_c: np.ndarray,  # W_hh[2H:] (H, H) as a B operand
    mkl: bool,  # the operands are packed for MKL (else row-major for brgemm)
    gates: np.ndarray,  # (T, B, 3H) float32: the forward's [Γr, z, c̃]
    h: np.ndarray,  # (T+1, B, H) float32: c<0..T>
    valid: np.ndarray,  # (T, B) bool, or (0, B): all steps valid
    d_out: np.ndarray,  # (T, B, H) float32: dL/d out (zero where not valid), or (0, B, H)
    dh: np.ndarray,  # (B, H) float32: dL/dc<T> in, dL/dc<0> out
    drh: np.ndarray,  # (B, H) float32 scratch: dL/d(Γr ⊙ c<t-1>)
    dpre: np.ndarray,  # (T, B, 3H) float32: writes dL/d pre-activations [Γr, z, c̃]
    b0: int,  # the rows (sequences) b0 <= b < b1 this call runs
    b1: int,
) -> None:
    """Backward through time of :func:`gru_train_rows` for sequences b0..b1.

    Per step, from the last: the candidate's gradient, a GEMM call for dL/d(Γr ⊙ c<t-1>),
    the gates' gradients, and a GEMM call adding d pre_rz W_rz to dL/dc<t-1>. A step that
    was not valid passes dL/dc straight to the step before and gets zero gate gradients.
    """
    hidden = dh.shape[1]
    two, three = 2 * hidden, 3 * hidden
    m = b1 - b0
    before = _mkl_alone(mkl)
    for t in range(gates.shape[0] - 1, -1, -1):
        p, d, ht = gates[t], dpre[t], h[t]
        for b in range(b0, b1):
            if _skipped(d_out, valid, dh, d, t, b):
                continue
            for j in range(hidden):
                z, n, dc, hp = p[b, hidden + j], p[b, two + j], dh[b, j], ht[b, j]
                # c<t> = (1 − z) c̃ + z c<t-1>, c̃ = tanh(·): dn_pre = dc (1 − z)(1 − c̃²)
                d[b, hidden + j] = dc * (hp - n) * z * (_ONE - z)
                d[b, two + j] = dc * (_ONE - z) * (_ONE - n * n)
        _mm(mkl, m, hidden, hidden, three, hidden, hidden, False, d[b0:, two:].ctypes.data,
            w_c.ctypes.data, drh[b0:].ctypes.data)  # fmt: skip
        for b in range(b0, b1):
            if valid.shape[0] > 0 and not valid[t, b]:
                continue
            for j in range(hidden):
                r, z = p[b, j], p[b, hidden + j]
                hp, dc, dy = ht[b, j], dh[b, j], drh[b, j]
                d[b, j] = dy * hp * r * (_ONE - r)  # Γr ⊙ c<t-1>: dΓr = dy c<t-1>
                dh[b, j] = dc * z + dy * r  # plus d pre_rz W_rz below
        _mm(mkl, m, hidden, two, three, hidden, hidden, True, d[b0:].ctypes.data,
            w_rz.ctypes.data, dh[b0:].ctypes.data)  # fmt: skip
    _mkl_restore(mkl, before)


@njit(nogil=True, fastmath=_FAST, error_model="numpy", cache=True)
def gru_after_rows(
    w_x: np.ndarray,  # W_ih^T (E, 3H), columns [r, z, n], as a B operand (see _mm)
    w_h: np.ndarray,  # W_hh^T (H, 3H) as a B operand
    mkl: bool,  # the operands are packed for MKL (else row-major for brgemm)
    x: np.ndarray,  # (T, B, E) float32 inputs
    bias: np.ndarray,  # (3H,) float32: [b_ir + b_hr, b_iz + b_hz, b_in]
    bias_hn: np.ndarray,  # (H,) float32: b_hn
    pre: np.ndarray,  # (T, B, 3H) float32: x<t> W_ih^T made ahead, or (1, B, 3H) scratch
    ahead: bool,  # pre holds every step's input projection
    hp: np.ndarray,  # (B, 3H) float32 scratch: h<t-1> W_hh^T
    h: np.ndarray,  # (B, H) float32: h<0>, overwritten with h<T>
    out: np.ndarray,  # (T, B, H) float32: h<t> (zero where not valid)
    valid: np.ndarray,  # (T, B) bool: step t of sequence b is valid, or (0, B): all are
    rev: bool,  # run from the last step to the first (outputs stay in input order)
    b0: int,  # the rows (sequences) b0 <= b < b1 this call runs
    b1: int,
) -> None:
    """torch's GRU (``reset_after``: the reset gate multiplies W_hn h + b_hn) over every
    step, for sequences b0..b1::

        r = σ(W_ir x + b_ir + W_hr h + b_hr),  z = σ(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)),  h' = (1 − z) ⊙ n + z ⊙ h

    Per step: the input projection (made ahead, or here by a GEMM call), one GEMM call for
    h W_hh^T, one loop for the gates and the update. Where ``valid[t, b]`` is false, h
    keeps its value and out is 0. Calls for disjoint row ranges may run at once (nogil).
    """
    hidden, n3 = h.shape[1], bias.shape[0]
    two = 2 * hidden
    steps = x.shape[0]
    before = _mkl_alone(mkl)
    for k in range(steps):
        t = steps - 1 - k if rev else k
        p = _step_input(w_x, mkl, x, pre, ahead, t, b0, b1)  # (B, 3H)
        _mm(mkl, b1 - b0, n3, hidden, hidden, n3, n3, False, h[b0:].ctypes.data,
            w_h.ctypes.data, hp[b0:].ctypes.data)  # fmt: skip
        for b in range(b0, b1):
            if valid.shape[0] > 0 and not valid[t, b]:
                out[t, b, :] = _ZERO
                continue
            for j in range(hidden):
                r = _sigmoid(p[b, j] + hp[b, j] + bias[j])
                z = _sigmoid(p[b, hidden + j] + hp[b, hidden + j] + bias[hidden + j])
                n = _tanh(p[b, two + j] + bias[two + j] + r * (hp[b, two + j] + bias_hn[j]))
                new = n + z * (h[b, j] - n)
                h[b, j] = new
                out[t, b, j] = new
    _mkl_restore(mkl, before)


@njit(nogil=True, fastmath=_FAST, error_model="numpy", cache=True)
def gru_after_train_rows(
    w_x: np.ndarray,  # W_ih^T (E, 3H) as a B operand (see _mm)
    w_h: np.ndarray,  # W_hh^T (H, 3H) as a B operand
    mkl: bool,  # the operands are packed for MKL (else row-major for brgemm)
    x: np.ndarray,  # (T, B, E) float32 inputs
    bias: np.ndarray,  # (3H,) float32: [b_ir + b_hr, b_iz + b_hz, b_in]
    bias_hn: np.ndarray,  # (H,) float32: b_hn
    ahead: bool,  # gates already holds every step's input projection x<t> W_ih^T
    hp: np.ndarray,  # (B, 3H) float32 scratch: h<t-1> W_hh^T
    h: np.ndarray,  # (T+1, B, H) float32: h<0> given; writes h<1..T>
    gates: np.ndarray,  # (T, B, 3H) float32: writes the activations [r, z, n]
    hns: np.ndarray,  # (T, B, H) float32: writes W_hn h<t-1> + b_hn
    valid: np.ndarray,  # (T, B) bool, or (0, B): all steps valid
    b0: int,  # the rows (sequences) b0 <= b < b1 this call runs
    b1: int,
) -> None:
    """torch's GRU's training forward for sequences b0..b1: :func:`gru_after_rows`'
    equations, keeping what backward needs (every state, gate activation and W_hn h + b_hn).

    Where ``valid[t, b]`` is false, h<t> = h<t-1>.
    """
    hidden, n3, e = h.shape[2], bias.shape[0], x.shape[2]
    two = 2 * hidden
    m = b1 - b0
    before = _mkl_alone(mkl)
    for t in range(x.shape[0]):
        p, ht = gates[t], h[t]
        if not ahead:
            _mm(mkl, m, n3, e, e, n3, n3, False, x[t, b0:].ctypes.data, w_x.ctypes.data,
                p[b0:].ctypes.data)  # fmt: skip
        _mm(mkl, m, n3, hidden, hidden, n3, n3, False, ht[b0:].ctypes.data, w_h.ctypes.data,
            hp[b0:].ctypes.data)  # fmt: skip
        for b in range(b0, b1):
            keep = valid.shape[0] > 0 and not valid[t, b]
            for j in range(hidden):
                r = _sigmoid(p[b, j] + hp[b, j] + bias[j])
                z = _sigmoid(p[b, hidden + j] + hp[b, hidden + j] + bias[hidden + j])
                hn = hp[b, two + j] + bias_hn[j]
                n = _tanh(p[b, two + j] + bias[two + j] + r * hn)
                p[b, j], p[b, hidden + j], p[b, two + j] = r, z, n
                hns[t, b, j] = hn
                prev = ht[b, j]
                h[t + 1, b, j] = prev if keep else n + z * (prev - n)
    _mkl_restore(mkl, before)


@njit(nogil=True, fastmath=_FAST, error_model="numpy", cache=True)
def gru_after_grad_rows(
    w_hh: np.ndarray,  # W_hh (3H, H) as torch stores it, as a B operand (see _mm)
    mkl: bool,  # the operand is packed for MKL (else row-major for brgemm)
    gates: np.ndarray,  # (T, B, 3H) float32: the forward's [r, z, n]
    hns: np.ndarray,  # (T, B, H) float32: W_hn h<t-1> + b_hn
    h: np.ndarray,  # (T+1, B, H) float32: h<0..T>
    valid: np.ndarray,  # (T, B) bool, or (0, B): all steps valid
    d_out: np.ndarray,  # (T, B, H) float32: dL/d out (zero where not valid), or (0, B, H)
    dh: np.ndarray,  # (B, H) float32: dL/dh<T> in, dL/dh<0> out
    dxp: np.ndarray,  # (T, B, 3H) float32: writes dL/d(W_ih x + b_ih)
    dhp: np.ndarray,  # (T, B, 3H) float32: writes dL/d(W_hh h + b_hh)
    b0: int,  # the rows (sequences) b0 <= b < b1 this call runs
    b1: int,
) -> None:
    """Backward through time of :func:`gru_after_train_rows` for sequences b0..b1.

    Per step, from the last: one loop for the gate derivatives (the input side's and the
    recurrent side's differ in n, which r multiplies on the recurrent side only), then one
    GEMM call adding dhp<t> W_hh to dL/dh<t-1>. A step that was not valid passes dL/dh
    straight to the step before and gets zero gate gradients.
    """
    hidden = dh.shape[1]
    n3, two = 3 * hidden, 2 * hidden
    before = _mkl_alone(mkl)
    for t in range(gates.shape[0] - 1, -1, -1):
        p, dx, dr, ht = gates[t], dxp[t], dhp[t], h[t]
        for b in range(b0, b1):
            if _skipped(d_out, valid, dh, dx, t, b):
                dr[b, :] = _ZERO
                continue
            for j in range(hidden):
                r, z, n = p[b, j], p[b, hidden + j], p[b, two + j]
                dc, prev = dh[b, j], ht[b, j]
                # h' = (1 − z) n + z h, n = tanh(·): dn_pre = dh' (1 − z)(1 − n²)
                d_n = dc * (_ONE - z) * (_ONE - n * n)
                d_z = dc * (prev - n) * z * (_ONE - z)
                # n's pre-activation holds r ⊙ hn: dr_pre = dn_pre hn r (1 − r)
                d_r = d_n * hns[t, b, j] * r * (_ONE - r)
                dx[b, j], dx[b, hidden + j], dx[b, two + j] = d_r, d_z, d_n
                dr[b, j], dr[b, hidden + j], dr[b, two + j] = d_r, d_z, d_n * r
                dh[b, j] = dc * z  # plus dhp W_hh below
        _mm(mkl, b1 - b0, hidden, n3, n3, hidden, hidden, True, dr[b0:].ctypes.data,
            w_hh.ctypes.data, dh[b0:].ctypes.data)  # fmt: skip
    _mkl_restore(mkl, before)
