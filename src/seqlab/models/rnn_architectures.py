"""The course's basic RNN architectures as small, ready modules.

* :class:`ManyToOne` reads a whole sequence x<1> … x<Tx> and classifies it from its final
  state (sentiment classification, "does this sequence contain ...?").
* :class:`ManyToMany` (Tx = Ty) emits one prediction ŷ<t> per input x<t> (tagging).
* :class:`OneToMany` generates a sequence from one input (or none), feeding each sampled
  ŷ<t-1> back as the next input x<t> (music / name generation).

They are thin: the recurrence is :mod:`seqlab.nn` (``RNN``/``GRU``/``LSTM`` for the sequence
readers, the cells for the step-by-step generator), and one :class:`RNNConfig` describes it.
Tested in ``tests/test_rnn_architectures.py``: padded/packed batches equal sequences run alone, the
bidirectional summary equals the states read off the RNN's output, teacher forcing equals
stepping the generator, and a GRU ``ManyToOne`` learns a small task.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from seqlab.nn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell
from seqlab.nn.recurrent import Impl
from seqlab.shapes import check_shape, format_shape

__all__ = ["ManyToMany", "ManyToOne", "OneToMany", "RNNConfig", "make_rnn"]

CellKind = Literal["rnn", "gru", "lstm"]
CellState = Tensor | tuple[Tensor, Tensor]  # (B, H), or (h, c) for the LSTM
DecoderState = tuple[CellState, ...]  # one cell state per layer
Lengths = Tensor | Sequence[int]


@dataclass(frozen=True, kw_only=True)
class RNNConfig:
    """The recurrent part of a model: which cell, how wide, how deep, which direction(s).

    ``input_size`` is the width of what the model reads as x: per-step features or token
    embeddings for :class:`ManyToOne` / :class:`ManyToMany`, the start vector for
    :class:`OneToMany`.
    """

    cell: CellKind  # "rnn" (tanh), "gru" or "lstm"
    input_size: int  # E: width of x (features, embeddings, or OneToMany's start vector)
    hidden_size: int  # H: width of the activation a<t>
    num_layers: int = 1  # L: stacked recurrent layers (a deep RNN when > 1)
    bidirectional: bool = False  # also read right to left (sequence readers only)
    dropout: float = 0.0  # dropout between stacked layers while training (0 = none)
    reset_after: bool = True  # GRU only: False is the course's original GRU, True torch's
    peephole: bool = False  # LSTM only: add peephole connections from c to the gates
    impl: Impl = "auto"  # how the recurrence runs (same function): auto, fused, bptt, loop

    def __post_init__(self) -> None:
        if self.cell not in ("rnn", "gru", "lstm"):
            raise ValueError(f"cell must be 'rnn', 'gru' or 'lstm', got {self.cell!r}")
        if self.impl not in get_args(Impl):
            raise ValueError(f"impl must be one of {get_args(Impl)}, got {self.impl!r}")
        if min(self.input_size, self.hidden_size, self.num_layers) <= 0:
            raise ValueError(
                "input_size, hidden_size and num_layers must be positive, got "
                f"{self.input_size}, {self.hidden_size}, {self.num_layers}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not self.reset_after and self.cell != "gru":
            raise ValueError(f"reset_after=False applies to cell='gru' only, got {self.cell!r}")
        if self.peephole and self.cell != "lstm":
            raise ValueError(f"peephole=True applies to cell='lstm' only, got {self.cell!r}")

    @property
    def num_directions(self) -> int:
        """D: 2 when bidirectional, else 1."""
        return 2 if self.bidirectional else 1


def make_rnn(config: RNNConfig, batch_first: bool = True) -> RNNBase:
    """The :mod:`seqlab.nn` sequence module that ``config`` describes."""
    args = (config.input_size, config.hidden_size, config.num_layers)
    kw = {
        "batch_first": batch_first,
        "dropout": config.dropout,
        "bidirectional": config.bidirectional,
        "impl": config.impl,
    }
    if config.cell == "rnn":
        return RNN(*args, **kw)
    if config.cell == "gru":
        return GRU(*args, **kw, reset_after=config.reset_after)
    return LSTM(*args, **kw, peephole=config.peephole)


def _make_cell(config: RNNConfig, input_size: int) -> RNNCell | GRUCell | LSTMCell:
    if config.cell == "rnn":
        return RNNCell(input_size, config.hidden_size)
    if config.cell == "gru":
        return GRUCell(input_size, config.hidden_size, reset_after=config.reset_after)
    return LSTMCell(input_size, config.hidden_size, peephole=config.peephole)


def _check_lengths(lengths: Lengths, batch: int, steps: int) -> Tensor:
    """Lengths as a CPU int64 tensor (what packing wants), each in [1, T]."""
    lens = torch.as_tensor(lengths).detach().to("cpu", torch.int64)
    check_shape(lens, (f"B={batch}",), "lengths")
    if batch and (lens.min() < 1 or lens.max() > steps):
        raise ValueError(
            f"lengths must lie in [1, T={steps}], got min {int(lens.min())}, max {int(lens.max())}"
        )
    return lens


class _SequenceReader(nn.Module):
    """Shared by ManyToOne and ManyToMany: optional embedding, input checks, packing, RNN."""

    def __init__(
        self,
        config: RNNConfig,
        num_classes: int,
        *,
        vocab_size: int | None = None,
        embedding_dim: int | None = None,
    ) -> None:
        super().__init__()
        if num_classes <= 0:
            raise ValueError(f"num_classes must be positive, got {num_classes}")
        if vocab_size is None and embedding_dim is not None:
            raise ValueError("embedding_dim needs vocab_size (token-id input)")
        if embedding_dim is not None and embedding_dim != config.input_size:
            raise ValueError(
                f"embedding_dim ({embedding_dim}) must equal config.input_size "
                f"({config.input_size}): the embeddings are the RNN's input"
            )
        self.config = config
        self.embedding = (
            nn.Embedding(vocab_size, config.input_size) if vocab_size is not None else None
        )
        self.rnn = make_rnn(config, batch_first=True)
        self.num_classes = num_classes
        self.head = nn.Linear(config.num_directions * config.hidden_size, num_classes)

    def _expected(self) -> str:
        if self.embedding is not None:
            return "token ids of shape (B, T)"
        return f"input of shape (B, T, E={self.config.input_size})"

    def _check_input(self, input: Tensor) -> None:
        if self.embedding is not None:
            ok = input.dim() == 2 and not input.is_floating_point()
        else:
            ok = input.dim() == 3 and input.shape[-1] == self.config.input_size
            ok = ok and input.is_floating_point()
        if not ok:
            show_dtype = self.embedding is not None or not input.is_floating_point()
            kind = f"{input.dtype} " if show_dtype else ""
            raise ValueError(f"expected {self._expected()}, got {kind}{format_shape(input.shape)}")
        if input.shape[1] == 0:
            raise ValueError(f"expected at least one time step, got {format_shape(input.shape)}")

    def _embed_packed(self, packed: PackedSequence) -> PackedSequence:
        if self.embedding is None:
            return packed
        if packed.data.dim() != 1 or packed.data.is_floating_point():
            got = f"{packed.data.dtype} {format_shape(packed.data.shape)}"
            raise ValueError(f"expected a PackedSequence of token ids (N,), got {got}")
        data = self.embedding(packed.data)  # (N,) -> (N, E)
        return PackedSequence(
            data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices
        )

    def _read(
        self, input: Tensor | PackedSequence, lengths: Lengths | None
    ) -> tuple[Tensor | PackedSequence, Tensor]:
        """Run the RNN; return ``(output, h_n)`` with ``output`` packed iff it was packed.

        Shape:
            input: (B, T) ids | (B, T, E) | PackedSequence -> output: (B, T, D*H) or packed,
            h_n: (L*D, B, H)
        """
        if isinstance(input, PackedSequence):
            if lengths is not None:
                raise ValueError("pass lengths only with padded input; a PackedSequence has them")
            x: Tensor | PackedSequence = self._embed_packed(input)
        else:
            self._check_input(input)
            x = self.embedding(input) if self.embedding is not None else input  # (B, T, E)
            if lengths is not None:
                lens = _check_lengths(lengths, input.shape[0], input.shape[1])
                x = pack_padded_sequence(x, lens, batch_first=True, enforce_sorted=False)
        output, state = self.rnn(x)  # (B, T, D*H) or packed; (L*D, B, H)
        h_n = state[0] if isinstance(state, tuple) else state  # (L*D, B, H)
        return output, h_n


class ManyToOne(_SequenceReader):
    """Read a whole sequence, classify it from the final activation (many-to-one).

    The course's picture, one RNN unrolled over Tx steps with a single prediction at the end::

                x<1>      x<2>             x<Tx>
                 |         |                 |
        a<0> → [RNN] → a<1> → [RNN] → … → [RNN] → a<Tx> → softmax → ŷ

    With ``lengths`` (or a ``PackedSequence``) every sequence ends at its own last step, so
    padding never reaches a<Tx>. Bidirectional: ŷ reads [a→<Tx>; a←<1>], the last forward
    activation and the backward activation at the first step (h_n of both directions of
    the last layer). Logits are returned; apply ``softmax`` or ``F.cross_entropy``.

    Args:
        config: the recurrent part.
        num_classes: C, number of classes.
        vocab_size: if given, the input is token ids embedded by a learned table ...
        embedding_dim: ... of this width (defaults to, and must equal, ``config.input_size``).
    """

    def forward(self, input: Tensor | PackedSequence, lengths: Lengths | None = None) -> Tensor:
        """Logits of each sequence's class.

        Args:
            input: float features, or token ids when built with ``vocab_size``; padded
                (batch first) or packed.
            lengths: true length of each padded sequence (default: all T steps).

        Shape:
            input: (B, T, E) features or (B, T) ids, or a PackedSequence; lengths: (B,)
            output: (B, C)
        """
        _, h_n = self._read(input, lengths)  # (L*D, B, H)
        d, hidden = self.config.num_directions, self.config.hidden_size
        last = h_n[-d:]  # (D, B, H): last layer, forward then backward
        summary = last.transpose(0, 1).reshape(-1, d * hidden)  # (B, D*H)
        # ŷ = W_ya a<Tx> + b_y (softmax left to the loss)
        return self.head(summary)  # (B, C)


class ManyToMany(_SequenceReader):
    """One prediction per input step, Tx = Ty (many-to-many, as in named-entity tagging).

    The course's picture::

                x<1>      x<2>             x<Tx>
                 |         |                 |
        a<0> → [RNN] → a<1> → [RNN] → … → [RNN] → a<Tx>
                 |         |                 |
                ŷ<1>      ŷ<2>             ŷ<Ty>

    Bidirectional: ŷ<t> reads [a→<t>; a←<t>]. With ``lengths`` the batch is packed, so a
    sequence's padding never influences its real steps (nor, backwards, its last steps).
    Nothing is masked here: logits at padded steps are meaningless (they are the head's
    bias) and must be left out of the loss, e.g. with ``ignore_index`` in the targets.

    Args: as :class:`ManyToOne` (``config``, ``num_classes``, ``vocab_size``, ``embedding_dim``).
    """

    def forward(
        self, input: Tensor | PackedSequence, lengths: Lengths | None = None
    ) -> Tensor | PackedSequence:
        """Logits at every step (a PackedSequence of logits for packed input).

        Shape:
            input: (B, T, E) features or (B, T) ids, or a PackedSequence; lengths: (B,)
            output: (B, T, C), or a PackedSequence with data (N, C)
        """
        output, _ = self._read(input, lengths)  # (B, T, D*H) or packed (N, D*H)
        if isinstance(input, PackedSequence):
            # ŷ<t> = W_ya a<t> + b_y at every real step
            logits = self.head(output.data)  # (N, D*H) -> (N, C)
            return PackedSequence(
                logits, output.batch_sizes, output.sorted_indices, output.unsorted_indices
            )
        if isinstance(output, PackedSequence):  # packed here from lengths: pad back to T
            output, _ = pad_packed_sequence(
                output, batch_first=True, total_length=input.shape[1]
            )  # (B, T, D*H), zeros at padded steps
        # ŷ<t> = W_ya a<t> + b_y
        return self.head(output)  # (B, T, C)


class OneToMany(nn.Module):
    """Generate a sequence from one start vector (one-to-many), one cell step at a time.

    The course's picture: the start vector x conditions a<0>, the first input is a learned
    <start> embedding, and every later input is the previous output fed back::

               <start>     ŷ<1>            ŷ<Ty-1>
                  |          |                 |
        a<0> → [cell] → a<1> → [cell] → … → [cell] → a<Ty>
                  |          |                 |
                 ŷ<1>       ŷ<2>             ŷ<Ty>

    a<0> = tanh(W_s x + b_s) (one block per layer; the LSTM's c<0> = 0); a<0> = 0 when no
    start vector is given. In training (``forward``) the inputs after <start> are the true
    previous tokens y<t-1> (teacher forcing); in ``generate`` they are the sampled ŷ<t-1>.
    Both run the same step, so teacher-forced logits equal those met while generating the
    same tokens. ``init_state`` and ``step`` follow seqlab's decoding protocol.

    Args:
        config: the cells; ``config.input_size`` is the width of the start vector x.
            Must not be bidirectional (a generator reads left to right).
        vocab_size: V, output (and fed-back input) vocabulary.
        embedding_dim: width of the token (and <start>) embeddings the cells read.
    """

    def __init__(self, config: RNNConfig, vocab_size: int, embedding_dim: int) -> None:
        super().__init__()
        if config.bidirectional:
            raise ValueError(
                "OneToMany generates left to right: config.bidirectional must be False"
            )
        if vocab_size <= 0 or embedding_dim <= 0:
            raise ValueError(
                f"vocab_size and embedding_dim must be positive, got {vocab_size}, {embedding_dim}"
            )
        self.config = config
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        hidden, layers = config.hidden_size, config.num_layers
        self.start_embedding = nn.Parameter(torch.randn(embedding_dim))  # (E,) like nn.Embedding
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.init_state_proj = nn.Linear(config.input_size, layers * hidden)
        self.cells = nn.ModuleList(
            _make_cell(config, embedding_dim if k == 0 else hidden) for k in range(layers)
        )
        self.head = nn.Linear(hidden, vocab_size)

    # -- state and one step ------------------------------------------------------------
    def init_state(
        self, start: Tensor | None = None, *, batch_size: int | None = None
    ) -> DecoderState:
        """a<0> for every layer, from the start vector (or zeros without one).

        Shape:
            start: (B, E_start) or None (then ``batch_size`` is B) -> per layer (B, H)
            (an (h, c) pair of (B, H) for the LSTM)
        """
        hidden, layers = self.config.hidden_size, self.config.num_layers
        weight = self.head.weight
        if start is None:
            if batch_size is None:
                raise ValueError("init_state needs a start vector or batch_size")
            h0 = weight.new_zeros(layers, batch_size, hidden)  # (L, B, H)
        else:
            check_shape(start, ("B", f"E={self.config.input_size}"), "start")
            if batch_size is not None and batch_size != start.shape[0]:
                raise ValueError(f"batch_size {batch_size} differs from start's B={start.shape[0]}")
            # a<0> = tanh(W_s x + b_s), one H-block per layer
            h0 = torch.tanh(self.init_state_proj(start))  # (B, L*H)
            h0 = h0.reshape(-1, layers, hidden).transpose(0, 1)  # (L, B, H)
        if self.config.cell == "lstm":
            return tuple((h, torch.zeros_like(h)) for h in h0.unbind(0))
        return tuple(h0.unbind(0))

    def _advance(self, x: Tensor, state: DecoderState) -> tuple[Tensor, DecoderState]:
        """One step of the stacked cells.  x: (B, E_emb) -> top a<t>: (B, H)"""
        new: list[CellState] = []
        layer_input = x  # (B, E)
        for k, (cell, s) in enumerate(zip(self.cells, state, strict=True)):
            s = cell(layer_input, s)  # (B, H) or ((B, H), (B, H))
            new.append(s)
            layer_input = s[0] if isinstance(s, tuple) else s  # (B, H)
            if self.config.dropout > 0 and self.training and k < len(self.cells) - 1:
                layer_input = F.dropout(layer_input, self.config.dropout, training=True)
        return layer_input, tuple(new)

    def _inputs(self, tokens: Tensor | None, batch: int) -> Tensor:
        """<start> embedding where ``tokens`` is None, else the tokens' embeddings."""
        if tokens is None:
            return self.start_embedding.expand(batch, -1)  # (B, E)
        return self.embedding(tokens)  # (B,) -> (B, E)

    def step(self, tokens: Tensor | None, state: DecoderState) -> tuple[Tensor, DecoderState]:
        """One generation step: feed y<t-1> (None for <start>), get log P(ŷ<t>).

        Shape:
            tokens: (B,) ids or None; state: from ``init_state`` -> log_probs: (B, V), state
        """
        first = state[0][0] if isinstance(state[0], tuple) else state[0]  # (B, H)
        batch = first.shape[0]
        if tokens is not None:
            check_shape(tokens, (f"B={batch}",), "tokens")
        top, state = self._advance(self._inputs(tokens, batch), state)  # (B, H)
        # ŷ<t> = softmax(W_ya a<t> + b_y)
        return F.log_softmax(self.head(top), dim=-1), state  # (B, V)

    # -- training and generation -------------------------------------------------------
    def forward(self, start: Tensor | None, targets: Tensor) -> Tensor:
        """Teacher-forced logits: ``logits[:, t]`` predicts ``targets[:, t]`` from y<1..t-1>.

        Shape:
            start: (B, E_start) or None; targets: (B, T) ids -> logits: (B, T, V)
        """
        if targets.dim() != 2 or targets.is_floating_point() or targets.shape[1] == 0:
            raise ValueError(
                f"expected targets of token ids of shape (B, T) with T >= 1, "
                f"got {targets.dtype} {format_shape(targets.shape)}"
            )
        batch = targets.shape[0]
        if start is not None:
            check_shape(start, (f"B={batch}", f"E={self.config.input_size}"), "start")
        state = self.init_state(start, batch_size=batch)
        first = self._inputs(None, batch).unsqueeze(1)  # (B, 1, E)
        inputs = torch.cat([first, self.embedding(targets[:, :-1])], dim=1)  # (B, T, E)
        tops = []
        for x_t in inputs.unbind(1):  # x<t>: (B, E)
            top, state = self._advance(x_t, state)  # (B, H)
            tops.append(top)
        return self.head(torch.stack(tops, dim=1))  # (B, T, H) -> (B, T, V)

    @torch.no_grad()
    def generate(
        self,
        start: Tensor | None,
        max_length: int,
        *,
        temperature: float = 1.0,
        greedy: bool = False,
        generator: torch.Generator | None = None,
        eos_id: int | None = None,
        batch_size: int | None = None,
    ) -> Tensor:
        """Sample ids, feeding each ŷ<t-1> back as x<t>.

        Sampling draws from softmax(logits / temperature) with ``generator`` (for
        reproducible samples); ``greedy`` takes the arg max instead. With ``eos_id`` a
        sequence's steps after its <eos> repeat ``eos_id``, and generation stops once every
        sequence has ended (so T may be below ``max_length``). Call ``eval()`` first if the
        model has dropout. ``batch_size`` gives B when there is no start vector.

        Shape:
            start: (B, E_start) or None -> ids: (B, T), T <= max_length
        """
        if max_length < 1:
            raise ValueError(f"max_length must be at least 1, got {max_length}")
        if not greedy and not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        state = self.init_state(start, batch_size=batch_size)
        first = state[0][0] if isinstance(state[0], tuple) else state[0]  # (B, H)
        batch = first.shape[0]
        tokens: Tensor | None = None
        finished = torch.zeros(batch, dtype=torch.bool, device=first.device)  # (B,)
        out = []
        for _ in range(max_length):
            top, state = self._advance(self._inputs(tokens, batch), state)  # (B, H)
            logits = self.head(top)  # (B, V)
            if greedy:
                tokens = logits.argmax(dim=-1)  # (B,)
            else:
                probs = F.softmax(logits / temperature, dim=-1)  # (B, V)
                tokens = torch.multinomial(probs, 1, generator=generator).squeeze(1)  # (B,)
            if eos_id is not None:
                tokens = tokens.masked_fill(finished, eos_id)
                finished = finished | (tokens == eos_id)
            out.append(tokens)
            if eos_id is not None and bool(finished.all()):
                break
        return torch.stack(out, dim=1)  # (B, T)
