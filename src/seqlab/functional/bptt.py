"""Whole-sequence recurrences with a hand-written backward pass through time.

The readable way to run a cell is a Python loop of ``functional.recurrent`` steps under
autograd: correct, but every step records a dozen graph nodes and the weight gradients
are summed one small product at a time. These kernels run the same equations with
autograd switched off, keep what the backward pass needs in preallocated buffers, and in
backward compute the per-step gate gradients by hand (the chain rule through the course's
equations, written out below) and the weight gradients with one large matrix product over
all time steps. The input projection ``W_ih x<t> + b_ih`` of all steps is one GEMM, and so
are its two gradients.

Masks implement variable lengths (``PackedSequence``): where ``mask[t, b]`` is false the
state of sequence ``b`` is carried through unchanged and its output is zero.

The kernels run one dtype throughout (their buffers are preallocated): under autocast they
switch it off and compute in the widest dtype of their inputs, as
``torch.amp.custom_fwd(cast_inputs=...)`` would. They cannot be traced (in-place buffers,
oneDNN calls, a hand-written backward): ``seqlab.nn`` runs the autograd loop instead while
torch.compile, torch.export or torch.jit.trace records the forward (:func:`tracing`).

Every kernel is checked against the autograd loop and the NumPy oracle in
``tests/reference/numpy_rnn.py``, and with ``torch.autograd.gradcheck``.
"""

from __future__ import annotations

import functools
from typing import Any, Literal

import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx, once_differentiable

from seqlab.functional import _fused_step
from seqlab.functional._gemm import Weight, grad_weight, linear, tracing
from seqlab.functional._inference import _bias, _joint, infer
from seqlab.functional._time import reverse_masked

__all__ = ["Mode", "scan", "tracing"]

Mode = Literal["rnn_tanh", "rnn_relu", "gru", "gru_reset_before", "lstm", "lstm_peephole"]


def _tanh(x: Tensor, out: Tensor | None = None) -> Tensor:
    """tanh(x) = 2σ(2x) − 1: torch's CPU sigmoid is several times faster than its tanh."""
    y = torch.mul(x, 2.0, out=out) if out is not None else x * 2.0
    return y.sigmoid_().mul_(2.0).sub_(1.0)


def _tanh_(x: Tensor) -> Tensor:
    """In-place :func:`_tanh`."""
    return x.mul_(2.0).sigmoid_().mul_(2.0).sub_(1.0)


def _carry(new: Tensor, old: Tensor, m: Tensor | None) -> Tensor:
    """The next state: ``new`` where the step is valid, else ``old`` unchanged."""
    return new if m is None else torch.where(m, new, old)


def _split_grad(g: Tensor, m: Tensor | None) -> tuple[Tensor, Tensor | None]:
    """Split the gradient of a carried state into (into the cell, straight to the past)."""
    if m is None:
        return g, None
    return torch.where(m, g, 0.0), torch.where(m, 0.0, g)


def _weight_grads(dpre: Tensor, inputs: Tensor) -> Tensor:
    """sum_t dpre_t^T inputs_t as one GEMM.  (T, B, G*H), (T, B, H) -> (G*H, H)"""
    return grad_weight(dpre.reshape(-1, dpre.shape[-1]), inputs.reshape(-1, inputs.shape[-1]))


