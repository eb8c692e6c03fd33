"""The training loop shared by every seqlab task.

A task (language model, tagger, translator, ...) implements the small :class:`Task`
protocol: it owns a ``model``, yields the batches of an epoch from a seeded generator,
computes a batch's mean loss, and validates. :class:`Trainer` drives it from a
:class:`TrainConfig`:

* AdamW or SGD, a constant / cosine / linear learning-rate schedule after a linear warmup,
  gradient clipping by global norm or by value;
* ``metrics.jsonl`` (one JSON object a line) and ``loss_curve.png`` in the output folder, a
  rich progress bar on stderr;
* a non-finite loss or gradient norm stops with :class:`TrainingDiverged` before the
  weights are touched, keeping the last good checkpoint;
* a time budget, early stopping on the validation loss, and the best-validation weights in
  ``model.safetensors``;
* Ctrl-C (SIGINT) finishes the current step, saves a checkpoint and returns with
  ``stopped_because="interrupted"``; a second Ctrl-C aborts at once (KeyboardInterrupt);
* checkpoints every N steps or M seconds, swapped in atomically, and ``fit(resume=True)``
  that continues mid-epoch and ends bit-identical (on CPU) to a run never interrupted;
* data-parallel training when launched by ``torchrun`` (``WORLD_SIZE`` > 1): every rank
  takes its share of each global batch, gradients are averaged by DDP, rank 0 writes.

Files in ``out_dir``::

    train_config.json    the TrainConfig of the latest fit() call
    metrics.jsonl        train lines {"step","epoch","train_loss","lr","tokens_per_s","elapsed"}
                         and validation lines {"step","epoch","elapsed","valid_loss",...}
    loss_curve.png       train and validation loss against the step (redrawn at evaluations,
                         at most every 10 s, and at the end)
    model.safetensors    weights at the best validation loss so far; the final weights when
                         no validation ran (eval_every=None, validate() returned {}, or
                         the run stopped before its first evaluation)
    checkpoint/          model.safetensors + trainer.pt: everything a resumed run needs

In a train line, ``train_loss`` is the mean step loss since the previous line, ``lr`` the
rate of the last step, ``epoch`` the index given to ``train_batches`` and ``elapsed`` the
training seconds of the whole run. ``time_budget`` bounds one ``fit()`` call: a resumed run
gets the budget afresh. A run that diverges, is killed, interrupted or runs out of time is
continued
with ``fit(resume=True)``; the config may change on resume (a lower ``lr`` after a
divergence, a larger ``max_steps``) except for the optimizer kind.

Tested in ``tests/test_train.py`` (learning, clipping, divergence, time budget, early
stopping, resume after an in-process crash, after Ctrl-C and after SIGKILL, determinism, DDP vs one
process).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn

from seqlab._device import check_device
from seqlab._progress import ProgressBar
from seqlab.train.checkpoint import (
    atomic_write_text,
    checkpoint_exists,
    load_checkpoint,
    recover_directory,
    remove_stale_temporaries,
    save_checkpoint,
    save_weights,
)

__all__ = [
    "Task",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "TrainingDiverged",
    "lr_factor",
    "parse_duration",
    "shard_batch",
]

_log = logging.getLogger(__name__)

OptimizerKind = Literal["adamw", "sgd"]
ClipMode = Literal["none", "norm", "value"]
Schedule = Literal["constant", "cosine", "linear"]
StopReason = Literal["max_steps", "time_budget", "early_stopping", "interrupted"]

METRICS_FILE = "metrics.jsonl"
CURVE_FILE = "loss_curve.png"
BEST_MODEL_FILE = "model.safetensors"
CONFIG_FILE = "train_config.json"
CHECKPOINT_DIR = "checkpoint"
_STATE_FORMAT = 1  # version of the trainer.pt layout
# Evaluations redraw loss_curve.png at most this often (seconds); the end always redraws it.
_CURVE_MIN_INTERVAL = 10.0
# Domain tags mixed into the seed, so the batch-order and dropout streams never coincide.
_BATCH_STREAM, _MODEL_STREAM = 1, 2
# Config fields a resumed run may not change: the saved optimizer state would not fit.
_FROZEN_ON_RESUME = ("optimizer",)


# -- configuration -----------------------------------------------------------------------


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _check_positive_int(name: str, value: object, *, allow_none: bool = False) -> None:
    if allow_none and value is None:
        return
    _require(_is_int(value) and value > 0, f"{name} must be a positive integer, got {value!r}")


def _check_positive_float(name: str, value: object, *, allow_none: bool = False) -> None:
    if allow_none and value is None:
        return
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    _require(ok and math.isfinite(value) and value > 0, f"{name} must be > 0, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """How :class:`Trainer` trains: optimizer, schedule, clipping, stopping, checkpoints.

    Steps count optimizer updates over the whole run, resumed sessions included.
    """

    max_steps: int  # optimizer steps in the whole run (> 0); the run ends after exactly these
    optimizer: OptimizerKind = "adamw"  # "adamw" (decoupled weight decay) or "sgd"
    lr: float = 2e-3  # peak learning rate, reached at the end of the warmup
    weight_decay: float = 0.0  # AdamW: decoupled decay; SGD: L2 penalty added to the gradient
    momentum: float = 0.9  # SGD only: heavy-ball momentum (0 = plain SGD)
    betas: tuple[float, float] = (0.9, 0.99)  # AdamW only: decay of the 1st/2nd moment averages
    clip: ClipMode = "norm"  # "norm": rescale the whole gradient; "value": clamp each entry
    clip_threshold: float = 1.0  # max global L2 norm, or max |entry| (the course: value, 5)
    schedule: Schedule = "constant"  # lr after warmup: constant, cosine or linear decay to 0
    warmup_steps: int = 0  # linear warmup from lr / warmup_steps up to lr over these steps
    eval_every: int | None = 200  # validate every N steps and at max_steps (None: never)
    log_every: int = 10  # append a training line to metrics.jsonl every N steps
    checkpoint_every_steps: int = 500  # save a checkpoint every N steps ...
    checkpoint_every_seconds: float = 300.0  # ... or after this many seconds, whichever first
    time_budget: float | None = None  # seconds this fit() call may train; None: no limit
    early_stopping_patience: int | None = None  # stop after N evaluations without a new best
    seed: int = 0  # seeds the batch order of every epoch and the RNG of dropout & co.
    device: str = "cpu"  # torch device; under torchrun "cuda" means cuda:LOCAL_RANK
    progress: bool = True  # show a progress bar on stderr (rank 0 only)

    def __post_init__(self) -> None:
        if isinstance(self.betas, list):  # as read back from JSON
            object.__setattr__(self, "betas", tuple(self.betas))
        _check_positive_int("max_steps", self.max_steps)
        _require(
            self.optimizer in ("adamw", "sgd"),
            f"optimizer must be 'adamw' or 'sgd', got {self.optimizer!r}",
        )
        _check_positive_float("lr", self.lr)
        _require(
            _is_float_in(self.weight_decay, 0.0, math.inf),
            f"weight_decay must be >= 0, got {self.weight_decay!r}",
        )
        _require(
            _is_float_in(self.momentum, 0.0, 1.0, closed_high=False),
            f"momentum must be in [0, 1), got {self.momentum!r}",
        )
        _require(
            isinstance(self.betas, tuple)
            and len(self.betas) == 2
            and all(_is_float_in(b, 0.0, 1.0, closed_high=False) for b in self.betas),
            f"betas must be a pair of numbers in [0, 1), got {self.betas!r}",
        )
        _require(
            self.clip in ("none", "norm", "value"),
            f"clip must be 'none', 'norm' or 'value', got {self.clip!r}",
        )
        _check_positive_float("clip_threshold", self.clip_threshold)
        _require(
            self.schedule in ("constant", "cosine", "linear"),
            f"schedule must be 'constant', 'cosine' or 'linear', got {self.schedule!r}",
        )
        _require(
            _is_int(self.warmup_steps) and 0 <= self.warmup_steps < self.max_steps,
            f"warmup_steps must be an integer in [0, max_steps={self.max_steps}), "
            f"got {self.warmup_steps!r}",
        )
        _check_positive_int("eval_every", self.eval_every, allow_none=True)
        _check_positive_int("log_every", self.log_every)
        _check_positive_int("checkpoint_every_steps", self.checkpoint_every_steps)
        _check_positive_float("checkpoint_every_seconds", self.checkpoint_every_seconds)
        _check_positive_float("time_budget", self.time_budget, allow_none=True)
        _check_positive_int(
            "early_stopping_patience", self.early_stopping_patience, allow_none=True
        )
        _require(
            self.early_stopping_patience is None or self.eval_every is not None,
            "early_stopping_patience needs validation: set eval_every",
        )
        _require(_is_int(self.seed) and self.seed >= 0, f"seed must be >= 0, got {self.seed!r}")
        _require(isinstance(self.device, str), f"device must be a string: {self.device!r}")
        check_device(self.device)  # a device this process lacks is a ValueError here
        _require(isinstance(self.progress, bool), f"progress must be a bool: {self.progress!r}")

    def to_dict(self) -> dict[str, Any]:
        """The fields as plain data (saved in checkpoints and ``train_config.json``);
        ``TrainConfig(**d)`` rebuilds the config, from JSON too."""
        return dataclasses.asdict(self)


def _is_float_in(value: object, low: float, high: float, *, closed_high: bool = True) -> bool:
    """True for a real number (not a bool) in [low, high] (or [low, high))."""
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return False
    return low <= value <= high if closed_high else low <= value < high


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


def lr_factor(step: int, config: TrainConfig) -> float:
    """The learning-rate multiplier for the update that follows ``step`` completed updates.

    Linear warmup ``(step + 1) / warmup_steps`` during the first ``warmup_steps`` updates;
    then, with ``p`` the fraction of the remaining updates done: constant 1, cosine
    ``(1 + cos(pi p)) / 2`` or linear ``1 - p`` (both decay towards 0 at ``max_steps``).
    """
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    if config.schedule == "constant":
        return 1.0
    p = min(1.0, (step - config.warmup_steps) / (config.max_steps - config.warmup_steps))
    if config.schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * p))
    return 1.0 - p


# -- the task protocol and the results ---------------------------------------------------


class Task(Protocol):
    """What :class:`Trainer` drives; every seqlab task implements it.

    * ``model``: the module being trained (the trainer moves it to the device).
    * ``train_batches(epoch, generator)``: a finite iterator over the batches of ``epoch``,
      deterministic given ``generator`` (which the trainer seeds from (seed, epoch)) — draw
      every random choice (shuffling, masking) from ``generator``, never from the global
      RNG, so that a resumed run can replay an epoch up to where it stopped.
    * ``training_loss(batch)``: ``(mean loss over the batch, number of tokens or examples)``:
      the loss is the mean of ``count`` terms (tokens, examples); the count feeds the
      throughput figure and, under DDP, each rank's weight. Tensors of the batch arrive on
      the device.
    * ``validate()``: metrics on held-out data; must contain ``"loss"`` (lower is better),
      or be empty when the task has no validation data (the evaluation is then skipped).
      Called in eval mode under ``torch.no_grad()``, on rank 0 only.

    Data-parallel runs (torchrun): each rank trains on ``shard(batch, rank, world_size)``,
    an optional hook returning this rank's part of the global batch, or ``None`` when this
    rank has no rows of it (default: :func:`shard_batch`). The trainer weights each rank's
    mean loss by its share of the global count before DDP averages the gradients, so the
    update equals the gradient of the global batch's mean loss in one process, even when
    the parts differ in size (padded sentences, a short last batch). A rank without rows
    runs rank 0's rows with weight zero (DDP needs every rank in every step). Every
    parameter must get a gradient at every step (``find_unused_parameters=False``).
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


