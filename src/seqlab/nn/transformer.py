"""Transformer modules: multi-head attention, positional encoding, encoder and decoder layers.

Vaswani et al. 2017 (course week 4)::

    head_i        = Attention(Q W_iQ, K W_iK, V W_iV)
    MultiHead     = concat(head_1, …, head_h) W_O
    PE(pos, 2i)   = sin(pos / 10000^(2i/d)),   PE(pos, 2i+1) = cos(pos / 10000^(2i/d))
    encoder layer = LayerNorm(x + SelfAttn(x)) → LayerNorm(· + FFN(·))        (post-norm)
    decoder layer = + a middle block LayerNorm(· + CrossAttn(·, memory))
    FFN(x)        = W_2 act(W_1 x + b_1) + b_2

The course's "for loop over heads" is computed batched: W_Q stacks the h matrices W_iQ
(head i owns rows i·hs … (i+1)·hs − 1), one product projects every head, and the heads are a
dimension of the tensors. ``norm_first=True`` is the pre-norm variant (x + SelfAttn(LN(x)),
Xiong et al. 2020) most modern models use.

Parameter names, shapes and initialisation are those of ``torch.nn.MultiheadAttention``
(``in_proj_weight`` = [W_Q; W_K; W_V], ``out_proj``; ``q_proj_weight``… with ``kdim``/
``vdim``) and ``torch.nn.TransformerEncoderLayer``
/ ``TransformerDecoderLayer`` (``self_attn``, ``multihead_attn``, ``linear1``, ``linear2``,
``norm1``…``norm3``), so ``load_state_dict`` works both ways with torch's modules; masks use
seqlab's convention (True = attended, :mod:`seqlab.functional.transformer`). The layers are
batch-first.

**Incremental decoding.** A :class:`KVCache` holds one attention's projected keys and values.
A self-attention cache grows by the new positions at every call; a cross-attention cache is
``static``: filled from the memory at the first call and only read afterwards (the source's
keys and values are computed once). The attention updates the cache object it is given by
rebinding its tensors (never writing into them), so a copy made earlier — ``KVCache(c.key,
c.value)`` or :func:`seqlab.decoding.protocol.select_rows` — keeps the earlier state.

Tested in ``tests/test_transformer_nn.py``: equal to torch.nn's modules with the same weights
(forward and every gradient, masks, both norm placements, both activations), the fast path
equal to the readable one, and cached incremental calls equal to the full sequence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.functional.transformer import (
    fast_scaled_dot_product_attention,
    scaled_dot_product_attention,
)
from seqlab.shapes import format_shape

__all__ = [
    "KVCache",
    "MultiHeadAttention",
    "PositionalEncoding",
    "ScaledEmbedding",
    "TransformerDecoderLayer",
    "TransformerEncoderLayer",
]

Activation = Literal["relu", "gelu"]
_ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu}


@dataclass(eq=False)
class KVCache:
    """One attention's projected keys and values, kept between decoding steps."""

    key: Tensor | None = None  # (B, nh, t, hs): K W_K of the t positions seen so far
    value: Tensor | None = None  # (B, nh, t, hs): V W_V of the same positions
    static: bool = False  # True: cross-attention, filled once from the memory, then only read

    @property
    def length(self) -> int:
        """t: the positions held."""
        return 0 if self.key is None else self.key.shape[2]

    def copy(self) -> KVCache:
        """A new cache holding the same tensors (which are never written into)."""
        return KVCache(self.key, self.value, self.static)