class _Scan(torch.autograd.Function):
    """Autograd function for one layer in one direction; see :func:`scan`."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: FunctionCtx,
        mode: Mode,
        x: Tensor,
        h0: Tensor,
        c0: Tensor | None,
        w_ih: Tensor,
        b_ih: Tensor | None,
        w_hh: Tensor,
        b_hh: Tensor | None,
        w_ch: Tensor | None,
        mask: Tensor | None,
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        steps = x.shape[0]
        saved: dict[str, Tensor | list[Tensor]] = {}
        masks = [None] * steps if mask is None else mask.unbind(0)
        # float32 on the CPU: the LSTM's and the GRUs' loops in compiled code
        ctx.compiled = (
            mode in _fused_step.MODES
            and steps > 0
            and _fused_step.usable(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_ch)
        )
        if ctx.compiled:
            states, cells = _compiled_forward(
                mode, x, h0, c0, w_ih, b_ih, w_hh, b_hh, w_ch, mask, saved
            )
        else:
            states, cells = _torch_op_forward(
                mode, x, h0, c0, w_ih, b_ih, w_hh, b_hh, w_ch, masks, saved
            )
        out = states[1:] if mask is None else states[1:] * mask  # (T, B, H)
        if mode in _JOINT and not ctx.compiled:
            out = out.contiguous()
        ctx.mode = mode
        ctx.device_type = x.device.type
        # lists (one tensor per step) are saved flat; ctx.layout says how to regroup them
        ctx.layout = [(k, len(v) if isinstance(v, list) else None) for k, v in saved.items()]
        flat = [u for v in saved.values() for u in (v if isinstance(v, list) else [v])]
        ctx.save_for_backward(x, states, cells, w_ih, w_hh, b_hh, w_ch, mask, *flat)
        ctx.has_b_ih = b_ih is not None
        ctx.has_b_hh = b_hh is not None
        c_last = None if cells is None else cells[-1].clone()
        return out, states[-1].clone(), c_last

    @staticmethod
    @once_differentiable
    def backward(  # type: ignore[override]
        ctx: Any, d_out: Tensor | None, d_hn: Tensor | None, d_cn: Tensor | None
    ) -> tuple[Tensor | None, ...]:
        # one dtype throughout, as in forward, even if backward is called under autocast
        with torch.autocast(ctx.device_type, enabled=False):
            return _Scan.grads(ctx, d_out, d_hn, d_cn)

    @staticmethod
    def grads(
        ctx: Any, d_out: Tensor | None, d_hn: Tensor | None, d_cn: Tensor | None
    ) -> tuple[Tensor | None, ...]:
        """The gradients of :meth:`forward`'s inputs (backward through time)."""
        x, states, cells, w_ih, w_hh, b_hh, w_ch, mask, *rest = ctx.saved_tensors
        saved: dict[str, Any] = {}
        for key, n in ctx.layout:
            saved[key], rest = (rest[0], rest[1:]) if n is None else (rest[:n], rest[n:])
        mode: Mode = ctx.mode
        if ctx.compiled and mode == "gru_reset_before":
            return _compiled_gru_grads(ctx, saved, x, states, w_ih, w_hh, mask, d_out, d_hn)
        if ctx.compiled and mode == "gru":
            return _compiled_gru_after_grads(ctx, saved, x, states, w_ih, w_hh, mask, d_out,
                                             d_hn)  # fmt: skip
        if ctx.compiled:
            return _compiled_lstm_grads(ctx, saved, x, states, cells, w_ih, w_hh, w_ch, mask,
                                        d_out, d_hn, d_cn)  # fmt: skip
        steps, batch, hidden = states.shape[0] - 1, states.shape[1], states.shape[2]
        gsize = w_hh.shape[0]
        dh = torch.zeros_like(states[0]) if d_hn is None else d_hn.clone()  # (B, H)
        if d_out is not None and mask is not None:
            d_out = d_out * mask  # out_t = m_t ⊙ state_t
        dxp = states.new_empty(steps, batch, gsize)  # (T, B, G*H): d pre-activations
        dhp = dxp  # gradient of W_hh h + b_hh (differs from dxp only in torch's GRU)
        dc = None
        if mode in ("lstm", "lstm_peephole"):
            dc = torch.zeros_like(states[0]) if d_cn is None else d_cn.clone()
        if mode == "gru":
            dhp = states.new_empty(steps, batch, gsize)
        peep = w_ch.chunk(3) if mode == "lstm_peephole" else None
        if mode == "gru_reset_before":
            w_rz_t = Weight(w_hh[: 2 * hidden].t(), batch)  # products d · W_rz
            w_n_t = Weight(w_hh[2 * hidden :].t(), batch)  # products d · W_hn
            # the two blocks' gradients in separate contiguous buffers: the per-step GEMMs
            # and the weight gradients read them without a copy
            d_rz_all = states.new_empty(steps, batch, 2 * hidden)  # (T, B, 2H)
            d_n_all = states.new_empty(steps, batch, hidden)  # (T, B, H)
        else:
            w_hh_t = Weight(w_hh.t(), batch)  # products d · W_hh
        one = states.new_ones(())
        gates = saved.get("gates")
        if peep is not None:
            acc = states.new_zeros(3, batch, hidden)  # Σ_t of dpre ⊙ c for the peepholes
        for t in range(steps - 1, -1, -1):
            if d_out is not None:
                dh.add_(d_out[t])
            m = None if mask is None else mask[t]
            dnew, dh_prev = _split_grad(dh, m)  # into the cell / straight to a<t-1>
            h = states[t]
            dpre = dxp[t]  # (B, G*H)
            if mode in ("rnn_tanh", "rnn_relu"):
                a = gates[t]
                # tanh' = 1 − a², relu' = [a > 0]
                if mode == "rnn_tanh":
                    torch.mul(dnew, torch.addcmul(one, a, a, value=-1), out=dpre)
                else:
                    torch.mul(dnew, a > 0, out=dpre)
                dh = w_hh_t(dpre)  # (B, H) x (H, H) -> (B, H)
            elif mode == "gru":
                r, z, n = gates[t].split(hidden, dim=1)
                d_r, d_z, d_n = dpre.split(hidden, dim=1)
                hn = saved["hn"][t]  # W_hn h + b_hn
                # h' = (1 − z) n + z h;  n = tanh(·): dn_pre = dh' (1 − z)(1 − n²)
                torch.mul(dnew, torch.addcmul(one, n, n, value=-1), out=d_n).mul_(1 - z)
                torch.mul(d_n, r, out=dhp[t, :, 2 * hidden :])
                # r = σ(·): dr_pre = dn_pre ⊙ hn ⊙ r(1 − r)
                torch.mul(d_n, hn, out=d_r).mul_(torch.addcmul(r, r, r, value=-1))
                # z = σ(·): dz_pre = dh' ⊙ (h − n) ⊙ z(1 − z)
                torch.mul(dnew, h - n, out=d_z).mul_(torch.addcmul(z, z, z, value=-1))
                dhp[t, :, : 2 * hidden] = dpre[:, : 2 * hidden]
                dh = w_hh_t(dhp[t]).addcmul_(dnew, z)  # (B, 3H) x (3H, H) -> (B, H)
            elif mode == "gru_reset_before":
                rz, n = saved["rz"][t], saved["n"][t]
                r, z = rz.split(hidden, dim=1)
                d_rz, d_n = d_rz_all[t], d_n_all[t]
                d_r, d_z = d_rz.split(hidden, dim=1)
                # c<t> = (1 − z) c̃ + z c<t-1>, c̃ = tanh(·): dn_pre = dh' (1 − n²)(1 − z)
                dn = torch.addcmul(one, n, n, value=-1).mul_(dnew)
                torch.addcmul(dn, dn, z, value=-1, out=d_n)
                drh = w_n_t(d_n)  # d(Γr ⊙ c<t-1>)   (B, H) x (H, H) -> (B, H)
                torch.mul(drh, h, out=d_r)  # dΓr = drh ⊙ c<t-1>
                torch.mul(dnew, h - n, out=d_z)  # dz = dh' ⊙ (c<t-1> − c̃)
                d_rz.mul_(torch.addcmul(rz, rz, rz, value=-1))  # σ' = s(1 − s), both gates
                dh = w_rz_t(d_rz)  # (B, 2H) x (2H, H) -> (B, H)
                dh.addcmul_(dnew, z).addcmul_(drh, r)
            else:
                if dc is None:
                    raise RuntimeError("internal error: an LSTM step without its cell gradient")
                i, f, g, o = saved["ifgo"][t].split(hidden, dim=1)
                d_i, d_f, d_g, d_o = dpre.split(hidden, dim=1)
                tc = saved["tanh_c"][t]
                c_prev = cells[t]
                dcnew, dc_prev = _split_grad(dc, m)
                # a = o ⊙ tanh(c): dc += da ⊙ o ⊙ (1 − tanh²c), do_pre = da ⊙ tanh(c) ⊙ o(1 − o)
                dcnew = torch.addcmul(dcnew, dnew * o, torch.addcmul(one, tc, tc, value=-1))
                torch.mul(dnew, tc, out=d_o).mul_(torch.addcmul(o, o, o, value=-1))
                if peep is not None:
                    dcnew.addcmul_(d_o, peep[2])
                # c = f ⊙ c_prev + i ⊙ g
                torch.mul(dcnew, g, out=d_i).mul_(torch.addcmul(i, i, i, value=-1))
                torch.mul(dcnew, c_prev, out=d_f).mul_(torch.addcmul(f, f, f, value=-1))
                torch.mul(dcnew, i, out=d_g).mul_(torch.addcmul(one, g, g, value=-1))
                dc = dcnew.mul_(f)
                if peep is not None:
                    dc.addcmul_(d_i, peep[0]).addcmul_(d_f, peep[1])
                    acc[0].addcmul_(d_i, c_prev)
                    acc[1].addcmul_(d_f, c_prev)
                    acc[2].addcmul_(d_o, cells[t + 1])
                if dc_prev is not None:
                    dc.add_(dc_prev)
                dh = w_hh_t(dpre)  # (B, 4H) x (4H, H) -> (B, H)
            if dh_prev is not None:
                dh.add_(dh_prev)
        if mode == "gru_reset_before":
            return _gru_reset_before_grads(ctx, saved, d_rz_all, d_n_all, x, w_ih, dh)
        flat = dxp.view(steps * batch, gsize)  # (T*B, G*H)
        if mode in _JOINT:
            # d[W_hh, W_ih] = Σ_t dpre_t^T [h<t-1>, x<t>]: one GEMM per weight block
            zs = saved["z"][:-1]  # (T, B, H+E)
            d_w = _weight_grads(dxp, zs)  # (4H, H+E)
            d_whh, d_wih = d_w[:, :hidden].contiguous(), d_w[:, hidden:].contiguous()
        else:
            d_whh = _weight_grads(dhp, states[:-1])  # (G*H, H)
            d_wih = grad_weight(flat, x.reshape(steps * batch, -1))  # (G*H, E)
        d_bhh = None if b_hh is None else dhp.sum((0, 1))
        d_wch = acc.sum(1).view(-1) if peep is not None else None  # (3H,)
        dx = linear(flat, w_ih.t()).view(x.shape)  # (T*B, G*H) x (G*H, E) -> (T, B, E)
        d_bih = None
        if ctx.has_b_ih:
            d_bih = d_bhh.clone() if d_bhh is not None and dhp is dxp else dxp.sum((0, 1))
        return None, dx, dh, dc, d_wih, d_bih, d_whh, d_bhh, d_wch, None