@dataclass(frozen=True, kw_only=True)
class TrainResult:
    """How a :meth:`Trainer.fit` call ended."""

    steps: int  # optimizer steps of the whole run (resumed sessions included)
    epochs: int  # epochs begun: the epoch index of the last step + 1
    stopped_because: StopReason  # "max_steps", "time_budget", "early_stopping", "interrupted"
    best_valid: float | None  # lowest validation loss seen; None when never validated
    last_train_loss: float | None  # loss of the last step (global batch); None if no step
    seconds: float  # training wall time of the whole run (resumed sessions included)


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


# -- data-parallel plumbing --------------------------------------------------------------


def shard_batch(batch: Any, rank: int, world_size: int) -> Any:
    """This rank's share of a global batch: every tensor split along dim 0 in equal parts.

    A task whose global batches do not split evenly defines ``shard`` itself (it may
    return ``None`` for a rank that gets no rows; the trainer weights ranks by their counts).

    Tuples, lists and dicts are split element-wise; numbers, strings and None are shared by
    all ranks unchanged. A task whose batch holds other objects (or per-example Python
    lists) defines its own ``shard(batch, rank, world_size)``.
    """
    if isinstance(batch, Tensor):
        if batch.dim() == 0 or batch.shape[0] % world_size:
            raise ValueError(
                f"cannot split a batch of shape {tuple(batch.shape)} into {world_size} equal "
                "parts along dim 0: make the global batch size a multiple of the number of "
                "processes, or give the task a shard(batch, rank, world_size) method"
            )
        size = batch.shape[0] // world_size
        return batch.narrow(0, rank * size, size)
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # a namedtuple
        return type(batch)(*(shard_batch(b, rank, world_size) for b in batch))
    if isinstance(batch, list | tuple):
        return type(batch)(shard_batch(b, rank, world_size) for b in batch)
    if isinstance(batch, Mapping):
        return {k: shard_batch(v, rank, world_size) for k, v in batch.items()}
    if batch is None or isinstance(batch, int | float | str):
        return batch
    raise TypeError(
        f"cannot shard a {type(batch).__name__} in a batch: give the task a "
        "shard(batch, rank, world_size) method"
    )


