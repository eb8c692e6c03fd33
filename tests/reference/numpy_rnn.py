"""Independent NumPy float64 reference ("oracle") for recurrent networks.

Forward passes and hand-written backpropagation through time (no autodiff) for
Elman RNNs (tanh / ReLU), GRUs (``reset_after`` True = torch/cuDNN, False = Cho et al. 2014)
and LSTMs (optionally with diagonal peepholes), plus a deep / bidirectional wrapper that
uses ``torch.nn.RNN/GRU/LSTM`` parameter names and state layout.

Conventions (torch's):

* time-major tensors: ``x`` is ``(T, B, E)``, outputs are ``(T, B, D*H)``;
* stacked gate weights: GRU rows ``[r, z, n]``, LSTM rows ``[i, f, g, o]``;
* peephole vector ``w_ch`` of shape ``(3H,)`` ordered ``[i, f, o]``;
* GRU update ``h' = (1 - z) * n + z * h`` (the course's update gate is ``1 - z``);
* ``lengths`` behaves like a ``PackedSequence``: past the end of sequence ``b`` its state is
  frozen and its output is 0; the reverse direction runs each sequence reversed within its
  own length.

Every gradient is ``d(loss)/d(.)`` for
``loss = sum(dout * out) + sum(dh_n * h_n) + sum(dc_n * c_n)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]
Params = dict[str, Array]
StepCache = dict[str, Array]

MODES: tuple[str, ...] = ("rnn_tanh", "rnn_relu", "gru", "lstm")
GATES: dict[str, int] = {"rnn_tanh": 1, "rnn_relu": 1, "gru": 3, "lstm": 4}

# torch parameter stem -> short per-layer key used by ``layer_forward``.
TORCH_NAMES: dict[str, str] = {
    "weight_ih": "w_ih",
    "weight_hh": "w_hh",
    "bias_ih": "b_ih",
    "bias_hh": "b_hh",
    "weight_ch": "w_ch",
}


@dataclass(frozen=True)
class Config:
    """Static description of one recurrent cell."""

    mode: str
    reset_after: bool = True
    peephole: bool = False


@dataclass
class LayerCache:
    """Everything ``layer_backward`` needs from ``layer_forward``."""

    cfg: Config
    params: Params
    x: Array
    mask: Array
    steps: list[StepCache]


@dataclass
class NetCache:
    """Everything ``backward`` needs from ``forward``."""

    cfg: Config
    num_layers: int
    num_directions: int
    hidden_size: int
    lengths: npt.NDArray[np.int64] | None
    layers: list[list[LayerCache]] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# elementwise helpers
# --------------------------------------------------------------------------------------------


def sigmoid(a: Array) -> Array:
    """Numerically stable logistic function."""
    # σ(a) = 1 / (1 + e^{-a}) = exp(-log(1 + e^{-a}))
    return np.exp(-np.logaddexp(0.0, -a))


def affine(v: Array, w: Array, b: Array | None) -> Array:
    """Batched affine map ``v W^T + b`` (``b`` may be absent)."""
    # y = v W^T
    y = v @ w.T  # (B, rows)
    # y = v W^T + b
    return y if b is None else y + b


def accumulate_linear(grads: Params, da_in: Array, x: Array, da_hid: Array, h: Array) -> None:
    """Accumulate the weight/bias gradients of ``a = W_ih x + b_ih + W_hh h + b_hh``."""
    # ∂L/∂W_ih += Σ_b ∂L/∂a_in ⊗ x
    grads["w_ih"] += da_in.T @ x  # (G*H, E)
    # ∂L/∂W_hh += Σ_b ∂L/∂a_hid ⊗ h
    grads["w_hh"] += da_hid.T @ h  # (G*H, H)
    if "b_ih" in grads:
        # ∂L/∂b_ih += Σ_b ∂L/∂a_in
        grads["b_ih"] += da_in.sum(axis=0)  # (G*H,)
    if "b_hh" in grads:
        # ∂L/∂b_hh += Σ_b ∂L/∂a_hid
        grads["b_hh"] += da_hid.sum(axis=0)  # (G*H,)


# --------------------------------------------------------------------------------------------
# Elman RNN cell
# --------------------------------------------------------------------------------------------


def rnn_step(
    x: Array, h: Array, c: Array | None, p: Params, cfg: Config
) -> tuple[Array, Array | None, StepCache]:
    """One Elman step ``h' = g(W_ih x + b_ih + W_hh h + b_hh)``."""
    # a = W_ih x + b_ih + W_hh h + b_hh
    a = affine(x, p["w_ih"], p.get("b_ih")) + affine(h, p["w_hh"], p.get("b_hh"))  # (B, H)
    # h' = relu(a)  or  h' = tanh(a)
    h_new = np.maximum(a, 0.0) if cfg.mode == "rnn_relu" else np.tanh(a)
    return h_new, None, {"x": x, "h": h, "a": a, "h_new": h_new}


