"""How the :class:`~seqlab.train.Trainer` trains: :class:`TrainConfig`, the learning-rate
schedule (:func:`lr_factor`) and :func:`parse_duration` for ``--time-budget``.

The checks use the shared helpers of :mod:`seqlab._validate`: a bad value is a
``ValueError`` naming the field and the value.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np

from seqlab._device import check_device
from seqlab._validate import (
    check_choice,
    check_positive_float,
    check_positive_int,
    is_float_in,
    is_int,
    require,
)

__all__ = [
    "ClipMode",
    "OptimizerKind",
    "Schedule",
    "StopReason",
    "TrainConfig",
    "improves",
    "lr_factor",
    "parse_duration",
]

OptimizerKind = Literal["adamw", "sgd"]
ClipMode = Literal["none", "norm", "value"]
Schedule = Literal["constant", "cosine", "linear"]
BestMode = Literal["min", "max"]
StopReason = Literal["max_steps", "max_epochs", "time_budget", "early_stopping", "interrupted"]


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """How :class:`~seqlab.train.Trainer` trains: optimizer, schedule, clipping, stopping,
    checkpoints.

    Steps count optimizer updates over the whole run, resumed sessions included. The
    schedule is laid out over ``max_steps``, or over whichever limit binds first: with a
    ``time_budget`` its position is the larger of the steps done and the budget's share
    (``p = max(steps / max_steps, seconds / time_budget)``, see :func:`lr_factor`), so the
    learning rate decays to its end when the budget runs out; with ``max_epochs`` the same
    holds for the epochs when the task tells its ``batches_per_epoch()``. The clock makes a
    budgeted run's learning rates (and so its weights) depend on the machine's speed: resume
    is bit-identical to an uninterrupted run only without a time budget.
    """

    max_steps: int  # optimizer steps in the whole run (> 0); the run ends after exactly these
    max_epochs: int | None = None  # stop after this many epochs (None: no limit)
    optimizer: OptimizerKind = "adamw"  # "adamw" (decoupled weight decay) or "sgd"
    lr: float = 2e-3  # peak learning rate, reached at the end of the warmup
    weight_decay: float = 0.0  # AdamW: decoupled decay; SGD: L2 penalty added to the gradient
    momentum: float = 0.9  # SGD only: heavy-ball momentum (0 = plain SGD)
    betas: tuple[float, float] = (0.9, 0.99)  # AdamW only: decay of the 1st/2nd moment averages
    clip: ClipMode = "norm"  # "norm": rescale the whole gradient; "value": clamp each entry
    clip_threshold: float = 1.0  # max global L2 norm, or max |entry| (the course: value, 5)
    schedule: Schedule = "constant"  # lr after warmup: constant, cosine or linear decay to 0
    warmup_steps: int = 0  # linear warmup from lr / warmup_steps up to lr over these steps
    eval_every: int | None = 200  # validate every N steps and at the end (None: never)
    log_every: int = 10  # append a training line to metrics.jsonl every N steps
    checkpoint_every_steps: int = 500  # save a checkpoint every N steps ...
    checkpoint_every_seconds: float = 300.0  # ... or after this many seconds, whichever first
    time_budget: float | None = None  # seconds this fit() call may train (> 0; None: no
    # limit); when it binds first, the schedule ends with it (lr decays to 0 by then)
    early_stopping_patience: int | None = None  # stop after N evaluations without a new best
    best_metric: str = "loss"  # the validation metric that picks the kept weights (and
    # that early stopping watches): "loss" or another name the task's validate() returns
    best_mode: BestMode | None = None  # "min" or "max" is better; None: "min" for a name
    # containing "loss", "max" otherwise (as Hugging Face's Trainer decides greater_is_better)
    seed: int = 0  # seeds the batch order of every epoch and the RNG of dropout & co.
    device: str = "cpu"  # torch device; under torchrun "cuda" means cuda:LOCAL_RANK
    progress: bool = True  # show a progress bar on stderr (rank 0 only)

    def __post_init__(self) -> None:
        if isinstance(self.betas, list):  # as read back from JSON
            object.__setattr__(self, "betas", tuple(self.betas))
        _plain_numbers(self)
        check_positive_int("max_steps", self.max_steps)
        check_positive_int("max_epochs", self.max_epochs, allow_none=True)
        check_choice("optimizer", self.optimizer, get_args(OptimizerKind))
        check_positive_float("lr", self.lr)
        require(
            is_float_in(self.weight_decay, 0.0, math.inf),
            f"weight_decay must be >= 0, got {self.weight_decay!r}",
        )
        require(
            is_float_in(self.momentum, 0.0, 1.0, closed_high=False),
            f"momentum must be in [0, 1), got {self.momentum!r}",
        )
        require(
            isinstance(self.betas, tuple)
            and len(self.betas) == 2
            and all(is_float_in(b, 0.0, 1.0, closed_high=False) for b in self.betas),
            f"betas must be a pair of numbers in [0, 1), got {self.betas!r}",
        )
        check_choice("clip", self.clip, get_args(ClipMode))
        check_positive_float("clip_threshold", self.clip_threshold)
        check_choice("schedule", self.schedule, get_args(Schedule))
        require(
            is_int(self.warmup_steps) and 0 <= self.warmup_steps < self.max_steps,
            f"warmup_steps must be an integer in [0, max_steps={self.max_steps}), "
            f"got {self.warmup_steps!r}",
        )
        check_positive_int("eval_every", self.eval_every, allow_none=True)
        check_positive_int("log_every", self.log_every)
        check_positive_int("checkpoint_every_steps", self.checkpoint_every_steps)
        check_positive_float("checkpoint_every_seconds", self.checkpoint_every_seconds)
        check_positive_float("time_budget", self.time_budget, allow_none=True)
        check_positive_int("early_stopping_patience", self.early_stopping_patience, allow_none=True)
        require(
            self.early_stopping_patience is None or self.eval_every is not None,
            "early_stopping_patience needs validation: set eval_every",
        )
        require(
            isinstance(self.best_metric, str) and self.best_metric.strip() != "",
            f"best_metric must be a metric name, got {self.best_metric!r}",
        )
        if self.best_mode is not None:
            check_choice("best_mode", self.best_mode, get_args(BestMode))
        require(is_int(self.seed) and self.seed >= 0, f"seed must be >= 0, got {self.seed!r}")
        require(isinstance(self.device, str), f"device must be a string: {self.device!r}")
        check_device(self.device)  # a device this process lacks is a ValueError here
        require(isinstance(self.progress, bool), f"progress must be a bool: {self.progress!r}")

    @property
    def maximize_best(self) -> bool:
        """Whether a larger ``best_metric`` is better (``best_mode``, or its default)."""
        if self.best_mode is not None:
            return self.best_mode == "max"
        return "loss" not in self.best_metric

    def to_dict(self) -> dict[str, Any]:
        """The fields as plain data (saved in checkpoints and ``train_config.json``);
        ``TrainConfig(**d)`` rebuilds the config, from JSON too."""
        return dataclasses.asdict(self)


def improves(score: float, best: float | None, *, maximize: bool) -> bool:
    """Whether a validation ``score`` replaces ``best`` (None: nothing kept yet): finite and
    strictly better, so the first of equal scores stays kept."""
    if not math.isfinite(score):
        return False
    return best is None or (score > best if maximize else score < best)


def _plain_numbers(config: TrainConfig) -> None:
    """NumPy scalars (the checks accept them) as Python numbers, so that the config stays
    JSON-serialisable and loadable by ``torch.load(weights_only=True)``."""
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if isinstance(value, tuple):
            value = tuple(_plain_number(v) for v in value)
        object.__setattr__(config, field.name, _plain_number(value))


def _plain_number(value: Any) -> Any:
    return value.item() if isinstance(value, np.integer | np.floating) else value


_DURATION = re.compile(
    r"(?:(?P<h>\d+(?:\.\d+)?)h)?\s*(?:(?P<m>\d+(?:\.\d+)?)m)?\s*(?:(?P<s>\d+(?:\.\d+)?)s)?"
)


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``"10m"``, ``"90s"``, ``"1h30m"``, ``"1.5h"`` or ``"45"``.

    A bare number is seconds. Raises ``ValueError`` naming the text when it is not a duration.
    """
    stripped = text.strip().lower()
    try:
        seconds = float(stripped)
    except ValueError:
        match = _DURATION.fullmatch(stripped)
        if not stripped or match is None or not any(match.groupdict().values()):
            raise ValueError(
                f"not a duration: {text!r} (examples: '45', '90s', '10m', '1h30m')"
            ) from None
        parts = {k: float(v) if v else 0.0 for k, v in match.groupdict().items()}
        return 3600.0 * parts["h"] + 60.0 * parts["m"] + parts["s"]
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"not a duration: {text!r} (must be a finite number of seconds >= 0)")
    return seconds


