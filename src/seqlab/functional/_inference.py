"""Inference loops of the BPTT kernels: the same equations as :mod:`seqlab.functional.bptt`,
run where no gradient is wanted, saving nothing for backward.

Training has to keep every gate activation for the backward pass; inference needs none of
them, so these loops are shaped for the fewest operations per time step, which is where a
recurrent network spends its time once the matrix products are fast (see docs/speed.md):

* The state and the input of a step sit side by side in one buffer ``z[t] = [h<t-1>, x<t>]``
  and the recurrent and input weights side by side in one matrix, so a single GEMM computes
  ``W_hh h + W_ih x + b_ih + b_hh`` (the same FLOPs as one input projection for all steps
  plus one recurrent product per step, without the per-step addition).
* Where a whole gate block ends in one activation (the GRU's ``r, z`` and candidate, the
  RNN), the activation runs inside the GEMM as a oneDNN post-op
  (:class:`seqlab.functional._gemm.Weight`).
* tanh(x) = 2σ(2x) − 1, and torch's CPU sigmoid is several times faster than its tanh: the
  LSTM's candidate rows are scaled by 2 in the weights (exact in floating point) so one
  sigmoid covers ``i, f, g``, and the cell state is kept doubled (``2c``) so that tanh(c) is
  one sigmoid too; the factors are folded into the peepholes and the update.
* Each new state is written in place where the next step reads it.
* The LSTM (peepholes or not) and the original GRU in float32 on the CPU run their whole
  loop over time steps in compiled code (:mod:`seqlab.functional._fused_step`): per step a
  brgemm call and one vectorised loop for the gate math, no Python, the batch's rows shared
  among threads. The torch-op loops below serve float64, CUDA, tracing, a torch without the
  brgemm kernel, and ``SEQLAB_FUSED=0``.

Masks (variable lengths) carry the state through unchanged where ``mask[t, b]`` is false,
and zero the output there, as the training kernels do. Tested against the autograd loop,
torch.nn and the NumPy oracle with the rest of the kernels.
"""

from __future__ import annotations

import torch
from torch import Tensor

from seqlab.functional import _fused_step
from seqlab.functional._gemm import Weight, linear
from seqlab.functional._time import reverse_masked

__all__ = ["infer"]


def _bias(b_ih: Tensor | None, b_hh: Tensor | None) -> Tensor | None:
    """b_ih + b_hh, either of which may be absent (both add to the same pre-activation)."""
    if b_ih is None:
        return b_hh
    return b_ih if b_hh is None else b_ih + b_hh


def _rows(b: Tensor | None, start: int, stop: int) -> Tensor | None:
    return None if b is None else b[start:stop]


def _joint(w_hh: Tensor, w_ih: Tensor) -> Tensor:
    """[W_hh, W_ih]: one weight for ``z = [h, x]``.  (G, H), (G, E) -> (G, H+E)"""
    return torch.cat([w_hh, w_ih], dim=1)