def rnn_step_backward(
    dh_new: Array, dc_new: Array | None, s: StepCache, p: Params, grads: Params, cfg: Config
) -> tuple[Array, Array, Array | None]:
    """Backward of ``rnn_step``; returns ``(dx, dh, None)``."""
    if cfg.mode == "rnn_relu":
        # ∂L/∂a = ∂L/∂h' ⊙ 1[a > 0]
        da = dh_new * (s["a"] > 0.0)
    else:
        # ∂L/∂a = ∂L/∂h' ⊙ (1 − h'²)
        da = dh_new * (1.0 - s["h_new"] ** 2)
    accumulate_linear(grads, da, s["x"], da, s["h"])
    # ∂L/∂x = ∂L/∂a W_ih ;  ∂L/∂h = ∂L/∂a W_hh
    return da @ p["w_ih"], da @ p["w_hh"], None


# --------------------------------------------------------------------------------------------
# GRU cell
# --------------------------------------------------------------------------------------------


def gru_step(
    x: Array, h: Array, c: Array | None, p: Params, cfg: Config
) -> tuple[Array, Array | None, StepCache]:
    """One GRU step (gate order r, z, n; ``reset_after`` selects where r is applied)."""
    hs = h.shape[1]
    b_hh = p.get("b_hh")
    # [gi_r, gi_z, gi_n] = W_ih x + b_ih
    gi = affine(x, p["w_ih"], p.get("b_ih"))  # (B, 3H)
    # [gh_r, gh_z] = W_h{r,z} h + b_h{r,z}
    gh_rz = affine(h, p["w_hh"][: 2 * hs], None if b_hh is None else b_hh[: 2 * hs])  # (B, 2H)
    # r = σ(gi_r + gh_r)
    r = sigmoid(gi[:, :hs] + gh_rz[:, :hs])
    # z = σ(gi_z + gh_z)
    z = sigmoid(gi[:, hs : 2 * hs] + gh_rz[:, hs:])
    # input of the candidate's hidden matmul: h (reset after) or r ⊙ h (reset before)
    hn_in = h if cfg.reset_after else r * h
    # gh_n = W_hn hn_in + b_hn
    gh_n = affine(hn_in, p["w_hh"][2 * hs :], None if b_hh is None else b_hh[2 * hs :])
    if cfg.reset_after:
        # n = tanh(gi_n + r ⊙ (W_hn h + b_hn))
        n = np.tanh(gi[:, 2 * hs :] + r * gh_n)
    else:
        # n = tanh(gi_n + W_hn (r ⊙ h) + b_hn)
        n = np.tanh(gi[:, 2 * hs :] + gh_n)
    # h' = (1 − z) ⊙ n + z ⊙ h
    h_new = (1.0 - z) * n + z * h
    cache = {"x": x, "h": h, "r": r, "z": z, "n": n, "gh_n": gh_n, "hn_in": hn_in}
    return h_new, None, cache


