"""Scaled dot-product attention and the Transformer's masks, as pure tensor functions.

Vaswani et al. 2017, "Attention is all you need" (course week 4)::

    Attention(Q, K, V) = softmax(Q Kᵀ / √d_k) V

Each query row q<i> scores every key k<j> with a dot product scaled by 1/√d_k (so the
softmax does not saturate as d_k grows), the scores go through a softmax over the keys, and
the output is the weighted average of the values.

**Mask convention (all of seqlab).** A boolean mask is **True where a key is attended**
(kept) and False where it is masked, as :func:`seqlab.functional.attention.masked_softmax`
and ``torch.nn.functional.scaled_dot_product_attention``'s boolean ``attn_mask``.
``torch.nn.MultiheadAttention`` and ``torch.nn.Transformer`` use the opposite (True =
masked, in ``key_padding_mask`` and boolean ``attn_mask``): :func:`to_torch_mask` converts
at that boundary. A mask broadcasts to the scores (B, nh, Tq, Tk): it has exactly four
dims, each either the scores' size or 1, e.g. :func:`causal_mask` (1, 1, T, T) for the
look-ahead mask and :func:`padding_mask` (B, 1, 1, T) for padding; combine them with ``&``.
A mask of another shape or dtype is a ``ValueError``.

**Fully masked rows.** A query whose every key is masked has nothing to attend to;
softmax over only −∞ is NaN (torch's modules return NaN there). seqlab instead gives such a
row **zero weights and a zero output**, in the forward and the backward pass (no NaN is ever
produced, so none can spread silently); a model that meets one is usually padding a query,
whose output is ignored anyway.

Tested in ``tests/test_transformer_functional.py`` against a NumPy float64 oracle, against
``torch.nn.functional.scaled_dot_product_attention`` and with ``gradcheck``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from seqlab.shapes import format_shape

__all__ = [
    "causal_mask",
    "check_attention_mask",
    "fast_scaled_dot_product_attention",
    "padding_mask",
    "scaled_dot_product_attention",
    "to_torch_mask",
]


def causal_mask(
    tq: int, tk: int | None = None, *, device: torch.device | str | None = None
) -> Tensor:
    """The look-ahead mask: query i attends key j iff j ≤ i + (Tk − Tq).

    With ``tk`` omitted it is the square (T, T) lower triangle; with Tk > Tq the queries are
    the last Tq positions of a Tk-long sequence (incremental decoding with a cache of Tk − Tq
    earlier keys).

    Shape:
        -> (1, 1, Tq, Tk) bool, True = attended
    """
    tk = tq if tk is None else tk
    if tq < 1 or tk < tq:
        raise ValueError(f"causal_mask needs 1 <= Tq <= Tk, got Tq={tq}, Tk={tk}")
    mask = torch.ones(tq, tk, dtype=torch.bool, device=device).tril(diagonal=tk - tq)  # (Tq, Tk)
    return mask[None, None]  # (1, 1, Tq, Tk)


def padding_mask(lengths: Tensor, steps: int) -> Tensor:
    """True at the first ``lengths[b]`` key positions of row b (the real tokens).

    Shape:
        lengths: (B,) ints, steps: T -> (B, 1, 1, T) bool, True = attended
    """
    if lengths.dim() != 1 or lengths.is_floating_point() or lengths.dtype == torch.bool:
        raise ValueError(
            f"expected lengths of shape (B,) integers, got {format_shape(tuple(lengths.shape))} "
            f"{lengths.dtype}"
        )
    positions = torch.arange(steps, device=lengths.device)  # (T,)
    return (positions[None, :] < lengths[:, None])[:, None, None, :]  # (B, 1, 1, T)


def to_torch_mask(mask: Tensor) -> Tensor:
    """seqlab's mask (True = attended) as torch.nn's boolean masks (True = masked).

    Use it for ``key_padding_mask`` (give a (B, T) mask) and a boolean ``attn_mask`` of
    ``torch.nn.MultiheadAttention`` / ``torch.nn.Transformer``; the shape is kept.
    """
    if mask.dtype != torch.bool:
        raise ValueError(f"expected a bool mask, got {mask.dtype}")
    return ~mask


def check_attention_mask(mask: Tensor, scores_shape: tuple[int, ...]) -> None:
    """``ValueError`` unless ``mask`` is bool and broadcasts as (B|1, nh|1, Tq|1, Tk)."""
    expected = "(B|1, nh|1, Tq|1, Tk)"
    if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
        got = mask.dtype if isinstance(mask, Tensor) else type(mask).__name__
        raise ValueError(f"expected a bool attention mask {expected} (True = attend), got {got}")
    ok = mask.dim() == 4 and mask.shape[-1] == scores_shape[-1]
    ok = ok and all(m in (1, s) for m, s in zip(mask.shape, scores_shape, strict=True))
    if not ok:
        b, h, tq, tk = scores_shape
        raise ValueError(
            f"expected an attention mask of shape {expected} = (B={b}|1, nh={h}|1, Tq={tq}|1, "
            f"Tk={tk}), got {format_shape(tuple(mask.shape))}"
        )


def _check_qkv(q: Tensor, k: Tensor, v: Tensor) -> None:
    ok = q.dim() == 4 and k.dim() == 4 and v.dim() == 4
    ok = ok and q.shape[:2] == k.shape[:2] == v.shape[:2]
    ok = ok and q.shape[-1] == k.shape[-1] and k.shape[2] == v.shape[2]
    if not ok:
        raise ValueError(
            "expected q (B, nh, Tq, dk), k (B, nh, Tk, dk), v (B, nh, Tk, dv), got "
            f"{format_shape(tuple(q.shape))}, {format_shape(tuple(k.shape))}, "
            f"{format_shape(tuple(v.shape))}"
        )


def _safe_mask(mask: Tensor) -> tuple[Tensor, Tensor]:
    """The mask with fully masked rows opened (so softmax stays finite), and which rows
    have any key at all.  mask (.., Tq, Tk) -> (.., Tq, Tk), (.., Tq, 1)"""
    alive = mask.any(dim=-1, keepdim=True)  # (B|1, nh|1, Tq|1, 1)
    return mask | ~alive, alive


def scaled_dot_product_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor | None = None,
    dropout_p: float = 0.0,
    training: bool = False,
) -> tuple[Tensor, Tensor]:
    """softmax(Q Kᵀ / √d_k) V, and the weights; readable (each step its own line).

    ``mask`` is True where a key is attended (see the module docstring); a fully masked
    query row gets zero weights and a zero output. With ``training`` the weights go through
    dropout with probability ``dropout_p`` (the returned weights are those after dropout).

    Shape:
        q: (B, nh, Tq, dk), k: (B, nh, Tk, dk), v: (B, nh, Tk, dv),
        mask: (B|1, nh|1, Tq|1, Tk) bool -> out (B, nh, Tq, dv), weights (B, nh, Tq, Tk)
    """
    _check_qkv(q, k, v)
    # e<i,j> = q<i> · k<j> / √d_k:  (B, nh, Tq, dk) x (B, nh, dk, Tk) -> (B, nh, Tq, Tk)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, nh, Tq, Tk)
    alive = None
    if mask is not None:
        check_attention_mask(mask, tuple(scores.shape))
        mask, alive = _safe_mask(mask)
        scores = scores.masked_fill(~mask, float("-inf"))  # exp(−∞) = 0 at masked keys
    # α<i,·> = softmax_j(e<i,·>)
    weights = scores.softmax(dim=-1)  # (B, nh, Tq, Tk)
    if alive is not None:
        weights = weights * alive  # fully masked rows: zero weights
    if training and dropout_p > 0.0:
        weights = F.dropout(weights, p=dropout_p)
    # out<i> = Σ_j α<i,j> v<j>
    return weights @ v, weights  # (B, nh, Tq, Tk) x (B, nh, Tk, dv) -> (B, nh, Tq, dv)


def fast_scaled_dot_product_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor | None = None,
    dropout_p: float = 0.0,
    training: bool = False,
) -> Tensor:
    """The output of :func:`scaled_dot_product_attention` through torch's fused kernel
    (``F.scaled_dot_product_attention``), without the weights; same masks, same zero rows.

    Shape:
        q: (B, nh, Tq, dk), k: (B, nh, Tk, dk), v: (B, nh, Tk, dv), mask as above
        -> (B, nh, Tq, dv)
    """
    _check_qkv(q, k, v)
    alive = None
    if mask is not None:
        check_attention_mask(mask, (*q.shape[:3], k.shape[2]))
        mask, alive = _safe_mask(mask)
    p = dropout_p if training else 0.0
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)  # (B, nh, Tq, dv)
    return out if alive is None else out * alive  # fully masked rows: zero output