def _compiled_forward(
    mode: Mode,
    x: Tensor,
    h0: Tensor,
    c0: Tensor | None,
    w_ih: Tensor,
    b_ih: Tensor | None,
    w_hh: Tensor,
    b_hh: Tensor | None,
    w_ch: Tensor | None,
    mask: Tensor | None,
    saved: dict[str, Any],
) -> tuple[Tensor, Tensor | None]:
    """The forward of the LSTM modes and the GRUs in compiled code
    (:mod:`seqlab.functional._fused_step`); returns the states and cells (None for a GRU)
    and fills ``saved`` with what backward reads.

    Shape:
        x: (T, B, E), h0/c0: (B, H) -> (T+1, B, H), (T+1, B, H)
    """
    cells = None
    if mode == "gru_reset_before":
        states, gates, rh = _fused_step.gru_train(x, h0, w_ih, w_hh, _bias(b_ih, b_hh), mask)
        saved.update(gates=gates, y=rh)
    elif mode == "gru":
        states, gates, hns = _fused_step.gru_after_train(x, h0, w_ih, w_hh, b_ih, b_hh, mask)
        saved.update(gates=gates, hn=hns)
    else:
        b = _bias(b_ih, b_hh)
        states, cells, gates, tanh_c = _fused_step.lstm_train(
            x,
            h0,
            c0,
            w_ih,
            w_hh,
            b,
            w_ch,
            mask,  # type: ignore[arg-type]
        )
        saved.update(ifgo=gates, tanh_c=tanh_c)
    return states, cells


