"""Attention over a source sequence, as pure tensor functions.

The course's attention model (week 3): to produce y<t> the decoder looks at every encoder
activation a<t'> (both directions concatenated), scores it, and reads a weighted average::

    e<t,t'>  = score(s<t-1>, a<t'>)                       energies
    α<t,t'>  = exp(e<t,t'>) / Σ_t'' exp(e<t,t''>)         softmax over the source t'
    c<t>     = Σ_t' α<t,t'> a<t'>                         context

Three scores:

* additive (Bahdanau et al. 2015, the course's "small neural network"):
  e<t,t'> = vᵀ tanh(W_s s<t-1> + W_a a<t'> + b). The key projection W_a a<t'> + b does not
  depend on t, so callers compute it once per source (:func:`project_keys`) and pass the
  projections as ``keys``.
* dot (Luong et al. 2015): e<t,t'> = sᵀ a<t'>.
* general (Luong et al. 2015): e<t,t'> = sᵀ W a<t'>; W a<t'> is again per source only, so
  general attention is dot attention over precomputed keys.

Padding is masked: a source position whose ``mask`` is false gets exactly zero weight. Every
row of ``mask`` needs at least one true position. Tested against a NumPy float64 oracle and
with ``torch.autograd.gradcheck`` in ``tests/test_attention.py``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from seqlab.shapes import check_shape

__all__ = [
    "additive_attention",
    "additive_scores",
    "attend",
    "dot_attention",
    "dot_scores",
    "general_attention",
    "masked_softmax",
    "project_keys",
]


def masked_softmax(scores: Tensor, mask: Tensor | None = None) -> Tensor:
    """α = softmax(e) over the last dim, with α = 0 exactly where ``mask`` is false.

    Shape:
        scores: (B, T), mask: (B, T) bool or None -> (B, T)
    """
    if mask is None:
        return scores.softmax(dim=-1)  # (B, T)
    if mask.shape != scores.shape:
        raise ValueError(
            f"expected mask of shape {tuple(scores.shape)} (as the scores), got {tuple(mask.shape)}"
        )
    # α<t'> = exp(e<t'>) / Σ_{t'' valid} exp(e<t''>); exp(−inf) = 0 at padding
    return scores.masked_fill(~mask, float("-inf")).softmax(dim=-1)  # (B, T)


def attend(alphas: Tensor, values: Tensor) -> Tensor:
    """The context c = Σ_t' α<t'> a<t'>.

    Shape:
        alphas: (B, T), values: (B, T, Hv) -> (B, Hv)
    """
    # c = Σ_t' α<t'> a<t'>
    return torch.bmm(alphas.unsqueeze(1), values).squeeze(1)  # (B, 1, T) x (B, T, Hv) -> (B, Hv)


def _check_qkv(query: Tensor, keys: Tensor, values: Tensor, mask: Tensor | None) -> None:
    check_shape(query, ("B", None), "query")
    batch = query.shape[0]
    check_shape(keys, (f"B={batch}", "T", None), "keys")
    steps = keys.shape[1]
    check_shape(values, (f"B={batch}", f"T={steps}", None), "values")
    if mask is not None:
        check_shape(mask, (f"B={batch}", f"T={steps}"), "mask")
        if mask.dtype != torch.bool:
            raise ValueError(f"expected a bool mask, got {mask.dtype}")


def project_keys(keys: Tensor, w_key: Tensor, b_key: Tensor | None = None) -> Tensor:
    """The key projection W_a a<t'> + b, computed once per source sequence.

    Shape:
        keys: (B, T, Hk), w_key: (A, Hk), b_key: (A,) -> (B, T, A)
    """
    check_shape(keys, ("B", "T", f"Hk={w_key.shape[1]}"), "keys")
    return F.linear(keys, w_key, b_key)  # (B, T, Hk) -> (B, T, A)


def additive_scores(query: Tensor, keys: Tensor, w_query: Tensor, v: Tensor) -> Tensor:
    """Bahdanau energies e<t'> = vᵀ tanh(W_s s + (W_a a<t'> + b)) over projected keys.

    Args:
        query: s<t-1>, the decoder state before this step.
        keys: the projected keys W_a a<t'> + b (:func:`project_keys`).
        w_query: W_s.
        v: the output weights of the small network.

    Shape:
        query: (B, Hq), keys: (B, T, A), w_query: (A, Hq), v: (A,) -> (B, T)
    """
    check_shape(query, ("B", f"Hq={w_query.shape[1]}"), "query")
    check_shape(keys, (query.shape[0], "T", f"A={w_query.shape[0]}"), "keys")
    check_shape(v, (f"A={w_query.shape[0]}",), "v")
    # W_s s<t-1>
    q = F.linear(query, w_query)  # (B, Hq) -> (B, A)
    # tanh(W_s s<t-1> + W_a a<t'> + b)
    hidden = torch.tanh(keys + q.unsqueeze(1))  # (B, T, A)
    # e<t,t'> = vᵀ tanh(...)
    return torch.matmul(hidden, v)  # (B, T, A) x (A,) -> (B, T)


def additive_attention(
    query: Tensor,
    keys: Tensor,
    values: Tensor,
    w_query: Tensor,
    v: Tensor,
    mask: Tensor | None = None,
    *,
    w_key: Tensor | None = None,
    b_key: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Bahdanau (additive) attention: returns the context c and the weights α.

    e<t,t'> = vᵀ tanh(W_s s<t-1> + W_a a<t'> + b),  α = softmax_t'(e),  c = Σ_t' α<t'> a<t'>

    ``keys`` are the raw encoder activations a<t'> when ``w_key`` (W_a) is given, else the
    precomputed projections W_a a<t'> + b (the fast path: project once per source).

    Shape:
        query: (B, Hq), keys: (B, T, Hk) raw or (B, T, A) projected, values: (B, T, Hv),
        w_query: (A, Hq), v: (A,), mask: (B, T) bool -> context (B, Hv), alphas (B, T)
    """
    _check_qkv(query, keys, values, mask)
    if w_key is not None:
        keys = project_keys(keys, w_key, b_key)  # (B, T, A)
    elif b_key is not None:
        raise ValueError("b_key is part of the key projection: give w_key with it")
    scores = additive_scores(query, keys, w_query, v)  # (B, T)
    alphas = masked_softmax(scores, mask)  # (B, T)
    return attend(alphas, values), alphas  # (B, Hv), (B, T)