def gru_step_backward(
    dh_new: Array, dc_new: Array | None, s: StepCache, p: Params, grads: Params, cfg: Config
) -> tuple[Array, Array, Array | None]:
    """Backward of ``gru_step``; returns ``(dx, dh, None)``."""
    h, r, z, n = s["h"], s["r"], s["z"], s["n"]
    hs = h.shape[1]
    w_hn = p["w_hh"][2 * hs :]
    # ∂L/∂n = ∂L/∂h' ⊙ (1 − z)
    dn = dh_new * (1.0 - z)
    # ∂L/∂z = ∂L/∂h' ⊙ (h − n)
    dz = dh_new * (h - n)
    # ∂L/∂h (direct path) = ∂L/∂h' ⊙ z
    dh = dh_new * z
    # ∂L/∂a_n = ∂L/∂n ⊙ (1 − n²), a_n being the candidate's pre-activation
    da_n = dn * (1.0 - n**2)
    if cfg.reset_after:
        # ∂L/∂gh_n = ∂L/∂a_n ⊙ r ;  ∂L/∂r = ∂L/∂a_n ⊙ gh_n
        dgh_n = da_n * r
        dr = da_n * s["gh_n"]
        # ∂L/∂h += ∂L/∂gh_n W_hn
        dh = dh + dgh_n @ w_hn
    else:
        # ∂L/∂gh_n = ∂L/∂a_n ;  ∂L/∂(r ⊙ h) = ∂L/∂gh_n W_hn
        dgh_n = da_n
        d_rh = dgh_n @ w_hn  # (B, H)
        # ∂L/∂r = ∂L/∂(r ⊙ h) ⊙ h ;  ∂L/∂h += ∂L/∂(r ⊙ h) ⊙ r
        dr = d_rh * h
        dh = dh + d_rh * r
    # ∂L/∂a_r = ∂L/∂r ⊙ r (1 − r) ;  ∂L/∂a_z = ∂L/∂z ⊙ z (1 − z)
    da_r = dr * r * (1.0 - r)
    da_z = dz * z * (1.0 - z)
    # ∂L/∂gi = [∂a_r, ∂a_z, ∂a_n] ;  ∂L/∂gh_rz = [∂a_r, ∂a_z]
    dgi = np.concatenate([da_r, da_z, da_n], axis=1)  # (B, 3H)
    dgh_rz = np.concatenate([da_r, da_z], axis=1)  # (B, 2H)
    # ∂L/∂h += ∂L/∂gh_rz W_h{r,z}
    dh = dh + dgh_rz @ p["w_hh"][: 2 * hs]
    _accumulate_gru(grads, dgi, s["x"], dgh_rz, h, dgh_n, s["hn_in"])
    # ∂L/∂x = ∂L/∂gi W_ih
    return dgi @ p["w_ih"], dh, None


def _accumulate_gru(
    grads: Params, dgi: Array, x: Array, dgh_rz: Array, h: Array, dgh_n: Array, hn_in: Array
) -> None:
    """Accumulate GRU weight gradients (the n rows of W_hh see ``hn_in``, not ``h``)."""
    hs = h.shape[1]
    # ∂L/∂W_ih += Σ_b ∂L/∂gi ⊗ x
    grads["w_ih"] += dgi.T @ x  # (3H, E)
    # ∂L/∂W_h{r,z} += Σ_b ∂L/∂gh_rz ⊗ h
    grads["w_hh"][: 2 * hs] += dgh_rz.T @ h  # (2H, H)
    # ∂L/∂W_hn += Σ_b ∂L/∂gh_n ⊗ hn_in
    grads["w_hh"][2 * hs :] += dgh_n.T @ hn_in  # (H, H)
    if "b_ih" in grads:
        # ∂L/∂b_ih += Σ_b ∂L/∂gi
        grads["b_ih"] += dgi.sum(axis=0)  # (3H,)
    if "b_hh" in grads:
        # ∂L/∂b_hh += Σ_b [∂L/∂gh_rz, ∂L/∂gh_n]
        grads["b_hh"] += np.concatenate([dgh_rz, dgh_n], axis=1).sum(axis=0)  # (3H,)


