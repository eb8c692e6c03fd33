"""Linear-chain conditional random field: path score, log partition (forward algorithm),
negative log-likelihood and Viterbi decoding, batch-first, as pure functions.

A linear-chain CRF (Lafferty, McCallum & Pereira 2001), as put on top of a BiLSTM by Lample
et al. 2016 ("Neural Architectures for Named Entity Recognition"), scores a tag path
``y = (y_1 .. y_n)`` of a sentence of ``n`` tokens with emission scores ``P`` (``(n, C)``,
from the network) and learned transition scores:

    s(x, y) = start[y_1] + sum_{t=1..n} P[t, y_t] + sum_{t=2..n} A[y_{t-1}, y_t] + end[y_n]

``A[i, j]`` is the score of moving from tag ``i`` to tag ``j`` (pytorch-crf's convention). The
model's probability is ``p(y | x) = exp(s(x, y)) / Z(x)`` with ``Z(x) = sum_y' exp(s(x, y'))``
over all ``C^n`` paths, computed in ``O(n C^2)`` by the forward algorithm in log space:

    alpha_1[j] = start[j] + P[1, j]
    alpha_t[j] = logsumexp_i(alpha_{t-1}[i] + A[i, j]) + P[t, j]
    log Z      = logsumexp_j(alpha_n[j] + end[j])

and the best path by the same recursion with max instead of logsumexp (Viterbi), keeping the
argmax ``i`` of each step as a back-pointer.

Sequences of different lengths share a batch through ``mask`` (``(B, T)`` bool, True on real
tokens): it must be left-aligned (``True * n_b`` then ``False``) with ``mask[:, 0]`` all True;
padded positions are ignored (their emissions and tags may hold anything).

Tested in ``tests/test_crf.py`` against brute-force enumeration of all paths and against
pytorch-crf's ``torchcrf.CRF``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor

__all__ = [
    "crf_log_partition",
    "crf_nll",
    "crf_score",
    "iob2_transition_mask",
    "transition_mask",
    "viterbi_decode",
]


def _check(
    emissions: Tensor, mask: Tensor, start: Tensor, end: Tensor, transitions: Tensor
) -> Tensor:
    """The mask as bool after checking every shape and the mask's form (ValueError)."""
    if emissions.dim() != 3:
        raise ValueError(f"expected emissions of shape (B, T, C), got {tuple(emissions.shape)}")
    batch, length, num_tags = emissions.shape
    if length == 0:
        raise ValueError("expected emissions with at least one time step (T >= 1), got T = 0")
    if tuple(mask.shape) != (batch, length):
        raise ValueError(f"expected mask of shape (B, T) = {(batch, length)}, got "
                         f"{tuple(mask.shape)}")  # fmt: skip
    for name, tensor, shape in (
        ("start", start, (num_tags,)),
        ("end", end, (num_tags,)),
        ("transitions", transitions, (num_tags, num_tags)),
    ):
        if tuple(tensor.shape) != shape:
            raise ValueError(f"expected {name} of shape {shape}, got {tuple(tensor.shape)}")
    mask = mask.bool()
    if batch and not bool(mask[:, 0].all()):
        raise ValueError("mask[:, 0] must be all True: every sequence needs a first token")
    if bool((mask[:, 1:] & ~mask[:, :-1]).any()):
        raise ValueError("mask must be left-aligned: True for the tokens, then False padding")
    return mask