def _torch_op_forward(
    mode: Mode,
    x: Tensor,
    h0: Tensor,
    c0: Tensor | None,
    w_ih: Tensor,
    b_ih: Tensor | None,
    w_hh: Tensor,
    b_hh: Tensor | None,
    w_ch: Tensor | None,
    masks: Any,
    saved: dict[str, Any],
) -> tuple[Tensor, Tensor | None]:
    """The forward in torch ops, one step at a time (float64, CUDA, no compiled loop, and
    the modes without one); returns the states and cells (None without) and fills ``saved``
    with what backward reads.

    Shape:
        x: (T, B, E), h0/c0: (B, H) -> (T+1, B, H), (T+1, B, H)
    """
    steps, batch, hidden = x.shape[0], x.shape[1], h0.shape[-1]
    gsize = w_hh.shape[0]
    cells = None
    if mode in _JOINT:
        # z[t] = [h<t-1>, x<t>]: the state written in place next to the input it meets
        z = x.new_empty(steps + 1, batch, hidden + x.shape[-1])  # (T+1, B, H+E)
        z[:steps, :, hidden:] = x
        z[0, :, :hidden] = h0
        states = z[:, :, :hidden]  # (T+1, B, H), a view
        saved["z"] = z
    else:
        # W_ih x<t> + b_ih for every step at once
        xp = linear(x.reshape(steps * batch, -1), w_ih, b_ih).view(steps, batch, gsize)
        saved["gates"] = xp
        states = x.new_empty(steps + 1, batch, hidden)  # (T+1, B, H)
        states[0] = h0
    # the pre-activations of step t are accumulated in place in xp[t], which then holds
    # the gate activations that backward needs: no second (T, B, G*H) buffer
    if mode in ("rnn_tanh", "rnn_relu"):
        whh = Weight(w_hh, batch)
        for t, (a, m) in enumerate(zip(xp.unbind(0), masks, strict=True)):
            # a<t> = g(W_aa a<t-1> + W_ax x<t> + b)
            a.add_(whh(states[t], b_hh))  # (B, H)
            _tanh_(a) if mode == "rnn_tanh" else a.relu_()
            states[t + 1] = _carry(a, states[t], m)
    elif mode == "gru":
        # torch's GRU: the reset gate multiplies (W_hn h + b_hn)
        whh = Weight(w_hh, batch)
        hn_all = x.new_empty(steps, batch, hidden)  # (T, B, H): W_hn h + b_hn
        for t, (g3, m) in enumerate(zip(xp.unbind(0), masks, strict=True)):
            h = states[t]
            hp = whh(h, b_hh)  # (B, 3H)
            rz = g3[:, : 2 * hidden].add_(hp[:, : 2 * hidden]).sigmoid_()
            r, z = rz[:, :hidden], rz[:, hidden:]  # r, z = σ(W_i x + W_h h + b)
            hn = hn_all[t].copy_(hp[:, 2 * hidden :])
            # n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
            n = _tanh_(g3[:, 2 * hidden :].addcmul_(r, hn))
            # h' = (1 − z) ⊙ n + z ⊙ h
            states[t + 1] = _carry(torch.lerp(n, h, z), h, m)
        saved["hn"] = hn_all
    elif mode == "gru_reset_before":
        _gru_reset_before_forward(x, states, saved, w_ih, b_ih, w_hh, b_hh, masks)
    else:  # lstm, lstm_peephole
        assert c0 is not None
        cells = _lstm_forward(x, states, c0, saved, w_ih, b_ih, w_hh, b_hh, w_ch, masks)
    return states, cells


