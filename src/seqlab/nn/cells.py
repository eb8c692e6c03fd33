"""Single-step recurrent cells with torch.nn's contract: ``RNNCell``, ``GRUCell``, ``LSTMCell``.

Same constructor arguments, parameter names (``weight_ih``, ``weight_hh``, ``bias_ih``,
``bias_hh``), gate order and initialisation as ``torch.nn.RNNCell/GRUCell/LSTMCell``, so a
state dict loads both ways. Course options: ``GRUCell(reset_after=False)`` is the original
GRU (reset gate applied to the previous state before the product), ``LSTMCell(peephole=True)``
adds diagonal peepholes (parameter ``weight_ch``, (3H,) = [i; f; o]). The equations live in
:mod:`seqlab.functional.recurrent`. Tested against torch.nn and the NumPy oracle.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn

from seqlab.functional.recurrent import gru_cell, lstm_cell, rnn_cell
from seqlab.shapes import check_shape

__all__ = ["GRUCell", "LSTMCell", "RNNCell", "RecurrentCell"]


class RecurrentCell(nn.Module):
    """Base of seqlab's cells: parameters in torch's layout and the state protocol.

    Any module with ``forward(x, state) -> state`` and ``initial_state(batch, ...)`` (or a
    ``hidden_size`` attribute) can be run over sequences by :class:`seqlab.nn.Recurrent`.
    """

    gates: int = 1
    has_cell_state: bool = False

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if input_size <= 0 or hidden_size <= 0:
            raise ValueError(
                f"input_size and hidden_size must be positive, got {input_size}, {hidden_size}"
            )
        kw = {"device": device, "dtype": dtype}
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        g = self.gates * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(g, input_size, **kw))  # (G*H, E)
        self.weight_hh = nn.Parameter(torch.empty(g, hidden_size, **kw))  # (G*H, H)
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(g, **kw))  # (G*H,)
            self.bias_hh = nn.Parameter(torch.empty(g, **kw))  # (G*H,)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)

    def reset_parameters(self) -> None:
        """U(−1/√H, 1/√H) for every parameter, as torch.nn does."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Zero state(s) for a batch.  -> (B, H) or ((B, H), (B, H))"""
        w = self.weight_hh
        zeros = torch.zeros(
            batch_size, self.hidden_size, device=device or w.device, dtype=dtype or w.dtype
        )
        return (zeros, zeros.clone()) if self.has_cell_state else zeros

    def _prepare(self, x: Tensor, state: Tensor | tuple[Tensor, Tensor] | None):
        """Validate shapes, add a batch dim to unbatched input, build a zero state."""
        if x.dim() not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(
                f"expected input of shape (B, E={self.input_size}) or (E={self.input_size},), "
                f"got {tuple(x.shape)}"
            )
        unbatched = x.dim() == 1
        if unbatched:
            x = x.unsqueeze(0)  # (1, E)
        if state is None:
            return x, self.initial_state(x.shape[0], device=x.device, dtype=x.dtype), unbatched
        parts = state if isinstance(state, tuple) else (state,)
        if len(parts) != (2 if self.has_cell_state else 1):
            raise ValueError(
                f"{type(self).__name__} expects "
                + ("an (h, c) tuple" if self.has_cell_state else "one hidden-state tensor")
            )
        want = (f"H={self.hidden_size}",) if unbatched else (x.shape[0], f"H={self.hidden_size}")
        for p in parts:
            check_shape(p, want, "hidden state")
        if unbatched:
            parts = tuple(p.unsqueeze(0) for p in parts)
        return x, (parts if self.has_cell_state else parts[0]), unbatched

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        return s if self.bias else s + ", bias=False"


class RNNCell(RecurrentCell):
    """Basic RNN cell: a<t> = g(W_aa a<t-1> + W_ax x<t> + b_a), g = tanh or relu.

    Shape:
        input: (B, E) or (E,); hx: (B, H) or (H,) -> (B, H) or (H,)
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: Literal["tanh", "relu"] = "tanh",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias, device, dtype)
        self.nonlinearity = nonlinearity
        self.reset_parameters()

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, h, unbatched = self._prepare(input, hx)
        h = rnn_cell(
            x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh, self.nonlinearity
        )  # (B, H)
        return h.squeeze(0) if unbatched else h


class GRUCell(RecurrentCell):
    """Gated recurrent unit cell (see :func:`seqlab.functional.gru_cell` for the equations).

    ``reset_after=True`` (default) equals ``torch.nn.GRUCell``; ``reset_after=False`` is
    the original GRU of the course. The course's update gate Γu is torch's ``1 − z``.

    Shape:
        input: (B, E) or (E,); hx: (B, H) or (H,) -> (B, H) or (H,)
    """

    gates = 3

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        reset_after: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(input_size, hidden_size, bias, device, dtype)
        self.reset_after = reset_after
        self.reset_parameters()

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, h, unbatched = self._prepare(input, hx)
        h = gru_cell(
            x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh, self.reset_after
        )  # (B, H)
        return h.squeeze(0) if unbatched else h

    def extra_repr(self) -> str:
        return super().extra_repr() + f", reset_after={self.reset_after}"


class LSTMCell(RecurrentCell):
    """Long short-term memory cell (see :func:`seqlab.functional.lstm_cell`).

    ``peephole=True`` adds the diagonal peephole weights ``weight_ch`` (3H,) = [i; f; o].

    Shape:
        input: (B, E) or (E,); hx: ((B, H), (B, H)) or unbatched -> ((B, H), (B, H))
    """

    gates = 4
    has_cell_state = True

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        peephole: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(input_size, hidden_size, bias, device, dtype)
        self.peephole = peephole
        if peephole:
            self.weight_ch = nn.Parameter(torch.empty(3 * hidden_size, device=device, dtype=dtype))
        else:
            self.register_parameter("weight_ch", None)
        self.reset_parameters()

    def forward(
        self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, Tensor]:
        x, state, unbatched = self._prepare(input, hx)
        h, c = lstm_cell(
            x, state, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh, self.weight_ch
        )  # (B, H), (B, H)
        return (h.squeeze(0), c.squeeze(0)) if unbatched else (h, c)

    def extra_repr(self) -> str:
        return super().extra_repr() + (", peephole=True" if self.peephole else "")