def crf_log_partition(
    emissions: Tensor, mask: Tensor, start: Tensor, end: Tensor, transitions: Tensor
) -> Tensor:
    """``log Z(x)`` of each sequence by the forward algorithm (see the module docstring).

    Shape:
        emissions (B, T, C), mask (B, T) bool, start (C,), end (C,), transitions (C, C)
        -> (B,)
    """
    mask = _check(emissions, mask, start, end, transitions)
    # alpha_1[j] = start[j] + P[1, j]
    alpha = start + emissions[:, 0]  # (B, C)
    for t in range(1, emissions.size(1)):
        # alpha_t[j] = logsumexp_i(alpha_{t-1}[i] + A[i, j]) + P[t, j]
        scores = alpha.unsqueeze(2) + transitions + emissions[:, t].unsqueeze(1)  # (B, C, C)
        alpha = torch.where(mask[:, t : t + 1], torch.logsumexp(scores, dim=1), alpha)  # (B, C)
    # log Z = logsumexp_j(alpha_n[j] + end[j])
    return torch.logsumexp(alpha + end, dim=1)  # (B,)


def crf_score(
    emissions: Tensor,
    tags: Tensor,
    mask: Tensor,
    start: Tensor,
    end: Tensor,
    transitions: Tensor,
) -> Tensor:
    """``s(x, y)`` of the given tag paths (see the module docstring); tags at padded
    positions are ignored (``-100`` is fine there).

    Shape:
        emissions (B, T, C), tags (B, T) long, mask (B, T) bool, start (C,), end (C,),
        transitions (C, C) -> (B,)
    """
    mask = _check(emissions, mask, start, end, transitions)
    if tags.shape != mask.shape:
        raise ValueError(f"expected tags of shape (B, T) = {tuple(mask.shape)}, got "
                         f"{tuple(tags.shape)}")  # fmt: skip
    tags = tags.long().masked_fill(~mask, 0)  # (B, T)
    num_tags = emissions.size(2)
    if tags.numel() and (int(tags.min()) < 0 or int(tags.max()) >= num_tags):
        raise ValueError(f"tags must lie in [0, {num_tags}) on unmasked positions")
    weights = mask.to(emissions.dtype)  # (B, T)
    # sum_t P[t, y_t]
    emitted = emissions.gather(2, tags.unsqueeze(2)).squeeze(2)  # (B, T)
    score = (emitted * weights).sum(dim=1)  # (B,)
    # sum_{t>=2} A[y_{t-1}, y_t]
    moved = transitions[tags[:, :-1], tags[:, 1:]]  # (B, T-1)
    score = score + (moved * weights[:, 1:]).sum(dim=1)  # (B,)
    # start[y_1] + end[y_n]
    last = tags.gather(1, (mask.sum(dim=1, keepdim=True) - 1)).squeeze(1)  # (B,)
    return score + start[tags[:, 0]] + end[last]  # (B,)


def crf_nll(
    emissions: Tensor,
    tags: Tensor,
    mask: Tensor,
    start: Tensor,
    end: Tensor,
    transitions: Tensor,
) -> Tensor:
    """Negative log-likelihood ``-log p(y | x) = log Z(x) - s(x, y)`` of each sequence.

    Shape:
        as :func:`crf_score` -> (B,)
    """
    log_z = crf_log_partition(emissions, mask, start, end, transitions)  # (B,)
    return log_z - crf_score(emissions, tags, mask, start, end, transitions)  # (B,)


