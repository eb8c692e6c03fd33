"""What the :class:`~seqlab.train.Trainer` drives and what it gives back.

* :class:`Trainable` — the protocol every seqlab task implements (a model, the batches of an
  epoch, a batch's loss, validation);
* :class:`Callback` — hooks called on the main process as metrics lines are appended and when
  :meth:`~seqlab.train.Trainer.fit` ends (the viz package's ``LossCurve`` draws the loss curve,
  :class:`~seqlab.train.TensorBoard` logs scalars);
* :class:`TrainResult` — how a ``fit()`` call ended; :class:`TrainingDiverged` — the error
  raised when the loss or gradient norm stops being finite.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from seqlab.train.config import StopReason, TrainConfig

__all__ = ["Callback", "TrainResult", "Trainable", "TrainingDiverged"]


class Trainable(Protocol):
    """What :class:`~seqlab.train.Trainer` drives; every seqlab task implements it.

    * ``model``: the module being trained (the trainer moves it to the device).
    * ``train_batches(epoch, generator)``: a finite iterator over the batches of ``epoch``,
      deterministic given ``generator`` (which the trainer seeds from (seed, epoch)) — draw
      every random choice (shuffling, masking) from ``generator``, never from the global
      RNG, so that a resumed run can replay an epoch up to where it stopped. A batch is any
      nest of tuples (named ones too), lists, dicts and dataclass instances; its tensors
      arrive on the device.
    * ``training_loss(batch)``: ``(mean loss over the batch, number of tokens or examples)``:
      the loss is the mean of ``count`` terms (tokens, examples); the count feeds the
      throughput figure and, under DDP, each rank's weight.
    * ``validate()``: metrics on held-out data; must contain ``"loss"`` (lower is better),
      or be empty when the task has no validation data (the evaluation is then skipped).
      Called in eval mode under ``torch.no_grad()``, on rank 0 only.

    Data-parallel runs (torchrun): each rank trains on its part of every global batch,
    :func:`~seqlab.train.shard_batch` (every tensor split along dim 0 into near-equal
    parts; ``None`` for a rank that gets no rows). A task whose batches need another split
    may define ``shard(batch, rank, world_size)`` with the same contract. The trainer
    weights each rank's mean loss by its share of the global count before DDP averages the
    gradients, so the update equals the gradient of the global batch's mean loss in one
    process, even when the parts differ in size (padded sentences, a short last batch). A
    rank without rows runs rank 0's rows with weight zero (DDP needs every rank in every
    step). Every parameter must get a gradient at every step (``find_unused_parameters=False``).

    Optionally, ``batches_per_epoch()`` tells how many batches ``train_batches`` yields per
    epoch (``None``: unknown). With ``max_epochs`` set, the learning-rate schedule then
    ends at the epoch limit when that comes before ``max_steps`` (see
    :func:`~seqlab.train.lr_factor`); without it the schedule is laid over the steps.
    """

    model: nn.Module

    def train_batches(self, epoch: int, generator: torch.Generator) -> Iterator[Any]:
        """The batches of ``epoch``, in an order drawn from ``generator``."""
        ...

    def training_loss(self, batch: Any) -> tuple[Tensor, int]:
        """Mean loss over ``batch`` (a scalar with grad) and its token/example count."""
        ...

    def validate(self) -> dict[str, float]:
        """Validation metrics, ``"loss"`` included (or ``{}``: nothing to validate on)."""
        ...


class Callback:
    """Hooks the Trainer calls on the main process (rank 0) only.

    Subclasses override what they need; the methods here do nothing. ``records`` is the
    trainer's own list of the ``metrics.jsonl`` lines so far (the lines of earlier sessions
    included when a run is resumed): read it, do not change it.
    """

    def on_record(self, record: dict[str, Any], records: list[dict[str, Any]]) -> None:
        """After each ``metrics.jsonl`` line is appended: train lines and validation lines
        (which have ``"valid_*"`` keys); ``records`` holds all lines so far, ``record`` last."""

    def on_end(self, records: list[dict[str, Any]]) -> None:
        """At the end of ``fit()``: a normal end, the time budget, early stopping, an
        interruption, and also when :class:`TrainingDiverged` is raised."""


@dataclass(frozen=True, kw_only=True)
class TrainResult:
    """How a :meth:`~seqlab.train.Trainer.fit` call ended."""

    steps: int  # optimizer steps of the whole run (resumed sessions included)
    epochs: int  # epochs begun: the epoch index of the last step + 1
    stopped_because: StopReason  # "max_steps", "max_epochs", "time_budget", "early_stopping"...
    best_valid: float | None  # lowest validation loss seen; None when never validated
    last_train_loss: float | None  # loss of the last step (global batch); None if no step
    seconds: float  # training wall time of the whole run (resumed sessions included)
    # the checkpoint's step when this fit() call resumed a run (None: it started at step 0);
    # how the call began, not how the run ended, so results compare equal without it
    resumed_from: int | None = field(default=None, compare=False)
    # the best value of config.best_metric: the kept weights' score (None: never validated)
    best_score: float | None = None


class TrainingDiverged(RuntimeError):
    """The loss (or the gradient norm) became non-finite; the weights were not updated."""

    def __init__(
        self, *, step: int, value: float, what: str, config: TrainConfig, checkpoint: str
    ) -> None:
        self.step = step  # the step (counted from 1) whose loss was not finite
        self.value = value  # the offending loss or gradient norm
        clipping = (
            "tighten gradient clipping (clip_threshold)"
            if config.clip != "none"
            else "enable gradient clipping (clip='norm' or clip='value')"
        )
        super().__init__(
            f"training diverged at step {step}: the {what} is {value}. "
            f"Lower the learning rate (lr={config.lr:g}) or {clipping}, then resume "
            f"from the last good checkpoint ({checkpoint}) with resume=True (CLI: --resume)."
        )