# --------------------------------------------------------------------------------------------
# LSTM cell
# --------------------------------------------------------------------------------------------


def _peepholes(p: Params, hs: int, cfg: Config) -> tuple[Array, Array, Array]:
    """Split ``w_ch`` into ``(p_i, p_f, p_o)``; zeros when there are no peepholes."""
    if not cfg.peephole:
        zero = np.zeros(hs)  # (H,)
        return zero, zero, zero
    w_ch = p["w_ch"]
    return w_ch[:hs], w_ch[hs : 2 * hs], w_ch[2 * hs :]


def lstm_step(
    x: Array, h: Array, c: Array | None, p: Params, cfg: Config
) -> tuple[Array, Array | None, StepCache]:
    """One LSTM step (gate order i, f, g, o; optional diagonal peepholes [i, f, o])."""
    assert c is not None
    hs = h.shape[1]
    p_i, p_f, p_o = _peepholes(p, hs, cfg)
    # [a_i, a_f, a_g, a_o] = W_ih x + b_ih + W_hh h + b_hh
    a = affine(x, p["w_ih"], p.get("b_ih")) + affine(h, p["w_hh"], p.get("b_hh"))  # (B, 4H)
    # i = σ(a_i + p_i ⊙ c)
    i = sigmoid(a[:, :hs] + p_i * c)
    # f = σ(a_f + p_f ⊙ c)
    f = sigmoid(a[:, hs : 2 * hs] + p_f * c)
    # g = tanh(a_g)
    g = np.tanh(a[:, 2 * hs : 3 * hs])
    # c' = f ⊙ c + i ⊙ g
    c_new = f * c + i * g
    # o = σ(a_o + p_o ⊙ c')
    o = sigmoid(a[:, 3 * hs :] + p_o * c_new)
    # tc = tanh(c')
    tc = np.tanh(c_new)
    # h' = o ⊙ tanh(c')
    h_new = o * tc
    cache = {"x": x, "h": h, "c": c, "i": i, "f": f, "g": g, "o": o, "c_new": c_new, "tc": tc}
    return h_new, c_new, cache


def lstm_step_backward(
    dh_new: Array, dc_new: Array | None, s: StepCache, p: Params, grads: Params, cfg: Config
) -> tuple[Array, Array, Array | None]:
    """Backward of ``lstm_step``; returns ``(dx, dh, dc)``."""
    assert dc_new is not None
    i, f, g, o, c, tc = s["i"], s["f"], s["g"], s["o"], s["c"], s["tc"]
    hs = c.shape[1]
    p_i, p_f, p_o = _peepholes(p, hs, cfg)
    # ∂L/∂o = ∂L/∂h' ⊙ tanh(c')
    do = dh_new * tc
    # ∂L/∂a_o = ∂L/∂o ⊙ o (1 − o)
    da_o = do * o * (1.0 - o)
    # ∂L/∂c' (total) = ∂L/∂c' + ∂L/∂h' ⊙ o ⊙ (1 − tanh²(c')) + ∂L/∂a_o ⊙ p_o
    dc_tot = dc_new + dh_new * o * (1.0 - tc**2) + da_o * p_o
    # ∂L/∂i = ∂L/∂c' ⊙ g ;  ∂L/∂g = ∂L/∂c' ⊙ i ;  ∂L/∂f = ∂L/∂c' ⊙ c
    di, dg, df = dc_tot * g, dc_tot * i, dc_tot * c
    # ∂L/∂a_i = ∂L/∂i ⊙ i (1 − i) ;  ∂L/∂a_f = ∂L/∂f ⊙ f (1 − f) ;  ∂L/∂a_g = ∂L/∂g ⊙ (1 − g²)
    da_i, da_f, da_g = di * i * (1.0 - i), df * f * (1.0 - f), dg * (1.0 - g**2)
    # ∂L/∂c = ∂L/∂c' ⊙ f + ∂L/∂a_i ⊙ p_i + ∂L/∂a_f ⊙ p_f
    dc = dc_tot * f + da_i * p_i + da_f * p_f
    if "w_ch" in grads:
        # ∂L/∂p_{i,f,o} = Σ_b [∂a_i ⊙ c, ∂a_f ⊙ c, ∂a_o ⊙ c']
        dp = np.concatenate([da_i * c, da_f * c, da_o * s["c_new"]], axis=1)  # (B, 3H)
        grads["w_ch"] += dp.sum(axis=0)  # (3H,)
    # ∂L/∂a = [∂a_i, ∂a_f, ∂a_g, ∂a_o]
    da = np.concatenate([da_i, da_f, da_g, da_o], axis=1)  # (B, 4H)
    accumulate_linear(grads, da, s["x"], da, s["h"])
    # ∂L/∂x = ∂L/∂a W_ih ;  ∂L/∂h = ∂L/∂a W_hh
    return da @ p["w_ih"], da @ p["w_hh"], dc