def dot_scores(query: Tensor, keys: Tensor) -> Tensor:
    """Luong dot energies e<t'> = sᵀ a<t'>.

    Shape:
        query: (B, H), keys: (B, T, H) -> (B, T)
    """
    check_shape(query, ("B", None), "query")
    check_shape(keys, (query.shape[0], "T", f"H={query.shape[1]}"), "keys")
    # e<t,t'> = sᵀ a<t'>
    return torch.bmm(keys, query.unsqueeze(2)).squeeze(2)  # (B, T, H) x (B, H, 1) -> (B, T)


def dot_attention(
    query: Tensor, keys: Tensor, values: Tensor, mask: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Luong dot attention: e<t'> = sᵀ a<t'>, α = softmax(e), c = Σ α<t'> v<t'>.

    Shape:
        query: (B, H), keys: (B, T, H), values: (B, T, Hv), mask: (B, T)
        -> context (B, Hv), alphas (B, T)
    """
    _check_qkv(query, keys, values, mask)
    alphas = masked_softmax(dot_scores(query, keys), mask)  # (B, T)
    return attend(alphas, values), alphas  # (B, Hv), (B, T)


def general_attention(
    query: Tensor, keys: Tensor, values: Tensor, weight: Tensor, mask: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Luong general attention: e<t'> = sᵀ W a<t'>, α = softmax(e), c = Σ α<t'> v<t'>.

    W a<t'> depends on the source only; a decoder computes it once with
    :func:`project_keys` and calls :func:`dot_attention` at every step.

    Shape:
        query: (B, Hq), keys: (B, T, Hk), values: (B, T, Hv), weight: (Hq, Hk), mask: (B, T)
        -> context (B, Hv), alphas (B, T)
    """
    _check_qkv(query, keys, values, mask)
    check_shape(weight, (f"Hq={query.shape[1]}", f"Hk={keys.shape[2]}"), "weight")
    # W a<t'>
    projected = F.linear(keys, weight)  # (B, T, Hk) -> (B, T, Hq)
    return dot_attention(query, projected, values, mask)  # (B, Hv), (B, T)
