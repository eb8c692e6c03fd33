"""The options every ``train`` verb shares, declared once, and the one training summary.

``@train_options(presets)`` adds the shared options (steps, epochs, time budget, batch size,
learning rate, optimizer, schedule, warm-up, clipping, weight decay, momentum, patience,
the metric that picks the kept weights, validation and checkpoint intervals, device, threads,
seed, resume, progress, TensorBoard, ``--json``) to a command, with the same names
everywhere; the command receives them as one :class:`TrainOptions` (keyword ``train_opts``).
Each option defaults to the task's preset (:class:`seqlab.tasks.Preset`), and its help says
that default per kind of data.
:meth:`TrainOptions.train_config` turns the options given into a ``TrainConfig`` on top of
the preset's; :func:`report_training` prints the summary every task shares.

A ``ValueError`` about a config field names the option instead (``--steps must be a
positive integer, got 0``): :data:`TRAIN_FLAGS` maps the ``TrainConfig`` fields to the
shared options, and each command adds its own table (``train_options(presets, flags=...)``).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import typer

from seqlab.cli._common import (
    FLAGS_ATTRIBUTE,
    exit_if_interrupted,
    fail,
    output_folder,
    print_json,
)

F = TypeVar("F", bound=Callable[..., Any])


@dataclasses.dataclass(frozen=True)
class _Option:
    name: str  # the keyword of TrainOptions
    type: Any  # the option's Python type (None: not given)
    help: str
    field: str | None = None  # the TrainConfig field it sets (None: handled apart)


_OPTIONS = (
    _Option("steps", int, "Training steps (optimizer updates).", "max_steps"),
    _Option("epochs", int, "Stop after this many passes over the data.", "max_epochs"),
    _Option(
        "time_budget",
        str,
        "Stop after this long, e.g. 10m or 1h30m ('none': no limit); the learning-rate "
        "schedule then ends with the budget if it comes before --steps, and the final "
        "weights are validated.",
    ),
    _Option("batch_size", int, "Examples (sequences, sentence pairs) per step."),
    _Option("lr", float, "Peak learning rate.", "lr"),
    _Option("optimizer", str, "adamw or sgd.", "optimizer"),
    _Option("schedule", str, "LR after warm-up: constant, cosine or linear.", "schedule"),
    _Option("warmup", int, "Linear learning-rate warm-up steps.", "warmup_steps"),
    _Option("clip", str, "Gradient clipping: none, norm or value.", "clip"),
    _Option("clip_threshold", float, "Clip norm, or value bound (course: 5).", "clip_threshold"),
    _Option("weight_decay", float, "AdamW: decoupled decay; SGD: L2 penalty.", "weight_decay"),
    _Option("momentum", float, "SGD momentum (0: plain SGD).", "momentum"),
    _Option(
        "patience",
        int,
        "Early stopping after N validations without a better --best-metric.",
        "early_stopping_patience",
    ),
    _Option(
        "best_metric",
        str,
        "The validation metric that picks the kept weights: loss, or one the task reports "
        "(f1, accuracy ...).",
        "best_metric",
    ),
    _Option("best_mode", str, "min or max: which --best-metric is better.", "best_mode"),
    _Option("eval_every", int, "Validate every N steps.", "eval_every"),
    _Option("checkpoint_every", int, "Write a checkpoint every N steps.", "checkpoint_every_steps"),
    _Option("checkpoint_minutes", float, "... and at least every M minutes."),
    _Option("device", str, "cpu, cuda or auto.", "device"),
    _Option("threads", int, "torch CPU threads (default: torch's); 1 is best on a busy machine."),
    _Option("seed", int, "Random seed (data order, initialisation, dropout).", "seed"),
    _Option("tensorboard", Path, "Also log the metrics for TensorBoard into this folder."),
)
_BUDGET_RULE = "a duration > 0 such as 90s, 10m or 1h30m, or 'none' for no limit"

# TrainConfig fields (and the task-config fields every task has) -> the shared options, so
# that an error names what the user typed; betas and log_every have no option.
TRAIN_FLAGS: dict[str, str] = {
    **{o.field: "--" + o.name.replace("_", "-") for o in _OPTIONS if o.field is not None},
    "time_budget": "--time-budget",
    "checkpoint_every_seconds": "--checkpoint-minutes",
    "progress": "--progress",
    "batch_size": "--batch-size",
}
_FLAGS = (  # booleans: (name, flag declaration, default, help)
    ("resume", "--resume", False, "Continue an interrupted run in --out."),
    ("progress", "--progress/--no-progress", True, "Progress bar on stderr."),
    ("json_out", "--json", False, "Print the result as JSON."),
)


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainOptions:
    """The shared training options as given on the command line (None: not given)."""

    steps: int | None = None
    epochs: int | None = None
    time_budget: str | None = None
    batch_size: int | None = None
    lr: float | None = None
    optimizer: str | None = None
    schedule: str | None = None
    warmup: int | None = None
    clip: str | None = None
    clip_threshold: float | None = None
    weight_decay: float | None = None
    momentum: float | None = None
    patience: int | None = None
    best_metric: str | None = None
    best_mode: str | None = None
    eval_every: int | None = None
    checkpoint_every: int | None = None
    checkpoint_minutes: float | None = None
    device: str | None = None
    threads: int | None = None
    seed: int | None = None
    tensorboard: Path | None = None
    resume: bool = False
    progress: bool = True
    json_out: bool = False

    def train_config(self, preset: Any) -> Any:
        """The preset's ``TrainConfig`` with the options given replacing its values.

        Without ``--warmup``, a preset's warm-up is cut to fit a smaller ``--steps``.
        """
        from seqlab.train import parse_duration

        changes: dict[str, Any] = {
            o.field: getattr(self, o.name)
            for o in _OPTIONS
            if o.field is not None and getattr(self, o.name) is not None
        }
        if self.time_budget is not None:
            changes["time_budget"] = _time_budget(self.time_budget, parse_duration)
        if changes.get("device") == "auto":
            from seqlab._device import resolve_device

            changes["device"] = resolve_device("auto", gpu_path=True)
        if self.checkpoint_minutes is not None:
            if not (math.isfinite(self.checkpoint_minutes) and self.checkpoint_minutes > 0):
                raise ValueError(
                    f"--checkpoint-minutes must be > 0, got {self.checkpoint_minutes:g}"
                )
            changes["checkpoint_every_seconds"] = self.checkpoint_minutes * 60
        if self.warmup is None and self.steps is not None:
            changes["warmup_steps"] = max(0, min(preset.warmup_steps, self.steps - 1))
        changes["progress"] = self.progress
        return dataclasses.replace(preset, **changes)

    def apply_threads(self) -> None:
        """``--threads``: set torch's CPU threads (a one-line error below 1)."""
        if self.threads is None:
            return
        if self.threads < 1:
            raise fail(f"--threads must be >= 1, got {self.threads}")
        import torch

        torch.set_num_threads(self.threads)

    def callbacks(self) -> list[Any]:
        """The extra training callbacks asked for (``--tensorboard DIR``)."""
        if self.tensorboard is None:
            return []
        from seqlab.train import TensorBoard

        return [TensorBoard(self.tensorboard)]


