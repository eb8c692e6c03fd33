"""The LSTM's elementwise step in one vectorised loop, for the float32 inference loop.

After its matrix product, an LSTM step is elementwise: three sigmoids, two tanh, the cell
update and the peepholes, about ten torch ops of (B, H) each, each a dispatch through
torch's operator machinery (≈ 5 µs) and a pass over memory. :func:`lstm_step` does all of it
in one numba loop that LLVM vectorises for the host CPU (16-wide AVX-512 or 8-wide AVX2),
one read of the gate pre-activations and one write of the new states.

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
from numba import njit

__all__ = ["lstm_step", "sigmoid", "tanh"]

# Let LLVM use FMAs and reassociate, keep NaN/inf semantics.
_FAST = {"reassoc", "contract", "arcp", "nsz"}

_F = np.float32
_HALF = _F(0.5)
_ZERO = _F(0.0)
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


@njit(nogil=True, fastmath=_FAST, error_model="numpy", cache=True, inline="always")
def _row(
    pre: np.ndarray,
    bias: np.ndarray,
    c: np.ndarray,
    z: np.ndarray,
    x: np.ndarray,
    out: np.ndarray,
    t: int,
    b: int,
    peep: np.ndarray,
    valid: np.ndarray,
) -> None:
    """:func:`lstm_step` for sequence ``b``."""
    hidden = c.shape[1]
    now, nxt = t % 2, 1 - t % 2
    if valid.shape[0] > 0 and not valid[t, b]:
        for j in range(hidden):
            z[nxt, b, j] = z[now, b, j]
            out[t, b, j] = _ZERO
    elif peep.shape[0] == 3:
        for j in range(hidden):
            cj = c[b, j]
            # σ(y) = (Q + P) / 2Q and tanh(y) = P / Q with (P, Q) = _pq(y / 2) and _pq(y):
            # the products below share one division where five would do it gate by gate
            pi, qi = _pq(_HALF * (pre[b, 0, j] + bias[0, j] + peep[0, j] * cj))
            pf, qf = _pq(_HALF * (pre[b, 1, j] + bias[1, j] + peep[1, j] * cj))
            pg, qg = _pq(pre[b, 2, j] + bias[2, j])
            # c<t> = Γf c<t-1> + Γu c̃ = (Qf+Pf) c / 2Qf + (Qi+Pi) Pg / (2 Qi Qg)
            qig = qi * qg
            cn = ((qf + pf) * cj * qig + (qi + pi) * pg * qf) / (_TWO * qf * qig)
            po, qo = _pq(_HALF * (pre[b, 3, j] + bias[3, j] + peep[2, j] * cn))
            pc, qc = _pq(cn)
            # a<t> = Γo tanh(c<t>) = (Qo+Po) Pc / (2 Qo Qc)
            h = (qo + po) * pc / (_TWO * qo * qc)
            c[b, j] = cn
            z[nxt, b, j] = h
            out[t, b, j] = h
    else:
        for j in range(hidden):
            i = _sigmoid(pre[b, 0, j] + bias[0, j])
            f = _sigmoid(pre[b, 1, j] + bias[1, j])
            cn = f * c[b, j] + i * _tanh(pre[b, 2, j] + bias[2, j])
            o = _sigmoid(pre[b, 3, j] + bias[3, j])
            c[b, j] = cn
            h = o * _tanh(cn)
            z[nxt, b, j] = h
            out[t, b, j] = h
    if t + 1 < x.shape[0]:  # the next step's input beside the new state
        for k in range(x.shape[2]):
            z[nxt, b, hidden + k] = x[t + 1, b, k]


@njit(nogil=True, fastmath=_FAST, error_model="numpy", cache=True)
def lstm_step(
    pre: np.ndarray,  # (B, 4, H) float32: W_hh a<t-1> + W_ih x<t>, gates [i, f, g, o]
    bias: np.ndarray,  # (4, H) float32: b_ih + b_hh (zeros without biases)
    c: np.ndarray,  # (B, H) float32 cell state c<t-1>, overwritten with c<t>
    z: np.ndarray,  # (2, B, H+E) float32: [a<t-1>, x<t>] in z[t % 2]; writes z[1 - t % 2]
    x: np.ndarray,  # (T, B, E) float32 inputs: copies x<t+1> into z[1 - t % 2, :, H:]
    out: np.ndarray,  # (T, B, H) float32: writes out[t] = a<t> (zero where not valid)
    t: int,  # the step
    peep: np.ndarray,  # (3, H) float32 peepholes [p_i; p_f; p_o], or (0, H): none
    valid: np.ndarray,  # (T, B) bool: step t of sequence b is valid, or (0, B): all are
) -> None:
    """One LSTM step after its matrix product (peepholes if ``peep`` has 3 rows)::

        Γu = σ(pre_i + b_i + p_i ⊙ c<t-1>),  Γf = σ(pre_f + b_f + p_f ⊙ c<t-1>)
        c̃ = tanh(pre_g + b_g),  c<t> = Γf ⊙ c<t-1> + Γu ⊙ c̃
        Γo = σ(pre_o + b_o + p_o ⊙ c<t>),  a<t> = Γo ⊙ tanh(c<t>)

    Where ``valid[t, b]`` is false, a<t> = a<t-1> and c<t> = c<t-1> for sequence b, and
    out[t, b] = 0. ``z`` is two rows of the joint GEMM's input used in turn: the step reads
    ``z[t % 2]`` (through the GEMM that made ``pre``) and fills ``z[1 - t % 2]`` with
    ``[a<t>, x<t+1>]``, so no (T+1, B, H+E) buffer is allocated and filled per sequence.
    """
    for b in range(c.shape[0]):
        _row(pre, bias, c, z, x, out, t, b, peep, valid)
