"""Deep and bidirectional ``RNN``, ``GRU`` and ``LSTM`` with torch.nn's contract.

Arguments, return values, parameter names (``weight_ih_l0``, ``bias_hh_l1_reverse``), gate
order, initialisation, ``PackedSequence`` (sorted or not) and unbatched input all follow
``torch.nn.RNN/GRU/LSTM``, so ``load_state_dict`` works both ways. The course's variants are
options: ``GRU(reset_after=False)`` is the original GRU, ``LSTM(peephole=True)`` adds
diagonal peepholes (parameters ``weight_ch_l{k}``).

Three implementations compute the same function (``impl``):

* ``"fused"``: torch's own kernels (``torch.lstm`` & co., cuDNN on GPU); only where the
  equations are torch's (RNN, GRU with ``reset_after=True``, LSTM without peepholes).
* ``"bptt"``: seqlab's kernels with a hand-written backward through time
  (:mod:`seqlab.functional.bptt`); every variant.
* ``"loop"``: the readable one — a Python loop of the cell equations under autograd.

``"auto"`` (default) takes ``"fused"`` where it applies and ``"bptt"`` otherwise (``"loop"``
for a peephole LSTM with ``proj_size``, which has no kernel), with one exception: an LSTM
trained in float32 on the CPU (a gradient wanted, eagerly, at least 16 sequences per thread)
runs ``"bptt"``, whose compiled loop trains 5–19% faster than torch's oneDNN LSTM while
torch's is the faster at inference and on smaller batches
(:meth:`RNNBase.path`). The rule is fixed, not measured at run time, so a run computes the
same numbers every time; it follows the measurements in docs/speed.md: torch's fused LSTM is
one oneDNN primitive (no per-step dispatch at all), and torch's CPU GRU/RNN run the same
per-step GEMM as ``"bptt"``. ``"bptt"`` beats ``"loop"`` at
every size measured, from T=10, B=8, H=32 (inference 0.40 vs 0.48 ms for the original GRU,
0.20 vs 0.46 ms for the peephole LSTM) to the benchmark's T=100, B=64, H=256: its products
below ``seqlab.functional._gemm.ONEDNN_MIN_MACS`` multiply-adds use addmm (a oneDNN call
costs ≈ 15 µs before any arithmetic, which used to make ``"bptt"`` 2x slower than
``"loop"`` on small networks). Tested against torch.nn (every option combination) and the
NumPy BPTT oracle.

Where no gradient is wanted (``torch.no_grad``, or nothing requiring one), ``"bptt"`` runs an
inference loop that keeps nothing for backward (:mod:`seqlab.functional._inference`).

Compile, export, trace, autocast. seqlab's BPTT kernels cannot be recorded by a tracer
(in-place buffers, oneDNN calls, a hand-written backward) and run one dtype throughout, so
while torch.compile, torch.export or torch.jit.trace (and ``torch.onnx.export``) records the
forward, or under autocast, a module whose implementation is ``"bptt"`` runs ``"loop"``
instead: the same function in plain aten ops that every tracer understands and autocast casts
op by op. torch's fused kernels stay under export, tracing and autocast, as in torch.nn;
under torch.compile they run ``"loop"`` too (Inductor cannot lower torch's CPU LSTM, and
the loop compiles into one graph where torch.nn breaks the graph). :meth:`RNNBase.path`
says which runs. Eager float32 is unchanged.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from seqlab.functional import _fused_step
from seqlab.functional.bptt import Mode, scan, tracing
from seqlab.functional.recurrent import gru_cell, lstm_cell, rnn_cell
from seqlab.nn._sequence import from_time_major, length_mask, reverse_time, to_time_major
from seqlab.shapes import check_shape

__all__ = ["GRU", "LSTM", "RNN", "RNNBase"]

Impl = Literal["auto", "fused", "bptt", "loop"]
State = Tensor | tuple[Tensor, Tensor]


class RNNBase(nn.Module):
    """Shared machinery of :class:`RNN`, :class:`GRU` and :class:`LSTM` (not used directly)."""

    gates: int = 1
    has_cell_state: bool = False
    proj_size: int = 0  # LSTM only: size of the projected state (0: no projection)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        impl: Impl = "auto",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if input_size <= 0 or hidden_size <= 0 or num_layers <= 0:
            raise ValueError(
                "input_size, hidden_size and num_layers must be positive, got "
                f"{input_size}, {hidden_size}, {num_layers}"
            )
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"dropout must be in [0, 1], got {dropout}")
        if impl not in ("auto", "fused", "bptt", "loop"):
            raise ValueError(f"impl must be 'auto', 'fused', 'bptt' or 'loop', got {impl!r}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.impl = impl
        self.resolved_impl()  # rejects impl="fused" where torch has no kernel for the equations
        kw = {"device": device, "dtype": dtype}
        g = self.gates * hidden_size
        out = self.output_size  # P with a projection, else H
        for layer in range(num_layers):
            layer_in = input_size if layer == 0 else out * self.num_directions
            for suffix in self._suffixes():
                name = f"l{layer}{suffix}"
                self.register_parameter(
                    f"weight_ih_{name}", nn.Parameter(torch.empty(g, layer_in, **kw))
                )  # (G*H, E)
                self.register_parameter(
                    f"weight_hh_{name}", nn.Parameter(torch.empty(g, out, **kw))
                )  # (G*H, P)
                if bias:
                    self.register_parameter(f"bias_ih_{name}", nn.Parameter(torch.empty(g, **kw)))
                    self.register_parameter(f"bias_hh_{name}", nn.Parameter(torch.empty(g, **kw)))
                if self.proj_size:
                    self.register_parameter(
                        f"weight_hr_{name}", nn.Parameter(torch.empty(out, hidden_size, **kw))
                    )  # (P, H)
                if self._peephole():
                    self.register_parameter(
                        f"weight_ch_{name}", nn.Parameter(torch.empty(3 * hidden_size, **kw))
                    )  # (3H,)
        self.reset_parameters()

    # -- configuration -----------------------------------------------------------------
    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def output_size(self) -> int:
        """Size of the state a layer outputs: ``proj_size`` if set, else ``hidden_size``."""
        return self.proj_size or self.hidden_size

    def _suffixes(self) -> tuple[str, ...]:
        return ("", "_reverse") if self.bidirectional else ("",)

    def _peephole(self) -> bool:
        return False

    def _mode(self) -> Mode:
        raise NotImplementedError

    def _fusable(self) -> bool:
        """True where torch's fused kernels compute these equations."""
        return self._mode() in ("rnn_tanh", "rnn_relu", "gru", "lstm")

    def _has_kernel(self) -> bool:
        """True where seqlab's BPTT kernels compute these equations (no projection)."""
        return not self.proj_size

    def resolved_impl(self) -> Literal["fused", "bptt", "loop"]:
        """The implementation ``forward`` runs when it is run eagerly, in its own dtype."""
        if self.impl == "auto":
            if self._fusable():
                return "fused"
            return "bptt" if self._has_kernel() else "loop"
        if self.impl == "fused" and not self._fusable():
            raise ValueError(
                f"impl='fused' needs torch's equations; {self._describe()} has no fused kernel "
                "(use impl='bptt' or 'auto')"
            )
        if self.impl == "bptt" and not self._has_kernel():
            raise ValueError(
                "impl='bptt' has no kernel for proj_size > 0 (use impl='auto', 'fused' or 'loop')"
            )
        return self.impl

    def path(
        self, x: Tensor | None = None, batch: int | None = None
    ) -> Literal["fused", "bptt", "loop"]:
        """The implementation ``forward`` runs now, for input ``x`` of ``batch`` sequences.

        :meth:`resolved_impl`, except that ``"auto"`` runs a GRU, and trains an LSTM, in
        float32 on the CPU with ``"bptt"`` (its compiled loop is the faster there), and
        that a tracer or autocast gets a path it handles:
        ``"bptt"`` becomes ``"loop"`` while torch.compile, torch.export or torch.jit.trace
        records the forward and under autocast; ``"fused"`` becomes ``"loop"`` under
        torch.compile (not under export, tracing or autocast, where torch.nn's own kernels
        serve as they do in torch.nn), and under ONNX export with ``proj_size`` (ONNX has no
        LSTM with projections; torch.nn.LSTM fails there).
        """
        impl = self.resolved_impl()
        if impl == "loop":
            return impl
        if self.impl == "auto" and impl == "fused" and self._runs_compiled(x, batch):
            return "bptt"
        if torch.compiler.is_compiling() and not torch.compiler.is_exporting():
            return "loop"
        if self.proj_size and torch.onnx.is_in_onnx_export():
            return "loop"
        if impl == "bptt" and (
            tracing(x) or (x is not None and torch.is_autocast_enabled(x.device.type))
        ):
            return "loop"
        return impl

    def _runs_compiled(self, x: Tensor | None, batch: int | None) -> bool:
        """True where ``"auto"`` runs seqlab's compiled loop rather than torch's fused kernel
        for torch's own equations: in float32 on the CPU, eagerly (no tracer, no autocast),
        where the loop is there (:mod:`seqlab.functional._fused_step`), and

        - a GRU: always (1.3–1.6× torch.nn.GRU's speed at inference, 1.1–3× in training, at
          batches of 4 to 64 on 1 and 2 threads: torch's CPU GRU is a GEMM and ~10 unfused
          ops per step);
        - an LSTM: where a gradient is wanted and every thread gets rows of its own (5–19%
          faster than torch's fused oneDNN LSTM; torch's is as fast at inference and the
          faster with fewer rows per thread).

        Measured on an Intel Xeon (docs/speed.md)."""
        mode = self._mode()
        if x is None or batch is None or mode not in ("lstm", "gru") or self.proj_size:
            return False
        if tracing(x):  # (and before get_num_threads, which a tracer cannot record)
            return False
        weight = self.weight_ih_l0
        if torch.is_autocast_enabled(x.device.type) or not _fused_step.usable(x, weight):
            return False
        if mode == "gru":
            return True
        wanted = torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad)
        return wanted and _fused_step.fills_threads(batch)

    def _describe(self) -> str:
        return type(self).__name__

    def reset_parameters(self) -> None:
        """U(−1/√H, 1/√H) for every parameter, as torch.nn does."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def _layer_params(self, layer: int, suffix: str) -> tuple[Tensor | None, ...]:
        name = f"l{layer}{suffix}"
        get = self.__dict__["_parameters"].get
        return (
            get(f"weight_ih_{name}"),
            get(f"weight_hh_{name}"),
            get(f"bias_ih_{name}"),
            get(f"bias_hh_{name}"),
            get(f"weight_hr_{name}"),
            get(f"weight_ch_{name}"),
        )

    def flatten_parameters(self) -> None:
        """No-op, for code written for torch.nn (seqlab keeps no flattened weight copy)."""

    @property
    def all_weights(self) -> list[list[Tensor]]:
        """Parameters per layer and direction, as ``torch.nn.RNNBase.all_weights``."""
        return [
            [p for p in self._layer_params(layer, suffix) if p is not None]
            for layer in range(self.num_layers)
            for suffix in self._suffixes()
        ]

    def _flat_weights(self) -> list[Tensor]:
        out: list[Tensor] = []
        for layer in range(self.num_layers):
            for suffix in self._suffixes():
                w_ih, w_hh, b_ih, b_hh, w_hr, _ = self._layer_params(layer, suffix)
                out += [w for w in (w_ih, w_hh, b_ih, b_hh, w_hr) if w is not None]
        return out

    # -- forward -----------------------------------------------------------------------
    def _check_state(
        self, hx: State | None, batch: int, unbatched: bool, x: Tensor
    ) -> list[Tensor]:
        """Validate the initial state(s); return them as (L*D, B, P) and (L*D, B, H) tensors."""
        n = self.num_layers * self.num_directions
        # h is (L*D, B, P) with a projection (P = H without), the LSTM's c is (L*D, B, H)
        h_size = ("P", self.proj_size) if self.proj_size else ("H", self.hidden_size)
        sizes = [h_size, ("H", self.hidden_size)][: 2 if self.has_cell_state else 1]
        if hx is None:
            return [x.new_zeros(n, batch, size) for _, size in sizes]  # (L*D, B, ·)
        parts = list(hx) if isinstance(hx, tuple | list) else [hx]
        if len(parts) != len(sizes):
            raise ValueError(
                f"{type(self).__name__} expects "
                + ("an (h_0, c_0) tuple" if self.has_cell_state else "one h_0 tensor")
            )
        for p, (name, size) in zip(parts, sizes, strict=True):
            want: tuple[int | str, ...] = (
                (f"L*D={n}", f"{name}={size}")
                if unbatched
                else (f"L*D={n}", f"B={batch}", f"{name}={size}")
            )
            check_shape(p, want, "hidden state")
        return [p.unsqueeze(1) if unbatched else p for p in parts]  # (L*D, B, ·)

    def forward(
        self, input: Tensor | PackedSequence, hx: State | None = None
    ) -> tuple[Tensor | PackedSequence, State]:
        """Run the network over a whole sequence.

        Args:
            input: the sequence; padded, packed (``torch.nn.utils.rnn.pack_*``) or unbatched.
            hx: initial state ``h_0`` (``(h_0, c_0)`` for the LSTM); zeros when omitted.

        Returns:
            ``(output, h_n)`` (``(output, (h_n, c_n))`` for the LSTM); ``output`` holds the
            last layer's states at every step, both directions concatenated.

        Shape:
            input: (T, B, E), or (B, T, E) with ``batch_first``, or (T, E), or packed
            hx: (L*D, B, H), or (L*D, H) for unbatched input; with the LSTM's ``proj_size``
            P, h_0 is (L*D, B, P) and c_0 (L*D, B, H)
            output: (T, B, D*H) laid out like the input (D*P with a projection);
            h_n: (L*D, B, H) (P with a projection), c_n: (L*D, B, H)
        """
        x, lengths, info = to_time_major(input, self.batch_first, self.input_size)
        impl = self.path(input.data if isinstance(input, PackedSequence) else input, x.shape[1])
        states = self._check_state(hx, x.shape[1], info.unbatched, x)
        if impl == "fused":
            out, finals = self._fused(input, x, states, info)
        else:
            out, finals = self._unfused(x, lengths, states, impl)
            out = from_time_major(out, lengths, info)
        if info.unbatched:
            finals = [f.squeeze(1) for f in finals]  # (L*D, H)
        state: State = (finals[0], finals[1]) if self.has_cell_state else finals[0]
        return out, state

    def _fused(
        self, input: Tensor | PackedSequence, x: Tensor, states: list[Tensor], info
    ) -> tuple[Tensor | PackedSequence, list[Tensor]]:
        """torch's own kernels, called exactly as torch.nn does."""
        mode = self._mode()
        hx: Tensor | tuple[Tensor, ...] = tuple(states) if self.has_cell_state else states[0]
        args = (self._flat_weights(), self.bias, self.num_layers, self.dropout, self.training)
        if isinstance(input, PackedSequence):
            if input.sorted_indices is not None:
                idx = input.sorted_indices
                hx = (
                    tuple(s.index_select(1, idx) for s in states)
                    if self.has_cell_state
                    else (states[0].index_select(1, idx))
                )
            data, bs = input.data, input.batch_sizes
            if mode == "lstm":
                res = torch.lstm(data, bs, hx, *args, self.bidirectional)
            elif mode == "gru":
                res = torch.gru(data, bs, hx, *args, self.bidirectional)
            elif mode == "rnn_tanh":
                res = torch.rnn_tanh(data, bs, hx, *args, self.bidirectional)
            else:
                res = torch.rnn_relu(data, bs, hx, *args, self.bidirectional)
            out = PackedSequence(res[0], bs, input.sorted_indices, input.unsorted_indices)
            finals = list(res[1:])
            if input.unsorted_indices is not None:
                finals = [f.index_select(1, input.unsorted_indices) for f in finals]
            return out, finals
        inp = x if info.unbatched else input  # unbatched: run the (T, 1, E) view
        bf = self.batch_first and not info.unbatched
        fn = {"lstm": torch.lstm, "gru": torch.gru, "rnn_tanh": torch.rnn_tanh}.get(
            mode, torch.rnn_relu
        )
        res = fn(inp, hx, *args, self.bidirectional, bf)
        out = res[0].squeeze(1) if info.unbatched else res[0]
        return out, list(res[1:])

    def _unfused(
        self, x: Tensor, lengths: Tensor | None, states: list[Tensor], impl: str
    ) -> tuple[Tensor, list[Tensor]]:
        """Layer by layer, direction by direction, with seqlab's kernels or the loop."""
        mask = length_mask(lengths, x.shape[0])  # (T, B, 1)
        finals: list[list[Tensor]] = [[] for _ in states]
        layer_input = x  # (T, B, E)
        for layer in range(self.num_layers):
            outs = []
            for d, suffix in enumerate(self._suffixes()):
                w_ih, w_hh, b_ih, b_hh, w_hr, w_ch = self._layer_params(layer, suffix)
                k = layer * self.num_directions + d
                init = [s[k] for s in states]  # (B, H) each
                if impl == "bptt":  # the backward direction: scan runs it reversed
                    c0 = init[1] if self.has_cell_state else None
                    args = (w_ih, b_ih, w_hh, b_hh, w_ch, mask)
                    out, h_last, c_last = scan(
                        self._mode(), layer_input, init[0], c0, *args, reverse=d == 1
                    )
                    last = [h_last] if c_last is None else [h_last, c_last]
                else:
                    xin = layer_input if d == 0 else reverse_time(layer_input, lengths)
                    params = (w_ih, w_hh, b_ih, b_hh, w_ch, w_hr)
                    out, last = self._loop(xin, init, params, mask)
                    out = out if d == 0 else reverse_time(out, lengths)
                outs.append(out)
                for f, s in zip(finals, last, strict=True):
                    f.append(s)
            layer_input = torch.cat(outs, dim=-1) if len(outs) > 1 else outs[0]  # (T, B, D*P)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, training=True)
        return layer_input, [torch.stack(f) for f in finals]  # (L*D, B, P), (L*D, B, H)

    def _loop(
        self, x: Tensor, init: list[Tensor], params: tuple, mask: Tensor | None
    ) -> tuple[Tensor, list[Tensor]]:
        """The readable implementation: one cell step per time step, under autograd.

        ``params`` is ``(w_ih, w_hh, b_ih, b_hh, w_ch, w_hr)``.
        """
        state = list(init)
        outs = []
        for t, xt in enumerate(x.unbind(0)):
            new = self._step(xt, state, *params)
            if mask is not None:
                new = [torch.where(mask[t], n, s) for n, s in zip(new, state, strict=True)]
            state = new
            outs.append(state[0] if mask is None else state[0] * mask[t])
        return torch.stack(outs), state  # (T, B, H)

    def _step(self, xt, state, w_ih, w_hh, b_ih, b_hh, w_ch, w_hr) -> list[Tensor]:
        raise NotImplementedError

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        if self.proj_size:
            s += f", proj_size={self.proj_size}"
        if self.impl != "auto":
            s += f", impl={self.impl!r}"
        return s