def _time_budget(text: str, parse: Callable[[str], float]) -> float | None:
    """``--time-budget``'s seconds (``None`` for ``none``); one rule and one message for
    junk, negative and zero budgets."""
    if text.strip().lower() == "none":
        return None
    try:
        seconds = parse(text)
    except ValueError:
        seconds = 0.0
    if not seconds > 0:
        raise ValueError(f"--time-budget must be {_BUDGET_RULE}, got {text!r}")
    return seconds


def _value(value: Any) -> str:
    """A config value as the user would type it."""
    if value is None:
        return "none"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _show(value: Any) -> str:
    """A training default as the user would type it (whole minutes as ``30m``)."""
    if isinstance(value, float) and value.is_integer() and value >= 60:
        minutes = value / 60
        return f"{minutes:g}m" if minutes < 60 else f"{minutes / 60:g}h"
    return _value(value)


def config_default(field: str, presets: Mapping[str, Any]) -> str:
    """``"(default: dates 64, text 256)"``: a task-config field (dotted: ``model.hidden_size``)
    in each preset's config, for an option's help; one value everywhere is shown bare."""
    shown = {
        kind: _value(functools.reduce(getattr, field.split("."), p.config))
        for kind, p in presets.items()
    }
    return _defaults(shown, every=True)


