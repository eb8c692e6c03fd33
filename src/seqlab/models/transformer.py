"""Transformer models: an encoder–decoder translator and a decoder-only language model.

Vaswani et al. 2017 (course week 4), built from :mod:`seqlab.nn.transformer`::

    encoder:  z = Encoder(√d · E_src[x] + PE)               (N self-attention layers)
    decoder:  h<t> = Decoder(√d · E_tgt[y<<t>] + PE, z)     (masked self-attention, cross-attention)
    output:   P(y<t> | y<<t>, x) = softmax(W h<t> + b),  W = E_tgt with ``tie_embeddings``

With ``norm_first`` (pre-norm) each stack ends with a LayerNorm. ``TransformerLanguageModel``
is the decoder without cross-attention (GPT): causal self-attention over the tokens read.

Both models speak the decoding step protocol of :mod:`seqlab.decoding.protocol` through a
key/value cache (:class:`seqlab.nn.transformer.KVCache`): ``init_state`` encodes the source
once and computes every decoder layer's cross-attention keys and values once; each ``step``
appends one position to the self-attention caches; ``reorder_state`` selects cache rows (beam
search, finished rows), the source's cross-attention keys/values and mask only when some row
then reads another source (beams that stay with their sentence leave that memory where it
is, as the RNN's :class:`~seqlab.models.seq2seq.Seq2Seq` does). States are values: ``step``
never changes the state it is given.

``TransformerSeq2Seq`` offers the methods the translator calls on the RNN
:class:`seqlab.models.seq2seq.Seq2Seq` (``forward``, ``loss``, ``init_state``, ``step``,
``reorder_state``), with one difference: the decoder reads every reference prefix in parallel,
so ``teacher_forcing`` must be 1.0 (scheduled sampling is a ``ValueError``). Its ``attention``
attribute is None (there is no Bahdanau module); :meth:`TransformerSeq2Seq.attention_weights`
gives every layer's and head's weights, and each step's state carries the last decoder layer's
cross-attention averaged over heads (``state.attention``, (B, S)), as the RNN's state does.

Tested in ``tests/test_transformer_models.py``: stepping with the cache equals the full
forward pass (also after ``reorder_state`` with repeated rows), greedy/beam/sampling search
run unchanged, source padding never changes the outputs, a tiny model learns to reverse
digit strings better than a baseline, configs and weights round-trip.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab._validate import from_fields
from seqlab.decoding.protocol import check_row_index, memory_rows, select_rows
from seqlab.functional.transformer import causal_mask, padding_mask
from seqlab.models.registry import register_model
from seqlab.models.seq2seq import Seq2Seq, _check_ids, check_source
from seqlab.nn.transformer import (
    KVCache,
    PositionalEncoding,
    ScaledEmbedding,
    TransformerDecoderLayer,
    TransformerEncoderLayer,
)
from seqlab.shapes import format_shape

__all__ = [
    "SlidingWindowLM",
    "SlidingWindowState",
    "TransformerConfig",
    "TransformerLMConfig",
    "TransformerLMState",
    "TransformerLanguageModel",
    "TransformerSeq2Seq",
    "TransformerState",
]

Activation = Literal["relu", "gelu"]
Positional = Literal["sinusoidal", "learned"]


def _check_sizes(config: Any, names: tuple[str, ...]) -> None:
    """The shared checks of both configs: positive sizes, heads, dropout, the choices."""
    for name in names:
        value = getattr(config, name)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if config.d_model % config.num_heads:
        raise ValueError(
            f"d_model ({config.d_model}) must be a multiple of num_heads ({config.num_heads})"
        )
    if not 0.0 <= config.dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {config.dropout}")
    if config.activation not in ("relu", "gelu"):
        raise ValueError(f"activation must be 'relu' or 'gelu', got {config.activation!r}")
    if config.positional not in ("sinusoidal", "learned"):
        raise ValueError(f"positional must be 'sinusoidal' or 'learned', got {config.positional!r}")


@dataclass(frozen=True, kw_only=True)
class TransformerConfig:
    """Shape of a Transformer encoder–decoder (the paper's base model has d_model=512,
    num_heads=8, 6 + 6 layers, dim_feedforward=2048)."""

    src_vocab_size: int  # source vocabulary size (ids the encoder reads)
    tgt_vocab_size: int  # V: target vocabulary size (ids the decoder reads and predicts)
    d_model: int = 256  # d: width of embeddings and of every layer's input and output
    num_heads: int = 4  # nh: attention heads per layer (head size hs = d_model / nh)
    num_encoder_layers: int = 3  # N: encoder layers
    num_decoder_layers: int = 3  # L: decoder layers
    dim_feedforward: int = 1024  # F: hidden width of each layer's feed-forward block
    dropout: float = 0.1  # on embeddings + positions, attention weights, sublayer outputs
    activation: Activation = "relu"  # the feed-forward block's nonlinearity
    norm_first: bool = False  # False: post-norm (the paper); True: pre-norm
    positional: Positional = "sinusoidal"  # sinusoidal table or learned positions
    max_positions: int = 512  # longest source or target sequence (tokens, <SOS> included)
    tie_embeddings: bool = True  # the output projection W is the target embedding table
    src_pad_id: int = 0  # padding id in source batches (masked from attention)
    tgt_pad_id: int = 0  # padding id in target batches (ignored by the loss)

    def __post_init__(self) -> None:
        _check_sizes(
            self,
            (
                "src_vocab_size",
                "tgt_vocab_size",
                "d_model",
                "num_heads",
                "num_encoder_layers",
                "num_decoder_layers",
                "dim_feedforward",
                "max_positions",
            ),
        )
        if not 0 <= self.src_pad_id < self.src_vocab_size:
            raise ValueError(f"src_pad_id {self.src_pad_id} not in [0, {self.src_vocab_size})")
        if not 0 <= self.tgt_pad_id < self.tgt_vocab_size:
            raise ValueError(f"tgt_pad_id {self.tgt_pad_id} not in [0, {self.tgt_vocab_size})")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TransformerConfig:
        return from_fields(cls, d)


@dataclass(frozen=True, kw_only=True)
class TransformerLMConfig:
    """Shape of a decoder-only Transformer language model (GPT-style: pre-norm, learned
    positions and GELU by default, as nanoGPT)."""

    vocab_size: int  # V: tokens the model reads and predicts
    d_model: int = 256  # d: width of embeddings and of every layer
    num_heads: int = 4  # nh: attention heads per layer (hs = d_model / nh)
    num_layers: int = 4  # L: causal self-attention layers
    dim_feedforward: int = 1024  # F: hidden width of each layer's feed-forward block
    dropout: float = 0.1  # on embeddings + positions, attention weights, sublayer outputs
    activation: Activation = "gelu"  # the feed-forward block's nonlinearity
    norm_first: bool = True  # True: pre-norm (+ a final LayerNorm); False: post-norm
    positional: Positional = "learned"  # learned positions or the sinusoidal table
    max_positions: int = 256  # longest context: positions read, cache included
    tie_embeddings: bool = True  # the output projection is the embedding table

    def __post_init__(self) -> None:
        if not isinstance(self.vocab_size, int) or self.vocab_size < 2:
            raise ValueError(f"vocab_size must be >= 2, got {self.vocab_size!r}")
        names = ("d_model", "num_heads", "num_layers", "dim_feedforward", "max_positions")
        _check_sizes(self, names)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TransformerLMConfig:
        return from_fields(cls, d)


@dataclass(frozen=True, eq=False)
class TransformerState:
    """The decoder's state between steps; every tensor carries the batch in dim 0."""

    self_caches: tuple[KVCache, ...]  # per decoder layer: keys/values (B, nh, t, hs) of y<<t>
    memory_caches: tuple[KVCache, ...]  # per decoder layer: the source's (B, nh, S, hs), static
    src_mask: Tensor  # (B, S) bool: True at real (non-pad) source tokens
    position: int = 0  # t: target tokens read so far (the next one's position)
    attention: Tensor | None = None  # (B, S): last step's cross-attention, last layer, head mean
    # (B,) int64: the source (row of init_state's batch) each row's memory holds; None: row i
    # holds source i. reorder_state moves memory_caches and src_mask only when it changes
    sources: Tensor | None = None

    @property
    def batch_size(self) -> int:
        return self.src_mask.shape[0]  # the memory keeps B rows (moved when B changes)