def _compiled_lstm_grads(
    ctx: Any,
    saved: dict[str, Any],
    x: Tensor,
    states: Tensor,
    cells: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    w_ch: Tensor | None,
    mask: Tensor | None,
    d_out: Tensor | None,
    d_hn: Tensor | None,
    d_cn: Tensor | None,
) -> tuple[Tensor | None, ...]:
    """The gradients of the compiled LSTM's forward: backward through time in compiled code
    (:func:`seqlab.functional._fused_step.lstm_grads`), then one large GEMM per weight.

    Shape:
        x: (T, B, E), states/cells: (T+1, B, H) -> the gradients of forward's inputs
    """
    dxp, dh, dc, d_wch = _fused_step.lstm_grads(
        w_hh, saved["ifgo"], saved["tanh_c"], cells, w_ch, mask, d_out, d_hn, d_cn
    )
    d_whh = _weight_grads(dxp, states[:-1])  # (4H, H)
    dx, d_wih, d_bih, d_bhh = _input_grads(ctx, dxp, x, w_ih)
    return None, dx, dh, dc, d_wih, d_bih, d_whh, d_bhh, d_wch, None


def _input_grads(
    ctx: Any, dxp: Tensor, x: Tensor, w_ih: Tensor, dhp: Tensor | None = None
) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
    """From the pre-activations' gradients: those of the input, W_ih, b_ih and b_hh
    (one large GEMM each; the biases add alike, unless the recurrent side's gradients
    ``dhp`` differ, as in torch's GRU).

    Shape:
        dxp: (T, B, G), x: (T, B, E), dhp: (T, B, G) -> (T, B, E), (G, E), (G,), (G,)
    """
    rows = x.shape[0] * x.shape[1]
    flat = dxp.view(rows, -1)  # (T*B, G)
    d_wih = grad_weight(flat, x.reshape(rows, -1))  # (G, E)
    d_b = dxp.sum((0, 1))
    if dhp is not None:
        d_bhh = dhp.sum((0, 1)) if ctx.has_b_hh else None
        d_bih = d_b if ctx.has_b_ih else None
    else:
        d_bhh = d_b if ctx.has_b_hh else None
        d_bih = (d_b.clone() if ctx.has_b_hh else d_b) if ctx.has_b_ih else None
    dx = linear(flat, w_ih.t()).view(x.shape)  # (T*B, G) x (G, E) -> (T, B, E)
    return dx, d_wih, d_bih, d_bhh