def _defaults(shown: Mapping[str, str], *, every: bool) -> str:
    """``(default: X)`` where ``every`` preset has the one value X, else ``(default: a X, b
    Y)``."""
    if every and len(set(shown.values())) == 1:
        return f"(default: {next(iter(shown.values()))})"
    return "(default: " + ", ".join(f"{k} {v}" for k, v in shown.items()) + ")"


def preset_defaults(presets: Mapping[str, Any]) -> dict[str, str]:
    """``option -> "(default: dates 3000, text 20000)"`` from the presets' configs (a single
    preset is shown without its name); options whose default is the same everywhere and
    ``None`` are left out."""
    out: dict[str, str] = {}
    for o in _OPTIONS:
        values: dict[str, Any] = {}
        for kind, p in presets.items():
            if o.field is not None:
                values[kind] = getattr(p.train, o.field)
            elif o.name == "batch_size":
                values[kind] = p.config.batch_size
            elif o.name == "time_budget":
                values[kind] = p.train.time_budget
            elif o.name == "checkpoint_minutes":
                values[kind] = p.train.checkpoint_every_seconds / 60
        shown = {k: _show(v) for k, v in values.items() if v is not None}
        if not shown:
            continue
        out[o.name] = _defaults(shown, every=len(presets) == 1 or len(shown) == len(presets))
    return out


def train_options(
    presets: Mapping[str, Any], *, flags: Mapping[str, str] | None = None
) -> Callable[[F], F]:
    """Add the shared training options to a ``train`` command; it receives them as
    ``train_opts: TrainOptions``. ``presets`` (name -> :class:`seqlab.tasks.Preset`) give the
    defaults shown in the help. ``flags`` maps the task config's fields to the command's own
    options; with :data:`TRAIN_FLAGS` it is the table ``@user_errors`` (applied above this
    decorator) names the flags in error messages with."""
    defaults = preset_defaults(presets)
    table = {**TRAIN_FLAGS, **(flags or {})}

    def decorate(fn: F) -> F:
        sig = inspect.signature(fn, eval_str=True)
        own = [p for p in sig.parameters.values() if p.name != "train_opts"]
        added = []
        for o in _OPTIONS:
            flag = "--" + o.name.replace("_", "-")
            text = f"{o.help} {defaults[o.name]}" if o.name in defaults else o.help
            added.append(
                inspect.Parameter(
                    o.name,
                    inspect.Parameter.KEYWORD_ONLY,
                    default=typer.Option(None, flag, help=text, show_default=False),
                    annotation=o.type | None,
                )
            )
        for name, decl, default, text in _FLAGS:
            added.append(
                inspect.Parameter(
                    name,
                    inspect.Parameter.KEYWORD_ONLY,
                    default=typer.Option(default, *decl.split(" "), help=text),
                    annotation=bool,
                )
            )
        names = [p.name for p in added]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            given = {n: kwargs.pop(n) for n in names}
            return fn(*args, train_opts=TrainOptions(**given), **kwargs)

        wrapper.__signature__ = sig.replace(parameters=own + added)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in own + added}
        setattr(wrapper, FLAGS_ATTRIBUTE, table)
        return wrapper  # type: ignore[return-value]

    return decorate


def train_and_report(
    task_class: Any,
    data: Any,
    out: Path,
    config: Any,
    train_config: Any,
    opts: TrainOptions,
    describe: Callable[[Any], tuple[dict[str, Any], str]],
    *,
    bits_per_char: bool = False,
    loss_unit: str = "token",
) -> Any:
    """Train ``task_class`` on ``data`` as the options say, then print the one summary every
    task shares (rank 0 only): JSON with ``--json``, else three lines; exit 130 with a resume
    hint when Ctrl-C stopped the run. ``describe(task)`` gives the task's own facts for the
    JSON and the vocabulary words of the first line; ``loss_unit`` says what the validation
    loss is averaged over ("token", "example", "output step", ...). ``--out`` is created
    (with its missing parents) unless a file is in the way."""
    from seqlab.train import is_main_process

    if is_main_process():
        output_folder(out, "--out")
    task, result = task_class.train(
        data, out, config, train_config, resume=opts.resume, callbacks=opts.callbacks()
    )
    if not is_main_process():  # torchrun: rank 0 reports
        return task
    facts, vocabulary = describe(task)
    _nothing_to_train(result, train_config)
    _report(out, result, opts, facts, vocabulary, bits_per_char, loss_unit, train_config)
    return task


