"""Helpers shared by the sequence modules: packed input, masks, reversal within lengths."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from seqlab.functional._time import reverse_time

__all__ = ["SeqInfo", "from_time_major", "length_mask", "reverse_time", "to_time_major"]


@dataclass(frozen=True)
class SeqInfo:
    """How the caller's input was laid out, to lay the output out the same way."""

    packed: PackedSequence | None  # the caller's PackedSequence, if any
    batch_first: bool  # the caller's padded layout was (B, T, ·)
    unbatched: bool  # the caller gave (T, E) without a batch dim


def to_time_major(
    input: Tensor | PackedSequence, batch_first: bool, input_size: int
) -> tuple[Tensor, Tensor | None, SeqInfo]:
    """Return ``(x, lengths, info)`` with ``x`` time-major padded and in the caller's order.

    Shape:
        input: (T, B, E) | (B, T, E) | (T, E) | PackedSequence -> x: (T, B, E), lengths: (B,)
    """
    if isinstance(input, PackedSequence):
        if input.data.dim() != 2 or input.data.shape[-1] != input_size:
            raise ValueError(
                f"expected PackedSequence data of shape (N, E={input_size}), "
                f"got {tuple(input.data.shape)}"
            )
        x, lengths = pad_packed_sequence(input)  # (T, B, E), (B,) in the caller's order
        return x, lengths.to(x.device), SeqInfo(input, False, False)
    if not isinstance(input, Tensor):
        raise TypeError(f"expected a Tensor or PackedSequence, got {type(input).__name__}")
    layout = "(B, T, E={0})" if batch_first else "(T, B, E={0})"
    if input.dim() not in (2, 3) or input.shape[-1] != input_size:
        raise ValueError(
            f"expected input of shape {layout.format(input_size)} or (T, E={input_size}), "
            f"got {tuple(input.shape)}"
        )
    if input.dim() == 2:
        return input.unsqueeze(1), None, SeqInfo(None, False, True)  # (T, 1, E)
    x = input.transpose(0, 1) if batch_first else input  # (T, B, E)
    return x, None, SeqInfo(None, batch_first, False)


def from_time_major(out: Tensor, lengths: Tensor | None, info: SeqInfo) -> Tensor | PackedSequence:
    """Lay ``out`` (T, B, ·) out as the caller's input was (padded, packed, unbatched)."""
    if info.packed is not None:
        if lengths is None:  # to_time_major gives a packed input's lengths
            raise ValueError("from_time_major: a packed layout needs the sequences' lengths")
        p = info.packed
        if p.sorted_indices is not None:
            out = out.index_select(1, p.sorted_indices)  # (T, B, ·) in decreasing length
            lengths = lengths.index_select(0, p.sorted_indices.to(lengths.device))
        data = pack_padded_sequence(out, lengths.cpu(), enforce_sorted=True).data  # (N, ·)
        return PackedSequence(data, p.batch_sizes, p.sorted_indices, p.unsorted_indices)
    if info.unbatched:
        return out.squeeze(1)  # (T, ·)
    return out.transpose(0, 1) if info.batch_first else out


def length_mask(lengths: Tensor | None, steps: int) -> Tensor | None:
    """``mask[t, b, 0]`` is true where ``t < lengths[b]``.  -> (T, B, 1)"""
    if lengths is None:
        return None
    t = torch.arange(steps, device=lengths.device)
    return (t[:, None] < lengths[None, :]).unsqueeze(-1)  # (T, B, 1)