@dataclass(frozen=True, eq=False)
class TransformerLMState:
    """A language model's key/value cache; the batch is dim 0 of every tensor."""

    caches: tuple[KVCache, ...]  # per layer: keys/values (B, nh, t, hs) of the tokens read
    position: int  # t: tokens read so far (the next one's position)


def _check_tokens(tokens: Tensor, batch: int | None) -> None:
    if tokens.dim() != 1 or tokens.is_floating_point() or batch not in (None, tokens.shape[0]):
        raise ValueError(
            f"expected tokens of shape (B{'' if batch is None else f'={batch}'},) ids, "
            f"got {format_shape(tuple(tokens.shape))} {tokens.dtype}"
        )


def _output_layer(d_model: int, embedding: nn.Embedding, tie: bool) -> nn.Linear:
    """W, b of softmax(W h + b); W shares the embedding table when ``tie``."""
    head = nn.Linear(d_model, embedding.num_embeddings)
    if tie:
        head.weight = embedding.weight
    return head


def _final_norm(d_model: int, norm_first: bool) -> nn.Module:
    """Pre-norm stacks end with a LayerNorm (their last residual sum is not normalised)."""
    return nn.LayerNorm(d_model) if norm_first else nn.Identity()


@register_model("seq2seq", "transformer")
class TransformerSeq2Seq(nn.Module):
    """Transformer encoder–decoder with embeddings, positions and output layer built in."""

    config_class = TransformerConfig
    attention = None  # no Bahdanau module: see attention_weights() and state.attention

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.config = c = config
        d = c.d_model
        self.src_embedding = ScaledEmbedding(c.src_vocab_size, d, c.src_pad_id)
        self.tgt_embedding = ScaledEmbedding(c.tgt_vocab_size, d, c.tgt_pad_id)
        self.positions = PositionalEncoding(d, c.max_positions, c.positional, c.dropout)
        layer = (c.num_heads, c.dim_feedforward, c.dropout, c.activation, c.norm_first)
        self.encoder_layers = nn.ModuleList(
            TransformerEncoderLayer(d, *layer) for _ in range(c.num_encoder_layers)
        )
        self.decoder_layers = nn.ModuleList(
            TransformerDecoderLayer(d, *layer) for _ in range(c.num_decoder_layers)
        )
        self.encoder_norm = _final_norm(d, c.norm_first)
        self.decoder_norm = _final_norm(d, c.norm_first)
        self.head = _output_layer(d, self.tgt_embedding, c.tie_embeddings)  # W, b

    # -- encoder and decoder ---------------------------------------------------------------
    def _source_mask(self, src: Tensor, src_lengths: Tensor) -> Tensor:
        """Validate the source; True at its real tokens.  -> (B, S) bool"""
        lens = check_source(src, src_lengths, axis="S").to(src.device)  # (B,)
        return padding_mask(lens, src.shape[1])[:, 0, 0]  # (B, S)

    def encode(
        self, src: Tensor, src_lengths: Tensor, weights: list[Tensor] | None = None
    ) -> tuple[Tensor, Tensor]:
        """The encoder's output z and the source mask; appends each layer's self-attention
        weights to ``weights`` when given.

        Shape:
            src: (B, S) ids, src_lengths: (B,) -> z (B, S, d), mask (B, S) bool
        """
        mask = self._source_mask(src, src_lengths)  # (B, S)
        x = self.positions(self.src_embedding(src))  # (B, S, d): √d E[x] + PE
        for layer in self.encoder_layers:
            x, w = layer(x, mask[:, None, None, :], need_weights=weights is not None)
            if weights is not None:
                weights.append(w)  # (B, nh, S, S)
        return self.encoder_norm(x), mask  # (B, S, d)

    def _decode(
        self,
        tgt_in: Tensor,
        memory: Tensor,
        src_mask: Tensor,
        weights: tuple[list[Tensor], list[Tensor]] | None = None,
    ) -> Tensor:
        """Logits of y<t> from every reference prefix at once (causal self-attention).

        Shape:
            tgt_in: (B, T), memory: (B, S, d), src_mask: (B, S) -> (B, T, V)
        """
        x = self.positions(self.tgt_embedding(tgt_in))  # (B, T, d)
        look_ahead = causal_mask(tgt_in.shape[1], device=tgt_in.device)  # (1, 1, T, T)
        for layer in self.decoder_layers:
            x, self_w, cross_w = layer(
                x, memory, look_ahead, src_mask[:, None, None, :], need_weights=weights is not None
            )  # (B, T, d)
            if weights is not None:
                weights[0].append(self_w)  # (B, nh, T, T)
                weights[1].append(cross_w)  # (B, nh, T, S)
        # P(y<t> | y<<t>, x) = softmax(W h<t> + b)
        return self.head(self.decoder_norm(x))  # (B, T, V)

    # -- training --------------------------------------------------------------------------
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
        """Logits of y<t> at every target step, each from the reference prefix ``tgt_in``.

        ``tgt_in[:, 0]`` is the start token. ``teacher_forcing`` must be 1.0: a Transformer
        decodes all steps in parallel from the reference, so feeding back its own tokens
        (scheduled sampling) is not offered; ``feed_back`` and ``generator`` are accepted
        for the RNN model's signature and unused. ``return_attention`` also returns the last
        decoder layer's cross-attention averaged over heads.

        Shape:
            src: (B, S) ids, src_lengths: (B,), tgt_in: (B, T) ids
            -> logits (B, T, V) [, attention (B, T, S)]
        """
        del generator
        if teacher_forcing != 1.0:
            raise ValueError(
                "the transformer reads every reference prefix in parallel: teacher_forcing "
                f"must be 1.0 (scheduled sampling is for the RNN model), got {teacher_forcing}"
            )
        if feed_back not in ("argmax", "sample"):
            raise ValueError(f"feed_back must be 'argmax' or 'sample', got {feed_back!r}")
        _check_ids(tgt_in, "tgt_in", "(B, T)")
        if tgt_in.shape[0] != src.shape[0]:
            raise ValueError(
                f"expected tgt_in of shape (B={src.shape[0]}, T), "
                f"got {format_shape(tuple(tgt_in.shape))}"
            )
        memory, mask = self.encode(src, src_lengths)  # (B, S, d), (B, S)
        if not return_attention:
            return self._decode(tgt_in, memory, mask)  # (B, T, V)
        weights: tuple[list[Tensor], list[Tensor]] = ([], [])
        logits = self._decode(tgt_in, memory, mask, weights)  # (B, T, V)
        return logits, weights[1][-1].mean(dim=1)  # (B, T, S)

    # Mean cross-entropy over the non-pad target tokens, with label smoothing: the RNN
    # model's loss, which only calls forward (teacher_forcing must be 1.0 here).
    loss = Seq2Seq.loss

    def attention_weights(
        self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor
    ) -> dict[str, Tensor]:
        """Every layer's and head's attention weights for a reference prefix (for heatmaps;
        call it in eval mode, so that no dropout applies).

        Shape:
            src: (B, S), src_lengths: (B,), tgt_in: (B, T) -> {"encoder": (L, B, nh, S, S),
            "decoder": (L, B, nh, T, T), "cross": (L, B, nh, T, S)}
        """
        _check_ids(tgt_in, "tgt_in", "(B, T)")
        encoder: list[Tensor] = []
        memory, mask = self.encode(src, src_lengths, encoder)  # (B, S, d)
        decoder: tuple[list[Tensor], list[Tensor]] = ([], [])
        self._decode(tgt_in, memory, mask, decoder)
        return {
            "encoder": torch.stack(encoder),  # (L, B, nh, S, S)
            "decoder": torch.stack(decoder[0]),  # (L, B, nh, T, T)
            "cross": torch.stack(decoder[1]),  # (L, B, nh, T, S)
        }

    # -- the decoding step protocol ----------------------------------------------------------
    def init_state(self, src: Tensor, src_lengths: Tensor) -> TransformerState:
        """Encode the source once and compute every layer's cross-attention keys/values.

        Shape:
            src: (B, S) ids, src_lengths: (B,) -> TransformerState for B sequences
        """
        memory, mask = self.encode(src, src_lengths)  # (B, S, d), (B, S)
        return TransformerState(
            self_caches=tuple(KVCache() for _ in self.decoder_layers),
            memory_caches=tuple(
                layer.multihead_attn.memory_cache(memory) for layer in self.decoder_layers
            ),  # (B, nh, S, hs) each
            src_mask=mask,
        )

    def step(self, tokens: Tensor, state: TransformerState) -> tuple[Tensor, TransformerState]:
        """Read y<t-1> for each sequence; return log P(y<t> | y<<t>, x) and the new state.

        Shape:
            tokens: (B,) ids -> log_probs (B, V), state (``state.attention``: (B, S))
        """
        _check_tokens(tokens, state.batch_size)
        x = self.positions(self.tgt_embedding(tokens[:, None]), state.position)  # (B, 1, d)
        caches = tuple(cache.copy() for cache in state.self_caches)  # the old state stays valid
        src_mask = state.src_mask[:, None, None, :]  # (B, 1, 1, S)
        last = len(self.decoder_layers) - 1
        for k, layer in enumerate(self.decoder_layers):
            x, _, cross = layer(
                x,
                None,
                None,  # one new query sees every cached position: no look-ahead to mask
                src_mask,
                need_weights=k == last,
                self_cache=caches[k],
                memory_cache=state.memory_caches[k],
            )  # (B, 1, d)
        if cross is None:  # the config refuses 0 decoder layers; a hand-built model may not
            raise ValueError("the model has no decoder layer to step through")
        logits = self.head(self.decoder_norm(x[:, 0]))  # (B, V)
        attention = cross[:, :, 0].mean(1)  # (B, S)
        new = replace(state, self_caches=caches, position=state.position + 1, attention=attention)
        return F.log_softmax(logits, dim=-1), new  # (B, V)

    def reorder_state(self, state: TransformerState, index: Tensor) -> TransformerState:
        """Select (and repeat) batch rows of every cache and mask, e.g. for beam search.

        The source's memory (``memory_caches``, ``src_mask``) stays where it is when every
        row keeps reading the source it read (beams reordered within their sentence, most
        beam-search steps); it is gathered only when some row changes source (the beams'
        expansion, finished sentences leaving the batch): see
        :func:`seqlab.decoding.protocol.memory_rows`.

        Shape:
            index: (B',) ids into the batch -> a state for B' sequences
        """
        check_row_index(index)
        index = index.to(state.src_mask.device)
        sources, same = memory_rows(state.sources, state.batch_size, index)  # (B',)
        memory = (state.memory_caches, state.src_mask)
        if not same:
            memory = select_rows(memory, index, dim=0)  # (B', nh, S, hs) each, (B', S)
        return TransformerState(
            self_caches=select_rows(state.self_caches, index, dim=0),  # (B', nh, t, hs) each
            memory_caches=memory[0],
            src_mask=memory[1],
            position=state.position,
            attention=select_rows(state.attention, index, dim=0),  # (B', S)
            sources=sources,
        )