StepFn = Callable[
    [Array, Array, Array | None, Params, Config], tuple[Array, Array | None, StepCache]
]
StepBackFn = Callable[
    [Array, Array | None, StepCache, Params, Params, Config], tuple[Array, Array, Array | None]
]

STEPS: dict[str, tuple[StepFn, StepBackFn]] = {
    "rnn_tanh": (rnn_step, rnn_step_backward),
    "rnn_relu": (rnn_step, rnn_step_backward),
    "gru": (gru_step, gru_step_backward),
    "lstm": (lstm_step, lstm_step_backward),
}


# --------------------------------------------------------------------------------------------
# one layer, one direction
# --------------------------------------------------------------------------------------------


def _check_layer(x: Array, h0: Array, c0: Array | None, p: Params, cfg: Config) -> None:
    """Validate shapes and the parameter set of one layer."""
    if cfg.mode not in GATES:
        raise ValueError(f"unknown mode {cfg.mode!r}; expected one of {MODES}")
    _, bs, es = x.shape
    hs = h0.shape[1]
    rows = GATES[cfg.mode] * hs
    expected = {"w_ih": (rows, es), "w_hh": (rows, hs), "b_ih": (rows,), "b_hh": (rows,)}
    if cfg.peephole:
        if cfg.mode != "lstm":
            raise ValueError("peephole is only defined for mode='lstm'")
        expected["w_ch"] = (3 * hs,)
    for key, arr in p.items():
        if key not in expected:
            raise ValueError(f"unexpected parameter {key!r} for {cfg}")
        if arr.shape != expected[key]:
            raise ValueError(f"{key} has shape {arr.shape}, expected {expected[key]}")
    for key in ("w_ih", "w_hh") + (("w_ch",) if cfg.peephole else ()):
        if key not in p:
            raise ValueError(f"missing parameter {key!r}")
    if h0.shape != (bs, hs):
        raise ValueError(f"h0 has shape {h0.shape}, expected {(bs, hs)}")
    if (c0 is None) != (cfg.mode != "lstm"):
        raise ValueError("c0 must be given for mode='lstm' and only then")
    if c0 is not None and c0.shape != (bs, hs):
        raise ValueError(f"c0 has shape {c0.shape}, expected {(bs, hs)}")


def _check_lengths(
    lengths: npt.ArrayLike | None, t_len: int, bs: int
) -> npt.NDArray[np.int64] | None:
    """Validate ``lengths`` (each in ``[1, T]``) and return it as an int array."""
    if lengths is None:
        return None
    arr = np.asarray(lengths, dtype=np.int64)  # (B,)
    if arr.shape != (bs,) or arr.min() < 1 or arr.max() > t_len:
        raise ValueError(f"lengths must be (B,)={bs} ints in [1, {t_len}], got {arr}")
    return arr


