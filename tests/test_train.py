"""Tests of ``seqlab.train``: the fit loop, callbacks, checkpoints and resume, DDP, and the
loss curve.

The task under training is a tiny seqlab GRU regressor on random sequences
(``TASK_SOURCE``), written to a temporary module so that subprocesses (the SIGKILL test,
the two DDP ranks) import the very same code as the test process.

* Learning: the loss falls to a calibrated bound; metrics.jsonl and the PNG (drawn by the
  ``LossCurve`` callback) are written; the drawn lines hold exactly the recorded losses and
  the PNG, read back, shows each of them where its axes put it.
* Callbacks: ``on_record`` after every metrics line, ``on_end`` last (on divergence too);
  TensorBoard scalars read back from the event files.
* Clipping: by value equals clamping the raw gradient; by norm rescales it to the threshold.
* Failure handling: a NaN loss raises TrainingDiverged naming the step and keeps the last
  good checkpoint; a time budget stops cleanly; early stopping keeps the best weights;
  ``max_epochs`` stops after exactly that many epochs.
* Resume: after an in-process crash and after a real SIGKILL, a resumed run ends
  bit-identical to an uninterrupted one (weights, steps, metrics lines); crash states of
  the checkpoint folder are repaired; torch.load only ever runs with weights_only=True.
* Determinism, weight tying, sharding and device moves of nested batches (dataclasses
  too), ``is_main_process``, and DDP (2 gloo processes) against one process.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import itertools
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import matplotlib
import matplotlib.image
import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

import seqlab
from seqlab.train import (
    Callback,
    FolderInUseError,
    TensorBoard,
    TrainConfig,
    Trainer,
    TrainingDiverged,
    hold_folder,
    is_main_process,
    load_checkpoint,
    load_weights,
    loop,
    lr_factor,
    parse_duration,
    save_checkpoint,
    save_weights,
    shard_batch,
)
from seqlab.train.checkpoint import TEMP_MARKER, atomic_directory, recover_directory
from seqlab.train.distributed import to_device
from seqlab.viz import LossCurve, plot_loss_curve

TASK_SOURCE = '''
"""The training-loop tests' task: a tiny seqlab GRU regressor on random sequences."""

import os
import signal
import time

import torch
import torch.nn.functional as F
from torch import nn

from seqlab.nn import GRU
from seqlab.train import TrainConfig


class SimulatedCrash(Exception):
    """Raised by the task to stop a run abruptly, as a crash would."""


class Regressor(nn.Module):
    """A 2-layer seqlab GRU (dropout between the layers) and a linear read-out."""

    def __init__(self, dropout, dtype):
        super().__init__()
        self.rnn = GRU(3, 8, num_layers=2, dropout=dropout, batch_first=True, dtype=dtype)
        self.head = nn.Linear(8, 1, dtype=dtype)

    def forward(self, x):
        out, _ = self.rnn(x)  # (B, T, H)
        return self.head(out[:, -1]).squeeze(-1)  # (B,)


class SumTask:
    """Predict a fixed linear function of a whole random sequence (64 train, 64 valid).

    Fault injection: ``sleep`` seconds per step, a NaN loss at call ``nan_at``, a crash at
    call ``crash_at``, Ctrl-C (SIGINT to this process) at the calls in ``interrupt_at``,
    a scaled loss (huge gradients), a validation loss that never improves.
    """

    def __init__(self, *, dropout=0.1, dtype=torch.float32, sleep=0.0, nan_at=None,
                 crash_at=None, interrupt_at=(), loss_scale=1.0, flat_valid=False,
                 batch_size=16):
        g = torch.Generator().manual_seed(1234)
        w = torch.randn(3, generator=g, dtype=dtype)
        x = torch.randn(128, 5, 3, generator=g, dtype=dtype)  # (N, T, E)
        y = (x @ w).sum(1) / 5**0.5  # (N,)
        self.x, self.y, self.x_valid, self.y_valid = x[:64], y[:64], x[64:], y[64:]
        self.batch_size = batch_size
        self.sleep, self.nan_at, self.crash_at = sleep, nan_at, crash_at
        self.interrupt_at = interrupt_at
        self.loss_scale, self.flat_valid = loss_scale, flat_valid
        self.calls = 0
        self.seen = []  # batch sizes the model was trained on
        with torch.random.fork_rng():
            torch.manual_seed(1)
            self.model = Regressor(dropout, dtype)

    def train_batches(self, epoch, generator):
        order = torch.randperm(len(self.x), generator=generator)
        for i in range(0, len(order), self.batch_size):
            idx = order[i : i + self.batch_size]
            yield self.x[idx], self.y[idx]

    def training_loss(self, batch):
        self.calls += 1
        if self.calls == self.crash_at:
            raise SimulatedCrash(f"crash at call {self.calls}")
        for _ in range(list(self.interrupt_at).count(self.calls)):
            os.kill(os.getpid(), signal.SIGINT)
        if self.sleep:
            time.sleep(self.sleep)
        x, y = batch
        self.seen.append(len(y))
        loss = F.mse_loss(self.model(x), y) * self.loss_scale
        if self.calls == self.nan_at:
            loss = loss * float("nan")
        return loss, y.numel()

    def validate(self):
        if self.flat_valid:
            return {"loss": 1.0}
        pred = self.model(self.x_valid)
        return {"loss": F.mse_loss(pred, self.y_valid).item(),
                "mae": (pred - self.y_valid).abs().mean().item()}


def config(**overrides):
    """The tests' config: quiet, with frequent logs, evaluations and checkpoints."""
    base = dict(max_steps=30, lr=1e-2, schedule="cosine", warmup_steps=3, log_every=2,
                eval_every=5, checkpoint_every_steps=7, progress=False)
    return TrainConfig(**(base | overrides))
