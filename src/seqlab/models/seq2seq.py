"""Encoder–decoder (sequence-to-sequence) model with attention: the course's translator.

The course's picture (week 3)::

    encoder:  x<1> … x<Tx>  →  bidirectional RNN  →  a<t'> = [a→<t'>; a←<t'>]
    decoder:  s<t> = cell(s<t-1>, [y<t-1>; c<t>]),   ŷ<t> = softmax(W_y [s<t>; c<t>] + b_y)
    context:  c<t> = Σ_t' α<t,t'> a<t'>,   α<t,·> = softmax_t'(e<t,t'>)

``attention`` selects e<t,t'> (see :mod:`seqlab.functional.attention`):

* ``"bahdanau"`` (default, as in the course and Bahdanau et al. 2015): e<t,t'> =
  vᵀ tanh(W_s s<t-1> + W_a a<t'> + b) from the top decoder layer's s<t-1>; the context is
  part of the step's input and of the output layer's input, as above.
* ``"luong-dot"`` / ``"luong-general"`` (Luong et al. 2015): the cell first reads
  [y<t-1>; h̃<t-1>] (input feeding), then attends with its new top state h<t>
  (e = h<t>ᵀ a<t'> or h<t>ᵀ W a<t'>), and predicts from h̃<t> = tanh(W_c [c<t>; h<t>]):
  ŷ<t> = softmax(W_y h̃<t> + b_y). With a bidirectional encoder the dot score's keys are
  a→<t'> + a←<t'> (so they match the decoder's width H; PyTorch's chatbot tutorial does the
  same), while the values are the full [a→<t'>; a←<t'>].
* ``"none"``: the course's basic encoder–decoder (Sutskever et al. 2014, Cho et al. 2014):
  the encoder's final state is the only context, through s<0>; ŷ<t> = softmax(W_y s<t> + b_y).

In every mode the decoder starts from s<0> = tanh(W_b [a→<Tx>; a←<1>] + b_b) (one H-block per
decoder layer; the LSTM's memory c<0> = W_c' [c→<Tx>; c←<1>] + b_c'), the top encoder
layer's final states. The encoder runs once per source on a packed batch, so padding never
reaches it; the attention masks padded source positions to exactly zero weight.

Decoding protocol (:mod:`seqlab.decoding.protocol`): ``init_state(src, src_lengths)`` runs
the encoder once and precomputes the attention keys; ``step(tokens, state)`` reads y<t-1> and
returns log P(y<t> | y<<t>, x) and the next :class:`Seq2SeqState`; ``reorder_state`` selects batch
rows (beam search): the decoder states always, the encoder's outputs, keys and mask only when
some row would then read another source than before (beams that stay with their sentence, as
in most beam-search steps, leave that memory where it is). ``forward`` is teacher forcing
with an optional ratio (scheduled sampling: each step feeds the true y<t-1> with probability
``teacher_forcing``, else the model's own arg max or a sample of its softmax).

Tested in ``tests/test_seq2seq.py``: two steps recomputed by hand from these equations (with
torch.nn's GRU/GRUCell) equal the model, stepping equals teacher forcing for every attention ×
cell, a padded batch equals its examples run alone, ``reorder_state`` equals stepping the
reordered batch, the loss and label smoothing equal a hand computation, and a tiny model
learns to reverse digit strings.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqlab._validate import from_fields
from seqlab.decoding.protocol import check_row_index, check_step_tokens, memory_rows
from seqlab.functional.bptt import scan
from seqlab.functional.recurrent import gru_cell, lstm_cell
from seqlab.models.registry import register_model
from seqlab.models.rnn_architectures import RNNConfig, make_rnn
from seqlab.nn.attention import BahdanauAttention, LuongAttention
from seqlab.nn.cells import GRUCell, LSTMCell
from seqlab.shapes import format_shape

__all__ = ["Seq2Seq", "Seq2SeqConfig", "Seq2SeqState"]

AttentionKind = Literal["bahdanau", "luong-dot", "luong-general", "none"]
_ATTENTIONS = ("bahdanau", "luong-dot", "luong-general", "none")


@dataclass(frozen=True, kw_only=True)
class Seq2SeqConfig:
    """Shape of an encoder–decoder model.

    The encoder has ``hidden_size`` units per direction, so its activations a<t'> are
    D·H wide (2H when bidirectional); the decoder has ``hidden_size`` units per layer.
    """

    src_vocab_size: int  # source vocabulary size (ids the encoder reads)
    tgt_vocab_size: int  # V: target vocabulary size (ids the decoder reads and predicts)
    embedding_dim: int = 64  # E: width of source and target token embeddings
    hidden_size: int = 128  # H: decoder state width, and the encoder's width per direction
    encoder_layers: int = 1  # stacked encoder layers
    decoder_layers: int = 1  # L: stacked decoder layers
    cell: Literal["gru", "lstm"] = "gru"  # recurrent cell of encoder and decoder
    reset_after: bool = True  # GRU only: False is the course's original GRU, True torch's
    bidirectional: bool = True  # encoder reads both directions (D = 2)
    attention: AttentionKind = "bahdanau"  # score e<t,t'>; "none" is the basic model
    attention_dim: int = 64  # A: hidden width of Bahdanau's scoring network
    dropout: float = 0.0  # dropout on embeddings, between layers and before the output layer
    src_pad_id: int = 0  # padding id in source batches (its embedding is zero)
    tgt_pad_id: int = 0  # padding id in target batches (ignored by the loss)

    def __post_init__(self) -> None:
        if self.cell not in ("gru", "lstm"):
            raise ValueError(f"cell must be 'gru' or 'lstm', got {self.cell!r}")
        if self.attention not in _ATTENTIONS:
            raise ValueError(f"attention must be one of {_ATTENTIONS}, got {self.attention!r}")
        sizes = {
            "src_vocab_size": self.src_vocab_size,
            "tgt_vocab_size": self.tgt_vocab_size,
            "embedding_dim": self.embedding_dim,
            "hidden_size": self.hidden_size,
            "encoder_layers": self.encoder_layers,
            "decoder_layers": self.decoder_layers,
            "attention_dim": self.attention_dim,
        }
        for name, value in sizes.items():
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not self.reset_after and self.cell != "gru":
            raise ValueError(f"reset_after=False applies to cell='gru' only, got {self.cell!r}")
        if not 0 <= self.src_pad_id < self.src_vocab_size:
            raise ValueError(f"src_pad_id {self.src_pad_id} not in [0, {self.src_vocab_size})")
        if not 0 <= self.tgt_pad_id < self.tgt_vocab_size:
            raise ValueError(f"tgt_pad_id {self.tgt_pad_id} not in [0, {self.tgt_vocab_size})")

    @property
    def num_directions(self) -> int:
        """D: 2 for a bidirectional encoder, else 1."""
        return 2 if self.bidirectional else 1

    @property
    def encoder_output_size(self) -> int:
        """Width of an encoder activation a<t'>: D·H."""
        return self.num_directions * self.hidden_size

    def encoder_config(self) -> RNNConfig:
        return RNNConfig(
            cell=self.cell,
            input_size=self.embedding_dim,
            hidden_size=self.hidden_size,
            num_layers=self.encoder_layers,
            bidirectional=self.bidirectional,
            dropout=self.dropout,
            reset_after=self.reset_after,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Seq2SeqConfig:
        return from_fields(cls, d)


@dataclass(frozen=True, eq=False)
class Seq2SeqState:
    """Everything the decoder needs between steps; every tensor carries the batch.

    ``hidden``/``cell`` carry the batch in dim 1 (as torch's RNN states), the rest in dim 0.
    """

    hidden: Tensor  # (L, B, H): decoder states s<t> per layer
    cell: Tensor | None  # (L, B, H): LSTM memory c<t>; None for the GRU
    encoder_outputs: Tensor  # (B, T, D*H): a<t'>, the attention's values
    keys: Tensor | None  # (B, T, A) or (B, T, H): precomputed key projections; None if "none"
    mask: Tensor  # (B, T) bool: true at real (non-pad) source positions
    feed: Tensor | None  # (B, H): Luong's input feeding h̃<t-1>; None for other modes
    attention: Tensor | None = None  # (B, T): the last step's α<t,·>; None before a step
    # (B,) int64: the source (row of init_state's batch) each row's memory holds; None: row i
    # holds source i. reorder_state moves encoder_outputs, keys and mask only when it changes
    sources: Tensor | None = None

    @property
    def batch_size(self) -> int:
        return self.hidden.shape[1]


def _check_ids(x: Tensor, name: str, shape: str) -> None:
    if x.dim() != 2 or x.dtype not in (torch.int64, torch.int32) or x.shape[1] == 0:
        raise ValueError(
            f"expected {name} token ids of shape {shape} with a nonzero length, "
            f"got {format_shape(tuple(x.shape))} {x.dtype}"
        )


def check_source(src: Tensor, src_lengths: Tensor, axis: str = "T") -> Tensor:
    """Validate a padded source batch and its lengths; return the lengths as CPU int64.

    ``axis`` names the source's time axis in messages ("T" for the RNN, "S" for the
    Transformer, as their docstrings call it).

    Shape:
        src: (B, T) ids, src_lengths: (B,) -> (B,) int64 on the CPU
    """
    _check_ids(src, "src", f"(B, {axis})")
    batch, steps = src.shape
    if (
        not isinstance(src_lengths, Tensor)
        or src_lengths.shape != (batch,)
        or src_lengths.is_floating_point()
    ):
        got = (
            f"{format_shape(tuple(src_lengths.shape))} {src_lengths.dtype}"
            if isinstance(src_lengths, Tensor)
            else type(src_lengths).__name__
        )
        raise ValueError(f"expected src_lengths of shape (B={batch},) integers, got {got}")
    lens = src_lengths.detach().to("cpu", torch.int64)
    if batch and (int(lens.min()) < 1 or int(lens.max()) > steps):
        raise ValueError(
            f"src_lengths must lie in [1, {axis}={steps}], got min {int(lens.min())}, "
            f"max {int(lens.max())}"
        )
    return lens


@register_model("seq2seq", "rnn")
class Seq2Seq(nn.Module):
    """Bidirectional RNN encoder + attentive RNN decoder (see the module docstring)."""

    config_class = Seq2SeqConfig

    def __init__(self, config: Seq2SeqConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        hidden, layers, enc_size = c.hidden_size, c.decoder_layers, c.encoder_output_size
        self.src_embedding = nn.Embedding(c.src_vocab_size, c.embedding_dim, c.src_pad_id)
        self.tgt_embedding = nn.Embedding(c.tgt_vocab_size, c.embedding_dim, c.tgt_pad_id)
        self.encoder = make_rnn(c.encoder_config(), batch_first=True)
        self.bridge = nn.Linear(enc_size, layers * hidden)  # W_b: s<0> from the final a
        self.bridge_cell = nn.Linear(enc_size, layers * hidden) if c.cell == "lstm" else None
        self.attention: BahdanauAttention | LuongAttention | None
        self.combine: nn.Linear | None = None
        if c.attention == "bahdanau":
            self.attention = BahdanauAttention(hidden, enc_size, c.attention_dim)
            feed_size, head_size = enc_size, hidden + enc_size  # input [y; c], output [s; c]
        elif c.attention == "luong-dot":
            self.attention = LuongAttention(hidden, hidden, "dot")
            feed_size, head_size = hidden, hidden  # input [y; h̃], output h̃
        elif c.attention == "luong-general":
            self.attention = LuongAttention(hidden, enc_size, "general")
            feed_size, head_size = hidden, hidden
        else:
            self.attention = None
            feed_size, head_size = 0, hidden
        if c.attention.startswith("luong"):
            self.combine = nn.Linear(enc_size + hidden, hidden, bias=False)  # W_c
        self.cells = nn.ModuleList(
            self._make_cell(c.embedding_dim + feed_size if k == 0 else hidden)
            for k in range(layers)
        )
        self.drop = nn.Dropout(c.dropout)
        self.head = nn.Linear(head_size, c.tgt_vocab_size)  # W_y, b_y

    def _make_cell(self, input_size: int) -> GRUCell | LSTMCell:
        c = self.config
        if c.cell == "gru":
            return GRUCell(input_size, c.hidden_size, reset_after=c.reset_after)
        return LSTMCell(input_size, c.hidden_size)

    # -- encoder -------------------------------------------------------------------------
    def _check_source(self, src: Tensor, src_lengths: Tensor) -> Tensor:
        """Validate ``src`` and ``src_lengths``; return the lengths as a CPU int64 tensor."""
        return check_source(src, src_lengths)

    def _encode(self, src: Tensor, lens: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        """Run the encoder; return a<t'> and the top layer's final states [→; ←].

        Shape:
            src: (B, T), lens: (B,) -> outputs (B, T, D*H), final h (B, D*H), final c or None
        """
        batch, steps = src.shape
        d, hidden = self.config.num_directions, self.config.hidden_size
        x = self.drop(self.src_embedding(src))  # (B, T, E)
        packed = pack_padded_sequence(x, lens, batch_first=True, enforce_sorted=False)
        out, state = self.encoder(packed)
        outputs, _ = pad_packed_sequence(out, batch_first=True, total_length=steps)  # (B, T, D*H)
        h_n, c_n = state if isinstance(state, tuple) else (state, None)  # (L_enc*D, B, H)
        # top layer, directions side by side: [a→<Tx>; a←<1>]
        final_h = h_n[-d:].transpose(0, 1).reshape(batch, d * hidden)  # (B, D*H)
        final_c = None
        if c_n is not None:
            final_c = c_n[-d:].transpose(0, 1).reshape(batch, d * hidden)  # (B, D*H)
        return outputs, final_h, final_c

    # -- the decoding step protocol ------------------------------------------------------
    def init_state(self, src: Tensor, src_lengths: Tensor) -> Seq2SeqState:
        """Encode the source once; the decoder's state before its first step.

        Shape:
            src: (B, T) ids, src_lengths: (B,) -> Seq2SeqState for B sequences
        """
        lens = self._check_source(src, src_lengths)
        batch, steps = src.shape
        c = self.config
        layers, hidden = c.decoder_layers, c.hidden_size
        outputs, final_h, final_c = self._encode(src, lens)  # (B, T, D*H), (B, D*H)
        # s<0> = tanh(W_b [a→<Tx>; a←<1>] + b_b), one H-block per decoder layer
        h0 = torch.tanh(self.bridge(final_h))  # (B, L*H)
        h0 = h0.reshape(batch, layers, hidden).transpose(0, 1).contiguous()  # (L, B, H)
        c0 = None
        if self.bridge_cell is not None and final_c is not None:
            # c<0> = W_c' [c→<Tx>; c←<1>] + b_c'
            c0 = self.bridge_cell(final_c).reshape(batch, layers, hidden)  # (B, L, H)
            c0 = c0.transpose(0, 1).contiguous()  # (L, B, H)
        positions = torch.arange(steps, device=src.device)  # (T,)
        mask = positions[None, :] < lens.to(src.device)[:, None]  # (B, T)
        keys = None
        if self.attention is not None:
            key_input = outputs
            if c.attention == "luong-dot" and c.bidirectional:
                # dot keys: a→<t'> + a←<t'>, width H to match the decoder's h<t>
                key_input = outputs[..., :hidden] + outputs[..., hidden:]  # (B, T, H)
            keys = self.attention.project_keys(key_input)  # (B, T, A) or (B, T, H)
        feed = outputs.new_zeros(batch, hidden) if self.combine is not None else None  # (B, H)
        return Seq2SeqState(h0, c0, outputs, keys, mask, feed)

    def _cells(self, x: Tensor, state: Seq2SeqState) -> tuple[Tensor, Tensor, Tensor | None]:
        """One step of the stacked decoder cells.  x: (B, E') -> top (B, H), (L, B, H) x 2"""
        new_h, new_c = [], []
        layer_input = x  # (B, E')
        for k, cell in enumerate(self.cells):
            if state.cell is None:
                h = gru_cell(
                    layer_input,
                    state.hidden[k],
                    cell.weight_ih,
                    cell.weight_hh,
                    cell.bias_ih,
                    cell.bias_hh,
                    self.config.reset_after,
                )  # (B, H)
            else:
                h, m = lstm_cell(
                    layer_input,
                    (state.hidden[k], state.cell[k]),
                    cell.weight_ih,
                    cell.weight_hh,
                    cell.bias_ih,
                    cell.bias_hh,
                )  # (B, H), (B, H)
                new_c.append(m)
            new_h.append(h)
            layer_input = h
            if k < len(self.cells) - 1:
                layer_input = self.drop(layer_input)
        cells = torch.stack(new_c) if new_c else None  # (L, B, H)
        return layer_input, torch.stack(new_h), cells  # (B, H), (L, B, H)

    def _advance(self, emb: Tensor, state: Seq2SeqState) -> tuple[Tensor, Seq2SeqState]:
        """Read one (embedded) y<t-1>; return the output layer's input and the next state.

        Shape:
            emb: (B, E) -> features (B, H + D*H) for Bahdanau, (B, H) otherwise
        """
        kind = self.config.attention
        alphas = None
        if kind == "bahdanau":
            assert self.attention is not None and state.keys is not None
            # e<t,t'> from s<t-1> (top layer) and a<t'>; c<t> = Σ_t' α<t,t'> a<t'>
            context, alphas = self.attention(
                state.hidden[-1], state.keys, state.encoder_outputs, state.mask, keys_projected=True
            )  # (B, D*H), (B, T)
            x = torch.cat([emb, context], dim=-1)  # (B, E + D*H)
        elif state.feed is not None:
            x = torch.cat([emb, state.feed], dim=-1)  # (B, E + H): input feeding
        else:
            x = emb  # (B, E)
        top, hidden, cell = self._cells(x, state)  # (B, H), (L, B, H)
        feed = None
        if kind == "bahdanau":
            features = torch.cat([top, context], dim=-1)  # (B, H + D*H): [s<t>; c<t>]
        elif self.combine is not None:
            assert self.attention is not None and state.keys is not None
            # Luong: attend with the new h<t>
            context, alphas = self.attention(
                top, state.keys, state.encoder_outputs, state.mask, keys_projected=True
            )  # (B, D*H), (B, T)
            # h̃<t> = tanh(W_c [c<t>; h<t>])
            feed = torch.tanh(self.combine(torch.cat([context, top], dim=-1)))  # (B, H)
            features = feed
        else:
            features = top  # (B, H)
        new = replace(state, hidden=hidden, cell=cell, feed=feed, attention=alphas)
        return features, new

    def step(self, tokens: Tensor, state: Seq2SeqState) -> tuple[Tensor, Seq2SeqState]:
        """Read y<t-1> for each sequence; return log P(y<t> | y<<t>, x) and the new state.

        Shape:
            tokens: (B,) ids -> log_probs (B, V), state (``state.attention``: (B, T))
        """
        batch = state.batch_size
        check_step_tokens(tokens, batch)
        emb = self.drop(self.tgt_embedding(tokens))  # (B, E)
        features, state = self._advance(emb, state)
        # ŷ<t> = softmax(W_y features + b_y)
        return F.log_softmax(self.head(self.drop(features)), dim=-1), state  # (B, V)

    def reorder_state(self, state: Seq2SeqState, index: Tensor) -> Seq2SeqState:
        """Select (and repeat) batch rows of every batch-carrying tensor, e.g. for beam search.

        Shape:
            index: (B',) ids into the batch -> a state for B' sequences
        """
        check_row_index(index)
        index = index.to(state.hidden.device)

        def rows(x: Tensor | None) -> Tensor | None:
            return None if x is None else x.index_select(0, index)

        # every row keeps the source its memory row holds: the memory needs no copy
        sources, same = memory_rows(state.sources, state.batch_size, index)  # (B',)
        return Seq2SeqState(
            hidden=state.hidden.index_select(1, index),  # (L, B', H)
            cell=None if state.cell is None else state.cell.index_select(1, index),
            encoder_outputs=(
                state.encoder_outputs if same else state.encoder_outputs.index_select(0, index)
            ),  # (B', T, D*H)
            keys=state.keys if same else rows(state.keys),  # (B', T, A)
            mask=state.mask if same else state.mask.index_select(0, index),  # (B', T)
            feed=rows(state.feed),
            attention=rows(state.attention),
            sources=sources,
        )

    # -- training ------------------------------------------------------------------------
    def forward(
        self,
        src: Tensor,
        src_lengths: Tensor,
        tgt_in: Tensor,
        *,
        teacher_forcing: float = 1.0,
        feed_back: Literal["argmax", "sample"] = "argmax",
        generator: torch.Generator | None = None,
        return_attention: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor | None]:
        """Logits of y<t> at every target step.

        ``tgt_in[:, 0]`` is the start token. Each later step t reads the true previous token
        ``tgt_in[:, t]`` with probability ``teacher_forcing``, else the model's own token
        from step t − 1: its arg max (``feed_back="argmax"``) or a draw from its softmax
        (``"sample"``). With 1.0 (default) this is plain teacher forcing; with 0.0 the model
        always feeds itself back. Random numbers come from ``generator``, in this order at
        each step t ≥ 1: B coins (only when 0 < ``teacher_forcing`` < 1), then B samples
        (only with ``"sample"``). Fed-back tokens carry no gradient.

        Returns ``logits``, or ``(logits, attention)`` with ``return_attention``;
        ``attention`` is None for ``attention="none"``.

        Shape:
            src: (B, T) ids, src_lengths: (B,), tgt_in: (B, S) ids
            -> logits (B, S, V) [, attention (B, S, T)]
        """
        if not 0.0 <= teacher_forcing <= 1.0:
            raise ValueError(f"teacher_forcing must be in [0, 1], got {teacher_forcing}")
        if feed_back not in ("argmax", "sample"):
            raise ValueError(f"feed_back must be 'argmax' or 'sample', got {feed_back!r}")
        _check_ids(src, "src", "(B, T)")
        _check_ids(tgt_in, "tgt_in", "(B, S)")
        if tgt_in.shape[0] != src.shape[0]:
            raise ValueError(
                f"expected tgt_in of shape (B={src.shape[0]}, S), "
                f"got {format_shape(tuple(tgt_in.shape))}"
            )
        state = self.init_state(src, src_lengths)
        if self.attention is None and teacher_forcing == 1.0:
            logits = self._teacher_forced_sequence(tgt_in, state)  # (B, S, V)
            return (logits, None) if return_attention else logits
        embedded = self.drop(self.tgt_embedding(tgt_in))  # (B, S, E)
        features, alphas, step_logits = [], [], []
        for t in range(tgt_in.shape[1]):
            if t == 0 or teacher_forcing == 1.0:
                emb = embedded[:, t]  # (B, E)
            else:
                tokens = self._next_inputs(
                    tgt_in[:, t], step_logits[-1], teacher_forcing, feed_back, generator
                )  # (B,)
                emb = self.drop(self.tgt_embedding(tokens))  # (B, E)
            feats, state = self._advance(emb, state)  # (B, F)
            if state.attention is not None:
                alphas.append(state.attention)  # (B, T)
            if teacher_forcing == 1.0:
                features.append(feats)
            else:
                step_logits.append(self.head(self.drop(feats)))  # (B, V)
        if teacher_forcing == 1.0:
            # ŷ<t> = softmax(W_y features<t> + b_y), all steps in one product
            logits = self.head(self.drop(torch.stack(features, dim=1)))  # (B, S, F) -> (B, S, V)
        else:
            logits = torch.stack(step_logits, dim=1)  # (B, S, V)
        if not return_attention:
            return logits
        return logits, (torch.stack(alphas, dim=1) if alphas else None)  # (B, S, T)

    @staticmethod
    def _next_inputs(
        truth: Tensor,
        logits: Tensor,
        teacher_forcing: float,
        feed_back: str,
        generator: torch.Generator | None,
    ) -> Tensor:
        """The true token where a coin says so, else the model's own (arg max or sample).

        Shape:
            truth: (B,), logits: (B, V) of the previous step -> (B,)
        """
        device = generator.device if generator is not None else truth.device
        coins = None
        if teacher_forcing > 0.0:
            coins = torch.rand(truth.shape[0], generator=generator, device=device)  # (B,)
        logits = logits.detach()
        if feed_back == "sample":
            probs = logits.softmax(dim=-1).to(device)  # (B, V)
            own = torch.multinomial(probs, 1, generator=generator).squeeze(1)  # (B,)
        else:
            own = logits.argmax(dim=-1)  # (B,)
        own = own.to(truth.device)
        if coins is None:
            return own
        return torch.where(coins.to(truth.device) < teacher_forcing, truth, own)  # (B,)

    def _teacher_forced_sequence(self, tgt_in: Tensor, state: Seq2SeqState) -> Tensor:
        """Without attention, teacher forcing is one sequence call per decoder layer.

        Shape:
            tgt_in: (B, S) -> logits (B, S, V)
        """
        c = self.config
        mode = "lstm" if c.cell == "lstm" else ("gru" if c.reset_after else "gru_reset_before")
        x = self.drop(self.tgt_embedding(tgt_in)).transpose(0, 1)  # (S, B, E)
        for k, cell in enumerate(self.cells):
            c0 = None if state.cell is None else state.cell[k]  # (B, H)
            x, _, _ = scan(
                mode,  # type: ignore[arg-type]
                x,
                state.hidden[k],
                c0,
                cell.weight_ih,
                cell.bias_ih,
                cell.weight_hh,
                cell.bias_hh,
            )  # (S, B, H)
            if k < len(self.cells) - 1:
                x = self.drop(x)
        # ŷ<t> = softmax(W_y s<t> + b_y)
        return self.head(self.drop(x.transpose(0, 1)))  # (B, S, H) -> (B, S, V)

    def loss(
        self,
        src: Tensor,
        src_lengths: Tensor,
        tgt_in: Tensor,
        tgt_out: Tensor,
        *,
        label_smoothing: float = 0.0,
        teacher_forcing: float = 1.0,
        feed_back: Literal["argmax", "sample"] = "argmax",
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Mean cross-entropy over the non-pad target tokens (``tgt_pad_id`` is ignored).

        With ``label_smoothing`` ε the target distribution is (1 − ε)·one-hot + ε/V.
        ``teacher_forcing``, ``feed_back`` and ``generator`` are passed to :meth:`forward`.

        Shape:
            src: (B, T), src_lengths: (B,), tgt_in: (B, S), tgt_out: (B, S) -> ()
        """
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        if tgt_out.shape != tgt_in.shape or tgt_out.is_floating_point():
            raise ValueError(
                f"expected tgt_out ids of shape {format_shape(tuple(tgt_in.shape))} (as tgt_in), "
                f"got {format_shape(tuple(tgt_out.shape))} {tgt_out.dtype}"
            )
        logits = self(
            src,
            src_lengths,
            tgt_in,
            teacher_forcing=teacher_forcing,
            feed_back=feed_back,
            generator=generator,
        )
        assert isinstance(logits, Tensor)
        return F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]),  # (B*S, V)
            tgt_out.reshape(-1),  # (B*S,)
            ignore_index=self.config.tgt_pad_id,
            label_smoothing=label_smoothing,
        )