@register_model("language_model", "transformer")
class TransformerLanguageModel(nn.Module):
    """Decoder-only Transformer: P(y<t> | y<<t>) through causal self-attention."""

    config_class = TransformerLMConfig

    def __init__(self, config: TransformerLMConfig) -> None:
        super().__init__()
        self.config = c = config
        d = c.d_model
        self.embedding = ScaledEmbedding(c.vocab_size, d)
        self.positions = PositionalEncoding(d, c.max_positions, c.positional, c.dropout)
        self.layers = nn.ModuleList(
            TransformerEncoderLayer(
                d, c.num_heads, c.dim_feedforward, c.dropout, c.activation, c.norm_first
            )
            for _ in range(c.num_layers)
        )
        self.norm = _final_norm(d, c.norm_first)
        self.head = _output_layer(d, self.embedding, c.tie_embeddings)

    def _run(
        self, tokens: Tensor, state: TransformerLMState | None, weights: list[Tensor] | None
    ) -> tuple[Tensor, TransformerLMState]:
        if tokens.dim() != 2 or tokens.dtype not in (torch.int64, torch.int32):
            raise ValueError(
                f"expected token ids of shape (B, T), got {format_shape(tuple(tokens.shape))} "
                f"{tokens.dtype}"
            )
        start = 0 if state is None else state.position
        steps = tokens.shape[1]
        if start + steps > self.config.max_positions:
            raise ValueError(
                f"{start + steps} positions ({start} cached + {steps} new) exceed the model's "
                f"max_positions={self.config.max_positions}: read shorter windows or start "
                "from a fresh state"
            )
        if state is None:
            caches = tuple(KVCache() for _ in self.layers)
        else:
            caches = tuple(cache.copy() for cache in state.caches)  # the old state stays valid
        x = self.positions(self.embedding(tokens), start)  # (B, T, d): √d E[y] + PE
        # query i (position start + i) sees keys 0 … start + i; one new token sees them all
        mask = causal_mask(steps, start + steps, device=tokens.device) if steps > 1 else None
        for layer, cache in zip(self.layers, caches, strict=True):
            x, w = layer(x, mask, need_weights=weights is not None, cache=cache)  # (B, T, d)
            if weights is not None:
                weights.append(w)  # (B, nh, T, start + T)
        return self.head(self.norm(x)), TransformerLMState(caches, start + steps)  # (B, T, V)

    def forward(
        self, tokens: Tensor, state: TransformerLMState | None = None
    ) -> tuple[Tensor, TransformerLMState]:
        """Logits of the next token after each position; ``state`` (the cache of the tokens
        read before) continues at the following positions. More than ``max_positions``
        positions in all is a ``ValueError``.

        Shape:
            tokens: (B, T) int -> logits (B, T, V), state holding t + T positions
        """
        return self._run(tokens, state, None)

    def loss(self, inputs: Tensor, targets: Tensor, ignore_index: int = -100) -> Tensor:
        """Mean cross-entropy of ``targets`` given ``inputs`` (all positions in parallel).

        Shape:
            inputs, targets: (B, T) -> ()
        """
        if targets.shape != inputs.shape:
            raise ValueError(
                f"expected targets of shape {format_shape(tuple(inputs.shape))}, "
                f"got {format_shape(tuple(targets.shape))}"
            )
        logits, _ = self(inputs)  # (B, T, V)
        return F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=ignore_index
        )

    def attention_weights(self, tokens: Tensor) -> Tensor:
        """Every layer's and head's causal self-attention weights (call in eval mode).

        Shape:
            tokens: (B, T) -> (L, B, nh, T, T)
        """
        weights: list[Tensor] = []
        self._run(tokens, None, weights)
        return torch.stack(weights)  # (L, B, nh, T, T)

    # -- the decoding step protocol ----------------------------------------------------------
    def init_state(self, batch_size: int) -> TransformerLMState | None:
        """The state before the first token: an empty cache (None)."""
        del batch_size
        return None

    def step(
        self, tokens: Tensor, state: TransformerLMState | None
    ) -> tuple[Tensor, TransformerLMState]:
        """Read one token per sequence; return log P(next token) and the new state.

        Shape:
            tokens: (B,) -> log_probs (B, V), state
        """
        _check_tokens(tokens, None)
        logits, state = self(tokens[:, None], state)  # (B, 1, V)
        return logits[:, 0].log_softmax(dim=-1), state  # (B, V)

    def reorder_state(
        self, state: TransformerLMState | None, index: Tensor
    ) -> TransformerLMState | None:
        """The cache's batch rows ``index`` (beam search's expand and back-pointers).

        Shape:
            state with B rows, index: (B',) -> state with B' rows
        """
        return select_rows(state, index, dim=0)  # None (empty) stays None