'''

KILL_SCRIPT = """
import sys
sys.path.insert(0, sys.argv[1])
from train_task import SumTask, config
from seqlab.train import Trainer
Trainer(SumTask(sleep=0.05), config(max_steps=40, checkpoint_every_steps=1), sys.argv[2]).fit()
"""

DDP_SCRIPT = """
import faulthandler, os, sys
faulthandler.dump_traceback_later(100, exit=True)  # a hung rank shows where it waits
sys.path.insert(0, sys.argv[1])
import torch
from safetensors.torch import save_file
from train_task import SumTask, config
from seqlab.train import Trainer
out, results, second_port, batch_size = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
rank = os.environ["RANK"]
task = SumTask(dropout=0.0, dtype=torch.float64, batch_size=int(batch_size))
ddp = dict(schedule="constant", warmup_steps=0, log_every=1, eval_every=2)
Trainer(task, config(max_steps=1, **ddp), out).fit()
save_file({n: p.grad for n, p in task.model.named_parameters()}, f"{results}/grads{rank}.st")
os.environ["MASTER_PORT"] = second_port  # a fresh process group for the resumed fit
Trainer(task, config(max_steps=4, **ddp), out).fit(resume=True)
save_file({n: p.detach() for n, p in task.model.named_parameters()}, f"{results}/w{rank}.st")
with open(f"{results}/seen{rank}.txt", "w") as f:
    f.write(" ".join(map(str, task.seen)))
"""

SRC = Path(seqlab.__file__).parent


# -- fixtures and helpers ----------------------------------------------------------------


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: torch on one thread


@pytest.fixture(scope="module")
def task_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("task")
    (folder / "train_task.py").write_text(TASK_SOURCE)
    return folder


@pytest.fixture(scope="module")
def tm(task_dir: Path) -> ModuleType:
    """The task module (``SumTask``, ``config``, ``SimulatedCrash``)."""
    spec = importlib.util.spec_from_file_location("train_task", task_dir / "train_task.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def weights(model: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_identical(a: dict[str, Tensor], b: dict[str, Tensor]) -> None:
    """Bit-identical tensors under the same names."""
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), f"{name} differs"


def read_metrics(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def deterministic_part(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The metrics that do not depend on timing."""
    timing = {"elapsed", "tokens_per_s"}
    return [{k: v for k, v in r.items() if k not in timing} for r in records]


def saved_step(out: Path) -> int:
    return torch.load(out / "checkpoint" / "trainer.pt", weights_only=True)["step"]


def leftovers(out: Path) -> list[Path]:
    """Temporary or old files/folders that a crashed write could leave behind."""
    return [p for p in out.rglob("*") if ".seqlab-" in p.name]


def free_ports(n: int) -> list[int]:
    """``n`` distinct free TCP ports (all held open together, so the OS cannot repeat one:
    two process groups on the same port could let a rank join the other group's store)."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def subprocess_env(**extra: str) -> dict[str, str]:
    env = os.environ | {"OMP_NUM_THREADS": "1"} | extra
    env["PYTHONPATH"] = os.pathsep.join([str(SRC.parent), env.get("PYTHONPATH", "")])
    return env


# -- configuration -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"max_steps": 0}, "max_steps"),
        ({"max_epochs": 0}, "max_epochs"),
        ({"max_epochs": 1.5}, "max_epochs"),
        ({"optimizer": "adam"}, "optimizer"),
        ({"lr": -1.0}, "lr"),
        ({"lr": math.nan}, "lr"),
        ({"momentum": 1.0}, "momentum"),
        ({"betas": (0.9, 1.0)}, "betas"),
        ({"clip": "both"}, "clip"),
        ({"clip_threshold": 0.0}, "clip_threshold"),
        ({"schedule": "step"}, "schedule"),
        ({"warmup_steps": 10}, "warmup_steps"),
        ({"eval_every": 0}, "eval_every"),
        ({"log_every": 2.5}, "log_every"),
        ({"time_budget": 0}, "time_budget"),
        ({"early_stopping_patience": 2, "eval_every": None}, "early_stopping_patience"),
        ({"seed": -1}, "seed"),
        ({"best_metric": ""}, "best_metric"),
        ({"best_mode": "up"}, "best_mode"),
        ({"device": "gpu:x"}, "device"),
    ],
)
def test_config_rejects_bad_values_naming_the_field(overrides: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        TrainConfig(**({"max_steps": 10} | overrides))


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("45", 45.0), ("90s", 90.0), ("10m", 600.0), ("1h30m", 5400.0), ("1.5h", 5400.0),
     ("2m30s", 150.0), (" 1H ", 3600.0)],
)  # fmt: skip
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "10x", "ten minutes", "-5", "1h-30m", "inf", "5s3m"])
def test_parse_duration_rejects_junk(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_lr_schedules_warm_up_then_decay_to_zero() -> None:
    for schedule in ("constant", "cosine", "linear"):
        cfg = TrainConfig(max_steps=100, warmup_steps=10, schedule=schedule)
        factors = [lr_factor(step, cfg) for step in range(100)]
        assert factors[:10] == pytest.approx([(s + 1) / 10 for s in range(10)])
        assert factors[10] == 1.0
        tail = factors[10:]
        if schedule == "constant":
            assert tail == [1.0] * 90
        else:
            assert all(a > b for a, b in itertools.pairwise(tail)), schedule
            assert tail[-1] < 0.02
    cosine = TrainConfig(max_steps=100, schedule="cosine")
    assert lr_factor(50, cosine) == pytest.approx(0.5)


def test_lr_schedule_ends_with_the_limit_that_binds_first() -> None:
    """``progress`` (the clock's or the epochs' share of the run) moves the schedule to
    ``max(step, progress * max_steps)``; the warmup still counts steps."""
    for schedule in ("cosine", "linear"):
        cfg = TrainConfig(max_steps=1000, warmup_steps=10, schedule=schedule)
        steps_only = [lr_factor(s, cfg) for s in range(1000)]
        assert [lr_factor(s, cfg, 0.0) for s in range(1000)] == steps_only  # bit for bit
        assert [lr_factor(s, cfg, 0.001) for s in range(1000)] == steps_only  # steps ahead
        assert lr_factor(100, cfg, 0.5) == lr_factor(500, cfg)  # the budget is ahead
        assert lr_factor(100, cfg, 1.0) == 0.0  # the budget is spent: decayed to 0
        assert lr_factor(3, cfg, 0.999) < lr_factor(3, cfg)  # ... in the warmup too
        assert lr_factor(3, cfg, 0.001) == lr_factor(3, cfg) == 0.4  # warmup by steps
    constant = TrainConfig(max_steps=1000, schedule="constant")
    assert lr_factor(10, constant, 0.99) == 1.0


# -- learning, metrics, figures ----------------------------------------------------------


def test_progress_bar_fits_80_columns_cutting_the_info_not_the_counts(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from seqlab._progress import ProgressBar

    monkeypatch.setenv("COLUMNS", "80")
    bar = ProgressBar("train", 3000, time_limit=5.0)
    info = "loss 1.2345 | 12.3k tok/s | lr 0.003 | and much more text than fits"
    bar.update(2999, info)
    task = bar._progress.tasks[0]
    remaining = bar._progress.columns[4].render(task).plain  # capped by the 5 s budget
    bar.close()
    assert remaining in ("00:05", "00:04")
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert len(last) <= 80 and "2999/3000" in last
    assert "loss 1.2345 | 12.3k tok/s" in last and last.endswith("…")


def spy_saved_figures(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every matplotlib Figure saved from now on (plot_loss_curve draws on a private one)."""
    from matplotlib.figure import Figure

    saved: list[Any] = []
    real = Figure.savefig

    def spy(self: Figure, *args: Any, **kwargs: Any) -> None:
        real(self, *args, **kwargs)
        saved.append(self)

    monkeypatch.setattr(Figure, "savefig", spy)
    return saved


def assert_loss_curve_shows(path: Path, figure: Any, records: list[dict[str, Any]]) -> None:
    """The loss-curve figure holds the records' losses and the PNG at ``path`` shows them.

    The lines are "train" (steps and train_loss of every training record) and "validation"
    (the valid_loss records), the y axis is logarithmic when the losses span 20x; in the PNG,
    read back, the pixels at every validation point are the markers' orange and those along
    the training line its blue (except where the legend or a validation marker covers them),
    so a blank picture, a curve drawn off its axes or a wrong series fails.
    """
    train = [(r["step"], r["train_loss"]) for r in records if "train_loss" in r]
    valid = [(r["step"], r["valid_loss"]) for r in records if "valid_loss" in r]
    (ax,) = figure.axes
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"train", "validation"}
    for name, series in (("train", train), ("validation", valid)):
        assert list(zip(lines[name].get_xdata(), lines[name].get_ydata(), strict=True)) == series
    losses = [loss for _, loss in train + valid]
    assert ax.get_yscale() == ("log" if max(losses) / min(losses) >= 20 else "linear")

    image = matplotlib.image.imread(path)[..., :3]  # (H, W, 3) in [0, 1]
    height, width = image.shape[:2]
    assert (width, height) == (700, 450)  # 7 x 4.5 inches at 100 dpi
    legend = ax.get_legend().get_window_extent()
    markers = ax.transData.transform(valid)  # (V, 2) display pixels of the validation points

    def colour_near(point: tuple[float, float], wanted: Any, markers_hide: bool) -> bool | None:
        """Whether the pixels around the point have the colour (None: it is hidden)."""
        x, y = ax.transData.transform(point)
        if legend.x0 - 3 <= x <= legend.x1 + 3 and legend.y0 - 3 <= y <= legend.y1 + 3:
            return None
        if markers_hide and (abs(markers - (x, y)).max(axis=1) <= 4).any():
            return None
        row, col = round(height - y), round(x)
        patch = image[max(row - 2, 0) : row + 3, max(col - 2, 0) : col + 3]  # (5, 5, 3)
        return bool(wanted(patch[..., 0], patch[..., 1], patch[..., 2]).any())

    orange = [colour_near(p, lambda r, g, b: (r > 0.85) & (b < 0.35), False) for p in valid]
    blue = [colour_near(p, lambda r, g, b: (b - r > 0.35) & (g < 0.7), True) for p in train]
    assert False not in orange and orange.count(None) < len(orange), orange
    assert False not in blue and blue.count(None) < len(blue) / 2, [
        (p, b) for p, b in zip(train, blue, strict=True) if b is not True
    ]


def test_loss_falls_to_calibrated_bound_and_files_are_written(
    tm: ModuleType,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    figures = spy_saved_figures(monkeypatch)
    task = tm.SumTask()
    with torch.no_grad():
        initial = task.validate()["loss"]
    cfg = tm.config(max_steps=200, eval_every=50, progress=True)
    curve = LossCurve(tmp_path / "loss_curve.png")
    result = Trainer(task, cfg, tmp_path, callbacks=[curve]).fit()
    captured = capsys.readouterr()
    assert captured.out == "" and "200/200" in captured.err  # the progress bar, on stderr
    # Calibrated: the untrained model's validation MSE is ~1.5; after 200 steps seeds 0-3
    # reached 0.052-0.065 (300 steps: 0.038-0.044). 0.1 leaves room for platform noise.
    assert initial > 1.0
    assert result.best_valid is not None and result.best_valid < 0.1
    assert result.steps == 200 and result.stopped_because == "max_steps"
    assert result.epochs == 50  # 4 batches an epoch

    records = read_metrics(tmp_path)
    train = [r for r in records if "train_loss" in r]
    valid = [r for r in records if "valid_loss" in r]
    assert [r["step"] for r in train] == list(range(2, 201, 2))
    assert [r["step"] for r in valid] == [50, 100, 150, 200]
    assert set(train[0]) == {
        "step", "epoch", "train_loss", "lr", "grad_norm", "grad_norm_clipped", "tokens_per_s",
        "elapsed",
    }  # fmt: skip
    assert set(valid[0]) == {"step", "epoch", "elapsed", "valid_loss", "valid_mae"}
    assert all(r["tokens_per_s"] > 0 for r in train)
    assert train[-1]["train_loss"] < train[0]["train_loss"] / 10
    assert min(r["valid_loss"] for r in valid) == result.best_valid
    assert TrainConfig(**json.loads((tmp_path / "train_config.json").read_text())) == cfg

    assert_loss_curve_shows(tmp_path / "loss_curve.png", figures[-1], records)
    # model.safetensors holds the best-validation weights: they reproduce the best loss
    best = tm.SumTask()
    load_weights(tmp_path / "model.safetensors", best.model)
    best.model.eval()
    with torch.no_grad():
        assert best.validate()["loss"] == pytest.approx(result.best_valid, rel=1e-6)


def test_plot_loss_curve_leaves_matplotlib_state_alone(tmp_path: Path) -> None:
    backend = matplotlib.get_backend()
    had_pyplot = "matplotlib.pyplot" in sys.modules
    records = [{"step": s, "train_loss": 10.0 / s} for s in range(1, 50)]
    records += [{"step": 25, "valid_loss": 0.5}, {"step": 49, "valid_loss": math.nan}]
    plot_loss_curve(records, tmp_path / "curve.png")
    plot_loss_curve([], tmp_path / "empty.png")
    for name in ("curve.png", "empty.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert matplotlib.get_backend() == backend
    assert ("matplotlib.pyplot" in sys.modules) == had_pyplot
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(("maximize", "kept"), [(True, 20), (False, 10)])
def test_the_curve_draws_the_best_metric_and_marks_the_kept_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, maximize: bool, kept: int
) -> None:
    """valid_f1 on a right-hand axis, exactly as recorded (NaN skipped), and a dashed line at
    the step the trainer keeps: the first of equal bests (20 and 40 both score 0.9)."""
    figures = spy_saved_figures(monkeypatch)
    records = [{"step": s, "train_loss": 1.0 / s} for s in range(1, 51)]
    scores = {10: 0.2, 20: 0.9, 30: math.nan, 40: 0.9, 50: 0.5}
    records += [{"step": s, "valid_loss": 0.5, "valid_f1": f} for s, f in scores.items()]
    plot_loss_curve(records, tmp_path / "curve.png", metric="f1", maximize=maximize)
    left, right = figures[-1].axes
    assert {line.get_label() for line in left.get_lines()} == {"train", "validation"}
    lines = {line.get_label(): line for line in right.get_lines()}
    assert set(lines) == {"validation f1", f"kept: step {kept}"}
    drawn = zip(lines["validation f1"].get_xdata(), lines["validation f1"].get_ydata(), strict=True)
    assert list(drawn) == [(s, f) for s, f in scores.items() if not math.isnan(f)]
    assert list(lines[f"kept: step {kept}"].get_xdata()) == [kept, kept]
    legend = [t.get_text() for t in right.get_legend().get_texts()]
    assert legend == ["train", "validation", "validation f1", f"kept: step {kept}"]
    plot_loss_curve(records, tmp_path / "loss.png", metric="loss")  # the loss: one axis
    assert len(figures[-1].axes) == 1


# -- clipping ----------------------------------------------------------------------------


def one_step_gradients(tm: ModuleType, out: Path, **overrides: Any) -> dict[str, Tensor]:
    """Gradients of one SGD step on a loss scaled by 1e6 (float64)."""
    task = tm.SumTask(dtype=torch.float64, loss_scale=1e6)
    cfg = tm.config(
        max_steps=1, optimizer="sgd", momentum=0.0, warmup_steps=0, eval_every=None, **overrides
    )
    Trainer(task, cfg, out).fit()
    return {n: p.grad.clone() for n, p in task.model.named_parameters()}


def test_clip_by_value_bounds_every_gradient_entry(tm: ModuleType, tmp_path: Path) -> None:
    raw = one_step_gradients(tm, tmp_path / "raw", clip="none")
    clipped = one_step_gradients(tm, tmp_path / "value", clip="value", clip_threshold=5.0)
    assert max(g.abs().max().item() for g in raw.values()) > 1000.0  # a huge gradient
    for name, g in clipped.items():
        assert g.abs().max().item() <= 5.0
        torch.testing.assert_close(g, raw[name].clamp(-5.0, 5.0), rtol=0, atol=0)


def test_clip_by_norm_bounds_the_global_norm(tm: ModuleType, tmp_path: Path) -> None:
    raw = one_step_gradients(tm, tmp_path / "raw", clip="none")
    clipped = one_step_gradients(tm, tmp_path / "norm", clip="norm", clip_threshold=1.0)
    raw_norm = torch.cat([g.flatten() for g in raw.values()]).norm().item()
    norm = torch.cat([g.flatten() for g in clipped.values()]).norm().item()
    assert raw_norm > 1000.0
    assert 1.0 - 1e-5 < norm <= 1.0
    for name, g in clipped.items():  # same direction, rescaled
        torch.testing.assert_close(g, raw[name] / raw_norm, rtol=1e-5, atol=1e-12)


def first_train_line(
    tm: ModuleType, out: Path, clip: str, **overrides: Any
) -> tuple[dict[str, Any], dict[str, Tensor]]:
    """The first metrics line and the final gradients of an SGD run on a loss scaled by
    1e6 (float64)."""
    task = tm.SumTask(dtype=torch.float64, loss_scale=1e6)
    threshold = 5.0 if clip == "value" else 1.0
    base = dict(max_steps=1, optimizer="sgd", momentum=0.0, warmup_steps=0, eval_every=None,
                log_every=1, clip=clip, clip_threshold=threshold)  # fmt: skip
    Trainer(task, tm.config(**(base | overrides)), out).fit()
    grads = {n: p.grad.clone() for n, p in task.model.named_parameters()}
    return read_metrics(out)[0], grads


def global_norm(grads: dict[str, Tensor]) -> float:
    return torch.cat([g.flatten() for g in grads.values()]).norm().item()


@pytest.mark.parametrize("clip", ["none", "norm", "value"])
def test_metrics_report_the_gradient_norm_before_and_after_clipping(
    tm: ModuleType, tmp_path: Path, clip: str
) -> None:
    _, raw = first_train_line(tm, tmp_path / "raw", "none")
    raw_norm = global_norm(raw)
    assert raw_norm > 1000.0
    line, clipped = first_train_line(tm, tmp_path / clip, clip)
    assert line["grad_norm"] == pytest.approx(raw_norm, rel=1e-9)
    assert line["grad_norm_clipped"] == pytest.approx(global_norm(clipped), rel=1e-6)
    expected = {"none": raw_norm, "norm": 1.0, "value": global_norm(
        {n: g.clamp(-5.0, 5.0) for n, g in raw.items()}
    )}[clip]  # fmt: skip
    assert line["grad_norm_clipped"] == pytest.approx(expected, rel=1e-5)
    # a line holds the mean over its window: every 2 steps = the mean of two 1-step lines
    first_train_line(tm, tmp_path / "every1", clip, max_steps=2, log_every=1)
    first_train_line(tm, tmp_path / "every2", clip, max_steps=2, log_every=2)
    one, two = read_metrics(tmp_path / "every1")
    (pair,) = read_metrics(tmp_path / "every2")
    for key in ("grad_norm", "grad_norm_clipped"):
        assert pair[key] == pytest.approx((one[key] + two[key]) / 2, rel=1e-12)


# -- failures: divergence, time budget, early stopping -----------------------------------


@pytest.mark.parametrize("clip", ["none", "norm"])  # "norm" also checks the gradient norm
def test_nan_loss_raises_naming_the_step_and_keeps_the_last_good_checkpoint(
    tm: ModuleType, tmp_path: Path, clip: str
) -> None:
    cfg = tm.config(checkpoint_every_steps=2, clip=clip)
    task = tm.SumTask(nan_at=7)
    with pytest.raises(TrainingDiverged, match=r"step 7\b") as info:
        Trainer(task, cfg, tmp_path).fit()
    message = str(info.value)
    assert "nan" in message and "learning rate" in message and "clip" in message
    assert "step 6" in message and "resume" in message
    assert info.value.step == 7 and math.isnan(info.value.value)
    assert all(torch.isfinite(p).all() for p in task.model.parameters())  # no NaN update
    assert saved_step(tmp_path) == 6
    checkpoint = load_checkpoint(tmp_path / "checkpoint", tm.SumTask().model)
    assert checkpoint["run"]["step"] == 6
    # the run continues from the last good checkpoint
    result = Trainer(tm.SumTask(), cfg, tmp_path).fit(resume=True)
    assert result.steps == 30


def test_time_budget_stops_cleanly_with_a_checkpoint(tm: ModuleType, tmp_path: Path) -> None:
    # without the budget the run would take 3000 x 10 ms = 30 s at least
    cfg = tm.config(max_steps=3000, time_budget=0.3, checkpoint_every_steps=3000)
    started = time.perf_counter()
    result = Trainer(tm.SumTask(sleep=0.01), cfg, tmp_path).fit()
    took = time.perf_counter() - started
    assert result.stopped_because == "time_budget"
    assert 1 <= result.steps < 3000
    assert result.seconds >= 0.3 and took < 10.0
    assert saved_step(tmp_path) == result.steps
    assert (tmp_path / "model.safetensors").is_file()


class FakeClock:
    """The loop's clock, moved on by the task: ``tick`` seconds per training step."""

    def __init__(self, tick: float) -> None:
        self.now, self.tick = 1000.0, tick

    def __call__(self) -> float:
        return self.now


def ticking_task(tm: ModuleType, clock: FakeClock, **kwargs: Any) -> Any:
    class Ticking(tm.SumTask):
        def training_loss(self, batch: Any) -> Any:
            clock.now += clock.tick
            return super().training_loss(batch)

    return Ticking(**kwargs)


def test_time_budget_lays_the_schedule_over_the_budget_and_validates_the_end(
    tm: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock(1 / 64)  # 64 steps in the 1 s budget (exact binary fractions)
    monkeypatch.setattr(loop, "_clock", clock)
    cfg = tm.config(
        max_steps=3000, time_budget=1.0, warmup_steps=0, log_every=1, eval_every=1000,
        checkpoint_every_steps=3000,
    )  # fmt: skip
    task = ticking_task(tm, clock)
    result = Trainer(task, cfg, tmp_path / "budget").fit()
    assert (result.stopped_because, result.steps) == ("time_budget", 64)
    records = read_metrics(tmp_path / "budget")
    lrs = [r["lr"] for r in records if "train_loss" in r]
    assert len(lrs) == 64 and lrs[0] == cfg.lr
    assert all(a > b for a, b in itertools.pairwise(lrs))
    # the rate of step k+1 is set when k steps took k/64 s: position 3000 k / 64
    for k, lr in enumerate(lrs):
        assert lr == pytest.approx(cfg.lr * lr_factor(k, cfg, k / 64), rel=1e-12)
    assert lrs[-1] < 1e-3 * cfg.lr  # cosine over 3000 steps would still be at 99.9%
    # the final weights were validated: the only validation, so they are the best ones
    valid = [r for r in records if "valid_loss" in r]
    assert [r["step"] for r in valid] == [64] and result.best_valid == valid[0]["valid_loss"]
    best = load_file(tmp_path / "budget" / "model.safetensors")
    assert_identical(best, weights(task.model))

    # a resumed run gets a fresh budget: the schedule continues from its step (the rate
    # the steps alone give) and decays to 0 again by the end of the new budget
    clock.now += 100.0
    resumed = Trainer(ticking_task(tm, clock), cfg, tmp_path / "budget").fit(resume=True)
    assert (resumed.steps, resumed.resumed_from) == (128, 64)
    again = [r["lr"] for r in read_metrics(tmp_path / "budget") if "train_loss" in r][64:]
    assert again[0] == pytest.approx(cfg.lr * lr_factor(64, cfg), rel=1e-12)
    assert again[-1] < 1e-3 * cfg.lr


def test_time_budget_at_a_validation_step_validates_once(
    tm: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock(1 / 8)
    monkeypatch.setattr(loop, "_clock", clock)
    cfg = tm.config(max_steps=100, time_budget=1.0, eval_every=4)  # stops at step 8
    result = Trainer(ticking_task(tm, clock), cfg, tmp_path).fit()
    assert (result.stopped_because, result.steps) == ("time_budget", 8)
    assert [r["step"] for r in read_metrics(tmp_path) if "valid_loss" in r] == [4, 8]


def test_epoch_limit_ends_the_schedule_when_the_task_tells_its_epoch_size(
    tm: ModuleType, tmp_path: Path
) -> None:
    class Sized(tm.SumTask):
        def batches_per_epoch(self) -> int:
            return 4  # 64 examples, 16 a batch

    cfg = tm.config(max_steps=1000, max_epochs=3, warmup_steps=0, log_every=1)
    task = Sized()
    result = Trainer(task, cfg, tmp_path / "sized").fit()
    assert (result.steps, result.stopped_because) == (12, "max_epochs")
    lrs = [r["lr"] for r in read_metrics(tmp_path / "sized") if "train_loss" in r]
    assert lrs == pytest.approx([cfg.lr * lr_factor(k, cfg, k / 12) for k in range(12)])
    assert lrs[-1] < 0.02 * cfg.lr  # laid over 3 epochs, not over 1000 steps
    # without the epoch size the schedule stays laid over the steps
    Trainer(tm.SumTask(), cfg, tmp_path / "unsized").fit()
    plain = [r["lr"] for r in read_metrics(tmp_path / "unsized") if "train_loss" in r]
    assert plain[-1] > 0.99 * cfg.lr
    # the epoch position is restored with the checkpoint: resume stays bit-identical
    with pytest.raises(tm.SimulatedCrash):

        class Crashing(Sized):
            def __init__(self) -> None:
                super().__init__(crash_at=10)

        Trainer(Crashing(), cfg, tmp_path / "crashed").fit()
    resumed = Sized()
    Trainer(resumed, cfg, tmp_path / "crashed").fit(resume=True)
    assert_identical(weights(resumed.model), weights(task.model))
    assert deterministic_part(read_metrics(tmp_path / "crashed")) == deterministic_part(
        read_metrics(tmp_path / "sized")
    )

    class Wrong(tm.SumTask):
        def batches_per_epoch(self) -> int:
            return 0

    with pytest.raises(TypeError, match="batches_per_epoch"):
        Trainer(Wrong(), cfg, tmp_path / "wrong").fit()


def test_early_stopping_keeps_the_best_weights(tm: ModuleType, tmp_path: Path) -> None:
    cfg = tm.config(max_steps=100, schedule="constant", warmup_steps=0, early_stopping_patience=2)
    task = tm.SumTask(flat_valid=True)  # the first evaluation (step 5) stays the best
    result = Trainer(task, cfg, tmp_path / "stopped").fit()
    assert result.stopped_because == "early_stopping"
    assert result.steps == 15  # evaluations at 5 (best), 10 and 15 (no improvement: 2)
    reference = tm.SumTask()
    short = tm.config(max_steps=5, schedule="constant", warmup_steps=0)
    Trainer(reference, short, tmp_path / "five").fit()
    best = load_file(tmp_path / "stopped" / "model.safetensors")
    assert_identical(best, weights(reference.model))
    assert not torch.equal(best["head.weight"], task.model.head.weight.detach())


def scripted_task(tm: ModuleType, scores: list[float]) -> Any:
    """A SumTask whose validation also reports ``score``: the next of ``scores`` each time."""

    class Scripted(tm.SumTask):
        def validate(self) -> dict[str, float]:
            return super().validate() | {"score": scores[self.evaluations_done()]}

        def evaluations_done(self) -> int:
            self.n_valid = getattr(self, "n_valid", 0) + 1
            return self.n_valid - 1

    return Scripted()


def weights_after(tm: ModuleType, steps: int, out: Path) -> dict[str, Tensor]:
    """The weights of a plain run of ``steps`` constant-rate steps (the reference)."""
    reference = tm.SumTask()
    Trainer(reference, tm.config(max_steps=steps, schedule="constant", warmup_steps=0), out).fit()
    return weights(reference.model)


@pytest.mark.parametrize(("mode", "best_step"), [(None, 10), ("max", 10), ("min", 5)])
def test_best_metric_picks_the_kept_weights(
    tm: ModuleType, tmp_path: Path, mode: str | None, best_step: int
) -> None:
    """Evaluations at steps 5, 10, 15, 20 score 0.1, 0.9, 0.5, 0.3: a larger score is better
    by default (the name holds no "loss"), so step 10's weights are kept; min keeps step 5's."""
    scores = [0.1, 0.9, 0.5, 0.3]
    cfg = tm.config(
        max_steps=20, schedule="constant", warmup_steps=0, best_metric="score", best_mode=mode
    )
    task = scripted_task(tm, scores)
    result = Trainer(task, cfg, tmp_path / "run").fit()
    kept = load_file(tmp_path / "run" / "model.safetensors")
    assert_identical(kept, weights_after(tm, best_step, tmp_path / "reference"))
    assert result.best_score == scores[best_step // 5 - 1]
    valid = [r for r in read_metrics(tmp_path / "run") if "valid_loss" in r]
    assert [r["valid_score"] for r in valid] == scores
    assert result.best_valid == min(r["valid_loss"] for r in valid)  # still the lowest loss


def test_early_stopping_watches_the_best_metric(tm: ModuleType, tmp_path: Path) -> None:
    cfg = tm.config(
        max_steps=100,
        schedule="constant",
        warmup_steps=0,
        best_metric="score",
        early_stopping_patience=2,
    )
    result = Trainer(scripted_task(tm, [0.1, 0.9, 0.5, 0.3, 1.0]), cfg, tmp_path / "run").fit()
    assert result.stopped_because == "early_stopping"
    assert result.steps == 20 and result.best_score == 0.9  # 15 and 20 were not better
    kept = load_file(tmp_path / "run" / "model.safetensors")
    assert_identical(kept, weights_after(tm, 10, tmp_path / "reference"))


def test_a_best_metric_the_task_does_not_report_is_a_clear_error(
    tm: ModuleType, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match=r"best_metric 'f1' is not among .*\['loss', 'mae'\]"):
        Trainer(tm.SumTask(), tm.config(best_metric="f1"), tmp_path).fit()


def test_a_checkpoint_from_before_best_metric_resumes_choosing_by_the_loss() -> None:
    from seqlab.train.loop import _RunState

    old = {"step": 40, "best_valid": 0.25, "bad_evals": 1}  # no best_score: an older trainer
    assert _RunState.from_dict(old).best_score == 0.25


@pytest.mark.parametrize("no_validation", ["eval_every=None", "validate() returns {}"])
def test_without_validation_the_final_weights_are_saved(
    tm: ModuleType, tmp_path: Path, no_validation: str
) -> None:
    class NoValidationData(tm.SumTask):
        def validate(self) -> dict[str, float]:
            return {}

    if no_validation == "eval_every=None":
        task, cfg = tm.SumTask(), tm.config(eval_every=None)
    else:
        task, cfg = NoValidationData(), tm.config()
    result = Trainer(task, cfg, tmp_path).fit()
    assert result.best_valid is None and result.steps == 30
    assert not any("valid_loss" in r for r in read_metrics(tmp_path))
    assert_identical(load_file(tmp_path / "model.safetensors"), weights(task.model))


@pytest.mark.parametrize(("batch_size", "per_epoch"), [(16, 4), (13, 5)])  # 64 examples
def test_max_epochs_stops_after_that_many_epochs_and_resumes(
    tm: ModuleType, tmp_path: Path, batch_size: int, per_epoch: int
) -> None:
    cfg = tm.config(max_steps=100, max_epochs=3)
    task = tm.SumTask(batch_size=batch_size)
    result = Trainer(task, cfg, tmp_path / "three").fit()
    assert (result.steps, result.epochs) == (3 * per_epoch, 3)
    assert result.stopped_because == "max_epochs" and task.calls == 3 * per_epoch
    assert saved_step(tmp_path / "three") == 3 * per_epoch  # the final checkpoint
    records = read_metrics(tmp_path / "three")
    assert [r["step"] for r in records if "valid_loss" in r][-1] == 3 * per_epoch  # final eval
    assert max(r["epoch"] for r in records) == 2

    # a finished run resumes to no step; a higher limit continues as if never stopped
    again = Trainer(tm.SumTask(batch_size=batch_size), cfg, tmp_path / "three").fit(resume=True)
    assert (again.steps, again.stopped_because) == (3 * per_epoch, "max_epochs")
    five = tm.config(max_steps=100, max_epochs=5)
    resumed = tm.SumTask(batch_size=batch_size)
    more = Trainer(resumed, five, tmp_path / "three").fit(resume=True)
    straight = tm.SumTask(batch_size=batch_size)
    expected = Trainer(straight, five, tmp_path / "five").fit()
    assert (more.steps, more.epochs, more.stopped_because) == (5 * per_epoch, 5, "max_epochs")
    assert more == dataclasses.replace(expected, seconds=more.seconds)
    assert_identical(weights(resumed.model), weights(straight.model))

    # resumed after a crash in the middle of the last epoch
    with pytest.raises(tm.SimulatedCrash):
        Trainer(tm.SumTask(batch_size=batch_size, crash_at=10), cfg, tmp_path / "c").fit()
    crashed = tm.SumTask(batch_size=batch_size)
    after = Trainer(crashed, cfg, tmp_path / "c").fit(resume=True)
    assert (after.steps, after.stopped_because) == (3 * per_epoch, "max_epochs")
    assert_identical(weights(crashed.model), weights(task.model))
    # the step limit still ends a run that reaches it first
    short = Trainer(tm.SumTask(), tm.config(max_steps=6, max_epochs=3), tmp_path / "s").fit()
    assert (short.steps, short.stopped_because) == (6, "max_steps")


# -- callbacks ---------------------------------------------------------------------------


class Recorder(Callback):
    """Logs every hook call into a shared list, with a snapshot of what it was given."""

    def __init__(self, name: str, log: list[tuple[Any, ...]]) -> None:
        self.name, self.log = name, log

    def on_record(self, record: dict[str, Any], records: list[dict[str, Any]]) -> None:
        assert records[-1] is record  # all lines so far, this one last
        self.log.append((self.name, "record", dict(record), len(records)))

    def on_end(self, records: list[dict[str, Any]]) -> None:
        self.log.append((self.name, "end", [dict(r) for r in records]))


def test_callbacks_see_every_metrics_line_then_the_end(tm: ModuleType, tmp_path: Path) -> None:
    log: list[tuple[Any, ...]] = []
    cfg = tm.config(max_steps=12)
    callbacks = [Recorder("a", log), Recorder("b", log)]
    Trainer(tm.SumTask(), cfg, tmp_path, callbacks=callbacks).fit()
    lines = read_metrics(tmp_path)
    assert len(lines) == 6 + 3  # train lines every 2 steps, evaluations at 5, 10 and 12
    expected = []
    for i, line in enumerate(lines):  # in the file's order, the callbacks in theirs
        expected += [("a", "record", line, i + 1), ("b", "record", line, i + 1)]
    expected += [("a", "end", lines), ("b", "end", lines)]
    assert log == expected
    assert any("valid_loss" in entry[2] for entry in log if entry[1] == "record")

    # a resumed run passes the earlier session's lines too
    log.clear()
    more = Trainer(tm.SumTask(), tm.config(max_steps=14), tmp_path, callbacks=[Recorder("a", log)])
    more.fit(resume=True)
    after = read_metrics(tmp_path)
    assert len(after) == len(lines) + 2  # step 14: a train line and the final evaluation
    assert [entry[1:] for entry in log] == [
        ("record", after[-2], len(lines) + 1),
        ("record", after[-1], len(lines) + 2),
        ("end", after),
    ]


def test_on_end_runs_when_training_diverges(tm: ModuleType, tmp_path: Path) -> None:
    class Broken(Callback):
        def on_end(self, records: list[dict[str, Any]]) -> None:
            raise OSError("disk full")

    log: list[tuple[Any, ...]] = []
    curve = LossCurve(tmp_path / "curve.png", min_interval=1e9)
    callbacks = [Recorder("a", log), Broken(), curve]
    with pytest.raises(TrainingDiverged, match="step 7"):  # not the callback's OSError
        Trainer(tm.SumTask(nan_at=7), tm.config(), tmp_path, callbacks=callbacks).fit()
    assert log[-1] == ("a", "end", read_metrics(tmp_path))
    assert [entry[1] for entry in log] == ["record"] * 4 + ["end"]  # steps 2, 4, 5 (eval), 6
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_loss_curve_redraws_at_evaluations_at_most_every_interval(tmp_path: Path) -> None:
    train, valid = {"step": 1, "train_loss": 2.0}, {"step": 1, "valid_loss": 1.5}
    often, never = (
        LossCurve(tmp_path / "often.png", min_interval=0),
        LossCurve(tmp_path / "never.png", min_interval=1e9),
    )
    for curve in (often, never):
        curve.on_record(train, [train])
    assert not (tmp_path / "often.png").exists()  # training lines never redraw
    for curve in (often, never):
        curve.on_record(valid, [train, valid])
    assert (tmp_path / "often.png").is_file() and not (tmp_path / "never.png").exists()
    never.on_end([train, valid])  # the end always draws
    assert (tmp_path / "never.png").is_file()
    with pytest.raises(ValueError, match="min_interval"):
        LossCurve(tmp_path / "x.png", min_interval=-1)


def scalars(log_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar in the event files of ``log_dir``: tag -> [(step, value)]."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(log_dir))
    events.Reload()
    return {
        tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]
    }


def test_tensorboard_writes_every_numeric_field_at_its_step(tm: ModuleType, tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    board = TensorBoard(tmp_path / "tb")
    Trainer(tm.SumTask(), tm.config(max_steps=10), tmp_path, callbacks=[board]).fit()
    lines = read_metrics(tmp_path)
    found = scalars(tmp_path / "tb")
    assert set(found) == {
        "train/loss", "train/lr", "train/tokens_per_s", "train/epoch", "train/elapsed",
        "train/grad_norm", "train/grad_norm_clipped",
        "valid/loss", "valid/mae", "valid/epoch", "valid/elapsed",
    }  # fmt: skip
    train = [r for r in lines if "train_loss" in r]
    valid = [r for r in lines if "valid_loss" in r]
    assert [step for step, _ in found["train/loss"]] == [2, 4, 6, 8, 10]
    assert [v for _, v in found["train/loss"]] == pytest.approx(
        [r["train_loss"] for r in train], rel=1e-6
    )
    assert [v for _, v in found["train/lr"]] == pytest.approx([r["lr"] for r in train], rel=1e-6)
    assert found["valid/loss"] == [
        (r["step"], pytest.approx(r["valid_loss"], rel=1e-6)) for r in valid
    ]

    # after a crash and a resume, the steps the resumed run trains again are not doubled
    crashed = TensorBoard(tmp_path / "tb2")
    with pytest.raises(tm.SimulatedCrash):
        Trainer(tm.SumTask(crash_at=17), tm.config(), tmp_path / "c", callbacks=[crashed]).fit()
    crashed.on_end([])  # what the crashed process had written (up to step 16)
    resumed = TensorBoard(tmp_path / "tb2")  # resumes from the checkpoint at step 14
    Trainer(tm.SumTask(), tm.config(), tmp_path / "c", callbacks=[resumed]).fit(resume=True)
    assert [step for step, _ in scalars(tmp_path / "tb2")["train/loss"]] == list(range(2, 31, 2))


def test_tensorboard_without_the_package_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    with pytest.raises(ValueError, match=r"pip install 'seqlab\[tensorboard\]'"):
        TensorBoard(tmp_path)


# -- resume ------------------------------------------------------------------------------


def test_resume_after_a_crash_is_bit_identical(tm: ModuleType, tmp_path: Path) -> None:
    straight = tm.SumTask()
    expected = Trainer(straight, tm.config(), tmp_path / "straight").fit()

    out = tmp_path / "crashed"
    with pytest.raises(tm.SimulatedCrash):
        Trainer(tm.SumTask(crash_at=17), tm.config(), out).fit()
    assert saved_step(out) == 14  # checkpoint every 7 steps; 14 is mid-epoch (4 an epoch)
    assert max(r["step"] for r in read_metrics(out)) == 16  # lines past the checkpoint
    resumed = tm.SumTask()
    result = Trainer(resumed, tm.config(), out).fit(resume=True)

    assert result == dataclasses.replace(expected, seconds=result.seconds)
    assert_identical(weights(resumed.model), weights(straight.model))
    assert deterministic_part(read_metrics(out)) == deterministic_part(
        read_metrics(tmp_path / "straight")
    )
    assert_identical(
        load_file(out / "model.safetensors"),
        load_file(tmp_path / "straight" / "model.safetensors"),
    )


@pytest.fixture
def python_sigint() -> Iterator[None]:
    """Python's own SIGINT handler, even where the test runner was started with SIGINT
    ignored (a background job of a non-interactive shell)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.usefixtures("python_sigint")
def test_ctrl_c_saves_a_checkpoint_and_resume_is_bit_identical(
    tm: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    straight = tm.SumTask()
    expected = Trainer(straight, tm.config(), tmp_path / "straight").fit()

    out = tmp_path / "interrupted"
    result = Trainer(tm.SumTask(interrupt_at=[17]), tm.config(), out).fit()
    assert result.stopped_because == "interrupted" and result.steps == 17
    assert saved_step(out) == 17  # the step in flight finished, then a checkpoint
    assert "saving a checkpoint" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored
    resumed = tm.SumTask()
    again = Trainer(resumed, tm.config(), out).fit(resume=True)
    assert again == dataclasses.replace(expected, seconds=again.seconds)
    assert_identical(weights(resumed.model), weights(straight.model))
    assert deterministic_part(read_metrics(out)) == deterministic_part(
        read_metrics(tmp_path / "straight")
    )


@pytest.mark.usefixtures("python_sigint")
def test_a_second_ctrl_c_aborts_at_once(tm: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt):
        Trainer(tm.SumTask(interrupt_at=[9, 9]), tm.config(), tmp_path).fit()
    assert saved_step(tmp_path) == 7  # only the periodic checkpoint
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_resume_says_where_it_resumes_from(
    tm: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = Trainer(tm.SumTask(), tm.config(max_steps=5), tmp_path).fit()
    assert first.resumed_from is None and "resuming" not in capsys.readouterr().err
    more = Trainer(tm.SumTask(), tm.config(max_steps=8), tmp_path).fit(resume=True)
    err = capsys.readouterr().err
    assert f"resuming from step 5 (epoch 1) in {tmp_path}\n" in err  # 4 batches an epoch
    assert (more.steps, more.resumed_from) == (8, 5)


def test_resume_of_a_finished_run_takes_no_step(tm: ModuleType, tmp_path: Path) -> None:
    task = tm.SumTask()
    first = Trainer(task, tm.config(), tmp_path).fit()
    before = weights(task.model)
    again = Trainer(task, tm.config(), tmp_path).fit(resume=True)
    assert again.steps == first.steps == 30 and again.stopped_because == "max_steps"
    assert again.last_train_loss == first.last_train_loss
    assert_identical(weights(task.model), before)
    assert len(read_metrics(tmp_path)) == 15 + 6  # train lines every 2 steps, evals every 5


def test_resume_needs_a_checkpoint_and_a_new_run_refuses_one(
    tm: ModuleType, tmp_path: Path
) -> None:
    with pytest.raises(FileNotFoundError, match="cannot resume: no checkpoint"):
        Trainer(tm.SumTask(), tm.config(), tmp_path).fit(resume=True)
    # "if_saved": a run stopped before its first checkpoint starts at step 0, later ones resume
    fresh = Trainer(tm.SumTask(), tm.config(max_steps=3, warmup_steps=0), tmp_path / "f").fit(
        resume="if_saved"
    )
    later = Trainer(tm.SumTask(), tm.config(max_steps=5, warmup_steps=0), tmp_path / "f").fit(
        resume="if_saved"
    )
    assert (fresh.steps, later.steps) == (3, 5)
    assert [r["step"] for r in read_metrics(tmp_path / "f") if "train_loss" in r] == [2, 4]
    Trainer(tm.SumTask(), tm.config(max_steps=5), tmp_path).fit()
    with pytest.raises(FileExistsError, match="resume"):
        Trainer(tm.SumTask(), tm.config(max_steps=5), tmp_path).fit()
    with pytest.raises(ValueError, match="optimizer"):
        Trainer(tm.SumTask(), tm.config(optimizer="sgd"), tmp_path).fit(resume=True)


def kill_while_training(task_dir: Path, out: Path, tmp_path: Path) -> None:
    """Run KILL_SCRIPT in a subprocess and SIGKILL it 0.3 s after its first checkpoint."""
    script = tmp_path / "train.py"
    script.write_text(KILL_SCRIPT)
    stderr = tmp_path / "stderr.txt"
    with stderr.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, str(script), str(task_dir), str(out)],
            env=subprocess_env(),
            stderr=log,
        )
        try:
            deadline = time.monotonic() + 60
            while not (out / "checkpoint").is_dir() and proc.poll() is None:
                assert time.monotonic() < deadline, "no checkpoint after 60 s"
                time.sleep(0.01)
            time.sleep(0.3)  # a few more steps and checkpoint swaps, then kill mid-flight
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL, stderr.read_text()


def test_resume_after_sigkill_is_bit_identical(
    tm: ModuleType, task_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "killed"
    kill_while_training(task_dir, out, tmp_path)
    cfg = tm.config(max_steps=40, checkpoint_every_steps=1)  # as in KILL_SCRIPT

    # the complete checkpoint on disk (the old one if the kill fell between two renames)
    complete = [out / "checkpoint", out / "checkpoint.seqlab-old"]
    state = next(d / "trainer.pt" for d in complete if (d / "trainer.pt").is_file())
    step = torch.load(state, weights_only=True)["step"]
    assert 1 <= step < 40, "the kill came after the run ended: it tested nothing"

    resumed = tm.SumTask()
    result = Trainer(resumed, cfg, out).fit(resume=True)

    straight = tm.SumTask()
    Trainer(straight, cfg, tmp_path / "straight").fit()
    assert result.steps == 40
    assert_identical(weights(resumed.model), weights(straight.model))
    assert deterministic_part(read_metrics(out)) == deterministic_part(
        read_metrics(tmp_path / "straight")
    )
    assert leftovers(out) == []


def test_interrupted_checkpoint_swaps_are_repaired(tm: ModuleType, tmp_path: Path) -> None:
    model = tm.SumTask().model
    ckpt, tmp, old = (tmp_path / f"checkpoint{s}" for s in ("", TEMP_MARKER, ".seqlab-old"))
    save_checkpoint(ckpt, model, {"step": 1})

    # killed while writing the next version: a partial temporary folder
    tmp.mkdir()
    (tmp / "model.safetensors").write_bytes(b"partial")
    recover_directory(ckpt)
    assert load_checkpoint(ckpt, model) == {"step": 1} and not tmp.exists()

    # killed between the two renames: only the old, complete version is left
    save_checkpoint(old.with_name("elsewhere"), model, {"step": 2})
    ckpt.rename(old)
    recover_directory(ckpt)
    assert load_checkpoint(ckpt, model) == {"step": 1} and not old.exists()

    # killed while deleting the old version
    save_checkpoint(old, model, {"step": 0})
    recover_directory(ckpt)
    assert load_checkpoint(ckpt, model) == {"step": 1} and not old.exists()

    # an error while writing leaves the current version untouched
    with pytest.raises(OSError, match="disk full"), atomic_directory(ckpt) as new:
        (new / "trainer.pt").write_bytes(b"half")
        raise OSError("disk full")
    assert load_checkpoint(ckpt, model) == {"step": 1}
    assert leftovers(tmp_path) == []
    save_checkpoint(ckpt, model, {"step": 3})
    assert load_checkpoint(ckpt, model) == {"step": 3}


def test_torch_load_is_only_called_with_weights_only() -> None:
    calls = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "load"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "torch"
            ):
                safe = any(
                    k.arg == "weights_only"
                    and isinstance(k.value, ast.Constant)
                    and k.value.value is True
                    for k in node.keywords
                )
                calls.append((f"{path.relative_to(SRC)}:{node.lineno}", safe))
    assert calls, "expected torch.load in seqlab.train.checkpoint"
    assert [where for where, safe in calls if not safe] == []


# -- determinism, weights, sharding ------------------------------------------------------


def test_same_seed_same_weights_other_seed_other_weights(tm: ModuleType, tmp_path: Path) -> None:
    runs = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        task = tm.SumTask()
        Trainer(task, tm.config(seed=seed), tmp_path / name).fit()
        runs[name] = weights(task.model)
    assert_identical(runs["a"], runs["b"])
    assert not torch.equal(runs["a"]["head.weight"], runs["c"]["head.weight"])
    assert not torch.equal(runs["a"]["head.weight"], weights(tm.SumTask().model)["head.weight"])


class TiedLM(nn.Module):
    """Embedding and output layer sharing one matrix (weight tying)."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(7, 4)
        self.out = nn.Linear(4, 7, bias=False)
        self.out.weight = self.embed.weight


def test_weights_round_trip_keeps_tied_tensors_tied(tmp_path: Path) -> None:
    source, target = TiedLM(), TiedLM()
    with pytest.raises(RuntimeError, match="share memory"):  # why save_model is needed
        save_file(source.state_dict(), tmp_path / "plain.safetensors")
    save_weights(tmp_path / "tied.safetensors", source)
    load_weights(tmp_path / "tied.safetensors", target)
    assert torch.equal(target.embed.weight, source.embed.weight)
    assert target.out.weight is target.embed.weight
    save_checkpoint(tmp_path / "ckpt", source, {"step": 3})
    again = TiedLM()
    assert load_checkpoint(tmp_path / "ckpt", again) == {"step": 3}
    assert torch.equal(again.out.weight, source.embed.weight)
    assert again.out.weight is again.embed.weight
    with pytest.raises(FileNotFoundError):
        load_weights(tmp_path / "missing.safetensors", again)


def test_corrupt_weights_and_checkpoint_state_name_the_file(tmp_path: Path) -> None:
    model = TiedLM()
    save_checkpoint(tmp_path / "ckpt", model, {"step": 3})
    weights, state = tmp_path / "ckpt" / "model.safetensors", tmp_path / "ckpt" / "trainer.pt"
    state.write_bytes(state.read_bytes()[:40])  # truncated
    with pytest.raises(ValueError, match=r"trainer\.pt: not a readable checkpoint"):
        load_checkpoint(tmp_path / "ckpt", model)
    weights.write_bytes(b"\x08" + bytes(30))
    with pytest.raises(ValueError, match=r"model\.safetensors: not a readable safetensors"):
        load_weights(weights, model)


@dataclasses.dataclass(frozen=True)
class PairBatch:
    """A dataclass batch, as a task may yield: tensors and a non-tensor field."""

    ids: Tensor  # (B, T)
    lengths: Tensor  # (B,)
    name: str = "b"


def test_shard_batch_splits_every_tensor_along_dim_0() -> None:
    batch = {"x": torch.arange(12).reshape(6, 2), "pair": (torch.arange(6), 3), "name": "b"}
    shards = [shard_batch(batch, rank, 3) for rank in range(3)]
    assert torch.equal(torch.cat([s["x"] for s in shards]), batch["x"])
    assert torch.equal(torch.cat([s["pair"][0] for s in shards]), batch["pair"][0])
    assert all(s["x"].shape == (2, 2) and s["pair"][1] == 3 and s["name"] == "b" for s in shards)
    # uneven parts (tensor_split: the first ones a row longer), dataclasses walked
    pair = PairBatch(torch.arange(10).reshape(5, 2), torch.tensor([2, 2, 1, 2, 1]))
    parts = [shard_batch(pair, rank, 2) for rank in range(2)]
    assert all(type(p) is PairBatch and p.name == "b" for p in parts)
    assert [len(p.ids) for p in parts] == [3, 2] and [len(p.lengths) for p in parts] == [3, 2]
    assert torch.equal(torch.cat([p.ids for p in parts]), pair.ids)
    # a rank without rows gets None (the trainer runs rank 0's part with weight zero)
    one_row = (torch.zeros(1, 3), torch.zeros(1))
    assert shard_batch(one_row, 0, 2) is not None and shard_batch(one_row, 1, 2) is None
    # other objects are shared by every rank unchanged
    thing = object()
    assert shard_batch({"x": torch.zeros(4), "thing": thing}, 1, 2)["thing"] is thing
    with pytest.raises(ValueError, match="0-dim"):
        shard_batch({"x": torch.tensor(1.0)}, 0, 2)
    with pytest.raises(ValueError, match="rank"):
        shard_batch(torch.zeros(4), 2, 2)


def test_device_move_walks_dataclass_batches() -> None:
    pair = PairBatch(torch.arange(6).reshape(3, 2), torch.tensor([2, 2, 1]))
    batch = {"pair": pair, "more": [torch.zeros(3)], "n": 3}
    moved = to_device(batch, torch.device("meta"))  # a device every machine has
    assert type(moved["pair"]) is PairBatch and moved["pair"].name == "b"
    assert moved["pair"].ids.device.type == "meta" and moved["pair"].lengths.device.type == "meta"
    assert moved["more"][0].device.type == "meta" and moved["n"] == 3
    assert pair.ids.device.type == "cpu"  # the batch itself is left as it was


@pytest.mark.parametrize(
    ("rank", "main"), [(None, True), ("", True), ("0", True), ("1", False), ("3", False)]
)
def test_is_main_process_reads_torchrun_rank(
    monkeypatch: pytest.MonkeyPatch, rank: str | None, main: bool
) -> None:
    if rank is None:
        monkeypatch.delenv("RANK", raising=False)
    else:
        monkeypatch.setenv("RANK", rank)
    assert is_main_process() is main


def test_is_main_process_rejects_a_bad_rank(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "first")
    with pytest.raises(ValueError, match="RANK"):
        is_main_process()


def test_train_package_is_independent_of_viz_models_tasks_cli() -> None:
    """``seqlab.train`` is below the figures, models, tasks and CLI; ``Task`` is now
    ``Trainable`` (no alias)."""
    imports = []
    for path in (SRC / "train").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ImportFrom) and node.module:
                imports.append((path.name, node.module))
            elif isinstance(node, ast.Import):
                imports += [(path.name, alias.name) for alias in node.names]
    banned = ("seqlab.viz", "seqlab.models", "seqlab.tasks", "seqlab.cli")
    assert [i for i in imports if i[1].startswith(banned)] == []
    assert not hasattr(seqlab.train, "Task") and "Trainable" in seqlab.train.__all__


class DataclassTask:
    """The SumTask's data in :class:`PairBatch` batches (``ids`` the inputs, ``lengths``
    the targets); records the devices its batches arrive on."""

    def __init__(self, tm: ModuleType) -> None:
        self.inner = tm.SumTask(dropout=0.0)
        self.model = self.inner.model
        self.devices: set[str] = set()

    def train_batches(self, epoch: int, generator: torch.Generator) -> Iterator[PairBatch]:
        for x, y in self.inner.train_batches(epoch, generator):
            yield PairBatch(x, y)

    def training_loss(self, batch: PairBatch) -> tuple[Tensor, int]:
        self.devices |= {batch.ids.device.type, batch.lengths.device.type}
        return self.inner.training_loss((batch.ids, batch.lengths))

    def validate(self) -> dict[str, float]:
        return self.inner.validate()


def test_dataclass_batches_train_like_tuples(tm: ModuleType, tmp_path: Path) -> None:
    task, reference = DataclassTask(tm), tm.SumTask(dropout=0.0)
    Trainer(task, tm.config(max_steps=8), tmp_path / "dataclass").fit()
    Trainer(reference, tm.config(max_steps=8), tmp_path / "tuple").fit()
    assert task.devices == {"cpu"}
    assert_identical(weights(task.model), weights(reference.model))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_dataclass_batches_reach_the_gpu(tm: ModuleType, tmp_path: Path) -> None:
    task = DataclassTask(tm)
    Trainer(task, tm.config(max_steps=4, eval_every=None, device="cuda"), tmp_path).fit()
    assert task.devices == {"cuda"}


def test_task_contract_errors_are_clear(tm: ModuleType, tmp_path: Path) -> None:
    class NoLossKey(tm.SumTask):
        def validate(self) -> dict[str, float]:
            return {"accuracy": 1.0}

    class VectorLoss(tm.SumTask):
        def training_loss(self, batch: Any) -> tuple[Tensor, int]:
            x, y = batch
            return (self.model(x) - y) ** 2, len(y)

    with pytest.raises(ValueError, match="'loss'"):
        Trainer(NoLossKey(), tm.config(max_steps=5), tmp_path / "a").fit()
    with pytest.raises(TypeError, match="scalar"):
        Trainer(VectorLoss(), tm.config(max_steps=5), tmp_path / "b").fit()


# -- distributed data parallel -----------------------------------------------------------


@pytest.mark.parametrize(
    ("batch_size", "seen"),
    [
        (16, ("8 8 8 8", "8 8 8 8")),  # equal halves
        (13, ("7 7 7 7", "6 6 6 6")),  # unequal parts: each rank weighted by its count
        # 64 examples in batches of 21: halves of 11 and 10, then a last batch of one row,
        # which rank 1 runs (rank 0's row) with weight zero; the ranks weigh by their counts
        (21, ("11 11 11 1", "10 10 10 1")),
    ],
)
def test_ddp_on_two_processes_matches_one_process(
    tm: ModuleType, task_dir: Path, tmp_path: Path, batch_size: int, seen: tuple[str, str]
) -> None:
    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT)
    ports = free_ports(2)
    out, results = tmp_path / "ddp", tmp_path / "results"
    results.mkdir()
    procs, logs = [], []
    for rank in range(2):
        env = subprocess_env(
            WORLD_SIZE="2",
            RANK=str(rank),
            LOCAL_RANK=str(rank),
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=str(ports[0]),
            GLOO_SOCKET_IFNAME="lo",  # loopback: no host-name lookup on an offline machine
        )
        args = [sys.executable, str(script), str(task_dir), str(out), str(results)]
        args += [str(ports[1]), str(batch_size)]
        # stderr into files, not pipes: a rank blocked on a full pipe would stall both ranks
        logs.append(tmp_path / f"rank{rank}.err")
        with open(logs[-1], "w") as err:
            procs.append(subprocess.Popen(args, env=env, stderr=err))
    try:
        for proc in procs:
            proc.wait(timeout=150)
    finally:
        for proc in procs:
            proc.kill()
    for proc, log in zip(procs, logs, strict=True):
        assert proc.returncode == 0, log.read_text()

    # the same global batches in one process: one step, then resumed to four
    ddp = dict(schedule="constant", warmup_steps=0, log_every=1, eval_every=2)
    task = tm.SumTask(dropout=0.0, dtype=torch.float64, batch_size=batch_size)
    single = tmp_path / "single"
    Trainer(task, tm.config(max_steps=1, **ddp), single).fit()
    grads = {n: p.grad.clone() for n, p in task.model.named_parameters()}
    Trainer(task, tm.config(max_steps=4, **ddp), single).fit(resume=True)
    final = {n: p.detach() for n, p in task.model.named_parameters()}

    for rank in range(2):  # each rank trained on its part of every global batch
        assert (results / f"seen{rank}.txt").read_text() == seen[rank]
        for name, g in load_file(results / f"grads{rank}.st").items():
            torch.testing.assert_close(g, grads[name], rtol=1e-12, atol=1e-14)
        for name, w in load_file(results / f"w{rank}.st").items():
            torch.testing.assert_close(w, final[name], rtol=1e-10, atol=1e-12)
    # only rank 0 writes: one line per step and evaluation, as in one process
    ddp_lines, single_lines = read_metrics(out), read_metrics(single)
    assert [r["step"] for r in ddp_lines] == [r["step"] for r in single_lines]
    for a, b in zip(ddp_lines, single_lines, strict=True):
        key = "train_loss" if "train_loss" in a else "valid_loss"
        assert a[key] == pytest.approx(b[key], rel=1e-12)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without CUDA")
def test_absent_device_is_a_config_error_and_a_one_line_cli_error(tmp_path, capsys) -> None:
    with pytest.raises(ValueError, match="device 'cuda' is not available"):
        TrainConfig(max_steps=1, device="cuda")
    from seqlab.cli import main

    for task in (
        ["lm", "train", "--dataset", "dinos"],
        ["translate", "train", "--dataset", "dates"],
    ):
        code = main([*task, "--steps", "1", "--device", "cuda", "--out", str(tmp_path / "m")])
        err = capsys.readouterr().err
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert "device 'cuda' is not available" in err


# -- one process at a time in an output folder -------------------------------------------

HOLD_SCRIPT = """
import sys, time
from seqlab.train import hold_folder
with hold_folder(sys.argv[1]):
    print("held", flush=True)
    time.sleep(120)
"""

FIT_SCRIPT = """
import sys
sys.path.insert(0, sys.argv[1])
from train_task import SumTask, config
from seqlab.train import FolderInUseError, Trainer
try:
    Trainer(SumTask(), config(max_steps=5), sys.argv[2]).fit()
except FolderInUseError as exc:
    print(exc, file=sys.stderr)
    sys.exit(3)
"""


def hold_in_subprocess(folder: Path, tmp_path: Path) -> subprocess.Popen[str]:
    """A process that holds ``folder`` (it says "held" once it does) until killed."""
    script = tmp_path / "hold.py"
    script.write_text(HOLD_SCRIPT)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(folder)],
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held", "the holder did not start"
    return proc


def test_a_second_process_cannot_train_into_a_held_folder(
    tm: ModuleType, task_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    holder = hold_in_subprocess(out, tmp_path)
    try:
        with pytest.raises(FolderInUseError) as info:
            Trainer(tm.SumTask(), tm.config(), out).fit()
        message = str(info.value)
        assert message.startswith(f"{out} is in use by process {holder.pid} (started ")
        assert message.endswith("wait for it or use another output folder (--out)")
        assert info.value.pid == holder.pid and "\n" not in message
        assert not (out / "metrics.jsonl").exists()  # nothing written
    finally:
        holder.kill()
        holder.wait(timeout=30)

    # the other way round: this process holds the folder, a subprocess is refused
    script = tmp_path / "fit.py"
    script.write_text(FIT_SCRIPT)
    with hold_folder(tmp_path / "mine"):
        proc = subprocess.run(
            [sys.executable, str(script), str(task_dir), str(tmp_path / "mine")],
            env=subprocess_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert proc.returncode == 3, proc.stderr
    assert f"is in use by process {os.getpid()} (started " in proc.stderr


def test_a_lock_left_by_a_killed_process_is_taken_over(tm: ModuleType, tmp_path: Path) -> None:
    out = tmp_path / "run"
    holder = hold_in_subprocess(out, tmp_path)
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    stale = json.loads((out / ".lock.holder").read_text())
    assert stale["pid"] == holder.pid  # what kill -9 left behind

    class SeesTheHolder(Callback):
        def __init__(self) -> None:
            self.pids: list[int] = []

        def on_record(self, record: dict[str, Any], records: list[dict[str, Any]]) -> None:
            self.pids.append(json.loads((out / ".lock.holder").read_text())["pid"])

    seen = SeesTheHolder()
    result = Trainer(tm.SumTask(), tm.config(max_steps=4), out, callbacks=[seen]).fit()
    assert result.steps == 4 and set(seen.pids) == {os.getpid()}
    assert not (out / ".lock.holder").exists()  # let go at the end
    Trainer(tm.SumTask(), tm.config(max_steps=6), out).fit(resume=True)  # free again


def test_the_folder_lock_is_reentrant_within_a_process(tmp_path: Path) -> None:
    with hold_folder(tmp_path / "a" / "b") as folder:  # created, as mkdir -p does
        assert folder.is_dir()
        with hold_folder(tmp_path / "a" / "b"):
            pass
        assert (folder / ".lock.holder").is_file()  # still held by the outer block
    assert not (folder / ".lock.holder").exists()


def test_read_metrics_drops_torn_lines_and_later_steps(tmp_path: Path) -> None:
    from seqlab.train import read_metrics

    path = tmp_path / "metrics.jsonl"
    assert read_metrics(path) == []  # no file yet
    path.write_text(
        '{"step":10,"train_loss":2.5}\n{"step":20,"valid_loss":2.1}\n{"step":30,"tra\n'
        '["not", "a", "record"]\n{"step":40,"train_loss":1.9}\n',
        encoding="utf-8",
    )
    assert [r["step"] for r in read_metrics(path)] == [10, 20, 40]
    assert [r["step"] for r in read_metrics(path, up_to_step=20)] == [10, 20]
