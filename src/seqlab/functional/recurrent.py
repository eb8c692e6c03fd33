"""One time step of the course's recurrent cells, as pure tensor functions.

Parameters use torch.nn's layout and gate order, so a cell step here computes exactly
what ``torch.nn.RNNCell/GRUCell/LSTMCell`` compute with the same tensors:

* RNN:  one block,  ``W_ih`` (H, E), ``W_hh`` (H, H)
* GRU:  rows ``[r; z; n]``, ``W_ih`` (3H, E), ``W_hh`` (3H, H)
* LSTM: rows ``[i; f; g; o]``, ``W_ih`` (4H, E), ``W_hh`` (4H, H); peepholes ``w_ch``
  (3H,) ordered ``[i; f; o]``

Course notation ↔ torch names: a<t> is ``h``; the GRU's memory cell c<t> is also ``h``;
the course's update gate Γu is torch's ``1 − z`` (torch follows Cho et al. 2014, which
writes h' = z⊙h + (1−z)⊙h̃); the LSTM's update gate Γu is torch's input gate ``i`` and
c̃<t> is ``g``.

References: Elman (1990); Cho et al. (2014) "Learning Phrase Representations using RNN
Encoder–Decoder"; Hochreiter & Schmidhuber (1997); Gers & Schmidhuber (2000) for the
peepholes. Tested against ``torch.nn`` cells and the NumPy oracle in
``tests/reference/numpy_rnn.py``.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["gru_cell", "lstm_cell", "rnn_cell"]

Nonlinearity = Literal["tanh", "relu"]


def rnn_cell(
    x: Tensor,
    h: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None = None,
    b_hh: Tensor | None = None,
    nonlinearity: Nonlinearity = "tanh",
) -> Tensor:
    """Basic RNN step: a<t> = g(W_aa a<t-1> + W_ax x<t> + b_a).

    Shape:
        x: (B, E), h: (B, H) -> (B, H)
    """
    # pre = W_ax x<t> + b + W_aa a<t-1>
    pre = F.linear(x, w_ih, b_ih) + F.linear(h, w_hh, b_hh)  # (B, H)
    # a<t> = g(pre)
    return torch.tanh(pre) if nonlinearity == "tanh" else torch.relu(pre)


def gru_cell(
    x: Tensor,
    h: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None = None,
    b_hh: Tensor | None = None,
    reset_after: bool = True,
) -> Tensor:
    """Gated recurrent unit step.

    Course notation (``reset_after=False``, the original GRU)::

        Γr = σ(W_r [c<t-1>, x<t>] + b_r)
        Γu = σ(W_u [c<t-1>, x<t>] + b_u)          (torch: z = 1 − Γu)
        c̃<t> = tanh(W_c [Γr ⊙ c<t-1>, x<t>] + b_c)
        c<t> = Γu ⊙ c̃<t> + (1 − Γu) ⊙ c<t-1>

    ``reset_after=True`` is torch/cuDNN's variant: c̃<t> = tanh(W_cx x + b + Γr ⊙ (W_cc c + b)).

    Shape:
        x: (B, E), h: (B, H) -> (B, H)
    """
    xr, xz, xn = F.linear(x, w_ih, b_ih).chunk(3, dim=-1)  # 3 x (B, H)
    hidden = h.shape[-1]
    b_rz = None if b_hh is None else b_hh[: 2 * hidden]
    b_n = None if b_hh is None else b_hh[2 * hidden :]
    hr, hz = F.linear(h, w_hh[: 2 * hidden], b_rz).chunk(2, dim=-1)  # 2 x (B, H)
    # Γr = σ(W_ir x + W_hr h + b)
    r = torch.sigmoid(xr + hr)
    # z = σ(W_iz x + W_hz h + b)   (z = 1 − Γu)
    z = torch.sigmoid(xz + hz)
    if reset_after:
        # n = tanh(W_in x + b_in + Γr ⊙ (W_hn h + b_hn))
        n = torch.tanh(xn + r * F.linear(h, w_hh[2 * hidden :], b_n))
    else:
        # c̃ = tanh(W_in x + b_in + W_hn (Γr ⊙ h) + b_hn)
        n = torch.tanh(xn + F.linear(r * h, w_hh[2 * hidden :], b_n))
    # c<t> = Γu ⊙ c̃ + (1 − Γu) ⊙ c<t-1>  ==  (1 − z) ⊙ n + z ⊙ h  ==  n + z ⊙ (h − n)
    # (not torch.lerp: it needs one dtype, and under autocast n is bfloat16 while h is not)
    return n + z * (h - n)


def lstm_cell(
    x: Tensor,
    state: tuple[Tensor, Tensor],
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None = None,
    b_hh: Tensor | None = None,
    w_ch: Tensor | None = None,
    w_hr: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Long short-term memory step, optionally with peepholes and a projection.

    Course notation::

        Γu = σ(W_u [a<t-1>, x<t>] + b_u)     (torch: i)
        Γf = σ(W_f [a<t-1>, x<t>] + b_f)     (torch: f)
        c̃<t> = tanh(W_c [a<t-1>, x<t>] + b_c)  (torch: g)
        c<t> = Γu ⊙ c̃<t> + Γf ⊙ c<t-1>
        Γo = σ(W_o [a<t-1>, x<t>] + b_o)     (torch: o)
        a<t> = Γo ⊙ tanh(c<t>)

    With peepholes (``w_ch`` given, (3H,) = [p_i; p_f; p_o]) the input and forget gates
    also see p ⊙ c<t-1>, and the output gate sees p_o ⊙ c<t>.

    With a projection (``w_hr`` given, (P, H), torch.nn.LSTM's ``proj_size``) the state that
    leaves the cell and comes back into it is projected: a<t> = W_hr (Γo ⊙ tanh(c<t>)), and
    ``w_hh`` is (4H, P).

    Shape:
        x: (B, E), state: ((B, P), (B, H)) -> ((B, P), (B, H)); P = H without projection
    """
    h, c = state
    gates = F.linear(x, w_ih, b_ih) + F.linear(h, w_hh, b_hh)  # (B, 4H)
    gi, gf, gg, go = gates.chunk(4, dim=-1)  # 4 x (B, H)
    if w_ch is not None:
        p_i, p_f, p_o = w_ch.chunk(3)  # 3 x (H,)
        gi = gi + p_i * c
        gf = gf + p_f * c
    # Γu = σ(·), Γf = σ(·), c̃ = tanh(·)
    i, f, g = torch.sigmoid(gi), torch.sigmoid(gf), torch.tanh(gg)
    # c<t> = Γu ⊙ c̃ + Γf ⊙ c<t-1>
    c_new = f * c + i * g
    if w_ch is not None:
        go = go + p_o * c_new
    # a<t> = Γo ⊙ tanh(c<t>)
    h_new = torch.sigmoid(go) * torch.tanh(c_new)  # (B, H)
    if w_hr is not None:
        h_new = F.linear(h_new, w_hr)  # a<t> = W_hr (Γo ⊙ tanh(c<t>))   (B, P)
    return h_new, c_new
