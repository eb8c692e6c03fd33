"""``WakeWord``: trigger-word detection (course week 3), trained on synthesized clips.

The data is the course's recipe (:mod:`seqlab.data.wake`): words overlaid on backgrounds,
the steps after each trigger word labelled 1. The features are log-mel frames computed
without centring (``center=False``: each frame depends on its own samples only, so the
frames of a stream equal those of the whole file); the network is ``("wake", "rnn")`` (the
course's) or ``("wake", "streaming")`` (:mod:`seqlab.models.wake`), trained per step with
binary cross-entropy. Detection is a threshold with a refractory gap
(:func:`seqlab.data.wake.detect`); evaluation reports false accepts per hour on audio
without the trigger word, the miss rate on audio with it, and the DET curve.

A trained model is a directory: ``config.json``, ``model.safetensors`` (the feature
normalisation included), ``metrics.jsonl``, ``loss_curve.png``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from seqlab.audio import log_mel
from seqlab.data.batching import shuffled_batches
from seqlab.data.wake import (
    StreamDetector,
    SynthExample,
    det_points,
    detect,
    label_steps_for,
    step_labels,
)
from seqlab.models.wake import WakeModelConfig
from seqlab.tasks.base import Preset, Task, TaskConfig
from seqlab.train import TrainConfig

__all__ = ["PRESETS", "WakeConfig", "WakeData", "WakeReport", "WakeWord"]

_BATCH = 32  # clips per scoring batch
EARLY = 0.25  # seconds before a word's end a detection still counts as a hit


@dataclass(frozen=True, kw_only=True)
class WakeConfig(TaskConfig):
    """Features, labels and detection of a trigger-word detector; saved as ``config.json``."""

    task: ClassVar[str] = "wake_word"
    model_kind: ClassVar[str] = "wake"

    model: WakeModelConfig  # the network (input_size = n_mels)
    sample_rate: int = 16000  # Hz; audio is resampled to it
    n_fft: int = 400  # samples per frame (25 ms at 16 kHz)
    hop_length: int = 160  # samples between frames (10 ms at 16 kHz)
    clip_seconds: float = 10.0  # length of the training clips (the course's 10 s)
    label_steps: int = 0  # steps labelled after a word (0: the course's 50 of 1375, scaled)
    positive_weight: float = 1.0  # weight of the 1-labelled steps in the loss
    batch_size: int = 16  # clips per training step
    threshold: float = 0.5  # detection threshold on P(word just ended)
    refractory_seconds: float = 1.0  # no second detection within this gap
    data: str = ""  # where the training clips came from

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.sample_rate < 1 or self.hop_length < 1 or self.n_fft < self.hop_length:
            raise ValueError("need sample_rate >= 1, hop_length >= 1 and n_fft >= hop_length")
        if self.clip_seconds <= 0 or self.refractory_seconds <= 0 or self.batch_size < 1:
            raise ValueError("clip_seconds and refractory_seconds must be > 0, batch_size >= 1")
        if not 0.0 < self.threshold < 1.0 or self.label_steps < 0 or self.positive_weight <= 0:
            raise ValueError("threshold must be in (0, 1), label_steps >= 0, positive_weight > 0")

    # -- the time axis ------------------------------------------------------------------------
    def frames(self, samples: int) -> int:
        """Log-mel frames of ``samples`` samples (center=False)."""
        return max(0, (samples - self.n_fft) // self.hop_length + 1)

    def steps(self, samples: int) -> int:
        """Output steps Ty of ``samples`` samples."""
        return self.model.output_steps(self.frames(samples))

    @property
    def step_seconds(self) -> float:
        return self.model.stride * self.hop_length / self.sample_rate

    @property
    def field_seconds(self) -> float:
        """Where output step 0's receptive field ends: step t's is this + t · step_seconds."""
        k = self.model.kernel_size
        return ((k - 1) * self.hop_length + self.n_fft) / self.sample_rate

    def labelled_steps(self) -> int:
        ty = self.steps(round(self.clip_seconds * self.sample_rate))
        return self.label_steps or label_steps_for(ty, self.clip_seconds)

    def refractory_steps(self) -> int:
        return max(1, round(self.refractory_seconds / self.step_seconds))

    def hit_window(self) -> tuple[float, float]:
        """A detection hits a word ending at e when it falls in [e - before, e + after]."""
        after = self.field_seconds + (self.labelled_steps() + 1) * self.step_seconds
        return EARLY, after


def _preset(model: dict[str, Any], train: TrainConfig, **task: Any) -> Preset[WakeConfig]:
    return Preset(config=WakeConfig(model=WakeModelConfig(**model), **task), train=train)


# "course": the course's network on 10 s clips at 16 kHz; "streaming": the small causal
# network; "tiny": 8 kHz, 2 s clips and a small network (tests, `--synthetic` demos).
PRESETS: dict[str, Preset[WakeConfig]] = {
    "course": _preset({}, TrainConfig(max_steps=2000, lr=1e-3, eval_every=200)),
    "streaming": _preset(
        {"conv_channels": 64, "hidden_size": 64, "dropout": 0.1},
        TrainConfig(max_steps=1500, lr=3e-3, eval_every=200),
        arch="streaming",
    ),
    "tiny": _preset(
        {"input_size": 24, "conv_channels": 24, "kernel_size": 5, "stride": 2}
        | {"hidden_size": 24, "dropout": 0.0},
        TrainConfig(max_steps=150, lr=1e-2, eval_every=50),
        arch="streaming",
        sample_rate=8000,
        n_fft=200,
        hop_length=80,
        clip_seconds=2.0,
        batch_size=16,
        refractory_seconds=0.5,
    ),
}


@dataclass(frozen=True)
class WakeData:
    """Synthesized training and validation clips at the config's sample rate."""

    train: list[SynthExample]  # training clips
    valid: list[SynthExample]  # validation clips (may be empty)
    name: str = ""  # where they came from


