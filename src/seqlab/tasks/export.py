"""ONNX export of a trained speech recognizer (CTC) or wake-word detector (``seqlab export``).

The graphs (:mod:`seqlab.models.export`) take raw float32 audio at the model's sample rate,
the log-mel front-end inside; they are recorded with ``torch.onnx.export``'s TorchScript
exporter at opset 17 (its STFT operator; the dynamo exporter cannot yet decompose the fused
bidirectional GRU), with dynamic batch and time axes. What a deployer needs to decode
travels in the model's ``metadata_props`` (string values; lists and numbers JSON-encoded):

* speech (``arch="ctc"``): input ``waveform`` ``(B, N)``, output ``log_probs``
  ``(B, T', C)``; metadata ``labels`` (class id → character, the blank included),
  ``blank``, ``sample_rate``, ``frame_seconds`` (seconds per output frame). The recordings
  of one batch have the same length (the graph pads nothing). LAS models are refused.
* wake word, ``arch="streaming"``: inputs ``audio`` ``(B, a)``, ``tail`` ``(B, p)``,
  ``context`` ``(B, r, F)``, ``hidden`` ``(1, B, H)``; outputs ``probs`` ``(B, n)``,
  ``tail_out``, ``context_out``, ``hidden_out`` (fed back in). Start with ``p = r = 0`` and
  zero ``hidden``; a first call brings ``first_chunk_samples`` samples at least, later ones
  ``chunk_samples`` (metadata). ``threshold``, ``refractory_steps``, ``step_seconds`` and
  ``field_seconds`` give the detection rule and the time of step t
  (``field_seconds + t · step_seconds``).
* wake word, ``arch="rnn"`` (the course's network, not streaming): its full-window forward,
  ``audio`` ``(B, N)`` → ``probs`` ``(B, Ty)``; ``metadata_props["streaming"]`` is
  ``"false"``.
"""

from __future__ import annotations

import io
import json
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from seqlab._io import atomic_write_bytes
from seqlab.models.export import LogMel, SpeechGraph, WakeStreamGraph, WakeWindowGraph
from seqlab.models.speech import SpeechCTC
from seqlab.models.wake import StreamingWakeModel
from seqlab.tasks.base import Task
from seqlab.tasks.speech import SpeechRecognizer
from seqlab.tasks.wake import WakeWord

__all__ = ["EXPORTABLE", "OPSET", "OnnxExport", "export_onnx"]

OPSET = 17  # the first opset with STFT
# what `seqlab export` can write, as the one-line error lists it
EXPORTABLE = "speech recognizers (CTC) and trigger-word detectors (seqlab speech/wake train)"


@dataclass(frozen=True)
class OnnxExport:
    """What :func:`export_onnx` wrote."""

    path: Path  # the .onnx file
    task: str  # the task's name in config.json: "speech" or "wake_word"
    graph: str  # "waveform->log_probs", "streaming" or "full-window"
    inputs: dict[str, list[str]]  # input name -> its axes
    outputs: dict[str, list[str]]  # output name -> its axes
    metadata: dict[str, str] = field(default_factory=dict)  # the model's metadata_props
    seconds: float = 0.0  # time the export took

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "task": self.task,
            "graph": self.graph,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "metadata": self.metadata,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class _Plan:
    """A graph to record: the module, example inputs, names, axes, metadata."""

    module: nn.Module
    example: tuple[Tensor, ...]
    inputs: dict[str, list[str]]
    outputs: dict[str, list[str]]
    graph: str
    metadata: dict[str, Any]


def export_onnx(task: Task, out: str | Path) -> OnnxExport:
    """Write ``task``'s network as an ONNX model at ``out`` (atomically).

    Raises ``ValueError`` for a task or architecture that cannot be exported.
    """
    start = time.perf_counter()
    plan = _plan(task)
    data = _record(plan)
    meta = {k: v if isinstance(v, str) else json.dumps(v) for k, v in plan.metadata.items()}
    data = _with_metadata(data, meta)
    path = atomic_write_bytes(Path(out), data)
    return OnnxExport(
        path=path, task=task.name(), graph=plan.graph, inputs=plan.inputs, outputs=plan.outputs,
        metadata=meta, seconds=time.perf_counter() - start,
    )  # fmt: skip


def _plan(task: Task) -> _Plan:
    if isinstance(task, SpeechRecognizer):
        return _speech_plan(task)
    if isinstance(task, WakeWord):
        return _wake_plan(task)
    raise ValueError(f"cannot export a {task.name()!r} model to ONNX: seqlab exports {EXPORTABLE}")