def time_mask(lengths: npt.NDArray[np.int64] | None, t_len: int, bs: int) -> Array:
    """Validity mask ``m[t, b] = 1[t < lengths[b]]``."""
    if lengths is None:
        return np.ones((t_len, bs, 1))  # (T, B, 1)
    # m_{t,b} = 1[t < len_b]
    return (np.arange(t_len)[:, None] < lengths[None, :]).astype(np.float64)[..., None]  # (T, B, 1)


def layer_forward(
    x: Array,
    h0: Array,
    c0: Array | None,
    p: Params,
    mode: str,
    *,
    reset_after: bool = True,
    peephole: bool = False,
    lengths: npt.ArrayLike | None = None,
) -> tuple[Array, Array, Array | None, LayerCache]:
    """Run one unidirectional layer over time; returns ``(out, hT, cT, cache)``.

    ``out`` is ``(T, B, H)`` with zeros past each sequence's length; ``hT``/``cT`` are the
    states after each sequence's last valid step.
    """
    cfg = Config(mode, reset_after, peephole)
    x = np.asarray(x, dtype=np.float64)
    p = {k: np.asarray(v, dtype=np.float64) for k, v in p.items()}
    h = np.asarray(h0, dtype=np.float64)
    c = None if c0 is None else np.asarray(c0, dtype=np.float64)
    _check_layer(x, h, c, p, cfg)
    t_len, bs, _ = x.shape
    mask = time_mask(_check_lengths(lengths, t_len, bs), t_len, bs)  # (T, B, 1)
    step = STEPS[mode][0]
    out = np.zeros((t_len, bs, h.shape[1]))  # (T, B, H)
    steps: list[StepCache] = []
    for t in range(t_len):
        m = mask[t]
        h_new, c_new, s = step(x[t], h, c, p, cfg)
        steps.append(s)
        # out_t = m_t ⊙ h'_t
        out[t] = m * h_new
        # h_t = m_t ⊙ h'_t + (1 − m_t) ⊙ h_{t−1}
        h = m * h_new + (1.0 - m) * h
        if c is not None and c_new is not None:
            # c_t = m_t ⊙ c'_t + (1 − m_t) ⊙ c_{t−1}
            c = m * c_new + (1.0 - m) * c
    return out, h, c, LayerCache(cfg, p, x, mask, steps)


def layer_backward(
    dout: Array | None, dhT: Array | None, dcT: Array | None, cache: LayerCache
) -> dict[str, Array | None]:
    """Hand-written BPTT through one layer.

    Returns ``{"x", "h0", "c0", "w_ih", "w_hh", [+ "b_ih", "b_hh", "w_ch"]}``; ``"c0"`` is
    ``None`` for non-LSTM modes and only the parameters present in the forward are returned.
    """
    cfg, p, x = cache.cfg, cache.params, cache.x
    t_len, bs, _ = x.shape
    hs = p["w_hh"].shape[1]
    is_lstm = cfg.mode == "lstm"
    step_back = STEPS[cfg.mode][1]
    grads: Params = {k: np.zeros_like(v) for k, v in p.items()}
    dout = np.zeros((t_len, bs, hs)) if dout is None else np.asarray(dout, dtype=np.float64)
    dh = np.zeros((bs, hs)) if dhT is None else np.array(dhT, dtype=np.float64)  # (B, H)
    dc = None
    if is_lstm:
        dc = np.zeros((bs, hs)) if dcT is None else np.array(dcT, dtype=np.float64)  # (B, H)
    dx = np.zeros_like(x)  # (T, B, E)
    for t in reversed(range(t_len)):
        m = cache.mask[t]
        # ∂L/∂h'_t = m_t ⊙ (∂L/∂out_t + ∂L/∂h_t)
        dh_new = m * (dout[t] + dh)
        # ∂L/∂c'_t = m_t ⊙ ∂L/∂c_t
        dc_new = None if dc is None else m * dc
        dx[t], dh_prev, dc_prev = step_back(dh_new, dc_new, cache.steps[t], p, grads, cfg)
        # ∂L/∂h_{t−1} = (1 − m_t) ⊙ ∂L/∂h_t + (∂h'_t/∂h_{t−1})ᵀ ∂L/∂h'_t
        dh = (1.0 - m) * dh + dh_prev
        if dc is not None and dc_prev is not None:
            # ∂L/∂c_{t−1} = (1 − m_t) ⊙ ∂L/∂c_t + (∂c'_t/∂c_{t−1})ᵀ ∂L/∂c'_t
            dc = (1.0 - m) * dc + dc_prev
    result: dict[str, Array | None] = {"x": dx, "h0": dh, "c0": dc}
    result.update(grads)
    return result


