"""Connectionist temporal classification (Graves et al., 2006): the loss as the forward
recursion in log space, its feasibility check, and a fast path through ``F.ctc_loss``.

Tested equal to ``torch.nn.functional.ctc_loss`` (values and gradients, every reduction)
and to a brute-force sum over all alignments (tests/test_ctc.py).

A labelling ``l`` of length S is extended with blanks, ``l' = (b, l_1, b, l_2, ..., l_S, b)``
(length 2S + 1). With ``y_k(t)`` the network's probability of class k at frame t, the
forward variables are

    α_0(0) = y_b(0),  α_0(1) = y_{l'_1}(0),  α_0(s) = 0 for s > 1
    α_t(s) = (α_{t-1}(s) + α_{t-1}(s-1) + [l'_s ≠ b and l'_s ≠ l'_{s-2}] α_{t-1}(s-2)) · y_{l'_s}(t)
    p(l | x) = α_{T-1}(2S) + α_{T-1}(2S - 1)

computed in log space (sums become log-sum-exp) and the loss is ``-ln p(l | x)``. The
backward pass (the β recursion of the paper) is the gradient autograd takes through the
same recursion.

Feasibility: an alignment emits each label on at least one frame, and two equal adjacent
labels need a blank between them, so ``p(l | x) > 0`` only when

    input_length ≥ target_length + (number of i with l_i = l_{i+1})

Gradients: autograd gives the true ∂loss/∂log_probs. ``F.ctc_loss``'s backward returns
``exp(log_probs) - γ`` instead, the gradient with respect to the logits before a
log-softmax; the two agree once both go through the log-softmax (which is what tests
compare), and training a network that ends in ``log_softmax`` sees the same gradients.

An infeasible item is a ``ValueError`` naming it and its lengths (torch returns ``inf``
without saying why); with ``zero_infinity=True`` its loss and gradient are zero, as in
torch, and a :class:`CTCInfeasibleWarning` names the items.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor

__all__ = [
    "CTCInfeasibleWarning",
    "ctc_feasible",
    "ctc_loss",
    "ctc_min_input_lengths",
]

Reduction = Literal["none", "mean", "sum"]
Targets = Tensor | Sequence[Sequence[int]]


class CTCInfeasibleWarning(UserWarning):
    """Items whose target cannot be aligned to their input (their loss was set to zero)."""


def _padded_targets(
    targets: Targets, target_lengths: Tensor | Sequence[int] | None
) -> tuple[Tensor, Tensor]:
    """Targets as a padded (B, S) int64 tensor and their lengths (B,).

    Accepts a padded (B, S) tensor with lengths, torch's concatenated 1-D form with lengths,
    or a list of label lists (lengths optional).
    """
    if not isinstance(targets, Tensor):
        rows = [list(row) for row in targets]
        lengths = torch.tensor([len(row) for row in rows], dtype=torch.long)
        width = max((len(row) for row in rows), default=0)
        padded = torch.zeros(len(rows), width, dtype=torch.long)  # (B, S)
        for i, row in enumerate(rows):
            padded[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        if target_lengths is not None and not torch.equal(
            torch.as_tensor(target_lengths, dtype=torch.long), lengths
        ):
            raise ValueError("target_lengths disagree with the lengths of the target lists")
        return padded, lengths
    if target_lengths is None:
        raise ValueError("target_lengths is required with a target tensor")
    lengths = torch.as_tensor(target_lengths, dtype=torch.long, device=targets.device)
    if targets.dim() == 2:
        if lengths.shape != (targets.shape[0],) or (lengths > targets.shape[1]).any():
            raise ValueError(
                f"target_lengths {lengths.tolist()} do not fit targets of shape "
                f"{tuple(targets.shape)}"
            )
        return targets.long(), lengths
    if targets.dim() != 1 or int(lengths.sum()) != targets.numel():
        raise ValueError(
            f"expected targets of shape (B, S), or 1-D with sum(target_lengths) = "
            f"{int(lengths.sum())} entries, got {tuple(targets.shape)}"
        )
    width = int(lengths.max()) if lengths.numel() else 0
    padded = targets.new_zeros(len(lengths), width, dtype=torch.long)  # (B, S)
    for i, row in enumerate(targets.long().split(lengths.tolist())):
        padded[i, : len(row)] = row
    return padded, lengths


def _repeats(padded: Tensor, lengths: Tensor) -> Tensor:
    """The number of i < S with l_i = l_{i+1}, per item.

    Shape:
        padded: (B, S), lengths: (B,) -> (B,)
    """
    if padded.shape[1] < 2:
        return torch.zeros_like(lengths)
    same = padded[:, 1:] == padded[:, :-1]  # (B, S - 1)
    inside = torch.arange(1, padded.shape[1], device=padded.device) < lengths.unsqueeze(1)
    return (same & inside).sum(dim=1)  # (B,)


def ctc_min_input_lengths(
    targets: Targets, target_lengths: Tensor | Sequence[int] | None = None
) -> Tensor:
    """The fewest input frames each target needs: ``S + #adjacent repeats``.

    >>> ctc_min_input_lengths([[1, 1, 2], [3]]).tolist()
    [4, 1]
    """
    padded, lengths = _padded_targets(targets, target_lengths)
    return lengths + _repeats(padded, lengths)  # (B,)


def ctc_feasible(
    targets: Targets,
    input_lengths: Tensor | Sequence[int],
    target_lengths: Tensor | Sequence[int] | None = None,
) -> Tensor:
    """True for the items whose target can be aligned to their input (a task calls this
    before training to drop or report the rest).

    >>> ctc_feasible([[1, 1], [1, 2]], [2, 2]).tolist()
    [False, True]
    """
    need = ctc_min_input_lengths(targets, target_lengths)  # (B,)
    return torch.as_tensor(input_lengths, dtype=torch.long, device=need.device) >= need


def _describe(bad: Tensor, inputs: Tensor, lengths: Tensor, repeats: Tensor) -> str:
    items = bad.nonzero().flatten().tolist()
    parts = [
        f"item {i} (input length {int(inputs[i])} < target length {int(lengths[i])} + "
        f"{int(repeats[i])} adjacent repeats)"
        for i in items[:5]
    ]
    more = f" and {len(items) - 5} more" if len(items) > 5 else ""
    return "infeasible CTC pairs: " + "; ".join(parts) + more


def _check(
    log_probs: Tensor,
    padded: Tensor,
    inputs: Tensor,
    lengths: Tensor,
    blank: int,
) -> None:
    if log_probs.dim() != 3:
        raise ValueError(f"expected log_probs of shape (T, B, C), got {tuple(log_probs.shape)}")
    steps, batch, classes = log_probs.shape
    if not 0 <= blank < classes:
        raise ValueError(f"blank must be in [0, {classes}), got {blank}")
    if inputs.shape != (batch,) or lengths.shape != (batch,):
        raise ValueError(
            f"expected input_lengths and target_lengths of shape ({batch},), got "
            f"{tuple(inputs.shape)} and {tuple(lengths.shape)}"
        )
    if (inputs < 1).any() or (inputs > steps).any():
        raise ValueError(f"input_lengths must be in [1, T={steps}], got {inputs.tolist()}")
    valid = torch.arange(padded.shape[1], device=padded.device) < lengths.unsqueeze(1)
    labels = padded[valid]
    outside = labels[(labels < 0) | (labels >= classes)]
    if outside.numel():
        shown = outside.unique()[:10].tolist()
        raise ValueError(f"target labels must be in [0, {classes}), got {shown}")
    if (labels == blank).any():
        raise ValueError(f"targets contain the blank index {blank}")


def _logsumexp(parts: Tensor, dim: int) -> Tensor:
    """log Σ exp along ``dim`` whose gradient stays finite when every term is -inf."""
    dead = torch.isneginf(parts).all(dim=dim, keepdim=True)
    safe = torch.where(dead, torch.zeros_like(parts), parts)
    out = torch.logsumexp(safe, dim=dim, keepdim=True)
    return torch.where(dead, torch.full_like(out, float("-inf")), out).squeeze(dim)


def _shift(alpha: Tensor, k: int) -> Tensor:
    """``alpha`` moved k places right along s, -inf coming in: entry s holds α(s - k).

    Shape:
        alpha: (B, W) -> (B, W)
    """
    return torch.nn.functional.pad(alpha, (k, 0), value=float("-inf"))[:, : alpha.shape[1]]


def _neg_log_likelihood(
    log_probs: Tensor, padded: Tensor, inputs: Tensor, lengths: Tensor, blank: int
) -> Tensor:
    """-ln p(l | x) per item by the α recursion (module docstring).

    Shape:
        log_probs: (T, B, C), padded: (B, S), inputs: (B,), lengths: (B,) -> (B,)
    """
    steps, batch, _ = log_probs.shape
    width = 2 * padded.shape[1] + 1  # 2S + 1
    ext = padded.new_full((batch, width), blank)  # (B, 2S + 1): l'
    ext[:, 1::2] = padded
    s = torch.arange(width, device=log_probs.device)  # (2S + 1,)
    # the skip l'_{s-2} -> l'_s is allowed for a label that differs from the one before it
    prev2 = torch.nn.functional.pad(ext, (2, 0), value=blank)[:, :width]  # (B, 2S + 1)
    skip = (ext != blank) & (ext != prev2)  # (B, 2S + 1)
    neg_inf = log_probs.new_tensor(float("-inf"))
    emit = log_probs.gather(2, ext.unsqueeze(0).expand(steps, -1, -1))  # (T, B, 2S + 1)
    # α_0: the first blank or the first label
    alpha = torch.where(s < 2, emit[0], neg_inf)  # (B, 2S + 1)
    for t in range(1, steps):
        stay = alpha
        step1 = _shift(alpha, 1)  # α_{t-1}(s-1)
        step2 = torch.where(skip, _shift(alpha, 2), neg_inf)  # α_{t-1}(s-2) where allowed
        # α_t(s) = (α_{t-1}(s) + α_{t-1}(s-1) + [skip] α_{t-1}(s-2)) · y_{l'_s}(t)
        new = _logsumexp(torch.stack([stay, step1, step2]), dim=0) + emit[t]  # (B, 2S + 1)
        alpha = torch.where((t < inputs).unsqueeze(1), new, alpha)  # frozen past the input
    last = 2 * lengths  # the final blank l'_{2S}
    end = alpha.gather(1, last.unsqueeze(1)).squeeze(1)  # (B,)
    before = alpha.gather(1, (last - 1).clamp_min(0).unsqueeze(1)).squeeze(1)  # (B,)
    before = torch.where(lengths > 0, before, neg_inf)
    # p(l | x) = α_{T-1}(2S) + α_{T-1}(2S - 1)
    return -_logsumexp(torch.stack([end, before]), dim=0)  # (B,)


def ctc_loss(
    log_probs: Tensor,
    targets: Targets,
    input_lengths: Tensor | Sequence[int],
    target_lengths: Tensor | Sequence[int] | None = None,
    *,
    blank: int = 0,
    reduction: Reduction = "mean",
    zero_infinity: bool = False,
    impl: Literal["recursion", "torch"] = "recursion",
) -> Tensor:
    """The CTC loss ``-ln p(l | x)``, with ``F.ctc_loss``'s arguments and reductions.

    ``log_probs`` are log-softmax outputs, time first as in torch. ``targets``: a padded
    (B, S) tensor, torch's concatenated 1-D tensor (both with ``target_lengths``) or a list
    of label lists. ``reduction="mean"`` divides each item's loss by its target length
    (at least 1), then averages over the batch, as torch does. Infeasible items (module
    docstring) raise ``ValueError``, or with ``zero_infinity=True`` get a zero loss and a
    :class:`CTCInfeasibleWarning`. ``impl="torch"``: the same checks, then ``F.ctc_loss``
    (the fast path; ``"recursion"`` is the readable one, tested equal).

    Shape:
        log_probs: (T, B, C), targets: (B, S) or (sum S,), lengths: (B,) -> () or (B,)
    """
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"reduction must be 'none', 'mean' or 'sum', got {reduction!r}")
    padded, lengths = _padded_targets(targets, target_lengths)
    padded, lengths = padded.to(log_probs.device), lengths.to(log_probs.device)
    inputs = torch.as_tensor(input_lengths, dtype=torch.long, device=log_probs.device)
    _check(log_probs, padded, inputs, lengths, blank)
    repeats = _repeats(padded, lengths)  # (B,)
    bad = inputs < lengths + repeats  # (B,)
    if bad.any():
        message = _describe(bad, inputs, lengths, repeats)
        if not zero_infinity:
            raise ValueError(message + " — give more frames or shorter targets, or use "
                             "zero_infinity=True to skip them")  # fmt: skip
        warnings.warn(message + ": their loss is set to zero", CTCInfeasibleWarning, 2)
    if impl == "torch":
        return torch.nn.functional.ctc_loss(
            log_probs, padded, inputs, lengths, blank=blank, reduction=reduction,
            zero_infinity=zero_infinity,
        )  # fmt: skip
    if impl != "recursion":
        raise ValueError(f"impl must be 'recursion' or 'torch', got {impl!r}")
    loss = _neg_log_likelihood(log_probs, padded, inputs, lengths, blank)  # (B,)
    if zero_infinity:
        loss = torch.where(torch.isinf(loss), torch.zeros_like(loss), loss)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return (loss / lengths.clamp_min(1).to(loss.dtype)).mean()
