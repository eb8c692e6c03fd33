"""Training machinery shared by every seqlab task: the fit loop, callbacks and crash-safe
checkpoints.

* :class:`Trainer` drives any :class:`Trainable` from a :class:`TrainConfig` and returns a
  :class:`TrainResult`: optimizer and schedule, clipping, metrics, step / epoch limits, time
  budget, early stopping, atomic checkpoints with bit-exact resume, torchrun/DDP.
* :class:`Callback` hooks, called on rank 0 after each metrics line and at the end;
  :class:`TensorBoard` logs the metrics as scalars (the loss-curve PNG is drawn by
  the viz package's ``LossCurve``).
* :func:`hold_folder`: one process at a time in an output folder (an OS file lock; a second
  process gets :class:`FolderInUseError` naming the holder's pid).
* :func:`is_main_process` (rank 0 or a single process) and :func:`shard_batch` (a rank's
  part of a global batch) for data-parallel runs.
* :func:`save_weights` / :func:`load_weights` (safetensors, tied weights handled) and
  :func:`save_checkpoint` / :func:`load_checkpoint` (a folder swapped in atomically).
* :func:`parse_duration` turns ``"1h30m"`` into seconds for ``--time-budget``;
  :func:`lr_factor` is the learning-rate schedule; :func:`read_metrics` reads a run's
  ``metrics.jsonl`` back.

Modules: ``config`` (TrainConfig, schedule), ``protocol`` (Trainable, Callback, results),
``distributed`` (ranks, sharding, device moves), ``loop`` (Trainer), ``callbacks``
(TensorBoard), ``checkpoint`` (files), ``lock`` (the output folder's lock). Nothing here
imports the figures (viz), the models, the tasks or the CLI: they build on this package.
"""

from seqlab.train.callbacks import TensorBoard
from seqlab.train.checkpoint import load_checkpoint, load_weights, save_checkpoint, save_weights
from seqlab.train.config import TrainConfig, improves, lr_factor, parse_duration
from seqlab.train.distributed import is_main_process, shard_batch
from seqlab.train.lock import FolderInUseError, check_folder, hold_folder
from seqlab.train.loop import Trainer, read_metrics
from seqlab.train.protocol import Callback, Trainable, TrainingDiverged, TrainResult

__all__ = [
    "Callback",
    "FolderInUseError",
    "TensorBoard",
    "TrainConfig",
    "TrainResult",
    "Trainable",
    "Trainer",
    "TrainingDiverged",
    "check_folder",
    "hold_folder",
    "improves",
    "is_main_process",
    "load_checkpoint",
    "load_weights",
    "lr_factor",
    "parse_duration",
    "read_metrics",
    "save_checkpoint",
    "save_weights",
    "shard_batch",
]
