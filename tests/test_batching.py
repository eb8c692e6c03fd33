"""seqlab.data.batching: padding, epoch batches, held-out splits and the nested-batch walker,
each against a plain-Python reference."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import pytest
import torch
from torch import Tensor

from seqlab.data.batching import bucketed_batches, hold_out, map_tensors, pad, shuffled_batches


def test_pad_right_pads_and_returns_lengths() -> None:
    ids, lengths = pad([[5, 6, 7], [1], []], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [1, 0, 0], [0, 0, 0]]
    assert lengths.tolist() == [3, 1, 0] and ids.dtype == torch.long
    with pytest.raises(ValueError, match="no sequences"):
        pad([], 0)


def test_shuffled_batches_cover_every_index_once_and_repeat_with_the_seed() -> None:
    def epoch(seed: int) -> list[list[int]]:
        return list(shuffled_batches(10, 4, torch.Generator().manual_seed(seed)))

    batches = epoch(1)
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(i for b in batches for i in b) == list(range(10))
    assert epoch(1) == batches and epoch(2) != batches


def test_bucketed_batches_group_similar_lengths() -> None:
    lengths = [(i * 37) % 50 + 1 for i in range(1000)]

    def epoch(seed: int) -> list[list[int]]:
        return list(bucketed_batches(lengths, 10, torch.Generator().manual_seed(seed), bucket=5))

    batches = epoch(0)
    assert sorted(i for b in batches for i in b) == list(range(1000))
    assert epoch(0) == batches and epoch(1) != batches

    # padding per batch (longest minus each) is far below that of random batches
    def waste(bs: list[list[int]]) -> int:
        return sum(max(lengths[i] for i in b) - lengths[i] for b in bs for i in b)

    random_batches = list(shuffled_batches(1000, 10, torch.Generator().manual_seed(0)))
    assert waste(batches) < waste(random_batches) / 3


def test_hold_out_takes_every_kth_item() -> None:
    items = list(range(100))
    train, valid = hold_out(items, 0.1)
    assert valid == list(range(9, 100, 10)) and len(train) == 90
    assert set(train) | set(valid) == set(items)
    assert hold_out(items[:49], 0.1) == (items[:49], [])  # too few to hold any out
    assert hold_out(items, 0.5, max_items=3)[1] == [1, 3, 5]


class Pair(NamedTuple):
    a: Tensor
    b: list[Tensor]


@dataclass(frozen=True)
class Batch:
    ids: Tensor
    meta: dict[str, object]
    name: str = "x"


def test_map_tensors_walks_tuples_dicts_and_dataclasses() -> None:
    batch = Batch(torch.ones(2), {"pair": Pair(torch.zeros(1), [torch.ones(3)]), "n": 4})
    out = map_tensors(batch, lambda t: t + 1)
    assert isinstance(out, Batch) and out.name == "x" and out.ids.tolist() == [2.0, 2.0]
    pair = out.meta["pair"]
    assert isinstance(pair, Pair) and pair.a.tolist() == [1.0] and pair.b[0].tolist() == [2.0] * 3
    assert out.meta["n"] == 4
    assert batch.ids.tolist() == [1.0, 1.0]  # the caller's batch is left alone
