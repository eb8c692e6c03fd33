"""Run any cell over a sequence: ``Recurrent``, ``Bidirectional`` and ``Stacked``.

These wrappers are the course's pictures in code: a cell unrolled over time, a forward and
a backward pass read together, and layers stacked into a deep RNN. They work with any
module ``cell(x_t, state) -> state`` — seqlab's cells, torch.nn's cells, or your own — and
take padded or ``PackedSequence`` input (variable lengths: a sequence's state stops
changing after its last step, and the backward direction starts at each sequence's own
end). A cell's state is a tensor (B, H) or a tuple whose first element is the output
(as in the LSTM's ``(h, c)``).

``Stacked([Bidirectional(Recurrent(GRUCell(...)), Recurrent(GRUCell(...))), ...])`` computes
the same as ``seqlab.nn.GRU(..., bidirectional=True)``; a test holds them equal.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from seqlab.nn._sequence import from_time_major, length_mask, reverse_time, to_time_major

__all__ = ["Bidirectional", "Recurrent", "Stacked"]

State = Any  # a Tensor (B, H) or a tuple of them, the first being the output


def _zero_state(cell: nn.Module, batch: int, like: Tensor) -> State:
    init = getattr(cell, "initial_state", None)
    if callable(init):
        return init(batch, device=like.device, dtype=like.dtype)
    hidden = getattr(cell, "hidden_size", None)
    if hidden is None:
        raise TypeError(
            f"{type(cell).__name__} needs an initial_state(batch, device=, dtype=) method or a "
            "hidden_size attribute, or pass the initial state explicitly"
        )
    zeros = like.new_zeros(batch, hidden)  # (B, H)
    return (zeros, zeros.clone()) if isinstance(cell, nn.LSTMCell) else zeros


def _map_state(fn: Any, state: Any) -> Any:
    """Apply ``fn`` to every tensor of a (nested) state."""
    if state is None:
        return None
    if isinstance(state, tuple | list):
        return type(state)(_map_state(fn, s) for s in state)
    return fn(state)


def _batched(state: Any, info: Any) -> Any:
    """Give an unbatched caller's state its batch dim: (H,) -> (1, H)."""
    return _map_state(lambda s: s.unsqueeze(0), state) if info.unbatched else state


def _unbatched(state: Any, info: Any) -> Any:
    """Drop the batch dim again for an unbatched caller: (1, H) -> (H,)."""
    return _map_state(lambda s: s.squeeze(0), state) if info.unbatched else state


def _output_of(state: State) -> Tensor:
    return state[0] if isinstance(state, tuple | list) else state


def _select(mask: Tensor, new: State, old: State) -> State:
    if isinstance(new, tuple | list):
        return type(new)(torch.where(mask, n, o) for n, o in zip(new, old, strict=True))
    return torch.where(mask, new, old)


def _input_size(module: nn.Module) -> int | None:
    return getattr(module, "input_size", None)


class Recurrent(nn.Module):
    """Unroll ``cell`` over time: the many-to-many RNN of the course, for any cell.

    Args:
        cell: a module ``cell(x_t, state) -> state``.
        batch_first: input and output are (B, T, ·) instead of (T, B, ·).
        reverse: read each sequence from its end to its start (outputs stay aligned
            with the input positions).

    Shape:
        input: (T, B, E) | (B, T, E) with batch_first | (T, E) | PackedSequence
        state: the cell's state for a batch ((H,) for unbatched input), zeros when omitted
        output: (T, B, H) laid out like the input; final state: the cell's state
    """

    def __init__(self, cell: nn.Module, *, batch_first: bool = False, reverse: bool = False):
        super().__init__()
        self.cell = cell
        self.batch_first = batch_first
        self.reverse = reverse

    @property
    def input_size(self) -> int | None:
        return _input_size(self.cell)

    @property
    def output_size(self) -> int:
        return int(self.cell.hidden_size)

    def forward(
        self, input: Tensor | PackedSequence, state: State | None = None
    ) -> tuple[Tensor | PackedSequence, State]:
        return _forward_via_run(self, input, state)

    def run(
        self, x: Tensor, lengths: Tensor | None, state: State | None = None
    ) -> tuple[Tensor, State]:
        """Time-major core used by the wrappers.  x: (T, B, E) -> (T, B, H), state"""
        if state is None:
            state = _zero_state(self.cell, x.shape[1], x)
        mask = length_mask(lengths, x.shape[0])  # (T, B, 1)
        xs = reverse_time(x, lengths) if self.reverse else x
        outs = []
        for t, xt in enumerate(xs.unbind(0)):
            new = self.cell(xt, state)
            state = new if mask is None else _select(mask[t], new, state)
            out = _output_of(state)  # (B, H)
            outs.append(out if mask is None else out * mask[t])
        out = torch.stack(outs)  # (T, B, H)
        return (reverse_time(out, lengths) if self.reverse else out), state