def _to_device(batch: Any, device: torch.device) -> Any:
    """``batch`` with every tensor (in nested tuples, lists and dicts) on ``device``."""
    if isinstance(batch, Tensor):
        return batch.to(device)
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(_to_device(b, device) for b in batch))
    if isinstance(batch, list | tuple):
        return type(batch)(_to_device(b, device) for b in batch)
    if isinstance(batch, Mapping):
        return {k: _to_device(v, device) for k, v in batch.items()}
    return batch


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
        if self.world_size > 1 and self.device.type == "cuda" and self.device.index is None:
            self.device = torch.device("cuda", local_rank)
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

    def __init__(self, task: Task) -> None:
        super().__init__()
        self.model = task.model
        self._loss = task.training_loss

    def forward(self, batch: Any) -> tuple[Tensor, int]:
        return self._loss(batch)


# -- small pieces of the loop ------------------------------------------------------------


def _mix_seed(*parts: int) -> int:
    """A 63-bit seed that depends on every part (SeedSequence hashing)."""
    state = np.random.SeedSequence(list(parts)).generate_state(1, dtype=np.uint64)[0]
    return int(state) >> 1


def _make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the task's model has no trainable parameters")
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
    return torch.optim.AdamW(
        params, lr=config.lr, betas=config.betas, weight_decay=config.weight_decay
    )


