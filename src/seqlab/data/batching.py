"""Batching shared by every task: padding, length-bucketed batches, held-out splits, and one
walker over nested batches.

* :func:`pad` — id lists to ``(ids (B, T), lengths (B,))``, right-padded;
* :func:`shuffled_batches` / :func:`bucketed_batches` — the index lists of an epoch's
  batches, drawn from a seeded generator (bucketing sorts chunks of batches by length, so a
  batch holds little padding while the order stays random);
* :func:`hold_out` — every k-th item held out for validation (spread over the data, so a
  file sorted by length gives a validation set like the training set);
* :func:`map_tensors` — apply a function to every tensor in a nest of tuples (named ones
  too), lists, dicts and dataclass instances; the device move, DDP sharding and beam search's
  row selection all walk batches and states with it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import torch
from torch import Tensor

__all__ = ["bucketed_batches", "hold_out", "map_tensors", "pad", "shuffled_batches"]

T = TypeVar("T")


def map_tensors(obj: Any, fn: Callable[[Tensor], Any]) -> Any:
    """``obj`` with every tensor ``t`` in it replaced by ``fn(t)``; the nest keeps its form.

    Walks tuples (named ones too), lists, mappings and dataclass instances to any depth;
    anything else (None, numbers, strings, other objects) is returned as it is.
    """
    if isinstance(obj, Tensor):
        return fn(obj)
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # a namedtuple
        return type(obj)(*(map_tensors(o, fn) for o in obj))
    if isinstance(obj, tuple | list):
        return type(obj)(map_tensors(o, fn) for o in obj)
    if isinstance(obj, Mapping):
        return {key: map_tensors(value, fn) for key, value in obj.items()}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        changes = {
            f.name: map_tensors(getattr(obj, f.name), fn) for f in dataclasses.fields(obj) if f.init
        }
        return dataclasses.replace(obj, **changes)
    return obj


def pad(
    seqs: Sequence[Sequence[int]], pad_id: int, *, device: torch.device | str | None = None
) -> tuple[Tensor, Tensor]:
    """Right-pad id lists into one batch.

    Shape:
        B lists of lengths T_b -> ids (B, max T_b) int64, lengths (B,) int64
    """
    if not seqs:
        raise ValueError("nothing to pad: no sequences")
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)  # (B,)
    ids = torch.full((len(seqs), int(lengths.max())), pad_id, dtype=torch.long)  # (B, T)
    for row, s in enumerate(seqs):
        if len(s):
            ids[row, : len(s)] = torch.as_tensor(s, dtype=torch.long)
    if device is not None:
        ids, lengths = ids.to(device), lengths.to(device)
    return ids, lengths


def shuffled_batches(n: int, batch_size: int, generator: torch.Generator) -> Iterator[list[int]]:
    """The indices ``0..n-1`` in an order drawn from ``generator``, ``batch_size`` at a time
    (the last batch may be shorter)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = torch.randperm(n, generator=generator).tolist()
    for i in range(0, n, batch_size):
        yield order[i : i + batch_size]


def bucketed_batches(
    lengths: Sequence[int], batch_size: int, generator: torch.Generator, *, bucket: int = 50
) -> Iterator[list[int]]:
    """Length-bucketed batches of indices: shuffle, sort each chunk of ``bucket`` batches by
    length, cut it into batches, and yield the batches in a random order.

    Every index appears exactly once per epoch; the same generator state gives the same
    batches.
    """
    if batch_size < 1 or bucket < 1:
        raise ValueError(f"batch_size and bucket must be >= 1, got {batch_size}, {bucket}")
    order = torch.randperm(len(lengths), generator=generator).tolist()
    chunk = bucket * batch_size
    batches: list[list[int]] = []
    for i in range(0, len(order), chunk):
        part = sorted(order[i : i + chunk], key=lambda j: lengths[j])
        batches += [part[k : k + batch_size] for k in range(0, len(part), batch_size)]
    for b in torch.randperm(len(batches), generator=generator).tolist():
        yield batches[b]


def hold_out(
    items: Sequence[T], fraction: float, *, max_items: int = 2000, min_total: int = 50
) -> tuple[list[T], list[T]]:
    """``(train, valid)``: every k-th item held out, k = round(1 / fraction), at most
    ``max_items`` of them; nothing is held out from fewer than ``min_total`` items or when
    ``fraction <= 0``.

    Spread over the data, so a file sorted by length (Tatoeba's) gives a validation set like
    the training set.
    """
    if len(items) < min_total or fraction <= 0:
        return list(items), []
    k = max(2, round(1 / fraction))
    picked = set(range(k - 1, len(items), k)[:max_items])
    train = [x for i, x in enumerate(items) if i not in picked]
    return train, [items[i] for i in sorted(picked)]