# --------------------------------------------------------------------------------------------
# deep / bidirectional wrapper with torch.nn names
# --------------------------------------------------------------------------------------------


def reverse_padded(a: Array, lengths: npt.NDArray[np.int64] | None) -> Array:
    """Reverse each sequence within its own length; padded steps stay in place.

    The map is a permutation of time steps per sequence and its own inverse, so it is also
    its own adjoint (used unchanged in the backward pass).
    """
    t_len, bs = a.shape[:2]
    if lengths is None:
        return a[::-1].copy()  # (T, B, F)
    t = np.arange(t_len)[:, None]  # (T, 1)
    # src(t, b) = len_b − 1 − t if t < len_b else t
    src = np.where(t < lengths[None, :], lengths[None, :] - 1 - t, t)  # (T, B)
    return a[src, np.arange(bs)[None, :]]  # (T, B, F)


def param_name(stem: str, layer: int, direction: int) -> str:
    """torch.nn parameter name, e.g. ``weight_ih_l1_reverse``."""
    return f"{stem}_l{layer}{'_reverse' if direction else ''}"


def layer_params(params: Params, layer: int, direction: int) -> Params:
    """Extract the short-named parameters of one (layer, direction)."""
    names = ((short, param_name(stem, layer, direction)) for stem, short in TORCH_NAMES.items())
    return {short: params[name] for short, name in names if name in params}


def _split_hx(
    hx: Array | tuple[Array, Array] | None, mode: str, shape: tuple[int, int, int]
) -> tuple[Array, Array | None]:
    """Turn ``hx`` into ``(h0, c0)`` arrays of shape ``(L*D, B, H)`` (zeros when absent)."""
    if hx is None:
        return np.zeros(shape), (np.zeros(shape) if mode == "lstm" else None)
    if mode == "lstm":
        h0, c0 = hx  # type: ignore[misc]
        return np.asarray(h0, dtype=np.float64), np.asarray(c0, dtype=np.float64)
    return np.asarray(hx, dtype=np.float64), None


def _check_params(
    params: Params, mode: str, num_layers: int, num_dirs: int, peephole: bool
) -> None:
    """Reject unknown parameter names and peephole weights without ``peephole=True``."""
    known = {
        param_name(stem, k, d)
        for stem in TORCH_NAMES
        for k in range(num_layers)
        for d in range(num_dirs)
    }
    unknown = sorted(set(params) - known)
    if unknown:
        raise ValueError(f"unknown parameters for {mode} L={num_layers} D={num_dirs}: {unknown}")
    if any(name.startswith("weight_ch") for name in params) and not peephole:
        raise ValueError("weight_ch_* given but peephole=False")