def lr_factor(step: int, config: TrainConfig, progress: float = 0.0) -> float:
    """The learning-rate multiplier for the update that follows ``step`` completed updates.

    Linear warmup ``(step + 1) / warmup_steps`` during the first ``warmup_steps`` updates;
    then, with ``p`` the fraction of the remaining updates done: constant 1, cosine
    ``(1 + cos(pi p)) / 2`` or linear ``1 - p`` (both decay towards 0 at ``max_steps``).

    ``progress`` (in [0, 1]) is the fraction of the run done by another measure than the
    steps: the share of the time budget spent, or of the epochs. The schedule then stands at
    ``max(step, progress * max_steps)``, so it ends with whichever limit binds first; the
    warmup still counts steps, and the factor never exceeds the warmup's. ``progress=0``
    gives the step-only schedule, bit for bit.
    """
    warm = (step + 1) / config.warmup_steps if step < config.warmup_steps else 1.0
    if config.schedule == "constant":
        return warm
    position = max(float(step), progress * config.max_steps) if progress > 0 else step
    span = config.max_steps - config.warmup_steps
    p = min(1.0, max(0.0, (position - config.warmup_steps) / span))
    decay = 0.5 * (1.0 + math.cos(math.pi * p)) if config.schedule == "cosine" else 1.0 - p
    return min(warm, decay)
