"""One way to be a task: :class:`Task`, :class:`TaskConfig` and the task registry.

A task is what a user trains, saves, loads and asks for predictions: a network (built from
the model registry by its config's ``arch``), the artifacts it reads its inputs with
(vocabularies, tokenizers), and its config. Every task subclasses :class:`Task` and writes
only what is its own:

* class attributes: ``config_class`` (a :class:`TaskConfig` subclass whose ``task`` names
  the task in ``config.json``), ``artifacts`` (attribute name -> (file name, class with
  ``save(path)`` and ``load(path)``)), ``what`` and ``command`` for messages;
* ``build(data, config) -> (task, encoded)``: a fresh task (vocabularies from the data,
  model from the registry) and the encoded training data;
* ``trainable(encoded, data)``: the :class:`seqlab.train.Trainable` adapter the Trainer
  drives (batches, loss, validation);
* optionally ``prepare_data(data)``, turning what ``train()`` accepts (a dataset name, pairs)
  into what ``build`` reads.

The base writes the rest once: :meth:`Task.train` (seed, build, output-folder check, the
Trainer with its loss-curve callback, DDP-safe writes, best weights), :meth:`Task.save`,
:meth:`Task.load`, the config round trip, :meth:`Task.eval_mode` and
:meth:`Task.generator`. Subclasses register themselves by name, so :func:`load_task`
(``seqlab.load``) finds any task's model directory. The contract and a worked example are
in ``docs/architecture.md``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

import torch
from torch import nn

from seqlab._io import DataError, atomic_write_json
from seqlab._validate import from_fields
from seqlab.decoding.sampling import seeded_generator
from seqlab.models.registry import build_model, model_class
from seqlab.tasks._model_dir import CONFIG_FILE, WEIGHTS_FILE, read_config, read_weights
from seqlab.train import (
    Callback,
    Trainable,
    TrainConfig,
    Trainer,
    TrainResult,
    check_folder,
    hold_folder,
    is_main_process,
    load_weights,
    save_weights,
)
from seqlab.viz.curves import LossCurve

__all__ = ["Preset", "Task", "TaskConfig", "load_task", "registered_tasks"]

FORMAT = 1  # version of the model-directory layout
CHECKPOINT_DIR = "checkpoint"
CURVE_FILE = "loss_curve.png"
ENTRY_POINT_GROUP = "seqlab.tasks"  # where installed packages declare more tasks

T = TypeVar("T", bound="Task")
C = TypeVar("C", bound="TaskConfig")


@dataclass(frozen=True, kw_only=True)
class TaskConfig:
    """The base of every task's config: saved as ``config.json`` beside the weights.

    A subclass sets the class attributes ``task`` (the name in ``config.json``) and
    ``model_kind`` (the model registry's kind) and has a ``model`` field holding the
    network's config, of the class the registry holds for ``(model_kind, arch)``.
    """

    task: ClassVar[str]  # the task's name in config.json ("language_model", "translator")
    model_kind: ClassVar[str]  # the model registry's kind ("language_model", "seq2seq")

    arch: str = "rnn"  # the network's architecture in the model registry

    def __post_init__(self) -> None:
        cls = model_class(self.model_kind, self.arch)  # ValueError naming the registered archs
        wanted = getattr(cls, "config_class", None)
        model = getattr(self, "model", None)
        if wanted is not None and model is not None and not isinstance(model, wanted):
            raise ValueError(
                f"arch {self.arch!r} takes a {wanted.__name__} as its model config, "
                f"got a {type(model).__name__}"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``config.json``: ``task``, ``format`` and every field."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out = {k: _plain(v) for k, v in fields.items()}
        return {"task": self.task, "format": FORMAT, **out}

    @classmethod
    def from_dict(cls: type[C], d: dict[str, Any]) -> C:
        """The config :meth:`to_dict` wrote. Raises ``ValueError`` on unknown fields or a
        layout newer than this seqlab's, ``KeyError``/``TypeError`` on missing ones."""
        d = dict(d)
        d.pop("task", None)
        fmt = d.pop("format", FORMAT)
        if not isinstance(fmt, int) or fmt > FORMAT:
            raise ValueError(f"format {fmt!r} is newer than this seqlab reads ({FORMAT})")
        model_cls = model_class(cls.model_kind, d.get("arch", "rnn"))
        d["model"] = model_cls.config_class.from_dict(d["model"])  # type: ignore[attr-defined]
        return from_fields(cls, d)


@dataclass(frozen=True)
class Preset(Generic[C]):
    """A task's defaults for one kind of data (the dates task, parallel text): its config and
    its training config. The CLI starts from a preset and replaces what the user gives."""

    config: C  # the task's config (the network's vocabulary sizes are set when built)
    train: TrainConfig  # steps, learning rate, schedule, time budget ...


def _plain(value: Any) -> Any:
    """A nested config as its ``to_dict()`` (or its fields), anything else as it is."""
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


def _without(config: dict[str, Any], dotted: Sequence[str]) -> dict[str, Any]:
    """``config`` without the entries named by dotted paths (``"model.impl"``)."""
    out = json.loads(json.dumps(config))  # a deep copy of plain data
    for path in dotted:
        *parents, leaf = path.split(".")
        node = out
        for p in parents:
            node = node.get(p, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict):
            node.pop(leaf, None)
    return out


_TASKS: dict[str, type[Task]] = {}


class Task:
    """The base of every seqlab task (see the module docstring for the contract)."""

    # -- what a subclass declares --------------------------------------------------------
    config_class: ClassVar[type[TaskConfig]]  # the task's config; its .task is the name
    artifacts: ClassVar[dict[str, tuple[str, type]]] = {}  # attribute -> (file, class)
    # ... and those a model may lack (None; e.g. tokenizer.json of a subword model only)
    optional_artifacts: ClassVar[dict[str, tuple[str, type]]] = {}
    what: ClassVar[str] = "model"  # "a <what>" in messages
    command: ClassVar[str] = "seqlab"  # the command that trains one (for hints)
    resume_ignores: ClassVar[tuple[str, ...]] = ()  # config entries that may change on resume

    model: nn.Module
    config: TaskConfig
    path: Path | None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "config_class" not in cls.__dict__:
            return  # an intermediate base, not a task
        name = cls.config_class.task
        held = _TASKS.get(name)
        if held is not None and held.__qualname__ != cls.__qualname__:
            raise ValueError(f"task {name!r} is already registered by {held.__qualname__}")
        _TASKS[name] = cls

    def __init__(
        self, model: nn.Module, config: TaskConfig, path: Path | None = None, **artifacts: Any
    ) -> None:
        missing = sorted(set(self.artifacts) - set(artifacts))
        extra = sorted(set(artifacts) - set(self.artifacts) - set(self.optional_artifacts))
        if missing or extra:
            raise TypeError(f"{type(self).__name__}: missing {missing}, unexpected {extra}")
        self.model = model
        self.config = config
        self.path = path
        for name in self.optional_artifacts:
            setattr(self, name, None)
        for name, value in artifacts.items():
            setattr(self, name, value)

    @classmethod
    def name(cls) -> str:
        """The task's name in ``config.json`` (and the registry)."""
        return cls.config_class.task

    # -- building and training (filled in by each task) -----------------------------------
    @classmethod
    def prepare_data(cls, data: Any) -> Any:
        """What :meth:`train` accepts -> what :meth:`build` reads (default: as it is)."""
        return data

    @classmethod
    def build(cls: type[T], data: Any, config: Any) -> tuple[T, Any]:
        """A fresh task for ``data`` (artifacts built from it, the model from the registry)
        and the encoded training data :meth:`trainable` reads."""
        raise NotImplementedError

    def trainable(self, encoded: Any, data: Any) -> Trainable:
        """The adapter :class:`seqlab.train.Trainer` drives: batches, loss, validation."""
        raise NotImplementedError

    @classmethod
    def build_model(cls, config: TaskConfig) -> nn.Module:
        """The network ``config`` describes, from the model registry."""
        return build_model(config.model_kind, config.arch, config.model)  # type: ignore[attr-defined]

    @classmethod
    def train(
        cls: type[T],
        data: Any,
        out_dir: str | Path,
        config: Any,
        train_config: TrainConfig,
        *,
        resume: bool = False,
        callbacks: Sequence[Callback] = (),
    ) -> tuple[T, TrainResult]:
        """Train on ``data`` into ``out_dir``; returns the task (best validation weights, in
        eval mode) and how the run ended.

        With ``resume=True`` an interrupted run continues from ``out_dir/checkpoint`` (a run
        stopped before its first checkpoint starts over with the same options); without it,
        a folder that already holds a model is refused. ``callbacks`` are added to the
        loss-curve one (e.g. :class:`seqlab.train.TensorBoard`).

        ``out_dir`` and its missing parents are created (as ``mkdir -p``); a file in the way
        or a folder that is not writable is a one-line :class:`seqlab.data.DataError`, found
        before the data is built. From the folder check to the end of training the folder
        is held by this process: another one training into it gets
        :class:`seqlab.train.FolderInUseError` naming this one's pid.
        """
        data = cls.prepare_data(data)
        out = Path(out_dir)
        main = is_main_process()  # under torchrun only rank 0 writes files
        if main:
            check_folder(out)
        torch.manual_seed(train_config.seed)
        task, encoded = cls.build(data, config)
        task.path = out
        task.model.to(train_config.device)
        with hold_folder(out) if main else contextlib.nullcontext(out):
            if main:
                task.check_out_dir(out, resume)
                task.save_meta(out)
            curve = LossCurve(
                out / CURVE_FILE,
                metric=train_config.best_metric,
                maximize=train_config.maximize_best,
            )
            trainer = Trainer(
                task.trainable(encoded, data),
                train_config,
                out,
                callbacks=[curve, *callbacks],
            )
            result = trainer.fit(resume="if_saved" if resume else False)
        best = out / WEIGHTS_FILE
        if best.exists():
            load_weights(best, task.model)
        task.model.eval()
        return task, result

    def check_out_dir(self, out: Path, resume: bool) -> None:
        """Refuse a folder that holds another model (config, checkpoint or artifacts) unless
        resuming; on resume, refuse changed data or options. A file in the way (``out`` or a
        folder above it is a file) or an unwritable folder is a :class:`DataError`."""
        check_folder(out)
        cfg_path = out / CONFIG_FILE
        held_by = {**self.artifacts, **self.optional_artifacts}.values()
        files = [cfg_path, out / CHECKPOINT_DIR] + [out / f for f, _ in held_by]
        if not resume:
            held = [f.name for f in files if f.exists()]
            if held:
                raise FileExistsError(
                    f"{out} already holds a model ({', '.join(held)}): continue it with "
                    "--resume (resume=True), or choose another output folder"
                )
            return
        if not cfg_path.is_file():
            raise DataError(
                out, f"nothing to resume (no {CONFIG_FILE})", hint="train without --resume"
            )
        try:  # read through from_dict, so fields added since with defaults compare equal
            raw = json.loads(cfg_path.read_text(encoding="utf-8"))
            saved: dict[str, Any] | None = self.config_class.from_dict(raw).to_dict()
        except (json.JSONDecodeError, TypeError, KeyError, ValueError):
            saved = None
        same = saved is not None and _without(saved, self.resume_ignores) == _without(
            self.config.to_dict(), self.resume_ignores
        )
        for attr, (file, kind) in self.artifacts.items():
            same = same and (out / file).is_file() and kind.load(out / file) == getattr(self, attr)
        for attr, (file, kind) in self.optional_artifacts.items():
            held = kind.load(out / file) if (out / file).is_file() else None
            same = same and held == getattr(self, attr)
        if not same:
            raise DataError(
                cfg_path,
                "the data or model options differ from the run being resumed",
                hint="resume with the same data and options, or use a new --out",
            )

    # -- saving and loading ---------------------------------------------------------------
    def save_meta(self, out: Path) -> None:
        """Write ``config.json`` and the artifacts (vocabularies) into ``out``."""
        atomic_write_json(out / CONFIG_FILE, self.config.to_dict())
        for attr, (file, _) in self.artifacts.items():
            getattr(self, attr).save(out / file)
        for attr, (file, _) in self.optional_artifacts.items():
            if getattr(self, attr) is not None:
                getattr(self, attr).save(out / file)

    def save(self, out_dir: str | Path | None = None) -> Path:
        """Write the model directory (config.json, model.safetensors, the artifacts); by
        default where the model was trained or loaded from."""
        out = Path(out_dir) if out_dir is not None else self.path
        if out is None:
            raise ValueError(f"give a directory: this {self.what} was never saved")
        out.mkdir(parents=True, exist_ok=True)
        self.save_meta(out)
        save_weights(out / WEIGHTS_FILE, self.model)
        self.path = out
        return out

    @classmethod
    def load(cls: type[T], path: str | Path, *, device: str = "cpu") -> T:
        """Load a model directory written by :meth:`train` or :meth:`save`.

        Raises :class:`seqlab.data.DataError` (one line, naming the file) when the folder is
        not such a model, is another task's, or its files are damaged.
        """
        root = Path(path)
        config = read_config(root, cls.name(), f"a {cls.what}", cls.config_class.from_dict)
        artifacts = {}
        for attr, (file, kind) in cls.artifacts.items():
            if not (root / file).is_file():
                raise DataError(root, f"no {file}", hint="the model directory is incomplete")
            artifacts[attr] = kind.load(root / file)
        for attr, (file, kind) in cls.optional_artifacts.items():
            if (root / file).is_file():
                artifacts[attr] = kind.load(root / file)
        model = cls.build_model(config)
        read_weights(root, model, cls.command)
        model.to(device).eval()
        return cls(model=model, config=config, path=root, **artifacts)

    # -- helpers every task uses ------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        """Where the network's parameters are."""
        return next(self.model.parameters()).device

    @contextlib.contextmanager
    def eval_mode(self) -> Iterator[None]:
        """The network in eval mode (no dropout) and without gradients inside the block; its
        previous mode afterwards."""
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                yield
        finally:
            self.model.train(was_training)

    def generator(self, seed: int | None) -> torch.Generator:
        """A generator on the model's device seeded with ``seed`` (``None``: a fresh seed)."""
        return seeded_generator(seed, self.device)


def registered_tasks() -> dict[str, type[Task]]:
    """The tasks known by name: seqlab's own and those of packages that declare an entry
    point in the ``seqlab.tasks`` group."""
    import seqlab.tasks  # noqa: F401  (registers seqlab's own tasks)

    return dict(_TASKS)


def _from_entry_points(name: str) -> type[Task] | None:
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            ep.load()  # importing the module registers the task
            return _TASKS.get(name)
    return None


def load_task(path: str | Path, **kwargs: Any) -> Task:
    """Load a trained model directory as its task object, found by ``config.json``'s
    ``task`` among the registered tasks (a task defined in your own module is registered
    once that module is imported). Raises :class:`seqlab.data.DataError` for a folder that
    is not a model directory or an unknown task."""
    root = Path(path)
    cfg = root / CONFIG_FILE
    try:
        raw = json.loads(cfg.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        reason = "no config.json" if isinstance(exc, FileNotFoundError) else str(exc)
        raise DataError(
            root, f"not a seqlab model directory ({reason})", hint="train one first"
        ) from None
    name = raw.get("task") if isinstance(raw, dict) else None
    tasks = registered_tasks()
    cls = tasks.get(name) if isinstance(name, str) else None
    if cls is None and isinstance(name, str):
        cls = _from_entry_points(name)
    if cls is None:
        known = ", ".join(sorted(tasks))
        raise DataError(
            cfg,
            f"unknown task {name!r} (known: {known})",
            hint="import the module that defines it first, or use a newer seqlab",
        )
    return cls.load(root, **kwargs)