class MultiHeadAttention(nn.Module):
    """concat(head_1, …, head_h) W_O with head_i = Attention(Q W_iQ, K W_iK, V W_iV).

    The same parameters as ``torch.nn.MultiheadAttention(embed_dim, num_heads, dropout,
    bias, kdim=..., vdim=..., batch_first=...)``, so state dicts load both ways: keys and
    values of width ``embed_dim`` share one packed ``in_proj_weight`` = [W_Q; W_K; W_V]
    (3E, E); keys of width ``kdim`` or values of width ``vdim`` ≠ E get separate
    ``q_proj_weight`` (E, E), ``k_proj_weight`` (E, kdim), ``v_proj_weight`` (E, vdim)
    (``in_proj_weight`` is then None; ``in_proj_bias`` stays packed). ``forward`` returns
    the weights per head when ``need_weights`` (torch averages them); otherwise it runs
    torch's fused kernel (``F.scaled_dot_product_attention``) and returns ``None`` for them.
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        batch_first: bool = True,
        kdim: int | None = None,
        vdim: int | None = None,
    ) -> None:
        super().__init__()
        if embed_dim < 1 or num_heads < 1 or embed_dim % num_heads:
            raise ValueError(
                f"embed_dim must be a positive multiple of num_heads, got {embed_dim} and "
                f"{num_heads}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.embed_dim, self.num_heads, self.dropout = embed_dim, num_heads, dropout
        self.head_dim = embed_dim // num_heads  # hs
        self.batch_first = batch_first
        self.kdim = embed_dim if kdim is None else kdim  # width of the keys fed in
        self.vdim = embed_dim if vdim is None else vdim  # width of the values fed in
        if self.kdim < 1 or self.vdim < 1:
            raise ValueError(f"kdim and vdim must be >= 1, got {self.kdim} and {self.vdim}")
        self.packed = self.kdim == embed_dim and self.vdim == embed_dim  # one in_proj_weight
        self.in_proj_weight: nn.Parameter | None
        if self.packed:
            # [W_Q; W_K; W_V], each (E, E): head i's W_iQ is rows i*hs … (i+1)*hs - 1 of W_Q
            self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dim, embed_dim))
        else:  # torch's names: W_Q (E, E), W_K (E, kdim), W_V (E, vdim)
            self.q_proj_weight = nn.Parameter(torch.empty(embed_dim, embed_dim))
            self.k_proj_weight = nn.Parameter(torch.empty(embed_dim, self.kdim))
            self.v_proj_weight = nn.Parameter(torch.empty(embed_dim, self.vdim))
            self.register_parameter("in_proj_weight", None)
        self.in_proj_bias = nn.Parameter(torch.empty(3 * embed_dim)) if bias else None
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias)  # W_O
        self._reset_parameters()

    def _reset_parameters(self) -> None:  # as torch.nn.MultiheadAttention
        if self.in_proj_weight is not None:
            nn.init.xavier_uniform_(self.in_proj_weight)
        else:
            for w in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                nn.init.xavier_uniform_(w)
        if self.in_proj_bias is not None:
            nn.init.zeros_(self.in_proj_bias)
            nn.init.zeros_(self.out_proj.bias)

    def _heads(self, x: Tensor) -> Tensor:
        """(B, T, E) -> (B, nh, T, hs): the heads become a batch dimension."""
        batch, steps, _ = x.shape
        return x.view(batch, steps, self.num_heads, self.head_dim).transpose(1, 2)

    def _proj(self, x: Tensor, rows: slice) -> Tensor:
        """x times the rows ``rows`` of [W_Q; W_K; W_V] (plus their bias).

        Rows spanning several of W_Q, W_K, W_V need the packed weight; with separate
        weights ``rows`` is one of them (0:E, E:2E or 2E:3E).

        Shape:
            x: (B, T, E|kdim|vdim) -> (B, T, R) for R selected rows
        """
        b = self.in_proj_bias
        bias = None if b is None else b[rows]
        if self.in_proj_weight is not None:
            return F.linear(x, self.in_proj_weight[rows], bias)
        which = (rows.start or 0) // self.embed_dim  # 0: W_Q, 1: W_K, 2: W_V
        weight = (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight)[which]
        return F.linear(x, weight, bias)

    def _keys_values(self, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor]:
        """K W_K and V W_V split into heads (one product when ``key is value``).

        Shape:
            key, value: (B, Tk, E) -> (B, nh, Tk, hs) x 2
        """
        e = self.embed_dim
        if key is value and self.packed:
            k, v = self._proj(key, slice(e, None)).chunk(2, dim=-1)  # (B, Tk, E) x 2
        else:
            k, v = self._proj(key, slice(e, 2 * e)), self._proj(value, slice(2 * e, None))
        return self._heads(k), self._heads(v)  # (B, nh, Tk, hs) x 2

    def memory_cache(self, memory: Tensor) -> KVCache:
        """The static cache of a cross-attention: the memory's keys and values, computed once.

        Shape:
            memory: (B, S, E) ((S, B, E) when not batch_first) -> KVCache of (B, nh, S, hs)
        """
        self._check(None, memory, memory)
        if not self.batch_first:
            memory = memory.transpose(0, 1)  # (B, S, E)
        return KVCache(*self._keys_values(memory, memory), static=True)

    def _project(
        self, query: Tensor, key: Tensor | None, value: Tensor | None, cache: KVCache | None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Q W_Q, K W_K, V W_V split into heads, through the cache.

        Shape:
            query: (B, Tq, E), key/value: (B, Tk, E) -> (B, nh, Tq, hs), (B, nh, Tk', hs) x 2
        """
        e = self.embed_dim
        if cache is not None and cache.static and cache.key is not None:
            assert cache.value is not None
            return self._heads(self._proj(query, slice(0, e))), cache.key, cache.value
        if key is None or value is None:
            raise ValueError("key and value are needed unless a filled static cache is given")
        if query is key and key is value and self.packed:  # one product for Q, K and V
            q, k, v = map(self._heads, self._proj(query, slice(None)).chunk(3, dim=-1))
        else:
            q = self._heads(self._proj(query, slice(0, e)))  # (B, nh, Tq, hs)
            k, v = self._keys_values(key, value)  # (B, nh, Tk, hs) x 2
        if cache is not None:
            if not cache.static and cache.key is not None:
                assert cache.value is not None
                k = torch.cat([cache.key, k], dim=2)  # (B, nh, t + Tk, hs)
                v = torch.cat([cache.value, v], dim=2)  # (B, nh, t + Tk, hs)
            cache.key, cache.value = k, v
        return q, k, v

    def _check(self, query: Tensor | None, key: Tensor | None, value: Tensor | None) -> None:
        order = "(B, T, " if self.batch_first else "(T, B, "
        for name, x, width, field in (
            ("query", query, self.embed_dim, "E"),
            ("key", key, self.kdim, "kdim"),
            ("value", value, self.vdim, "vdim"),
        ):
            if x is not None and (x.dim() != 3 or x.shape[-1] != width):
                raise ValueError(
                    f"expected {name} of shape {order}{field}={width}), got "
                    f"{format_shape(tuple(x.shape))}"
                )
        if key is not None and value is not None and key.shape[:2] != value.shape[:2]:
            raise ValueError(
                f"key and value must have the same batch and length, got "
                f"{format_shape(tuple(key.shape))} and {format_shape(tuple(value.shape))}"
            )

    def forward(
        self,
        query: Tensor,
        key: Tensor | None,
        value: Tensor | None,
        mask: Tensor | None = None,
        need_weights: bool = False,
        cache: KVCache | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        """Attend from ``query`` to ``key``/``value``; ``mask`` is True where attended.

        With a ``cache``, the keys attended are the cached ones followed by this call's
        (self-attention), or the cache's only (a filled static cache: ``key``/``value``
        may then be None); ``mask``'s last dim counts all of them.

        Shape:
            query: (B, Tq, E), key: (B, Tk, kdim), value: (B, Tk, vdim) ((T, B, ·) when
            not batch_first), mask: (B|1, nh|1, Tq|1, Tk') bool
            -> out (B, Tq, E) ((Tq, B, E)), weights (B, nh, Tq, Tk') or None
        """
        self._check(query, key, value)
        if not self.batch_first:  # keep the identities that select one product for Q, K, V
            same_kv, self_attention = key is value, query is key and key is value
            query = query.transpose(0, 1)  # (B, Tq, E)
            key = query if self_attention else None if key is None else key.transpose(0, 1)
            value = key if same_kv else None if value is None else value.transpose(0, 1)
        q, k, v = self._project(query, key, value, cache)  # (B, nh, Tq, hs), (B, nh, Tk', hs)
        weights = None
        if need_weights:
            heads, weights = scaled_dot_product_attention(
                q, k, v, mask, self.dropout, self.training
            )  # (B, nh, Tq, hs), (B, nh, Tq, Tk')
        else:
            heads = fast_scaled_dot_product_attention(q, k, v, mask, self.dropout, self.training)
        batch, steps = query.shape[:2]
        # concat(head_1, …, head_h)
        concat = heads.transpose(1, 2).reshape(batch, steps, self.embed_dim)  # (B, Tq, E)
        out = self.out_proj(concat)  # (B, Tq, E): · W_O
        return (out if self.batch_first else out.transpose(0, 1)), weights


class ScaledEmbedding(nn.Embedding):
    """Token embeddings multiplied by √d_model, as in the paper (section 3.4).

    Initialised N(0, 1/d_model), so the scaled embeddings have unit-size entries and the
    weight can be shared with the output projection (``tie_embeddings``).

    Shape:
        (B, T) ids -> (B, T, d_model)
    """

    def reset_parameters(self) -> None:
        nn.init.normal_(self.weight, std=self.embedding_dim**-0.5)
        self._fill_padding_idx_with_zero()

    def forward(self, tokens: Tensor) -> Tensor:
        return super().forward(tokens) * math.sqrt(self.embedding_dim)  # (B, T, d)


class PositionalEncoding(nn.Module):
    """x + PE(offset … offset + T − 1), then dropout.

    ``"sinusoidal"``: PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(same), a
    fixed table (not in the state dict). ``"learned"``: a trained (max_positions, d) table,
    initialised to the sinusoids. (BERT and GPT-2 draw theirs from N(0, 0.02²), the scale of
    their token embeddings; here tokens are √d-scaled to unit entries, and a table 50× smaller
    left a character LM stuck at its bigram loss for its first ~500 steps, see
    docs/language-models.md.)
    Positions past ``max_positions`` are a ``ValueError`` in both cases.

    Shape:
        x: (B, T, d), offset: int -> (B, T, d)
    """

    def __init__(
        self,
        d_model: int,
        max_positions: int = 512,
        kind: Literal["sinusoidal", "learned"] = "sinusoidal",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if kind not in ("sinusoidal", "learned"):
            raise ValueError(f"kind must be 'sinusoidal' or 'learned', got {kind!r}")
        if max_positions < 1:
            raise ValueError(f"max_positions must be >= 1, got {max_positions}")
        self.d_model, self.max_positions, self.kind = d_model, max_positions, kind
        self.drop = nn.Dropout(dropout)
        self.table: Tensor
        if kind == "learned":  # starts from the sinusoids: at the scale of √d-scaled tokens
            self.table = nn.Parameter(sinusoids(max_positions, d_model))
        else:
            self.register_buffer("table", sinusoids(max_positions, d_model), persistent=False)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        steps = x.shape[1]
        if offset + steps > self.max_positions:
            raise ValueError(
                f"positions {offset}…{offset + steps - 1} exceed max_positions="
                f"{self.max_positions}: use shorter inputs or a model with more positions"
            )
        return self.drop(x + self.table[offset : offset + steps].to(x.dtype))  # (B, T, d)


def sinusoids(positions: int, d_model: int) -> Tensor:
    """The sinusoidal table PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(…).

    Shape:
        -> (positions, d_model)
    """
    pos = torch.arange(positions, dtype=torch.float64)[:, None]  # (P, 1)
    rates = 10000.0 ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)  # (d/2,)
    table = torch.zeros(positions, d_model, dtype=torch.float64)  # (P, d)
    table[:, 0::2] = torch.sin(pos * rates)
    table[:, 1::2] = torch.cos(pos * rates)[:, : d_model // 2]
    return table.float()


class _Layer(nn.Module):
    """What encoder and decoder layers share: self-attention and the feed-forward block."""

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: Activation = "relu",
        norm_first: bool = False,
        layer_norm_eps: float = 1e-5,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be 'relu' or 'gelu', got {activation!r}")
        self.norm_first, self.activation_name = norm_first, activation
        self.activation = _ACTIVATIONS[activation]
        self.self_attn = MultiHeadAttention(d_model, nhead, dropout, bias, batch_first=True)
        self.linear1 = nn.Linear(d_model, dim_feedforward, bias=bias)  # W_1, b_1
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model, bias=bias)  # W_2, b_2
        self.norm1 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.norm2 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def _self_attention(
        self, x: Tensor, mask: Tensor | None, need_weights: bool, cache: KVCache | None
    ) -> tuple[Tensor, Tensor | None]:
        out, weights = self.self_attn(x, x, x, mask, need_weights, cache)  # (B, T, d)
        return self.dropout1(out), weights

    def _feed_forward(self, x: Tensor, dropout: nn.Module) -> Tensor:
        # FFN(x) = W_2 act(W_1 x + b_1) + b_2
        hidden = self.dropout(self.activation(self.linear1(x)))  # (B, T, F)
        return dropout(self.linear2(hidden))  # (B, T, d)


class TransformerEncoderLayer(_Layer):
    """Self-attention then a feed-forward block, each with a residual and a LayerNorm.

    post-norm (default, the paper): x = LN(x + SelfAttn(x)); x = LN(x + FFN(x))
    pre-norm (``norm_first``):      x = x + SelfAttn(LN(x)); x = x + FFN(LN(x))

    Same arguments (batch-first), parameters and results as ``torch.nn.
    TransformerEncoderLayer(..., batch_first=True)``. With a causal ``mask`` and a
    ``cache`` it is also the block of a decoder-only language model. Its constructor is the
    base's (same arguments as torch's).
    """

    def forward(
        self,
        x: Tensor,
        mask: Tensor | None = None,
        *,
        need_weights: bool = False,
        cache: KVCache | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        """The layer's output, and the self-attention weights when ``need_weights``.

        Shape:
            x: (B, T, d), mask: (B|1, 1, T|1, Tk) bool (True = attended)
            -> (B, T, d), weights (B, nh, T, Tk) or None
        """
        if self.norm_first:
            a, weights = self._self_attention(self.norm1(x), mask, need_weights, cache)
            x = x + a  # x + SelfAttn(LN(x))
            x = x + self._feed_forward(self.norm2(x), self.dropout2)  # x + FFN(LN(x))
        else:
            a, weights = self._self_attention(x, mask, need_weights, cache)
            x = self.norm1(x + a)  # LN(x + SelfAttn(x))
            x = self.norm2(x + self._feed_forward(x, self.dropout2))  # LN(x + FFN(x))
        return x, weights  # (B, T, d)


class TransformerDecoderLayer(_Layer):
    """Masked self-attention, cross-attention to the encoder's memory, feed-forward.

    post-norm (default): x = LN(x + SelfAttn(x)); x = LN(x + CrossAttn(x, m)); x = LN(x + FFN(x))
    pre-norm (``norm_first``): the same with x + Block(LN(x)).

    Same arguments (batch-first), parameters and results as ``torch.nn.
    TransformerDecoderLayer(..., batch_first=True)``.
    """

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: Activation = "relu",
        norm_first: bool = False,
        layer_norm_eps: float = 1e-5,
        bias: bool = True,
    ) -> None:
        super().__init__(
            d_model, nhead, dim_feedforward, dropout, activation, norm_first, layer_norm_eps, bias
        )
        self.multihead_attn = MultiHeadAttention(d_model, nhead, dropout, bias, batch_first=True)
        self.norm3 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.dropout3 = nn.Dropout(dropout)

    def _cross_attention(
        self,
        x: Tensor,
        memory: Tensor | None,
        mask: Tensor | None,
        need_weights: bool,
        cache: KVCache | None,
    ) -> tuple[Tensor, Tensor | None]:
        out, weights = self.multihead_attn(x, memory, memory, mask, need_weights, cache)
        return self.dropout2(out), weights  # (B, T, d)

    def forward(
        self,
        x: Tensor,
        memory: Tensor | None,
        self_mask: Tensor | None = None,
        memory_mask: Tensor | None = None,
        *,
        need_weights: bool = False,
        self_cache: KVCache | None = None,
        memory_cache: KVCache | None = None,
    ) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """The layer's output, and the self- and cross-attention weights (``need_weights``).

        ``memory`` may be None when ``memory_cache`` is a filled static cache.

        Shape:
            x: (B, T, d), memory: (B, S, d), self_mask: (B|1, 1, T|1, Tk) bool,
            memory_mask: (B|1, 1, T|1, S) bool
            -> (B, T, d), self weights (B, nh, T, Tk) or None, cross (B, nh, T, S) or None
        """
        cross = self._cross_attention
        if self.norm_first:
            a, self_w = self._self_attention(self.norm1(x), self_mask, need_weights, self_cache)
            x = x + a
            a, cross_w = cross(self.norm2(x), memory, memory_mask, need_weights, memory_cache)
            x = x + a
            x = x + self._feed_forward(self.norm3(x), self.dropout3)
        else:
            a, self_w = self._self_attention(x, self_mask, need_weights, self_cache)
            x = self.norm1(x + a)
            a, cross_w = cross(x, memory, memory_mask, need_weights, memory_cache)
            x = self.norm2(x + a)
            x = self.norm3(x + self._feed_forward(x, self.dropout3))
        return x, self_w, cross_w  # (B, T, d)