def viterbi_decode(
    emissions: Tensor, mask: Tensor, start: Tensor, end: Tensor, transitions: Tensor
) -> tuple[Tensor, Tensor]:
    """The highest-scoring tag path of each sequence and its score ``s(x, y*)``.

    ``delta_1[j] = start[j] + P[1, j]``, ``delta_t[j] = max_i(delta_{t-1}[i] + A[i, j]) +
    P[t, j]`` with back-pointer ``psi_t[j] = argmax_i(...)``; the path ends in
    ``argmax_j(delta_n[j] + end[j])`` and is read back through ``psi``. Scores of ``-inf``
    (forbidden transitions) are allowed.

    Shape:
        emissions (B, T, C), mask (B, T) bool, start (C,), end (C,), transitions (C, C)
        -> tags (B, T) long (0 at padded positions), scores (B,)
    """
    mask = _check(emissions, mask, start, end, transitions)
    batch, length, _ = emissions.shape
    delta = start + emissions[:, 0]  # (B, C)
    pointers: list[Tensor] = []  # psi_t for t = 2..T, each (B, C)
    for t in range(1, length):
        scores = delta.unsqueeze(2) + transitions + emissions[:, t].unsqueeze(1)  # (B, C, C)
        best, previous = scores.max(dim=1)  # (B, C), (B, C)
        delta = torch.where(mask[:, t : t + 1], best, delta)  # (B, C)
        pointers.append(previous)
    best_score, last_tag = (delta + end).max(dim=1)  # (B,), (B,)
    # Read the path back from each sequence's last token (position n_b - 1).
    lengths = mask.sum(dim=1)  # (B,)
    path = torch.zeros(batch, length, dtype=torch.long, device=emissions.device)  # (B, T)
    current = last_tag  # (B,)
    for t in range(length - 1, -1, -1):
        if t < length - 1:  # y_t = psi_{t+1}[y_{t+1}] (meaningless past a sequence's end)
            current = pointers[t].gather(1, current.unsqueeze(1)).squeeze(1)  # (B,)
        current = torch.where(t == lengths - 1, last_tag, current)  # (B,) the path's last tag
        path[:, t] = torch.where(t < lengths, current, 0)  # (B,)
    return path, best_score


def transition_mask(
    tag_names: Sequence[str], scheme: Literal["iob2", "iobes"] = "iob2"
) -> tuple[Tensor, Tensor, Tensor]:
    """Which transitions a well-formed tag sequence of ``scheme`` may make.

    Returns ``(allowed (C, C), start_allowed (C,), end_allowed (C,))`` bool tensors:
    ``allowed[i, j]`` says whether tag ``j`` may follow tag ``i``. IOB2: ``I-X`` only after
    ``B-X`` or ``I-X`` (so never first). IOBES: after ``B-X``/``I-X`` only ``I-X``/``E-X``;
    elsewhere only ``O``, ``B-*``, ``S-*``; first ``O``/``B``/``S``, last ``O``/``E``/``S``.
    A name without a ``B-``/``I-``/``E-``/``S-`` prefix (``O``, ``<PAD>``) is outside any
    entity.
    """
    if scheme not in ("iob2", "iobes"):
        raise ValueError(f"scheme must be 'iob2' or 'iobes', got {scheme!r}")
    parts = [
        (name[0], name[2:]) if len(name) > 2 and name[0] in "BIES" and name[1] == "-" else ("O", "")
        for name in tag_names
    ]
    if scheme == "iob2" and any(prefix in "ES" for prefix, _ in parts):
        raise ValueError("the iob2 scheme has no E- or S- tags; use scheme='iobes'")
    num_tags = len(parts)
    allowed = torch.ones(num_tags, num_tags, dtype=torch.bool)  # (C, C)
    for i, (p_prev, t_prev) in enumerate(parts):
        inside = p_prev in "BI"  # an entity is open after tag i (IOBES: must continue)
        for j, (p_next, t_next) in enumerate(parts):
            if scheme == "iob2":
                allowed[i, j] = p_next != "I" or (inside and t_prev == t_next)
            elif inside:
                allowed[i, j] = p_next in "IE" and t_prev == t_next
            else:
                allowed[i, j] = p_next in "OBS"
    first_ok = torch.tensor([p != "I" and (scheme == "iob2" or p != "E") for p, _ in parts])
    last_ok = torch.tensor([scheme == "iob2" or p in "OES" for p, _ in parts])
    return allowed, first_ok.bool(), last_ok.bool()


def iob2_transition_mask(tag_names: Sequence[str]) -> tuple[Tensor, Tensor, Tensor]:
    """:func:`transition_mask` for IOB2 (``O -> I-PER`` and ``B-LOC -> I-PER`` forbidden)."""
    return transition_mask(tag_names, "iob2")
