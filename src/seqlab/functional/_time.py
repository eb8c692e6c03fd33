"""Reversal in time within each sequence's own length, for the backward direction of a
bidirectional layer (shared by the kernels and the modules of :mod:`seqlab.nn`)."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["reverse_masked", "reverse_time"]


def reverse_time(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse each sequence within its own length; padding stays where it is.

    Applying it twice gives ``x`` back.

    Shape:
        x: (T, B, ·) -> (T, B, ·)
    """
    if lengths is None:
        return x.flip(0)
    steps = x.shape[0]
    t = torch.arange(steps, device=x.device)[:, None]  # (T, 1)
    lens = lengths.to(x.device)[None, :]  # (1, B)
    idx = torch.where(t < lens, lens - 1 - t, t)  # (T, B)
    return x.gather(0, idx.unsqueeze(-1).expand_as(x))


def reverse_masked(x: Tensor, mask: Tensor | None) -> Tensor:
    """:func:`reverse_time` with the lengths read off a mask whose valid steps come first.

    Shape:
        x: (T, B, ·), mask: (T, B, 1) -> (T, B, ·)
    """
    return reverse_time(x, None if mask is None else mask[..., 0].sum(0))