def _nothing_to_train(result: Any, train_config: Any) -> None:
    """Say so (stderr) when ``--resume`` found the run already at its ``--steps`` or
    ``--epochs`` limit."""
    start = result.resumed_from
    if start is None or result.steps != start:
        return
    if result.stopped_because == "max_steps":
        typer.echo(
            f"the checkpoint is at step {start}, already >= --steps {train_config.max_steps}: "
            "nothing to train; raise --steps to continue",
            err=True,
        )
    elif result.stopped_because == "max_epochs":
        typer.echo(
            f"the checkpoint has done {result.epochs} epochs, already >= --epochs "
            f"{train_config.max_epochs}: nothing to train; raise --epochs to continue",
            err=True,
        )


def _report(
    out: Path,
    result: Any,
    opts: TrainOptions,
    facts: Mapping[str, Any],
    vocabulary: str,
    bits_per_char: bool,
    loss_unit: str,
    train_config: Any,
) -> None:
    metric = train_config.best_metric
    summary = {
        "out": str(out),
        "steps": result.steps,
        "stopped_because": result.stopped_because,
        "seconds": round(result.seconds, 1),
        "best_valid_loss": result.best_valid,
        **({} if metric == "loss" else {f"best_valid_{metric}": result.best_score}),
        **facts,
    }
    if opts.json_out:
        print_json(summary)
        exit_if_interrupted(result.stopped_because, result.steps, out)
        return None
    typer.echo(
        f"trained {result.steps} steps in {result.seconds:.0f} s ({result.stopped_because}); "
        f"{vocabulary}"
    )
    if result.best_valid is not None:
        bits = f", {result.best_valid / math.log(2):.3f} bits/char" if bits_per_char else ""
        loss = f"validation loss {result.best_valid:.4f} nats/{loss_unit}{bits}"
        if metric == "loss":
            typer.echo(f"best {loss}")
        elif result.best_score is not None:
            typer.echo(
                f"kept the weights of the best validation {metric} (valid_{metric} "
                f"{result.best_score:.4g} in metrics.jsonl; lowest {loss})"
            )
    typer.echo(f"model directory: {out}  (loss curve: {out / 'loss_curve.png'})")
    exit_if_interrupted(result.stopped_because, result.steps, out)


TOKENIZER_HELP = (
    "Tokens: char, word or bpe (subword pieces of a BPE model learned from the training text "
    "and saved in --out as tokenizer.json: no word is unknown)"
)
VOCAB_SIZE_HELP = "--tokenizer bpe: at most N pieces, the 256 byte pieces included"


def tokens_choice(tokenizer: str | None, level: str | None) -> str | None:
    """``--tokenizer``, or ``--level``, its older name (one line and exit 2 when both are
    given and differ)."""
    if tokenizer is not None and level is not None and tokenizer != level:
        raise fail(f"--tokenizer {tokenizer} and --level {level} disagree: give one of them")
    return tokenizer if tokenizer is not None else level


ARCH_HELP = "Network: rnn (recurrent) or transformer."


def check_arch(arch: str, own: Mapping[str, Mapping[str, Any]]) -> None:
    """One line and exit 2 for an unknown ``--arch`` or an option of another architecture:
    ``own`` maps each architecture to its own options as given (flag -> value; ``None`` or
    ``False``: not given)."""
    if arch not in own:
        raise fail(f"--arch must be one of {', '.join(own)}, got {arch!r}")
    for other, flags in own.items():
        given = [flag for flag, value in flags.items() if value is not None and value is not False]
        if other != arch and given:
            raise fail(f"{', '.join(given)} only with --arch {other} (this is --arch {arch})")


def override(config: Any, changes: Mapping[str, Any]) -> Any:
    """``config`` (a frozen dataclass) with ``changes`` applied, ``None`` values skipped;
    a dotted key (``"model.hidden_size"``) reaches into a nested config."""
    direct: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for key, value in changes.items():
        if value is None:
            continue
        head, _, rest = key.partition(".")
        if rest:
            nested.setdefault(head, {})[rest] = value
        else:
            direct[head] = value
    for head, sub in nested.items():
        direct[head] = override(getattr(config, head), sub)
    return dataclasses.replace(config, **direct) if direct else config