def _compiled_gru_grads(
    ctx: Any,
    saved: dict[str, Any],
    x: Tensor,
    states: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    mask: Tensor | None,
    d_out: Tensor | None,
    d_hn: Tensor | None,
) -> tuple[Tensor | None, ...]:
    """The gradients of the compiled original GRU's forward: backward through time in
    compiled code (:func:`seqlab.functional._fused_step.gru_grads`), then one large GEMM per
    weight block.

    Shape:
        x: (T, B, E), states: (T+1, B, H) -> the gradients of forward's inputs
    """
    two = 2 * states.shape[-1]
    dxp, dh = _fused_step.gru_grads(w_hh, saved["gates"], states, mask, d_out, d_hn)
    # d W_hh = Σ_t dpre_t^T c<t-1> (Γr, z) and Σ_t dpre_t^T (Γr ⊙ c<t-1>) (c̃)
    d_whh = torch.cat([_weight_grads(dxp[:, :, :two], states[:-1]),
                       _weight_grads(dxp[:, :, two:], saved["y"])])  # fmt: skip
    dx, d_wih, d_bih, d_bhh = _input_grads(ctx, dxp, x, w_ih)
    return None, dx, dh, None, d_wih, d_bih, d_whh, d_bhh, None, None


def _compiled_gru_after_grads(
    ctx: Any,
    saved: dict[str, Any],
    x: Tensor,
    states: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    mask: Tensor | None,
    d_out: Tensor | None,
    d_hn: Tensor | None,
) -> tuple[Tensor | None, ...]:
    """The gradients of the compiled torch GRU's forward: backward through time in
    compiled code (:func:`seqlab.functional._fused_step.gru_after_grads`), then one large
    GEMM per weight.

    Shape:
        x: (T, B, E), states: (T+1, B, H) -> the gradients of forward's inputs
    """
    dxp, dhp, dh = _fused_step.gru_after_grads(
        w_hh, saved["gates"], saved["hn"], states, mask, d_out, d_hn
    )
    d_whh = _weight_grads(dhp, states[:-1])  # (3H, H)
    dx, d_wih, d_bih, d_bhh = _input_grads(ctx, dxp, x, w_ih, dhp)
    return None, dx, dh, None, d_wih, d_bih, d_whh, d_bhh, None, None


def _gru_reset_before_grads(
    ctx: Any,
    saved: dict[str, Any],
    d_rz: Tensor,
    d_n: Tensor,
    x: Tensor,
    w_ih: Tensor,
    dh: Tensor,
) -> tuple[Tensor | None, ...]:
    """The original GRU's input, weight and bias gradients from its gate gradients.

    Shape:
        d_rz: (T, B, 2H), d_n: (T, B, H), x: (T, B, E), dh: (B, H)
    """
    hidden = d_n.shape[-1]
    two = 2 * hidden
    # d[W_h, W_i] = Σ_t dpre_t^T [h<t-1>, x<t>] (r, z) and Σ_t dpre_t^T [Γr ⊙ h<t-1>, x<t>] (n)
    d_w = torch.cat(
        [_weight_grads(d_rz, saved["z"][:-1]), _weight_grads(d_n, saved["y"])]
    )  # (3H, H+E)
    d_whh, d_wih = d_w[:, :hidden].contiguous(), d_w[:, hidden:].contiguous()
    rows = d_n.shape[0] * d_n.shape[1]
    # dx = dpre W_ih  (T*B, 2H) x (2H, E) + (T*B, H) x (H, E) -> (T, B, E)
    dx = linear(d_rz.view(rows, two), w_ih[:two].t())
    dx = dx.add_(linear(d_n.view(rows, hidden), w_ih[two:].t())).view(x.shape)
    d_b = torch.cat([d_rz.sum((0, 1)), d_n.sum((0, 1))])  # b_ih and b_hh add alike
    d_bhh = d_b if ctx.has_b_hh else None
    d_bih = (d_b.clone() if ctx.has_b_hh else d_b) if ctx.has_b_ih else None
    return None, dx, dh, None, d_wih, d_bih, d_whh, d_bhh, None, None


