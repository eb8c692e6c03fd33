"""Attention modules: :class:`BahdanauAttention` (additive) and :class:`LuongAttention`.

Thin holders of parameters around :mod:`seqlab.functional.attention`, which has the
equations. Both share one interface so a decoder can use either:

* ``project_keys(keys)`` — the part of the score that depends on the source only
  (Bahdanau's W_a a<t'> + b, Luong-general's W a<t'>), computed once per source sequence;
* ``forward(query, keys, values, mask, keys_projected=...)`` -> ``(context, alphas)``.

References: Bahdanau, Cho & Bengio (2015) "Neural Machine Translation by Jointly Learning to
Align and Translate"; Luong, Pham & Manning (2015) "Effective Approaches to Attention-based
Neural Machine Translation". Tested in ``tests/test_attention.py`` against a NumPy float64
oracle and with ``gradcheck``.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn

from seqlab.functional.attention import (
    additive_attention,
    dot_attention,
    general_attention,
    project_keys,
)

__all__ = ["BahdanauAttention", "LuongAttention"]


class BahdanauAttention(nn.Module):
    """Additive attention, the course's "small neural network" that scores s<t-1> and a<t'>.

    e<t,t'> = vᵀ tanh(W_s s<t-1> + W_a a<t'> + b),  α<t,t'> = softmax_t'(e<t,t'>),
    c<t> = Σ_t' α<t,t'> a<t'>

    Args:
        query_size: Hq, width of the decoder state s<t-1>.
        key_size: Hk, width of an encoder activation a<t'> (2H for a bidirectional encoder).
        attention_dim: A, width of the small network's hidden layer.

    Parameters: ``key_proj.weight`` W_a (A, Hk), ``key_proj.bias`` b (A,),
    ``query_proj.weight`` W_s (A, Hq), ``v`` (A,).

    Shape:
        query: (B, Hq), keys: (B, T, Hk) or projected (B, T, A), values: (B, T, Hv),
        mask: (B, T) bool -> context (B, Hv), alphas (B, T)
    """

    def __init__(self, query_size: int, key_size: int, attention_dim: int) -> None:
        super().__init__()
        if min(query_size, key_size, attention_dim) <= 0:
            raise ValueError(
                "query_size, key_size and attention_dim must be positive, got "
                f"{query_size}, {key_size}, {attention_dim}"
            )
        self.query_size = query_size
        self.key_size = key_size
        self.attention_dim = attention_dim
        self.key_proj = nn.Linear(key_size, attention_dim)  # W_a, b
        self.query_proj = nn.Linear(query_size, attention_dim, bias=False)  # W_s
        self.v = nn.Parameter(torch.empty(attention_dim))  # (A,)
        bound = 1.0 / math.sqrt(attention_dim)
        nn.init.uniform_(self.v, -bound, bound)

    def project_keys(self, keys: Tensor) -> Tensor:
        """W_a a<t'> + b for every source position (once per source).

        Shape:
            keys: (B, T, Hk) -> (B, T, A)
        """
        return project_keys(keys, self.key_proj.weight, self.key_proj.bias)  # (B, T, A)

    def forward(
        self,
        query: Tensor,
        keys: Tensor,
        values: Tensor,
        mask: Tensor | None = None,
        *,
        keys_projected: bool = False,
    ) -> tuple[Tensor, Tensor]:
        """Context c<t> and weights α<t,·> for one decoder step.

        ``keys`` are the raw a<t'>, or ``project_keys(a)`` with ``keys_projected=True``.

        Shape:
            query: (B, Hq), keys: (B, T, Hk) or (B, T, A), values: (B, T, Hv),
            mask: (B, T) bool -> context (B, Hv), alphas (B, T)
        """
        if keys_projected:
            return additive_attention(query, keys, values, self.query_proj.weight, self.v, mask)
        return additive_attention(
            query,
            keys,
            values,
            self.query_proj.weight,
            self.v,
            mask,
            w_key=self.key_proj.weight,
            b_key=self.key_proj.bias,
        )

    def extra_repr(self) -> str:
        return f"query_size={self.query_size}, key_size={self.key_size}, " + (
            f"attention_dim={self.attention_dim}"
        )


class LuongAttention(nn.Module):
    """Multiplicative attention of Luong et al. (2015), ``score="dot"`` or ``"general"``.

    dot:     e<t,t'> = sᵀ a<t'>       (needs Hq == Hk)
    general: e<t,t'> = sᵀ W a<t'>     (parameter ``weight`` W: (Hq, Hk))
    then α<t,t'> = softmax_t'(e<t,t'>), c<t> = Σ_t' α<t,t'> v<t'>.

    Shape:
        query: (B, Hq), keys: (B, T, Hk) or projected (B, T, Hq), values: (B, T, Hv),
        mask: (B, T) bool -> context (B, Hv), alphas (B, T)
    """

    def __init__(
        self, query_size: int, key_size: int, score: Literal["dot", "general"] = "general"
    ) -> None:
        super().__init__()
        if score not in ("dot", "general"):
            raise ValueError(f"score must be 'dot' or 'general', got {score!r}")
        if min(query_size, key_size) <= 0:
            raise ValueError(
                f"query_size and key_size must be positive, got {query_size}, {key_size}"
            )
        if score == "dot" and query_size != key_size:
            raise ValueError(
                f"dot attention needs query_size == key_size, got {query_size} and {key_size}"
            )
        self.query_size = query_size
        self.key_size = key_size
        self.score = score
        if score == "general":
            self.weight = nn.Parameter(torch.empty(query_size, key_size))  # W: (Hq, Hk)
            bound = 1.0 / math.sqrt(key_size)
            nn.init.uniform_(self.weight, -bound, bound)
        else:
            self.register_parameter("weight", None)

    def project_keys(self, keys: Tensor) -> Tensor:
        """W a<t'> for ``general`` (once per source); the keys themselves for ``dot``.

        Shape:
            keys: (B, T, Hk) -> (B, T, Hq)
        """
        if self.weight is None:
            return keys  # (B, T, H)
        return project_keys(keys, self.weight)  # (B, T, Hk) -> (B, T, Hq)

    def forward(
        self,
        query: Tensor,
        keys: Tensor,
        values: Tensor,
        mask: Tensor | None = None,
        *,
        keys_projected: bool = False,
    ) -> tuple[Tensor, Tensor]:
        """Context c<t> and weights α<t,·> for one decoder step.

        ``keys`` are the raw a<t'>, or ``project_keys(a)`` with ``keys_projected=True``.

        Shape:
            query: (B, Hq), keys: (B, T, Hk) or (B, T, Hq), values: (B, T, Hv),
            mask: (B, T) bool -> context (B, Hv), alphas (B, T)
        """
        if self.weight is None or keys_projected:
            return dot_attention(query, keys, values, mask)
        return general_attention(query, keys, values, self.weight, mask)

    def extra_repr(self) -> str:
        return f"query_size={self.query_size}, key_size={self.key_size}, score={self.score!r}"