def _speech_plan(task: SpeechRecognizer) -> _Plan:
    model, c = task.model, task.config
    if not isinstance(model, SpeechCTC):
        raise ValueError(
            f"cannot export a {c.arch!r} speech recognizer to ONNX: only CTC ones (--arch ctc)"
        )
    n_fft = round(c.sample_rate * c.window_ms / 1000)
    log_mel = LogMel(
        sample_rate=c.sample_rate, n_mels=c.n_mels, n_fft=n_fft, hop_length=c.hop_length,
        center=True,
    )  # fmt: skip
    graph = SpeechGraph(model, log_mel)
    return _Plan(
        module=graph,
        example=(torch.randn(1, c.sample_rate, generator=torch.Generator().manual_seed(0)),),
        inputs={"waveform": ["batch", "samples"]},
        outputs={"log_probs": ["batch", "frames", "classes"]},
        graph="waveform->log_probs",
        metadata={
            "seqlab_task": "speech",
            "sample_rate": c.sample_rate,
            "labels": list(task.vocab.tokens),
            "blank": model.config.blank,
            "frame_seconds": c.hop_length * model.config.reduction / c.sample_rate,
            "n_fft": n_fft,
            "hop_length": c.hop_length,
            "n_mels": c.n_mels,
        },
    )


def _wake_plan(task: WakeWord) -> _Plan:
    c, m = task.config, task.config.model
    meta: dict[str, Any] = {
        "seqlab_task": "wake_word",
        "sample_rate": c.sample_rate,
        "n_fft": c.n_fft,
        "hop_length": c.hop_length,
        "n_mels": m.input_size,
        "kernel_size": m.kernel_size,
        "stride": m.stride,
        "threshold": c.threshold,
        "refractory_steps": c.refractory_steps(),
        "step_seconds": c.step_seconds,
        "field_seconds": c.field_seconds,
    }
    log_mel = LogMel(
        sample_rate=c.sample_rate, n_mels=m.input_size, n_fft=c.n_fft, hop_length=c.hop_length,
        center=False,
    )  # fmt: skip
    g = torch.Generator().manual_seed(0)
    audio = torch.randn(1, c.n_fft + 4 * m.kernel_size * c.hop_length, generator=g)  # (1, N)
    if isinstance(task.model, StreamingWakeModel):
        tail = torch.randn(1, c.hop_length - 1, generator=g)  # (1, p)
        context = torch.randn(1, m.kernel_size - 1, m.input_size, generator=g)  # (1, r, F)
        hidden = torch.zeros(1, 1, m.hidden_size)  # (1, 1, H)
        return _Plan(
            module=WakeStreamGraph(task.model, log_mel),
            example=(audio, tail, context, hidden),
            inputs={
                "audio": ["batch", "samples"],
                "tail": ["batch", "tail_samples"],
                "context": ["batch", "context_frames", "n_mels"],
                "hidden": ["1", "batch", "hidden_size"],
            },
            outputs={
                "probs": ["batch", "steps"],
                "tail_out": ["batch", "tail_out_samples"],
                "context_out": ["batch", "context_out_frames", "n_mels"],
                "hidden_out": ["1", "batch", "hidden_size"],
            },
            graph="streaming",
            metadata=meta
            | {
                "streaming": "true",
                "hidden_size": m.hidden_size,
                "first_chunk_samples": (m.kernel_size - 1) * c.hop_length + c.n_fft,
                "chunk_samples": m.stride * c.hop_length,
            },
        )
    return _Plan(
        module=WakeWindowGraph(task.model, log_mel),
        example=(audio,),
        inputs={"audio": ["batch", "samples"]},
        outputs={"probs": ["batch", "steps"]},
        graph="full-window",
        metadata=meta | {"streaming": "false"},
    )


def _dynamic(axes: dict[str, list[str]]) -> dict[str, dict[int, str]]:
    """The named axes that vary (all but the sizes fixed by the model)."""
    fixed = {"1", "n_mels", "hidden_size", "classes"}
    return {n: {i: a for i, a in enumerate(names) if a not in fixed} for n, names in axes.items()}


def _record(plan: _Plan) -> bytes:
    """The ONNX bytes of ``plan.module`` in eval mode (the TorchScript exporter)."""
    module = plan.module
    modes = [(m, m.training) for m in module.modules()]  # the wrapped network's, restored
    module.eval()
    buf = io.BytesIO()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's tracer warnings and deprecation
            torch.onnx.export(
                module, plan.example, buf, dynamo=False, opset_version=OPSET,
                input_names=list(plan.inputs), output_names=list(plan.outputs),
                dynamic_axes=_dynamic(plan.inputs | plan.outputs),
            )  # fmt: skip
    finally:
        for m, training in modes:
            m.training = training
    return buf.getvalue()


def _with_metadata(data: bytes, metadata: dict[str, str]) -> bytes:
    """``data`` with ``metadata`` as the model's ``metadata_props`` and a doc string."""
    import onnx

    proto = onnx.load_from_string(data)
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name = "seqlab"
    proto.doc_string = (
        f"seqlab {metadata.get('seqlab_task', '')} model: see docs/speech.md, docs/wake.md"
    )
    return proto.SerializeToString()