_JOINT = ("gru_reset_before", "lstm", "lstm_peephole")  # modes run on z[t] = [h<t-1>, x<t>]


def _gru_reset_before_forward(
    x: Tensor,
    states: Tensor,
    saved: dict[str, Any],
    w_ih: Tensor,
    b_ih: Tensor | None,
    w_hh: Tensor,
    b_hh: Tensor | None,
    masks: Any,
) -> None:
    """The original GRU's forward, filling ``states`` (a view of ``saved["z"]``) in place.

    Two GEMMs per step, each with its activation as a oneDNN post-op: [r, z] from
    z[t] = [c<t-1>, x<t>], the candidate from y[t] = [Γr ⊙ c<t-1>, x<t>].
    """
    z = saved["z"]
    hidden = states.shape[-1]
    two = 2 * hidden
    b = _bias(b_ih, b_hh)
    # Γr, z = σ(W_r [c<t-1>, x<t>] + b)   (z = 1 − Γu)
    w_rz = Weight(_joint(w_hh[:two], w_ih[:two]), x.shape[1], "sigmoid")
    # c̃ = tanh(W_c [Γr ⊙ c<t-1>, x<t>] + b_c)
    w_n = Weight(_joint(w_hh[two:], w_ih[two:]), x.shape[1], "tanh")
    b_rz, b_n = (None, None) if b is None else (b[:two], b[two:])
    y = torch.empty_like(z[:-1])  # (T, B, H+E): [Γr ⊙ c<t-1>, x<t>]
    y[:, :, hidden:] = x
    rz_all, n_all = [], []
    for t, m in enumerate(masks):
        h = states[t]
        rz = w_rz(z[t], b_rz)  # (B, 2H)
        torch.mul(rz[:, :hidden], h, out=y[t, :, :hidden])  # Γr ⊙ c<t-1>
        n = w_n(y[t], b_n)  # (B, H)
        # c<t> = Γu ⊙ c̃ + (1 − Γu) ⊙ c<t-1>
        if m is None:
            torch.lerp(n, h, rz[:, hidden:], out=states[t + 1])
        else:
            states[t + 1] = torch.where(m, torch.lerp(n, h, rz[:, hidden:]), h)
        rz_all.append(rz)
        n_all.append(n)
    saved.update(rz=rz_all, n=n_all, y=y)


