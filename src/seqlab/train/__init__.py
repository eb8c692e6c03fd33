"""Training machinery shared by every seqlab task: the fit loop and crash-safe checkpoints.

* :class:`Trainer` drives any :class:`Task` from a :class:`TrainConfig` and returns a
  :class:`TrainResult`: optimizer and schedule, clipping, metrics and loss curve, time
  budget, early stopping, atomic checkpoints with bit-exact resume, torchrun/DDP.
* :func:`save_weights` / :func:`load_weights` (safetensors, tied weights handled) and
  :func:`save_checkpoint` / :func:`load_checkpoint` (a folder swapped in atomically).
* :func:`parse_duration` turns ``"1h30m"`` into seconds for ``--time-budget``.
"""

from seqlab.train.checkpoint import load_checkpoint, load_weights, save_checkpoint, save_weights
from seqlab.train.loop import (
    Task,
    TrainConfig,
    Trainer,
    TrainingDiverged,
    TrainResult,
    lr_factor,
    parse_duration,
    shard_batch,
)

__all__ = [
    "Task",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "TrainingDiverged",
    "load_checkpoint",
    "load_weights",
    "lr_factor",
    "parse_duration",
    "save_checkpoint",
    "save_weights",
    "shard_batch",
]
