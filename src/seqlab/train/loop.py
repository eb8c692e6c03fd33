"""The training loop shared by every seqlab task.

A task (language model, tagger, translator, ...) implements the small
:class:`~seqlab.train.Trainable` protocol: it owns a ``model``, yields the batches of an
epoch from a seeded generator, computes a batch's mean loss, and validates. :class:`Trainer`
drives it from a :class:`~seqlab.train.TrainConfig`:

* AdamW or SGD, a constant / cosine / linear learning-rate schedule after a linear warmup
  (laid over the steps, or over the time budget or the epochs when they bind first),
  gradient clipping by global norm or by value;
* ``metrics.jsonl`` (one JSON object a line) in the output folder, a rich progress bar on
  stderr, and :class:`~seqlab.train.Callback` hooks called on rank 0 after each metrics line
  and at the end (a loss-curve PNG, TensorBoard scalars);
* a non-finite loss or gradient norm stops with :class:`~seqlab.train.TrainingDiverged`
  before the weights are touched, keeping the last good checkpoint;
* a step limit, an optional epoch limit, a time budget, early stopping on the validation
  loss, and the best-validation weights in ``model.safetensors`` (best by the loss, or by
  another metric the task reports: ``TrainConfig.best_metric``, such as a tagger's F1);
* one process at a time in ``out_dir`` (an OS file lock on ``out_dir/.lock``, released when
  the process ends however it ends; a second one gets ``FolderInUseError`` with the pid);
* Ctrl-C (SIGINT) finishes the current step, saves a checkpoint and returns with
  ``stopped_because="interrupted"``; a second Ctrl-C aborts at once (KeyboardInterrupt);
* checkpoints every N steps or M seconds, swapped in atomically, and ``fit(resume=True)``
  that continues mid-epoch and ends bit-identical (on CPU) to a run never interrupted;
* data-parallel training when launched by ``torchrun`` (``WORLD_SIZE`` > 1): every rank
  takes its share of each global batch, gradients are averaged by DDP, rank 0 writes.

Files in ``out_dir``::

    train_config.json    the TrainConfig of the latest fit() call
    metrics.jsonl        train lines {"step","epoch","train_loss","lr","grad_norm",
                         "grad_norm_clipped","tokens_per_s","elapsed"} and validation lines
                         {"step","epoch","elapsed","valid_loss",...}
    model.safetensors    weights at the best validation ``best_metric`` so far (the loss by
                         default); the final weights when no validation ran
                         (eval_every=None, validate() returned {}, or the run stopped
                         before its first evaluation)
    checkpoint/          model.safetensors + trainer.pt: everything a resumed run needs
    .lock, .lock.holder  the folder's lock, and the pid of the process holding it (while held)

The trainer draws no figure: ``loss_curve.png`` (train and validation loss against the
step) is drawn by the ``seqlab.viz.LossCurve`` callback that the tasks attach, and
TensorBoard event files by the :class:`~seqlab.train.TensorBoard` callback.

In a train line, ``train_loss`` is the mean step loss since the previous line, ``lr`` the
rate of the last step, ``grad_norm`` the mean global L2 norm of the gradient before
clipping and ``grad_norm_clipped`` after it (equal with ``clip="none"``), ``epoch`` the index
given to ``train_batches`` and ``elapsed`` the training seconds of the whole run.

``time_budget`` bounds one ``fit()`` call: a resumed run gets the budget afresh. When the
budget stops the run, the trainer validates the final weights (unless that step was just
validated), so ``model.safetensors`` holds the best of them all; the schedule is laid over
the budget when it binds first (position ``max(step, max_steps * seconds / time_budget)``;
a resumed run lays the rest of the schedule, from its step, over its new budget). An
interrupted run (Ctrl-C) does not validate: the user asked it to stop now (a translator's
validation decodes the held-out set), and its checkpoint, counters and metrics stay exactly
those of an uninterrupted run at that step, which makes the resumed run bit-identical.
``max_epochs`` ends the run when the next batch would start epoch ``max_epochs``, that is
after that many complete epochs (the end validates and saves a checkpoint, as ``max_steps``
does); when the task tells its ``batches_per_epoch()``, the schedule also ends there.

A run that diverges, is killed, interrupted or runs out of time is continued with
``fit(resume=True)``, which prints ``resuming from step N (epoch E) in DIR`` on stderr
(rank 0); the config may change on resume (a lower ``lr`` after a divergence, a larger
``max_steps`` or ``max_epochs``) except for the optimizer kind.

Tested in ``tests/test_train.py`` (learning, clipping, divergence, time budget, early
stopping, epoch limit, callbacks, resume after an in-process crash, after Ctrl-C and after
SIGKILL, determinism, DDP vs one process).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from seqlab._progress import ProgressBar
from seqlab._validate import is_int
from seqlab.train.checkpoint import (
    atomic_write_text,
    checkpoint_exists,
    load_checkpoint,
    recover_directory,
    remove_stale_temporaries,
    save_checkpoint,
    save_weights,
)
from seqlab.train.config import StopReason, TrainConfig, improves, lr_factor
from seqlab.train.distributed import _Processes, _TaskLoss, shard_batch, to_device
from seqlab.train.lock import hold_folder
from seqlab.train.protocol import Callback, Trainable, TrainingDiverged, TrainResult

__all__ = ["Trainer", "read_metrics"]

_log = logging.getLogger(__name__)

METRICS_FILE = "metrics.jsonl"
BEST_MODEL_FILE = "model.safetensors"
CONFIG_FILE = "train_config.json"
CHECKPOINT_DIR = "checkpoint"
_STATE_FORMAT = 1  # version of the trainer.pt layout
# Domain tags mixed into the seed, so the batch-order and dropout streams never coincide.
_BATCH_STREAM, _MODEL_STREAM = 1, 2
# Config fields a resumed run may not change: the saved optimizer state would not fit.
_FROZEN_ON_RESUME = ("optimizer",)
_clock = time.perf_counter  # the loop's clock (tests replace it)


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
    progress: float,
) -> None:
    """After loading saved optimizer/scheduler state, put this config's values back.

    ``load_state_dict`` restores the saved hyperparameters; a resumed run uses the current
    config's (unchanged values give back the very same floats).
    """
    for group in optimizer.param_groups:
        group["initial_lr"] = config.lr
        group["lr"] = config.lr * lr_factor(step, config, progress)
        group["weight_decay"] = config.weight_decay
        if config.optimizer == "sgd":
            group["momentum"] = config.momentum
        else:
            group["betas"] = config.betas
    scheduler.base_lrs = [config.lr for _ in optimizer.param_groups]


def _make_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig, progress: Callable[[], float]
) -> torch.optim.lr_scheduler.LambdaLR:
    """The schedule of :func:`lr_factor`; ``progress()`` is the run's progress by the clock
    or the epochs at the moment the next rate is set."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, config, progress())
    )