@dataclass(frozen=True)
class WakeReport:
    """Evaluation as the wake-word field does it."""

    threshold: float  # the detection threshold used
    false_accepts: int  # detections in the negative-only audio
    negative_hours: float  # hours of negative-only audio
    fa_per_hour: float  # false accepts per hour
    positives: int  # trigger words in the audio that has them
    misses: int  # of them, not detected
    miss_rate: float  # misses / positives
    det: list[tuple[float, float, float]]  # (threshold, FA/h, miss rate) over thresholds

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


# -- the Trainable adapter -------------------------------------------------------------------


class _Clips:
    """Shuffled batches of whole clips; per-step binary cross-entropy."""

    def __init__(self, task: WakeWord, x: Tensor, y: Tensor, xv: Tensor, yv: Tensor) -> None:
        self.task, self.model = task, task.model
        self.x, self.y, self.xv, self.yv = x, y, xv, yv

    def batches_per_epoch(self) -> int:
        return -(-len(self.x) // self.task.config.batch_size)

    def train_batches(self, epoch: int, generator: torch.Generator) -> Iterator[Tensor]:
        del epoch
        for rows in shuffled_batches(len(self.x), self.task.config.batch_size, generator):
            yield torch.tensor(rows)

    def training_loss(self, rows: Tensor) -> tuple[Tensor, int]:
        x, y = self.x[rows].to(self.task.device), self.y[rows].to(self.task.device)
        return self.task._loss(self.model(x), y), y.numel()

    def validate(self) -> dict[str, float]:
        if len(self.xv) == 0:
            return {}
        logits = torch.cat([self.model(self.xv[i : i + _BATCH].to(self.task.device)).cpu()
                            for i in range(0, len(self.xv), _BATCH)])  # (N, Ty)  # fmt: skip
        hit = ((logits > 0).float() == self.yv).float().mean().item()
        return {"loss": self.task._loss(logits, self.yv).item(), "step_accuracy": hit}


# -- the task ----------------------------------------------------------------------------------


class WakeWord(Task):
    """A trigger-word detector: log-mel features, a per-step network, detection."""

    config_class = WakeConfig
    what = "trigger-word detector"
    command = "seqlab wake train"
    config: WakeConfig

    # -- features ------------------------------------------------------------------------------
    def features(self, audio: np.ndarray | Tensor) -> Tensor:
        """ln(mel power), frames without centring.

        Shape:
            audio: (N,) or (B, N) -> (T, F) or (B, T, F)
        """
        c = self.config
        x = torch.as_tensor(np.asarray(audio, dtype=np.float32))  # (..., N)
        if x.shape[-1] < c.n_fft:  # shorter than one frame: no frames
            return x.new_zeros(*x.shape[:-1], 0, c.model.input_size)
        mel = log_mel(x, c.sample_rate, n_mels=c.model.input_size, n_fft=c.n_fft,
                      hop_length=c.hop_length, center=False)  # (..., M, T)  # fmt: skip
        return mel.transpose(-1, -2)  # (..., T, M)

    # -- building and training --------------------------------------------------------------
    def _encode(self, examples: Sequence[SynthExample]) -> tuple[Tensor, Tensor]:
        """Clips of ``clip_seconds`` -> frames (N, T, F) and step labels (N, Ty)."""
        c = self.config
        n = round(c.clip_seconds * c.sample_rate)
        if not examples:
            return torch.zeros(0, c.frames(n), c.model.input_size), torch.zeros(0, c.steps(n))
        audio = np.stack([np.pad(e.audio[:n], (0, max(0, n - len(e.audio)))) for e in examples])
        frames = self.features(audio)  # (N, T, F)
        ty, steps = c.steps(n), c.labelled_steps()
        labels = [step_labels(e.ends(c.sample_rate), c.clip_seconds, ty, steps) for e in examples]
        return frames, torch.from_numpy(np.stack(labels))  # (N, T, F), (N, Ty)

    @classmethod
    def build(cls, data: WakeData, config: WakeConfig) -> tuple[WakeWord, Any]:
        if not data.train:
            raise ValueError("no training clips")
        task = cls(cls.build_model(config), config)
        x, y = task._encode(data.train)  # (N, T, F), (N, Ty)
        xv, yv = task._encode(data.valid)
        task.model.set_normalization(x.mean(dim=(0, 1)), x.std(dim=(0, 1)))  # (F,) each
        return task, (x, y, xv, yv)

    def trainable(self, encoded: Any, data: Any) -> _Clips:
        return _Clips(self, *encoded)

    def _loss(self, logits: Tensor, y: Tensor) -> Tensor:
        weight = torch.tensor(self.config.positive_weight, device=logits.device)
        return F.binary_cross_entropy_with_logits(logits, y, pos_weight=weight)

    # -- scores and detection ---------------------------------------------------------------
    def scores(self, audio: np.ndarray | Tensor) -> np.ndarray:
        """P(the trigger word just ended) per output step of a recording of any length.

        Shape:
            audio: (N,) -> (Ty,)
        """
        frames = self.features(audio)  # (T, F)
        if self.config.model.output_steps(len(frames)) == 0:
            return np.zeros(0, dtype=np.float32)
        with self.eval_mode():
            logits = self.model(frames[None].to(self.device))[0]  # (Ty,)
        return logits.sigmoid().cpu().numpy()

    def stream_scores(self, chunks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """:meth:`scores` of a stream given as sample chunks, one array per chunk (the
        steps its samples complete), in bounded memory: the samples of an unfinished frame,
        the frames of an unfinished window, and the GRU states. Both networks stream: the
        course's is causal too (unidirectional GRUs; batch norm in eval mode is an affine
        map per step), so in eval mode the chunks' scores equal the whole file's."""
        c, model = self.config, self.model
        if not hasattr(model, "stream"):
            raise ValueError(f"a {type(model).__name__} cannot run chunk by chunk")
        tail = np.zeros(0, dtype=np.float32)
        state = model.init_state(1)
        with self.eval_mode():
            for chunk in chunks:
                tail = np.concatenate([tail, np.asarray(chunk, dtype=np.float32)])
                n = c.frames(len(tail))
                frames = self.features(tail[: (n - 1) * c.hop_length + c.n_fft] if n else tail)
                tail = tail[n * c.hop_length :]  # the samples the next frame starts with
                logits, state = model.stream(frames[None].to(self.device), state)  # (1, n)
                yield logits[0].sigmoid().cpu().numpy()

    def stream_detect(
        self, chunks: Iterable[np.ndarray], *, threshold: float | None = None
    ) -> Iterator[tuple[float, float]]:
        """``(time, score)`` of each detection in a stream of sample chunks, as soon as the
        chunk that completes its step arrives: the times :meth:`detect` gives on the whole
        recording."""
        th = self.config.threshold if threshold is None else threshold
        detector = StreamDetector(th, self.config.refractory_steps())
        for probs in self.stream_scores(chunks):
            first = detector.steps
            for t in detector.push(probs):
                yield self.step_time(t), float(probs[t - first])

    def step_time(self, step: int) -> float:
        """Seconds from the start to the end of output step ``step``'s receptive field."""
        return self.config.field_seconds + step * self.config.step_seconds

    def detect(self, audio: np.ndarray | Tensor, *, threshold: float | None = None) -> list[float]:
        """Detection times in seconds: threshold, then the refractory gap."""
        th = self.config.threshold if threshold is None else threshold
        fired = detect(self.scores(audio), th, self.config.refractory_steps())
        return [self.step_time(t) for t in fired]

    # -- evaluation ---------------------------------------------------------------------------
    def evaluate(
        self, examples: Sequence[SynthExample], *, threshold: float | None = None
    ) -> WakeReport:
        """False accepts per hour on the clips without the trigger word, misses on the
        clips with it, and the DET curve over 49 thresholds (0.02 ... 0.98)."""
        c = self.config
        th = c.threshold if threshold is None else threshold
        neg = [e for e in examples if not e.positives]
        pos = [e for e in examples if e.positives]
        if not neg or not pos:
            raise ValueError("evaluation needs clips without the trigger word and clips with it")
        seconds = sum(len(e.audio) for e in neg) / c.sample_rate
        neg_p = [self.scores(e.audio) for e in neg]
        pos_p = [self.scores(e.audio) for e in pos]
        ends = [e.ends(c.sample_rate) for e in pos]
        thresholds = sorted({*np.round(np.linspace(0.02, 0.98, 49), 2).tolist(), th})
        det = det_points(neg_p, seconds, pos_p, ends, c.step_seconds, c.field_seconds,
                         c.refractory_steps(), c.hit_window(), thresholds)  # fmt: skip
        _, fa_h, miss = next(p for p in det if p[0] == th)
        n_pos = sum(len(e) for e in ends)
        return WakeReport(
            threshold=th,
            false_accepts=round(fa_h * seconds / 3600),
            negative_hours=seconds / 3600,
            fa_per_hour=fa_h,
            positives=n_pos,
            misses=round(miss * n_pos),
            miss_rate=miss,
            det=det,
        )

    def false_activations(
        self, examples: Sequence[SynthExample], *, threshold: float | None = None,
        seconds: float = 2.0,
    ) -> list[np.ndarray]:  # fmt: skip
        """The ``seconds`` of audio before each detection in the clips without the trigger
        word: hard negatives to retrain with (``wake train --hard-negatives``)."""
        n = round(seconds * self.config.sample_rate)
        out = []
        for e in (e for e in examples if not e.positives):
            for t in self.detect(e.audio, threshold=threshold):
                end = round(t * self.config.sample_rate)
                out.append(e.audio[max(0, end - n) : end])
        return out

    def with_threshold(self, threshold: float) -> WakeWord:
        """This detector with another default threshold (saved with it)."""
        self.config = replace(self.config, threshold=threshold)
        return self