def _apply_hyperparameters(
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LambdaLR,
    config: TrainConfig,
    step: int,
) -> None:
    """After loading saved optimizer/scheduler state, put this config's values back.

    ``load_state_dict`` restores the saved hyperparameters; a resumed run uses the current
    config's (unchanged values give back the very same floats).
    """
    for group in optimizer.param_groups:
        group["initial_lr"] = config.lr
        group["lr"] = config.lr * lr_factor(step, config)
        group["weight_decay"] = config.weight_decay
        if config.optimizer == "sgd":
            group["momentum"] = config.momentum
        else:
            group["betas"] = config.betas
    scheduler.base_lrs = [config.lr for _ in optimizer.param_groups]


def _make_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig
) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, config))


def _rng_state(device: torch.device) -> dict[str, Tensor | None]:
    cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    return {"cpu": torch.get_rng_state(), "cuda": cuda}


def _set_rng_state(state: Mapping[str, Tensor | None], device: torch.device) -> None:
    cpu = state["cpu"]
    assert cpu is not None
    torch.set_rng_state(cpu)
    cuda = state.get("cuda")
    if device.type == "cuda" and cuda is not None:
        torch.cuda.set_rng_state(cuda, device)


def _read_metrics(path: Path, up_to_step: int) -> list[dict[str, Any]]:
    """The records of ``metrics.jsonl`` up to ``up_to_step``; torn or later lines dropped."""
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line torn by a kill
        if isinstance(record, dict) and _is_int(record.get("step")):
            if record["step"] <= up_to_step:
                records.append(record)
    return records


def _dump(record: Mapping[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":")) + "\n"


@dataclass
class _RunState:
    """The counters of a run; saved in every checkpoint and restored on resume."""

    step: int = 0  # optimizer steps done
    epoch: int = 0  # epoch of the next batch
    batch_index: int = 0  # batches of `epoch` already consumed
    best_valid: float | None = None  # lowest validation loss so far
    bad_evals: int = 0  # evaluations since the last improvement (early-stopping patience)
    elapsed: float = 0.0  # training seconds of previous sessions (updated when saved)
    last_train_loss: float | None = None  # loss of the last step
    window_loss: float = 0.0  # sum of step losses since the last metrics line
    window_steps: int = 0  # steps since the last metrics line
    window_tokens: float = 0.0  # tokens since the last metrics line
    window_seconds: float = 0.0  # seconds spent in those steps

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, saved: Mapping[str, Any]) -> _RunState:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in saved.items() if k in names})


# -- the trainer -------------------------------------------------------------------------