class RNN(RNNBase):
    """Elman RNN: a<t> = g(W_aa a<t-1> + W_ax x<t> + b_a), ``nonlinearity`` tanh or relu.

    Drop-in for ``torch.nn.RNN``; see :class:`RNNBase.forward` for shapes.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: Literal["tanh", "relu"] = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        impl: Impl = "auto",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            impl=impl,
            device=device,
            dtype=dtype,
        )

    def _mode(self) -> Mode:
        return "rnn_tanh" if self.nonlinearity == "tanh" else "rnn_relu"

    def _step(self, xt, state, w_ih, w_hh, b_ih, b_hh, w_ch, w_hr) -> list[Tensor]:
        return [rnn_cell(xt, state[0], w_ih, w_hh, b_ih, b_hh, self.nonlinearity)]

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s + (", nonlinearity='relu'" if self.nonlinearity == "relu" else "")


class GRU(RNNBase):
    """Gated recurrent unit network; ``reset_after=False`` gives the course's original GRU.

    Drop-in for ``torch.nn.GRU`` (with the default ``reset_after=True``); see
    :func:`seqlab.functional.gru_cell` for the equations and :class:`RNNBase.forward` for
    shapes.
    """

    gates = 3

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        reset_after: bool = True,
        impl: Impl = "auto",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        self.reset_after = reset_after
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            impl=impl,
            device=device,
            dtype=dtype,
        )

    def _mode(self) -> Mode:
        return "gru" if self.reset_after else "gru_reset_before"

    def _describe(self) -> str:
        return "GRU(reset_after=False)"

    def _step(self, xt, state, w_ih, w_hh, b_ih, b_hh, w_ch, w_hr) -> list[Tensor]:
        return [gru_cell(xt, state[0], w_ih, w_hh, b_ih, b_hh, self.reset_after)]

    def extra_repr(self) -> str:
        return super().extra_repr() + ("" if self.reset_after else ", reset_after=False")


class LSTM(RNNBase):
    """Long short-term memory network; ``peephole=True`` adds diagonal peepholes.

    Drop-in for ``torch.nn.LSTM``, ``proj_size`` included (parameters ``weight_hr_l{k}``
    (P, H): a<t> = W_hr (Γo ⊙ tanh(c<t>)), as torch.nn.LSTM; with peepholes it runs the
    ``"loop"`` implementation); see :func:`seqlab.functional.lstm_cell` for the equations and
    :class:`RNNBase.forward` for shapes. Returns ``(output, (h_n, c_n))``.
    """

    gates = 4
    has_cell_state = True

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        *,
        peephole: bool = False,
        impl: Impl = "auto",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        # torch.nn.LSTM's checks and messages
        if proj_size < 0:
            raise ValueError(
                "proj_size should be a positive integer or zero to disable projections"
            )
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        self.peephole = peephole
        self.proj_size = int(proj_size)
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            impl=impl,
            device=device,
            dtype=dtype,
        )

    def _peephole(self) -> bool:
        return self.peephole

    def _mode(self) -> Mode:
        return "lstm_peephole" if self.peephole else "lstm"

    def _describe(self) -> str:
        return "LSTM(peephole=True)" if self.peephole else "LSTM"

    def _step(self, xt, state, w_ih, w_hh, b_ih, b_hh, w_ch, w_hr) -> list[Tensor]:
        h, c = lstm_cell(xt, (state[0], state[1]), w_ih, w_hh, b_ih, b_hh, w_ch, w_hr)
        return [h, c]

    def extra_repr(self) -> str:
        return super().extra_repr() + (", peephole=True" if self.peephole else "")