@dataclass(frozen=True)
class SlidingWindowState:
    """:class:`SlidingWindowLM`'s state between steps."""

    inner: TransformerLMState | None  # the cache of the tokens read since the last restart
    history: Tensor  # (B, t) the last tokens read (at most the window)


class SlidingWindowLM:
    """A :class:`TransformerLanguageModel` read through a sliding window of ``window``
    tokens, so that sampling may run past its context: when the cache holds ``window``
    tokens, the model restarts from the last ``window // 2`` (nanoGPT crops its context the
    same way, but at every step; restarting every half window keeps the cache's speed).
    Within one window the outputs are those of the model itself.

    It speaks the decoding step protocol (:mod:`seqlab.decoding.protocol`): ``start``
    gives the initial state, ``step`` and ``reorder_state`` drive any search.
    ``seqlab.tasks.LanguageModel.sample`` reads a transformer through it, with the trained
    window (the model's context) as ``window``.
    """

    def __init__(self, model: TransformerLanguageModel, window: int) -> None:
        if not 1 <= window <= model.config.max_positions:
            raise ValueError(
                f"window must be between 1 and the model's max_positions "
                f"{model.config.max_positions}, got {window}"
            )
        self.model, self.window = model, window

    def _read(self, history: Tensor) -> TransformerLMState | None:
        """The model's state after reading ``history`` (B, t); None when t = 0."""
        return self.model(history)[1] if history.shape[1] else self.model.init_state(0)

    def start(self, history: Tensor) -> SlidingWindowState:
        """The state after reading ``history`` (B, t): its last half window when longer.

        Shape:
            history: (B, t) int64 -> a state for B sequences
        """
        if history.shape[1] >= self.window:
            history = history[:, history.shape[1] - self.window // 2 :]  # (B, window // 2)
        return SlidingWindowState(self._read(history), history)

    def step(self, tokens: Tensor, state: SlidingWindowState) -> tuple[Tensor, SlidingWindowState]:
        """Read one token per sequence (after re-reading the recent half window when the
        cache is full); return log P(next token) and the new state.

        Shape:
            tokens: (B,) -> log_probs (B, V), state
        """
        inner = state.inner
        if inner is not None and inner.position >= self.window:  # full: re-read the recent half
            inner = self._read(state.history[:, state.history.shape[1] - self.window // 2 + 1 :])
        log_probs, inner = self.model.step(tokens, inner)  # (B, V)
        history = torch.cat([state.history, tokens[:, None]], dim=1)[:, -self.window :]  # (B, t')
        return log_probs, SlidingWindowState(inner, history)

    def reorder_state(self, state: SlidingWindowState, index: Tensor) -> SlidingWindowState:
        """The state's batch rows ``index`` (beam search's expand and back-pointers).

        Shape:
            state with B rows, index: (B',) -> state with B' rows
        """
        inner = self.model.reorder_state(state.inner, index)
        return SlidingWindowState(inner, state.history.index_select(0, index))  # (B', t)