def _lstm_forward(
    x: Tensor,
    states: Tensor,
    c0: Tensor,
    saved: dict[str, Any],
    w_ih: Tensor,
    b_ih: Tensor | None,
    w_hh: Tensor,
    b_hh: Tensor | None,
    w_ch: Tensor | None,
    masks: Any,
) -> Tensor:
    """The LSTM's forward (peepholes if ``w_ch``), filling ``states`` in place; returns the
    cell states (T+1, B, H).

    One GEMM per step on z[t] = [a<t-1>, x<t>], the candidate's rows doubled (exact), so one
    sigmoid gives Γu, Γf and σ(2 pre_g), and tanh(pre_g) = 2σ(2 pre_g) − 1.
    """
    steps, batch, hidden = x.shape[0], x.shape[1], states.shape[-1]
    two, three = 2 * hidden, 3 * hidden
    w = _joint(w_hh, w_ih)  # (4H, H+E)
    w[two:three] *= 2.0
    b = _bias(b_ih, b_hh)
    if b is not None:
        b = b.clone()
        b[two:three] *= 2.0
    gemm = Weight(w, batch)
    peep_if = peep_o = None
    if w_ch is not None:
        peep_if, peep_o = w_ch[:two].view(2, hidden), w_ch[two:]  # (2, H), (H,)
    cells = x.new_empty(steps + 1, batch, hidden)  # (T+1, B, H)
    cells[0] = c0
    tanh_c = x.new_empty(steps, batch, hidden)  # (T, B, H): tanh(c<t>)
    gates = []
    for t, m in enumerate(masks):
        h, c = states[t], cells[t]
        g4 = gemm(saved["z"][t], b)  # (B, 4H)
        if peep_if is not None:  # + p ⊙ c<t-1> for Γu, Γf
            g4[:, :two].view(batch, 2, hidden).addcmul_(peep_if, c.unsqueeze(1))
        g4[:, :three].sigmoid_()  # Γu, Γf = σ(W [a, x] + b (+ p ⊙ c<t-1>)), σ(2 pre_g)
        i, f, g, o = g4[:, :hidden], g4[:, hidden:two], g4[:, two:three], g4[:, three:]
        g.mul_(2.0).sub_(1.0)  # c̃ = tanh(W_c [a, x] + b_c)
        # c<t> = Γu ⊙ c̃ + Γf ⊙ c<t-1>
        c_new = torch.mul(f, c, out=cells[t + 1]).addcmul_(i, g)
        if peep_o is not None:
            o.addcmul_(peep_o, c_new)
        o.sigmoid_()  # Γo = σ(W_o [a, x] + b_o (+ p_o ⊙ c<t>))
        tc = _tanh(c_new, out=tanh_c[t])
        # a<t> = Γo ⊙ tanh(c<t>)
        if m is None:
            torch.mul(o, tc, out=states[t + 1])
        else:
            states[t + 1] = torch.where(m, o * tc, h)
            cells[t + 1] = torch.where(m, c_new, c)
        gates.append(g4)
    saved.update(ifgo=gates, tanh_c=tanh_c)
    return cells


def scan(
    mode: Mode,
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
    """Run one recurrent layer in one direction over a whole sequence.

    Args:
        mode: the cell's equations (``"gru"`` is torch's reset-after GRU,
            ``"gru_reset_before"`` the original one).
        x: the layer's input at every step.
        h0, c0: initial states (``c0`` for the LSTM modes only).
        w_ih, b_ih, w_hh, b_hh, w_ch: weights, biases and peepholes, torch.nn layout.
        mask: ``mask[t, b]`` is true where step ``t`` of sequence ``b`` is valid (the valid
            steps of a sequence come first).
        reverse: run each sequence from its last valid step to its first (the backward
            direction of a bidirectional layer); ``out`` stays in the input's order. The
            compiled inference loops run backwards; the other paths reverse the sequences
            around a forward run (:func:`seqlab.functional._time.reverse_masked`).

    Returns:
        ``(out, h_T, c_T)``; ``out`` is zero at masked steps, ``c_T`` is None unless LSTM.

    Shape:
        x: (T, B, E), h0/c0: (B, H), mask: (T, B, 1) -> out (T, B, H), (B, H), (B, H)
    """
    tensors = (x.contiguous(), h0, c0, w_ih, b_ih, w_hh, b_hh, w_ch)
    device = x.device.type
    grad = _wants_grad(tensors)
    if reverse and grad:  # the autograd kernel runs forward in time: reverse around it
        out, h_last, c_last = scan(
            mode, reverse_masked(x, mask), h0, c0, w_ih, b_ih, w_hh, b_hh, w_ch, mask
        )
        return reverse_masked(out, mask), h_last, c_last
    # no gradient wanted (no_grad, or nothing requires one): the inference loop, which
    # saves nothing for backward
    run = _Scan.apply if grad else functools.partial(infer, reverse=reverse)
    if not torch.is_autocast_enabled(device):
        return run(mode, *tensors, mask)  # type: ignore[no-any-return]
    # autocast would run the GEMMs in bfloat16 and leave the buffers in float32 (torch.lerp
    # then fails on the mix): switch it off and compute in the inputs' widest dtype
    dtype = x.dtype
    for t in tensors[1:]:
        if t is not None:
            dtype = torch.promote_types(dtype, t.dtype)
    cast = (None if t is None else t.to(dtype) for t in tensors)
    with torch.autocast(device, enabled=False):
        return run(mode, *cast, mask)  # type: ignore[no-any-return]


def _wants_grad(tensors: tuple[Tensor | None, ...]) -> bool:
    """True where autograd would record the scan (grad mode on and some input requires grad)."""
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)