def infer(
    mode: str,
    x: Tensor,
    h0: Tensor,
    c0: Tensor | None,
    w_ih: Tensor,
    b_ih: Tensor | None,
    w_hh: Tensor,
    b_hh: Tensor | None,
    w_ch: Tensor | None = None,
    mask: Tensor | None = None,
    reverse: bool = False,
) -> tuple[Tensor, Tensor, Tensor | None]:
    """:func:`seqlab.functional.bptt.scan` without autograd: same arguments and results.

    Shape:
        x: (T, B, E), h0/c0: (B, H), mask: (T, B, 1) -> out (T, B, H), (B, H), (B, H)
    """
    steps, batch, hidden = x.shape[0], x.shape[1], h0.shape[-1]
    with torch.no_grad():
        tensors = (x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_ch)
        compiled = mode in _fused_step.MODES and steps > 0
        if compiled and _fused_step.usable(*tensors):
            if mode == "gru":
                out, h_last = _fused_step.gru_after(x, h0, w_ih, w_hh, b_ih, b_hh, mask, reverse)
                return out, h_last, None
            b = _bias(b_ih, b_hh)
            if c0 is not None:
                return _fused_step.lstm(x, h0, c0, w_ih, w_hh, b, w_ch, mask, reverse)
            return (*_fused_step.gru(x, h0, w_ih, w_hh, b, mask, reverse), None)
        if reverse:  # the loops below run forward in time: reverse around them
            out, h_last, c_last = infer(
                mode, reverse_masked(x, mask), h0, c0, w_ih, b_ih, w_hh, b_hh, w_ch, mask
            )
            return reverse_masked(out, mask), h_last, c_last
        z = x.new_empty(steps + 1, batch, hidden + x.shape[-1])  # (T+1, B, H+E): [h<t-1>, x<t>]
        z[:steps, :, hidden:] = x
        z[0, :, :hidden] = h0
        states = z[:, :, :hidden]  # (T+1, B, H), a view: states[t] = h<t>
        masks = [None] * steps if mask is None else list(mask.unbind(0))
        c_last = None
        if mode in ("rnn_tanh", "rnn_relu"):
            _rnn(mode, z, states, w_ih, w_hh, _bias(b_ih, b_hh), masks)
        elif mode == "gru_reset_before":
            _gru_reset_before(x, z, states, w_ih, b_ih, w_hh, b_hh, masks)
        elif mode == "gru":
            _gru(x, z, states, w_ih, b_ih, w_hh, b_hh, masks)
        else:
            assert c0 is not None
            c_last = _lstm(z, states, c0, w_ih, w_hh, _bias(b_ih, b_hh), w_ch, masks)
        out = states[1:] if mask is None else states[1:] * mask  # (T, B, H)
        return out.contiguous(), states[-1].clone(), c_last


def _store(new: Tensor, states: Tensor, t: int, m: Tensor | None) -> None:
    """states[t+1] = new where the step is valid, else states[t]."""
    states[t + 1] = new if m is None else torch.where(m, new, states[t])


def _store_lerp(n: Tensor, z: Tensor, states: Tensor, t: int, m: Tensor | None) -> None:
    """The GRU's update: states[t+1] = (1 − z) ⊙ n + z ⊙ h<t-1> where the step is valid
    (written in place), else states[t]."""
    h = states[t]
    if m is None:
        torch.lerp(n, h, z, out=states[t + 1])
    else:
        _store(torch.lerp(n, h, z), states, t, m)


def _rnn(
    mode: str,
    z: Tensor,
    states: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b: Tensor | None,
    masks: list,
) -> None:
    # a<t> = g(W_aa a<t-1> + W_ax x<t> + b), g fused into the GEMM
    w = Weight(_joint(w_hh, w_ih), z.shape[1], "tanh" if mode == "rnn_tanh" else "relu")
    for t, m in enumerate(masks):
        _store(w(z[t], b), states, t, m)  # (B, H)


def _gru_reset_before(
    x: Tensor,
    z: Tensor,
    states: Tensor,
    w_ih: Tensor,
    b_ih: Tensor | None,
    w_hh: Tensor,
    b_hh: Tensor | None,
    masks: list,
) -> None:
    hidden = states.shape[-1]
    batch = z.shape[1]
    two = 2 * hidden
    b = _bias(b_ih, b_hh)
    # Γr, z = σ(W_r [c<t-1>, x<t>] + b): one GEMM with the sigmoid as post-op
    w_rz = Weight(_joint(w_hh[:two], w_ih[:two]), batch, "sigmoid")
    # c̃ = tanh(W_c [Γr ⊙ c<t-1>, x<t>] + b_c): one GEMM with tanh as post-op
    w_n = Weight(_joint(w_hh[two:], w_ih[two:]), batch, "tanh")
    b_rz, b_n = _rows(b, 0, two), _rows(b, two, None)  # type: ignore[arg-type]
    y = torch.empty_like(z[:-1])  # (T, B, H+E): [Γr ⊙ c<t-1>, x<t>]
    y[:, :, hidden:] = x
    for t, m in enumerate(masks):
        h = states[t]
        rz = w_rz(z[t], b_rz)  # (B, 2H)
        torch.mul(rz[:, :hidden], h, out=y[t, :, :hidden])  # Γr ⊙ c<t-1>
        n = w_n(y[t], b_n)  # (B, H)
        # c<t> = Γu ⊙ c̃ + (1 − Γu) ⊙ c<t-1>, with z = 1 − Γu
        _store_lerp(n, rz[:, hidden:], states, t, m)