class Trainer:
    """Trains a :class:`Task` as a :class:`TrainConfig` says, writing to ``out_dir``.

    >>> result = Trainer(task, TrainConfig(max_steps=1000), "runs/lm").fit()  # doctest: +SKIP

    :meth:`fit` seeds torch's RNG from ``config.seed`` inside a forked RNG state, so the
    caller's global RNG is left as it was. After it returns, the model holds the *final*
    weights (the last step's gradients remain in ``.grad``); ``out_dir/model.safetensors``
    holds the best-validation ones.
    """

    def __init__(self, task: Task, config: TrainConfig, out_dir: str | os.PathLike[str]) -> None:
        self.task = task
        self.config = config
        self.out_dir = Path(out_dir)

    @property
    def checkpoint_dir(self) -> Path:
        return self.out_dir / CHECKPOINT_DIR

    def fit(self, *, resume: bool | Literal["if_saved"] = False) -> TrainResult:
        """Train until ``max_steps``, the time budget or early stopping; see the module doc.

        ``resume=True`` continues from ``out_dir/checkpoint`` (an error when there is none);
        ``resume="if_saved"`` continues from it when there is one and starts at step 0
        otherwise (a run stopped before its first checkpoint); ``resume=False`` refuses to
        start over an existing checkpoint.
        """
        processes = _Processes(self.config.device)
        devices = [processes.device] if processes.device.type == "cuda" else []
        try:
            with torch.random.fork_rng(devices=devices):
                run = _Run(self, processes, resume=resume)
                return run.train()
        finally:
            processes.close()