def forward(
    x: Array,
    hx: Array | tuple[Array, Array] | None,
    params: Params,
    mode: str,
    *,
    num_layers: int = 1,
    bidirectional: bool = False,
    reset_after: bool = True,
    peephole: bool = False,
    lengths: npt.ArrayLike | None = None,
) -> tuple[Array, Array, Array | None, NetCache]:
    """Deep / bidirectional forward; returns ``(out, h_n, c_n, cache)``.

    ``out`` is ``(T, B, D*H)``, ``h_n``/``c_n`` are ``(L*D, B, H)`` indexed ``k*D + d``.
    """
    x = np.asarray(x, dtype=np.float64)
    t_len, bs, _ = x.shape
    num_dirs = 2 if bidirectional else 1
    hs = params["weight_hh_l0"].shape[1]
    _check_params(params, mode, num_layers, num_dirs, peephole)
    lens = _check_lengths(lengths, t_len, bs)
    h0, c0 = _split_hx(hx, mode, (num_layers * num_dirs, bs, hs))
    cache = NetCache(Config(mode, reset_after, peephole), num_layers, num_dirs, hs, lens)
    h_n = np.zeros((num_layers * num_dirs, bs, hs))  # (L*D, B, H)
    c_n = None if c0 is None else np.zeros_like(h_n)  # (L*D, B, H)
    layer_in = x  # (T, B, E)
    for k in range(num_layers):
        outs, caches = [], []
        for d in range(num_dirs):
            idx = k * num_dirs + d
            xin = reverse_padded(layer_in, lens) if d else layer_in  # (T, B, E_k)
            out_d, h_n[idx], c_last, lc = layer_forward(
                xin,
                h0[idx],
                None if c0 is None else c0[idx],
                layer_params(params, k, d),
                mode,
                reset_after=reset_after,
                peephole=peephole,
                lengths=lens,
            )
            if c_n is not None and c_last is not None:
                c_n[idx] = c_last
            outs.append(reverse_padded(out_d, lens) if d else out_d)  # (T, B, H)
            caches.append(lc)
        cache.layers.append(caches)
        # out_k = [out_fwd, out_rev]
        layer_in = np.concatenate(outs, axis=2)  # (T, B, D*H)
    return layer_in, h_n, c_n, cache


def backward(
    dout: Array | None, dh_n: Array | None, dc_n: Array | None, cache: NetCache
) -> dict[str, Array]:
    """Hand-written BPTT through the deep / bidirectional network.

    Returns ``{"input", "h0", ["c0"], <every torch parameter name>}``.
    """
    hs, num_dirs, lens = cache.hidden_size, cache.num_directions, cache.lengths
    t_len, bs, _ = cache.layers[0][0].x.shape
    is_lstm = cache.cfg.mode == "lstm"
    n_states = cache.num_layers * num_dirs
    d_above = np.zeros((t_len, bs, num_dirs * hs)) if dout is None else np.asarray(dout)
    dh_n = np.zeros((n_states, bs, hs)) if dh_n is None else np.asarray(dh_n)  # (L*D, B, H)
    dc_n = np.zeros((n_states, bs, hs)) if dc_n is None else np.asarray(dc_n)  # (L*D, B, H)
    grads: dict[str, Array] = {}
    dh0 = np.zeros((n_states, bs, hs))  # (L*D, B, H)
    dc0 = np.zeros((n_states, bs, hs))  # (L*D, B, H)
    for k in reversed(range(cache.num_layers)):
        d_in = np.zeros_like(cache.layers[k][0].x)  # (T, B, E_k)
        for d in range(num_dirs):
            idx = k * num_dirs + d
            dout_d = d_above[:, :, d * hs : (d + 1) * hs]  # (T, B, H)
            if d:
                # reversal is its own adjoint
                dout_d = reverse_padded(dout_d, lens)  # (T, B, H)
            g = layer_backward(
                dout_d, dh_n[idx], dc_n[idx] if is_lstm else None, cache.layers[k][d]
            )
            dx = g.pop("x")
            assert dx is not None
            # ∂L/∂in_k += ∂L/∂x_{k,d} (un-reversed for the reverse direction)
            d_in += reverse_padded(dx, lens) if d else dx  # (T, B, E_k)
            dh0[idx] = g.pop("h0")
            dc_idx = g.pop("c0")
            if dc_idx is not None:
                dc0[idx] = dc_idx
            for stem, short in TORCH_NAMES.items():
                if short in g:
                    grads[param_name(stem, k, d)] = g[short]  # type: ignore[assignment]
        d_above = d_in
    result: dict[str, Array] = {"input": d_above, "h0": dh0}
    if is_lstm:
        result["c0"] = dc0
    result.update(grads)
    return result
