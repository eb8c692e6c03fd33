"""Processes and devices: torchrun ranks, batch sharding, the move of a batch to the device.

* :func:`is_main_process` — whether this process is rank 0 (or the only one): the process
  that writes files, prints and draws;
* :func:`shard_batch` — this rank's part of a global batch;
* :func:`to_device` — a batch with every tensor on the training device.

Both walk nested batches (tuples, named ones too, lists, dicts, dataclass instances) with
:func:`seqlab.data.batching.map_tensors`.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from seqlab.data.batching import map_tensors

if TYPE_CHECKING:
    from seqlab.train.protocol import Trainable

__all__ = ["is_main_process", "shard_batch", "to_device"]


def is_main_process() -> bool:
    """True unless torchrun's ``RANK`` environment variable names a rank other than 0.

    Without torchrun (no ``RANK``) the process is the main one. Tasks and the CLI ask this
    before writing files or printing, so that a data-parallel run writes them once.
    """
    raw = os.environ.get("RANK", "").strip()
    if not raw:
        return True
    try:
        return int(raw) == 0
    except ValueError:
        raise ValueError(f"the RANK environment variable must be an integer, got {raw!r}") from None


def shard_batch(batch: Any, rank: int, world_size: int) -> Any:
    """This rank's part of a global batch, or ``None`` when it gets no rows of it.

    Every tensor is split along dim 0 into ``world_size`` near-equal parts with
    ``tensor_split`` (the first ``B % world_size`` parts one row longer) and this rank
    keeps part ``rank``. The parts may differ in size: the trainer weights each rank's loss
    by its share of the global count. ``None`` when this rank's part of a tensor is empty
    (a global batch with fewer rows than processes); the trainer then runs rank 0's part
    with weight zero.

    Tuples (named ones too), lists, dicts and dataclass instances are walked; anything else
    in the batch (numbers, strings, None, other objects) is shared by every rank unchanged,
    so per-example Python lists are not split: hold per-example data in tensors, or give
    the task a ``shard(batch, rank, world_size)`` method.
    """
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, world_size={world_size}), got {rank}")
    empty = False

    def part(t: Tensor) -> Tensor:
        nonlocal empty
        if t.dim() == 0:
            raise ValueError(
                "cannot split a 0-dim tensor of a batch along dim 0: hold it in a number, "
                "or give the task a shard(batch, rank, world_size) method"
            )
        piece = t.tensor_split(world_size)[rank]
        empty = empty or piece.shape[0] == 0
        return piece

    sharded = map_tensors(batch, part)
    return None if empty else sharded


def to_device(batch: Any, device: torch.device | str) -> Any:
    """``batch`` with every tensor on ``device`` (nested tuples, lists, dicts, dataclasses)."""
    return map_tensors(batch, lambda t: t.to(device))


class _Processes:
    """The processes of this run: one, or the ranks of a torchrun launch (WORLD_SIZE > 1).

    Owns the process group when it created it (gloo on CPU, nccl on CUDA) and destroys it
    in :meth:`close`. The collective helpers are identities with one process.
    """

    def __init__(self, device: str) -> None:
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        if self.world_size > 1 and "RANK" not in os.environ:
            raise ValueError(
                f"WORLD_SIZE={self.world_size} but RANK is not set: launch with torchrun"
            )
        self.rank = int(os.environ["RANK"]) if self.world_size > 1 else 0
        local_rank = int(os.environ.get("LOCAL_RANK", str(self.rank)))
        self.device = torch.device(device)
        if self.device.type == "cuda" and self.device.index is None:
            # "cuda": this rank's GPU under torchrun, else the current one (set_device and
            # the RNG state need an index)
            index = local_rank if self.world_size > 1 else torch.cuda.current_device()
            self.device = torch.device("cuda", index)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        self.owns_group = False
        if self.world_size > 1 and not dist.is_initialized():
            backend = "nccl" if self.device.type == "cuda" else "gloo"
            dist.init_process_group(backend=backend)
            self.owns_group = True

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum of ``values`` over the ranks."""
        if self.world_size == 1:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return t.tolist()

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj``, on every rank."""
        if self.world_size == 1:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order, on every rank."""
        if self.world_size == 1:
            return [obj]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.world_size > 1:
            dist.barrier()

    def close(self) -> None:
        if self.owns_group and dist.is_initialized():
            dist.barrier()  # leave together: no rank tears down while another still talks
            dist.destroy_process_group()


class _TaskLoss(nn.Module):
    """The task's training loss as a module, so that DDP can wrap the model and hook it."""

    def __init__(self, task: Trainable) -> None:
        super().__init__()
        self.model = task.model
        self._loss = task.training_loss

    def forward(self, batch: Any) -> tuple[Tensor, int]:
        return self._loss(batch)