class _Run:
    """One :meth:`Trainer.fit` call: the optimizer, the counters, the files, the loop."""

    def __init__(
        self, trainer: Trainer, processes: _Processes, *, resume: bool | Literal["if_saved"]
    ) -> None:
        self.task = trainer.task
        self.config = trainer.config
        self.out_dir = trainer.out_dir
        self.ckpt_dir = trainer.checkpoint_dir
        self.procs = processes
        self.state = _RunState()
        self.records: list[dict[str, Any]] = []
        self.batches: Iterator[Any] | None = None
        self.session_start = time.perf_counter()
        self.last_save_time = self.session_start
        self.saved_step: int | None = None  # step of the newest checkpoint on disk
        self.last_lr = self.config.lr  # learning rate of the last step
        self.last_record: dict[str, Any] = {}  # the last training line (for the progress bar)
        self.last_curve_time = self.session_start  # when loss_curve.png was last drawn
        self.interrupted = False  # set by the first Ctrl-C (SIGINT) while training
        resume = self._prepare_out_dir(resume)
        self.model = self.task.model.to(processes.device)
        self.optimizer = _make_optimizer(self.model, self.config)
        self.params = [p for group in self.optimizer.param_groups for p in group["params"]]
        self.scheduler = _make_scheduler(self.optimizer, self.config)
        if resume:
            self._restore()
        else:
            torch.manual_seed(_mix_seed(self.config.seed, _MODEL_STREAM, processes.rank))
        self._open_metrics(resume)
        self.forward: Callable[[Any], tuple[Tensor, int]] = self._wrap_model()

    # -- setup ---------------------------------------------------------------------------

    def _prepare_out_dir(self, resume: bool | Literal["if_saved"]) -> bool:
        """Recover the checkpoint folder after a crash; returns whether to resume."""
        if self.procs.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            recover_directory(self.ckpt_dir)
            remove_stale_temporaries(self.out_dir)
        self.procs.barrier()
        exists = checkpoint_exists(self.ckpt_dir)
        if resume == "if_saved":
            if not exists and self.procs.is_main:
                _log.info("no checkpoint in %s yet: starting from step 0", self.ckpt_dir)
            return exists
        if resume and not exists:
            raise FileNotFoundError(
                f"cannot resume: no checkpoint in {self.ckpt_dir}; start a new run without "
                "resume (CLI: drop --resume)"
            )
        if not resume and exists:
            raise FileExistsError(
                f"{self.ckpt_dir} already holds a checkpoint: continue it with resume=True "
                "(CLI: --resume), or choose another output folder"
            )
        return bool(resume)

    def _restore(self) -> None:
        saved = load_checkpoint(self.ckpt_dir, self.model)
        if saved.get("format") != _STATE_FORMAT:
            raise ValueError(f"{self.ckpt_dir} was written by an incompatible seqlab version")
        self._check_config(saved["config"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        self.state = _RunState.from_dict(saved["run"])
        _apply_hyperparameters(self.optimizer, self.scheduler, self.config, self.state.step)
        self.saved_step = self.state.step
        rng = saved["rng"]
        if len(rng) == self.procs.world_size:
            _set_rng_state(rng[self.procs.rank], self.procs.device)
        else:
            _log.warning(
                "the checkpoint was written by %d processes and is resumed by %d: the batches "
                "are the same, random draws (dropout) differ from an uninterrupted run",
                len(rng),
                self.procs.world_size,
            )
            torch.manual_seed(
                _mix_seed(self.config.seed, _MODEL_STREAM, self.procs.rank, self.state.step)
            )
        if self.procs.is_main:
            _log.info("resuming from step %d (epoch %d)", self.state.step, self.state.epoch)

    def _check_config(self, saved: Mapping[str, Any]) -> None:
        current = self.config.to_dict()
        for name in _FROZEN_ON_RESUME:
            if saved.get(name) != current[name]:
                raise ValueError(
                    f"cannot resume with {name}={current[name]!r}: the checkpoint was trained "
                    f"with {name}={saved.get(name)!r}"
                )
        changed = [k for k, v in current.items() if k in saved and _plain(saved[k]) != _plain(v)]
        if changed and self.procs.is_main:
            _log.warning("resuming with a changed config: %s", ", ".join(changed))

    def _open_metrics(self, resume: bool) -> None:
        """Start metrics.jsonl afresh, or cut it back to the checkpoint's step; save the config."""
        if not self.procs.is_main:
            return
        path = self.out_dir / METRICS_FILE
        self.records = _read_metrics(path, self.state.step) if resume else []
        atomic_write_text(path, "".join(_dump(r) for r in self.records))
        config = json.dumps(self.config.to_dict(), indent=2) + "\n"
        atomic_write_text(self.out_dir / CONFIG_FILE, config)

    def _wrap_model(self) -> Callable[[Any], tuple[Tensor, int]]:
        if self.procs.world_size == 1:
            return self.task.training_loss
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.procs.device.index] if self.procs.device.type == "cuda" else None
        return DistributedDataParallel(_TaskLoss(self.task), device_ids=ids)

    # -- the loop ------------------------------------------------------------------------

    def train(self) -> TrainResult:
        """Run the loop to its end; returns the result (on every rank)."""
        bar = ProgressBar(
            "train",
            self.config.max_steps,
            completed=self.state.step,
            enabled=self.config.progress and self.procs.is_main,
            time_limit=self.config.time_budget,
        )
        self.model.train()
        try:
            with self._graceful_interrupt():
                stop = self._stop_before_start()
                while stop is None:
                    stop = self._one_step(bar)
        except TrainingDiverged:
            self._write_curve()
            raise
        finally:
            bar.close()
        self._finish()
        return TrainResult(
            steps=self.state.step,
            epochs=self.state.epoch + (1 if self.state.batch_index else 0),
            stopped_because=stop,
            best_valid=self.state.best_valid,
            last_train_loss=self.state.last_train_loss,
            seconds=self._elapsed(),
        )

    @contextlib.contextmanager
    def _graceful_interrupt(self) -> Iterator[None]:
        """While training, a first SIGINT only sets ``self.interrupted`` (the loop then saves a
        checkpoint and stops after the step); the handler is then removed, so a second SIGINT
        raises KeyboardInterrupt. Only where Python's default handler is installed, in the
        main thread; elsewhere SIGINT keeps its usual effect."""
        previous = signal.getsignal(signal.SIGINT)
        if (
            threading.current_thread() is not threading.main_thread()
            or previous is not signal.default_int_handler
        ):
            yield
            return

        def on_sigint(signum: int, frame: object) -> None:
            self.interrupted = True
            signal.signal(signal.SIGINT, previous)
            print(
                "\ninterrupted: finishing this step and saving a checkpoint "
                "(Ctrl-C again to abort now)",
                file=sys.stderr,
                flush=True,
            )

        signal.signal(signal.SIGINT, on_sigint)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def _stop_before_start(self) -> StopReason | None:
        """A resumed run may already be over: its steps done, or its patience spent."""
        patience = self.config.early_stopping_patience
        if patience is not None and self.state.bad_evals >= patience:
            return "early_stopping"
        if self.state.step >= self.config.max_steps:
            return "max_steps"
        return None

    def _one_step(self, bar: ProgressBar) -> StopReason | None:
        """Train on one batch, then log / validate / checkpoint as due; the stop reason."""
        over_budget, save_due, interrupted = self._train_step(self._next_batch())
        st, cfg = self.state, self.config
        if st.step % cfg.log_every == 0:
            self._log_train()
        bar.update(st.step, self._bar_info() if st.step % cfg.log_every == 0 else None)
        stop: StopReason | None = None
        if cfg.eval_every is not None and (
            st.step % cfg.eval_every == 0 or st.step == cfg.max_steps
        ):
            stop = self._evaluate()
        if stop is None and st.step >= cfg.max_steps:
            stop = "max_steps"
        if stop is None and over_budget:
            stop = "time_budget"
            if self.procs.is_main:
                _log.info("time budget of %gs spent at step %d", cfg.time_budget, st.step)
        if stop is None and interrupted:
            stop = "interrupted"
        if stop is not None or save_due or st.step % cfg.checkpoint_every_steps == 0:
            self._save_checkpoint()
        return stop

    def _open_epoch(self) -> Iterator[Any]:
        """The iterator of the current epoch, past the batches already consumed."""
        st = self.state
        generator = torch.Generator().manual_seed(
            _mix_seed(self.config.seed, _BATCH_STREAM, st.epoch)
        )
        batches = iter(self.task.train_batches(st.epoch, generator))
        for _ in range(st.batch_index):
            if next(batches, _END) is _END:
                raise RuntimeError(
                    f"train_batches(epoch={st.epoch}) yields fewer batches than the checkpoint "
                    f"consumed ({st.batch_index}): the training data changed since it was saved"
                )
        return batches

    def _next_batch(self) -> Any:
        if self.batches is None:
            self.batches = self._open_epoch()
        batch = next(self.batches, _END)
        if batch is _END:
            if self.state.batch_index == 0:
                raise ValueError(f"train_batches(epoch={self.state.epoch}) yielded no batches")
            self.state.epoch += 1
            self.state.batch_index = 0
            self.batches = self._open_epoch()
            batch = next(self.batches, _END)
            if batch is _END:
                raise ValueError(f"train_batches(epoch={self.state.epoch}) yielded no batches")
        return batch

    def _train_step(self, batch: Any) -> tuple[bool, bool, bool]:
        """Forward, backward, clip, update; returns (time budget spent, checkpoint due,
        interrupted).

        The loss, token count, time and interrupt flags are summed over the ranks in one
        collective, so every rank takes the same decisions.
        """
        started = time.perf_counter()
        procs, cfg, st = self.procs, self.config, self.state
        no_rows = False
        if procs.world_size > 1:
            shard = getattr(self.task, "shard", shard_batch)
            part = shard(batch, procs.rank, procs.world_size)
            no_rows = part is None
            batch = shard(batch, 0, procs.world_size) if no_rows else part
        self.optimizer.zero_grad(set_to_none=True)
        loss, count = self.forward(_to_device(batch, procs.device))
        _check_loss(loss, count)
        if procs.world_size == 1:
            loss.backward()
            mean_loss_here = loss.item()
        else:
            count = 0 if no_rows else count
            (total,) = procs.sum([float(count)])
            # DDP averages over ranks: Σ_r (W n_r / N) g_r / W = Σ_r n_r g_r / N, the gradient
            # of the mean over the global batch's N terms
            share = count / total if total > 0 else 1.0 / procs.world_size
            (loss * (share * procs.world_size)).backward()
            mean_loss_here = loss.item() * share  # summed over the ranks: the global mean
        now = time.perf_counter()
        over_budget = cfg.time_budget is not None and now - self.session_start >= cfg.time_budget
        save_due = now - self.last_save_time >= cfg.checkpoint_every_seconds
        mean_loss, tokens, budget_votes, save_votes, interrupt_votes = procs.sum(
            [
                mean_loss_here,
                float(count),
                float(over_budget),
                float(save_due),
                float(self.interrupted),
            ]
        )
        if not math.isfinite(mean_loss):
            self._diverged(mean_loss, "loss")
        self._clip()
        lr = self.optimizer.param_groups[0]["lr"]
        self.optimizer.step()
        self.scheduler.step()
        st.step += 1
        st.batch_index += 1
        st.last_train_loss = mean_loss
        st.window_loss += mean_loss
        st.window_steps += 1
        st.window_tokens += tokens
        st.window_seconds += time.perf_counter() - started
        self.last_lr = lr
        return budget_votes > 0, save_votes > 0, interrupt_votes > 0

    def _clip(self) -> None:
        if self.config.clip == "value":
            torch.nn.utils.clip_grad_value_(self.params, self.config.clip_threshold)
        elif self.config.clip == "norm":
            norm = float(torch.nn.utils.clip_grad_norm_(self.params, self.config.clip_threshold))
            if not math.isfinite(norm):
                self._diverged(norm, "gradient norm")

    def _diverged(self, value: float, what: str) -> None:
        where = (
            f"step {self.saved_step} in {self.ckpt_dir}"
            if self.saved_step is not None
            else "none was written yet: start again"
        )
        raise TrainingDiverged(
            step=self.state.step + 1, value=value, what=what, config=self.config, checkpoint=where
        )

    # -- logging, validation, checkpoints ------------------------------------------------

    def _elapsed(self) -> float:
        return self.state.elapsed + (time.perf_counter() - self.session_start)

    def _append(self, record: dict[str, Any]) -> None:
        self.records.append(record)
        with open(self.out_dir / METRICS_FILE, "a", encoding="utf-8") as f:
            f.write(_dump(record))

    def _log_train(self) -> None:
        st = self.state
        record = {
            "step": st.step,
            "epoch": st.epoch,
            "train_loss": st.window_loss / st.window_steps,
            "lr": self.last_lr,
            "tokens_per_s": st.window_tokens / max(st.window_seconds, 1e-9),
            "elapsed": round(self._elapsed(), 3),
        }
        if self.procs.is_main:
            self._append(record)
        self.last_record = record
        st.window_loss, st.window_steps, st.window_tokens, st.window_seconds = 0.0, 0, 0.0, 0.0

    def _bar_info(self) -> str:
        r = self.last_record
        rate = r["tokens_per_s"]
        speed = f"{rate / 1000:.1f}k" if rate >= 10_000 else f"{rate:.0f}"
        loss = r["train_loss"]
        shown = f"{loss:.4f}" if 1e-3 <= abs(loss) < 1e3 else f"{loss:.2e}"
        return f"loss {shown} | {speed} tok/s | lr {r['lr']:.2g}"

    def _validate(self) -> dict[str, float]:
        """Rank 0 validates in eval mode under no_grad; every rank gets the metrics
        (empty when the task has no validation data)."""
        metrics: dict[str, float] | None = None
        if self.procs.is_main:
            self.model.eval()
            try:
                with torch.no_grad():
                    raw = self.task.validate()
            finally:
                self.model.train()
            if raw and "loss" not in raw:
                raise ValueError(f"validate() must return a 'loss' entry, got {sorted(raw)}")
            metrics = {k: float(v) for k, v in raw.items()}
        return self.procs.broadcast(metrics)

    def _evaluate(self) -> StopReason | None:
        """Validate, keep the best weights, log; "early_stopping" when patience is spent."""
        st, cfg = self.state, self.config
        metrics = self._validate()
        if not metrics:
            return None
        loss = metrics["loss"]
        improved = math.isfinite(loss) and (st.best_valid is None or loss < st.best_valid)
        if improved:
            st.best_valid, st.bad_evals = loss, 0
        else:
            st.bad_evals += 1
        if self.procs.is_main:
            if improved:
                save_weights(self.out_dir / BEST_MODEL_FILE, self.model)
            record = {"step": st.step, "epoch": st.epoch, "elapsed": round(self._elapsed(), 3)}
            self._append(record | {f"valid_{k}": v for k, v in metrics.items()})
            if time.perf_counter() - self.last_curve_time >= _CURVE_MIN_INTERVAL:
                self._write_curve()
        patience = cfg.early_stopping_patience
        if patience is not None and st.bad_evals >= patience:
            if self.procs.is_main:
                _log.info(
                    "early stopping at step %d: %d evaluations without a better validation loss",
                    st.step,
                    patience,
                )
            return "early_stopping"
        return None

    def _save_checkpoint(self) -> None:
        """Save everything a resumed run needs (rank 0 writes; every rank sends its RNG)."""
        rng = self.procs.gather(_rng_state(self.procs.device))
        if self.procs.is_main:
            run = self.state.to_dict() | {"elapsed": self._elapsed()}
            state = {
                "format": _STATE_FORMAT,
                "step": self.state.step,
                "run": run,
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "rng": rng,
                "world_size": self.procs.world_size,
                "config": self.config.to_dict(),
            }
            save_checkpoint(self.ckpt_dir, self.model, state)
        self.saved_step = self.state.step
        self.last_save_time = time.perf_counter()

    def _write_curve(self) -> None:
        if self.procs.is_main:
            from seqlab.viz.curves import plot_loss_curve

            plot_loss_curve(self.records, self.out_dir / CURVE_FILE)
            self.last_curve_time = time.perf_counter()

    def _finish(self) -> None:
        """Final files: the weights when no validation picked the best, and the curve."""
        if self.procs.is_main:
            if self.state.best_valid is None:
                save_weights(self.out_dir / BEST_MODEL_FILE, self.model)
            self._write_curve()
        self.procs.barrier()


_END = object()  # sentinel: an exhausted iterator


def _check_loss(loss: object, count: object) -> None:
    """``training_loss`` must return (a scalar tensor with grad, an int count)."""
    if not isinstance(loss, Tensor) or loss.dim() != 0 or not loss.requires_grad:
        raise TypeError(
            "training_loss(batch) must return (loss, count) with loss a scalar tensor that "
            f"requires grad, got {type(loss).__name__}"
            + (f" of shape {tuple(loss.shape)}" if isinstance(loss, Tensor) else "")
        )
    if not _is_int(count) or count < 0:
        raise TypeError(f"training_loss(batch) must return an int count >= 0, got {count!r}")


def _plain(value: Any) -> Any:
    """Tuples as lists, so that saved and current config values compare equal."""
    return list(value) if isinstance(value, tuple) else value