def _rng_state(device: torch.device) -> dict[str, Tensor | None]:
    cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    return {"cpu": torch.get_rng_state(), "cuda": cuda}


def _set_rng_state(state: Mapping[str, Tensor | None], device: torch.device) -> None:
    cpu = state.get("cpu")
    if cpu is None:
        raise ValueError("the checkpoint holds no CPU random-number state")
    torch.set_rng_state(cpu)
    cuda = state.get("cuda")
    if device.type == "cuda" and cuda is not None:
        torch.cuda.set_rng_state(cuda, device)


def read_metrics(path: Path, up_to_step: int | None = None) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl`` (up to ``up_to_step`` when given); torn lines and
    later steps dropped, none when the file is missing."""
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line torn by a kill
        if isinstance(record, dict) and is_int(record.get("step")):
            if up_to_step is None or record["step"] <= up_to_step:
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
    best_score: float | None = None  # best value of config.best_metric so far (kept weights)
    bad_evals: int = 0  # evaluations since the last improvement (early-stopping patience)
    elapsed: float = 0.0  # training seconds of previous sessions (updated when saved)
    last_train_loss: float | None = None  # loss of the last step
    window_loss: float = 0.0  # sum of step losses since the last metrics line
    window_steps: int = 0  # steps since the last metrics line
    window_tokens: float = 0.0  # tokens since the last metrics line
    window_seconds: float = 0.0  # seconds spent in those steps
    window_grad_norm: float = 0.0  # sum of the gradients' global L2 norms before clipping
    window_grad_norm_clipped: float = 0.0  # ... and after clipping

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, saved: Mapping[str, Any]) -> _RunState:
        names = {f.name for f in dataclasses.fields(cls)}
        state = cls(**{k: v for k, v in saved.items() if k in names})
        if "best_score" not in saved:  # a checkpoint from before best_metric: chosen by loss
            state.best_score = state.best_valid
        return state


# -- the trainer -------------------------------------------------------------------------


class Trainer:
    """Trains a :class:`~seqlab.train.Trainable` as a :class:`~seqlab.train.TrainConfig`
    says, writing to ``out_dir``.

    >>> result = Trainer(task, TrainConfig(max_steps=1000), "runs/lm").fit()  # doctest: +SKIP

    :meth:`fit` seeds torch's RNG from ``config.seed`` inside a forked RNG state, so the
    caller's global RNG is left as it was. After it returns, the model holds the *final*
    weights (the last step's gradients remain in ``.grad``); ``out_dir/model.safetensors``
    holds the best-validation ones.

    ``callbacks`` are called on rank 0 only, in their order: ``on_record`` after each line
    appended to ``metrics.jsonl``, ``on_end`` when ``fit()`` ends (divergence included).
    """

    def __init__(
        self,
        task: Trainable,
        config: TrainConfig,
        out_dir: str | os.PathLike[str],
        *,
        callbacks: Sequence[Callback] = (),
    ) -> None:
        self.task = task
        self.config = config
        self.out_dir = Path(out_dir)
        self.callbacks: tuple[Callback, ...] = tuple(callbacks)

    @property
    def checkpoint_dir(self) -> Path:
        return self.out_dir / CHECKPOINT_DIR

    def fit(self, *, resume: bool | Literal["if_saved"] = False) -> TrainResult:
        """Train until ``max_steps``, the time budget or early stopping; see the module doc.

        ``resume=True`` continues from ``out_dir/checkpoint`` (an error when there is none);
        ``resume="if_saved"`` continues from it when there is one and starts at step 0
        otherwise (a run stopped before its first checkpoint); ``resume=False`` refuses to
        start over an existing checkpoint.

        The output folder is held for the whole call (rank 0 takes an OS file lock on
        ``out_dir/.lock``): a second process training into it gets
        :class:`~seqlab.train.FolderInUseError` naming the holder's pid.
        """
        processes = _Processes(self.config.device)
        devices = [processes.device] if processes.device.type == "cuda" else []
        try:
            with contextlib.ExitStack() as held, torch.random.fork_rng(devices=devices):
                run = _Run(self, processes, resume=resume, held=held)
                return run.train()
        finally:
            processes.close()


class _Run:
    """One :meth:`Trainer.fit` call: the optimizer, the counters, the files, the loop."""

    def __init__(
        self,
        trainer: Trainer,
        processes: _Processes,
        *,
        resume: bool | Literal["if_saved"],
        held: contextlib.ExitStack,
    ) -> None:
        self.task = trainer.task
        self.config = trainer.config
        self.out_dir = trainer.out_dir
        self.ckpt_dir = trainer.checkpoint_dir
        self.procs = processes
        self.state = _RunState()
        self.records: list[dict[str, Any]] = []
        self.batches: Iterator[Any] | None = None
        self.session_start = _clock()
        self.last_save_time = self.session_start
        self.saved_step: int | None = None  # step of the newest checkpoint on disk
        self.last_lr = self.config.lr  # learning rate of the last step
        self.last_record: dict[str, Any] = {}  # the last training line (for the progress bar)
        self.callbacks = trainer.callbacks  # called on rank 0 only
        self.lookahead: Any = _NOTHING  # the next batch when fetched ahead (max_epochs)
        self.interrupted = False  # set by the first Ctrl-C (SIGINT) while training
        self.resumed_from: int | None = None  # the checkpoint's step when resumed
        self.start_step = 0  # the step this session starts at (the schedule's time part)
        self.epoch_size = self._epoch_size()  # batches per epoch, when the task tells it
        resume = self._prepare_out_dir(resume, held)
        self.model = self.task.model.to(processes.device)
        self.optimizer = _make_optimizer(self.model, self.config)
        self.params = [p for group in self.optimizer.param_groups for p in group["params"]]
        self.scheduler = _make_scheduler(self.optimizer, self.config, self._schedule_progress)
        if resume:
            self._restore()
        else:
            torch.manual_seed(_mix_seed(self.config.seed, _MODEL_STREAM, processes.rank))
        self._open_metrics(resume)
        self.forward: Callable[[Any], tuple[Tensor, int]] = self._wrap_model()

    # -- setup ---------------------------------------------------------------------------

    def _prepare_out_dir(
        self, resume: bool | Literal["if_saved"], held: contextlib.ExitStack
    ) -> bool:
        """Hold the output folder (rank 0, until ``held`` closes), recover the checkpoint
        folder after a crash; returns whether to resume."""
        failure: Exception | None = None
        if self.procs.is_main:
            try:
                held.enter_context(hold_folder(self.out_dir))
                recover_directory(self.ckpt_dir)
                remove_stale_temporaries(self.out_dir)
            except Exception as exc:
                failure = exc
        # every rank learns whether rank 0 could start (the broadcast is also the barrier)
        message = self.procs.broadcast(None if failure is None else str(failure))
        if failure is not None:
            raise failure
        if message is not None:
            raise RuntimeError(f"rank 0 could not start: {message}")
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
        self.start_step = self.resumed_from = self.saved_step = self.state.step
        _apply_hyperparameters(
            self.optimizer,
            self.scheduler,
            self.config,
            self.state.step,
            self._schedule_progress(),
        )
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
            print(
                f"resuming from step {self.state.step} (epoch {self.state.epoch}) "
                f"in {self.out_dir}",
                file=sys.stderr,
                flush=True,
            )

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
        self.records = read_metrics(path, self.state.step) if resume else []
        atomic_write_text(path, "".join(_dump(r) for r in self.records))
        config = json.dumps(self.config.to_dict(), indent=2) + "\n"
        atomic_write_text(self.out_dir / CONFIG_FILE, config)

    def _epoch_size(self) -> int | None:
        """The task's ``batches_per_epoch()`` (optional) when ``max_epochs`` is set."""
        tell = getattr(self.task, "batches_per_epoch", None)
        if self.config.max_epochs is None or not callable(tell):
            return None
        size = tell()
        if size is not None and (not is_int(size) or size < 1):
            raise TypeError(f"batches_per_epoch() must return an int >= 1 or None, got {size!r}")
        return size

    def _schedule_progress(self) -> float:
        """The run's progress in [0, 1] by the clock or the epochs, for :func:`lr_factor`
        (0 when only the steps count: no time budget, and no epoch limit with a known epoch
        size).

        Time: this session's share of its budget, laid over the steps left when it began
        (``start_step``), so a fresh run's position is ``max_steps * seconds / time_budget``
        and a resumed one continues from its step and ends the schedule with its new budget.
        Epochs: ``(epoch * size + batches of this epoch) / (max_epochs * size)``.
        """
        cfg, st = self.config, self.state
        progress = 0.0
        if cfg.time_budget is not None:
            spent = min(1.0, (_clock() - self.session_start) / cfg.time_budget)
            progress = (self.start_step + spent * (cfg.max_steps - self.start_step)) / cfg.max_steps
        if cfg.max_epochs is not None and self.epoch_size is not None:
            done = st.epoch * self.epoch_size + st.batch_index
            progress = max(progress, done / (cfg.max_epochs * self.epoch_size))
        return progress

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
            self._end_callbacks(diverged=True)
            raise
        finally:
            bar.close()
        self._finish()
        return TrainResult(
            steps=self.state.step,
            epochs=self.state.epoch + (1 if self.state.batch_index else 0),
            stopped_because=stop,
            best_valid=self.state.best_valid,
            best_score=self.state.best_score,
            last_train_loss=self.state.last_train_loss,
            seconds=self._elapsed(),
            resumed_from=self.resumed_from,
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
        """A resumed run may already be over: its steps or epochs done, or its patience
        spent."""
        patience = self.config.early_stopping_patience
        if patience is not None and self.state.bad_evals >= patience:
            return "early_stopping"
        if self.state.step >= self.config.max_steps:
            return "max_steps"
        if self._epochs_done():
            return "max_epochs"
        return None

    def _one_step(self, bar: ProgressBar) -> StopReason | None:
        """Train on one batch, then log / validate / checkpoint as due; the stop reason."""
        over_budget, save_due, interrupted = self._train_step(self._next_batch())
        st, cfg = self.state, self.config
        if st.step % cfg.log_every == 0:
            self._log_train()
        bar.update(st.step, self._bar_info() if st.step % cfg.log_every == 0 else None)
        stop: StopReason | None = None
        epochs_done = self._epochs_done()
        evaluated = cfg.eval_every is not None and (
            st.step % cfg.eval_every == 0 or st.step == cfg.max_steps or epochs_done
        )
        if evaluated:
            stop = self._evaluate()
        if stop is None and st.step >= cfg.max_steps:
            stop = "max_steps"
        if stop is None and epochs_done:
            stop = "max_epochs"
            if self.procs.is_main:
                _log.info("%d epochs done at step %d", cfg.max_epochs, st.step)
        if stop is None and over_budget:
            stop = "time_budget"
            if self.procs.is_main:
                _log.info("time budget of %gs spent at step %d", cfg.time_budget, st.step)
            if cfg.eval_every is not None and not evaluated:
                self._evaluate()  # the final weights compete for model.safetensors too
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

    def _epochs_done(self) -> bool:
        """Whether ``max_epochs`` epochs are complete: the next batch would start epoch
        ``max_epochs``. In the last epoch this fetches the next batch ahead (to see whether
        the epoch has one left); :meth:`_next_batch` then returns it."""
        limit, st = self.config.max_epochs, self.state
        if limit is None:
            return False
        if st.epoch >= limit:  # resumed with a lower limit than the checkpoint's epoch
            return True
        if st.epoch < limit - 1 or st.batch_index == 0:
            return False
        if self.lookahead is _NOTHING:
            if self.batches is None:
                self.batches = self._open_epoch()
            self.lookahead = next(self.batches, _END)
        return self.lookahead is _END

    def _next_batch(self) -> Any:
        if self.lookahead is not _NOTHING:
            batch, self.lookahead = self.lookahead, _NOTHING
        else:
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
        started = _clock()
        procs, cfg, st = self.procs, self.config, self.state
        no_rows = False
        if procs.world_size > 1:
            shard = getattr(self.task, "shard", shard_batch)
            part = shard(batch, procs.rank, procs.world_size)
            no_rows = part is None
            batch = shard(batch, 0, procs.world_size) if no_rows else part
        self.optimizer.zero_grad(set_to_none=True)
        loss, count = self.forward(to_device(batch, procs.device))
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
        now = _clock()
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
        grad_norm, grad_norm_clipped = self._clip()
        lr = self.optimizer.param_groups[0]["lr"]
        self.optimizer.step()
        st.step += 1
        st.batch_index += 1
        self.scheduler.step()  # after the counters: the epoch progress sees this step
        st.window_grad_norm += grad_norm
        st.window_grad_norm_clipped += grad_norm_clipped
        st.last_train_loss = mean_loss
        st.window_loss += mean_loss
        st.window_steps += 1
        st.window_tokens += tokens
        st.window_seconds += _clock() - started
        self.last_lr = lr
        return budget_votes > 0, save_votes > 0, interrupt_votes > 0

    def _clip(self) -> tuple[float, float]:
        """Clip the gradient as configured; returns its global L2 norm before and after.

        A non-finite norm raises :class:`TrainingDiverged` before the weights change (with
        ``clip="norm"`` always; otherwise when an entry of the gradient is not finite, not
        when only the norm of a huge finite gradient overflows)."""
        threshold = self.config.clip_threshold
        if self.config.clip == "norm":
            norm = float(torch.nn.utils.clip_grad_norm_(self.params, threshold))
            if not math.isfinite(norm):
                self._diverged(norm, "gradient norm")
            return norm, norm * min(1.0, threshold / (norm + 1e-6))  # clip_grad_norm_'s factor
        norm = _grad_norm(self.params)
        if not math.isfinite(norm) and not all(
            bool(torch.isfinite(p.grad).all()) for p in self.params if p.grad is not None
        ):
            self._diverged(norm, "gradient norm")
        if self.config.clip == "value":
            torch.nn.utils.clip_grad_value_(self.params, threshold)
            return norm, _grad_norm(self.params)
        return norm, norm

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
        return self.state.elapsed + (_clock() - self.session_start)

    def _append(self, record: dict[str, Any]) -> None:
        """Append a line to metrics.jsonl (rank 0), then call the callbacks' ``on_record``."""
        self.records.append(record)
        with open(self.out_dir / METRICS_FILE, "a", encoding="utf-8") as f:
            f.write(_dump(record))
        for callback in self.callbacks:
            callback.on_record(record, self.records)

    def _log_train(self) -> None:
        st = self.state
        record = {
            "step": st.step,
            "epoch": st.epoch,
            "train_loss": st.window_loss / st.window_steps,
            "lr": self.last_lr,
            "grad_norm": st.window_grad_norm / st.window_steps,
            "grad_norm_clipped": st.window_grad_norm_clipped / st.window_steps,
            "tokens_per_s": st.window_tokens / max(st.window_seconds, 1e-9),
            "elapsed": round(self._elapsed(), 3),
        }
        if self.procs.is_main:
            self._append(record)
        self.last_record = record
        st.window_loss, st.window_steps, st.window_tokens, st.window_seconds = 0.0, 0, 0.0, 0.0
        st.window_grad_norm = st.window_grad_norm_clipped = 0.0

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
        """Validate, keep the weights of the best ``best_metric`` (lowest loss by default),
        log; "early_stopping" when patience is spent."""
        st, cfg = self.state, self.config
        metrics = self._validate()
        if not metrics:
            return None
        loss = metrics["loss"]
        if improves(loss, st.best_valid, maximize=False):
            st.best_valid = loss
        if cfg.best_metric not in metrics:
            raise ValueError(
                f"best_metric {cfg.best_metric!r} is not among the validation metrics "
                f"{sorted(metrics)}"
            )
        score = metrics[cfg.best_metric]
        improved = improves(score, st.best_score, maximize=cfg.maximize_best)
        if improved:
            st.best_score, st.bad_evals = score, 0
        else:
            st.bad_evals += 1
        if self.procs.is_main:
            if improved:
                save_weights(self.out_dir / BEST_MODEL_FILE, self.model)
            record = {"step": st.step, "epoch": st.epoch, "elapsed": round(self._elapsed(), 3)}
            self._append(record | {f"valid_{k}": v for k, v in metrics.items()})
        patience = cfg.early_stopping_patience
        if patience is not None and st.bad_evals >= patience:
            if self.procs.is_main:
                _log.info(
                    "early stopping at step %d: %d evaluations without a better validation %s",
                    st.step,
                    patience,
                    cfg.best_metric,
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
        self.last_save_time = _clock()

    def _end_callbacks(self, *, diverged: bool = False) -> None:
        """The callbacks' ``on_end`` (rank 0). After a divergence a failing callback is
        logged, so that the TrainingDiverged being raised is not replaced by its error."""
        if not self.procs.is_main:
            return
        for callback in self.callbacks:
            if not diverged:
                callback.on_end(self.records)
                continue
            try:
                callback.on_end(self.records)
            except Exception:
                _log.exception("%s.on_end failed after the divergence", type(callback).__name__)

    def _finish(self) -> None:
        """Final files: the weights when no validation picked the best; then the callbacks'
        ``on_end``."""
        if self.procs.is_main:
            if self.state.best_score is None:
                save_weights(self.out_dir / BEST_MODEL_FILE, self.model)
            self._end_callbacks()
        self.procs.barrier()


_END = object()  # sentinel: an exhausted iterator
_NOTHING = object()  # sentinel: no batch fetched ahead


def _grad_norm(params: Sequence[Tensor]) -> float:
    """The global L2 norm of the parameters' gradients (as ``clip_grad_norm_`` computes it)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return 0.0
    norms = [torch.linalg.vector_norm(g.detach(), 2.0) for g in grads]
    return float(torch.linalg.vector_norm(torch.stack([n.to(norms[0]) for n in norms]), 2.0))


def _check_loss(loss: object, count: object) -> None:
    """``training_loss`` must return (a scalar tensor with grad, an int count)."""
    if not isinstance(loss, Tensor) or loss.dim() != 0 or not loss.requires_grad:
        raise TypeError(
            "training_loss(batch) must return (loss, count) with loss a scalar tensor that "
            f"requires grad, got {type(loss).__name__}"
            + (f" of shape {tuple(loss.shape)}" if isinstance(loss, Tensor) else "")
        )
    if not is_int(count) or count < 0:
        raise TypeError(f"training_loss(batch) must return an int count >= 0, got {count!r}")


def _plain(value: Any) -> Any:
    """Tuples as lists, so that saved and current config values compare equal."""
    return list(value) if isinstance(value, tuple) else value