def _forward_via_run(module: Any, input: Tensor | PackedSequence, state: Any) -> tuple[Any, Any]:
    """Lay the caller's input out time-major, call ``module.run``, lay the result out back."""
    size = module.input_size
    x, lengths, info = to_time_major(
        input, module.batch_first, size if size is not None else _feature_size(input)
    )
    out, final = module.run(x, lengths, _batched(state, info))
    return from_time_major(out, lengths, info), _unbatched(final, info)


def _feature_size(input: Tensor | PackedSequence) -> int:
    data = input.data if isinstance(input, PackedSequence) else input
    return int(data.shape[-1])


class Bidirectional(nn.Module):
    """Read the sequence both ways and concatenate: ŷ<t> sees a→<t> and a←<t>.

    Args:
        forward_layer: a :class:`Recurrent` reading left to right.
        backward_layer: a :class:`Recurrent` reading right to left (its ``reverse`` is
            set to True); by default a deep copy of ``forward_layer`` with fresh parameters.

    Shape:
        output: (T, B, H_fwd + H_bwd); final state: (forward state, backward state)
    """

    def __init__(self, forward_layer: Recurrent, backward_layer: Recurrent | None = None):
        super().__init__()
        if backward_layer is None:
            import copy

            backward_layer = copy.deepcopy(forward_layer)
            for p in backward_layer.parameters():
                if p.dim() > 0:
                    bound = p.detach().abs().max().item() or 0.1
                    nn.init.uniform_(p, -bound, bound)
        self.forward_layer = forward_layer
        self.backward_layer = backward_layer
        self.forward_layer.reverse = False
        self.backward_layer.reverse = True
        self.batch_first = forward_layer.batch_first

    @property
    def input_size(self) -> int | None:
        return self.forward_layer.input_size

    @property
    def output_size(self) -> int:
        return self.forward_layer.output_size + self.backward_layer.output_size

    def forward(
        self, input: Tensor | PackedSequence, state: tuple[State, State] | None = None
    ) -> tuple[Tensor | PackedSequence, tuple[State, State]]:
        return _forward_via_run(self, input, state)

    def run(
        self, x: Tensor, lengths: Tensor | None, state: tuple[State, State] | None = None
    ) -> tuple[Tensor, tuple[State, State]]:
        fwd_state, bwd_state = (None, None) if state is None else state
        out_f, fin_f = self.forward_layer.run(x, lengths, fwd_state)  # (T, B, H)
        out_b, fin_b = self.backward_layer.run(x, lengths, bwd_state)  # (T, B, H)
        return torch.cat([out_f, out_b], dim=-1), (fin_f, fin_b)  # (T, B, 2H)


class Stacked(nn.Module):
    """A deep RNN: each layer reads the previous layer's outputs (dropout in between).

    Args:
        layers: :class:`Recurrent` or :class:`Bidirectional` modules, bottom first.
        dropout: dropout on the outputs of every layer but the last (training only).
        batch_first: input and output are (B, T, ·).

    Shape:
        input: (T, B, E) | (B, T, E) | (T, E) | PackedSequence
        output: the last layer's outputs; final state: a tuple, one per layer (a tuple,
        not a list, so that torch.jit.trace and the ONNX exporter accept it)
    """

    def __init__(
        self, layers: Iterable[nn.Module], *, dropout: float = 0.0, batch_first: bool = False
    ):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        if len(self.layers) == 0:
            raise ValueError("Stacked needs at least one layer")
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"dropout must be in [0, 1], got {dropout}")
        self.dropout = dropout
        self.batch_first = batch_first

    def forward(
        self, input: Tensor | PackedSequence, state: list[State] | None = None
    ) -> tuple[Tensor | PackedSequence, tuple[State, ...]]:
        size = _input_size(self.layers[0])
        x, lengths, info = to_time_major(
            input, self.batch_first, size if size is not None else _feature_size(input)
        )
        if state is not None and len(state) != len(self.layers):
            raise ValueError(f"expected {len(self.layers)} layer states, got {len(state)}")
        state = _batched(state, info)
        finals = []
        for k, layer in enumerate(self.layers):
            x, fin = layer.run(x, lengths, None if state is None else state[k])  # (T, B, ·)
            finals.append(fin)
            if self.dropout > 0 and self.training and k < len(self.layers) - 1:
                x = F.dropout(x, self.dropout, training=True)
        return from_time_major(x, lengths, info), _unbatched(tuple(finals), info)