def _gru(
    x: Tensor,
    z: Tensor,
    states: Tensor,
    w_ih: Tensor,
    b_ih: Tensor | None,
    w_hh: Tensor,
    b_hh: Tensor | None,
    masks: list,
) -> None:
    steps, batch, hidden = x.shape[0], x.shape[1], states.shape[-1]
    two = 2 * hidden
    # r, z = σ(W_i x + b_i + W_h h + b_h): one GEMM with the sigmoid as post-op
    w_rz = Weight(_joint(w_hh[:two], w_ih[:two]), batch, "sigmoid")
    b_rz = _rows(_bias(b_ih, b_hh), 0, two)
    w_hn = Weight(w_hh[two:], batch)
    b_hn = _rows(b_hh, two, None)  # type: ignore[arg-type]
    # W_in x + b_in for every step at once
    xn = linear(x.reshape(steps * batch, -1), w_ih[two:], _rows(b_ih, two, None))  # type: ignore[arg-type]
    xn = xn.view(steps, batch, hidden)  # (T, B, H)
    for t, m in enumerate(masks):
        h = states[t]
        rz = w_rz(z[t], b_rz)  # (B, 2H)
        # n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)) = 2σ(2·) − 1
        n = xn[t].addcmul_(rz[:, :hidden], w_hn(h, b_hn)).mul_(2.0).sigmoid_().mul_(2.0).sub_(1.0)
        # h' = (1 − z) ⊙ n + z ⊙ h
        _store_lerp(n, rz[:, hidden:], states, t, m)


def _lstm(
    z: Tensor,
    states: Tensor,
    c0: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b: Tensor | None,
    w_ch: Tensor | None,
    masks: list,
) -> Tensor:
    """The LSTM loop (with peepholes if ``w_ch`` is given); returns c<T>."""
    hidden = states.shape[-1]
    batch = z.shape[1]
    two, three = 2 * hidden, 3 * hidden
    # the candidate's rows doubled (exact): σ(2 pre_g) gives tanh(pre_g) = 2σ(2 pre_g) − 1
    w = _joint(w_hh, w_ih)  # (4H, H+E)
    w[two:three] *= 2.0
    if b is not None:
        b = b.clone()
        b[two:three] *= 2.0
    gemm = Weight(w, batch)
    peep_if = peep_o = None
    if w_ch is not None:  # p ⊙ c = (p / 2) ⊙ 2c: the peepholes read the doubled cell state
        peep_if = (w_ch[:two] * 0.5).view(2, hidden)  # (2, H)
        peep_o = w_ch[two:] * 0.5  # (H,)
    c2 = c0 * 2.0  # (B, H): 2c<t>
    for t, m in enumerate(masks):
        g4 = gemm(z[t], b)  # (B, 4H): W_hh a<t-1> + W_ih x<t> + b, candidate doubled
        if peep_if is not None:
            g4[:, :two].view(batch, 2, hidden).addcmul_(peep_if, c2.unsqueeze(1))
        g4[:, :three].sigmoid_()  # Γu, Γf, σ(2 pre_g)
        i, f, sg, o = g4[:, :hidden], g4[:, hidden:two], g4[:, two:three], g4[:, three:]
        # 2c<t> = Γf ⊙ 2c<t-1> + 2 Γu ⊙ (2σ(2 pre_g) − 1)
        c2_new = torch.mul(f, c2).addcmul_(i, sg, value=4.0).sub_(i, alpha=2.0)
        if peep_o is not None:
            o.addcmul_(peep_o, c2_new)
        o.sigmoid_()  # Γo
        s = torch.sigmoid(c2_new)  # σ(2c<t>): tanh(c<t>) = 2s − 1
        # a<t> = Γo ⊙ tanh(c<t>) = Γo + 2 Γo ⊙ s − 2 Γo
        if m is None:
            torch.addcmul(o, o, s, value=2.0, out=states[t + 1]).sub_(o, alpha=2.0)
            c2 = c2_new
        else:
            h_new = torch.addcmul(o, o, s, value=2.0).sub_(o, alpha=2.0)
            _store(h_new, states, t, m)
            c2 = torch.where(m, c2_new, c2)
    return c2 * 0.5
