"""``seqlab export MODEL_DIR --onnx OUT.onnx``: a trained speech recognizer (CTC) or
trigger-word detector as an ONNX model for onnxruntime (:mod:`seqlab.tasks.export`)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import typer

from seqlab.cli._common import fail, output_path, print_json, user_errors


@user_errors
def export(
    model_dir: Path = typer.Argument(
        ..., help="A model directory from `seqlab speech train` or `seqlab wake train`."
    ),
    onnx: Path = typer.Option(..., "--onnx", help="The ONNX file to write (opset 17)."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Write a speech recognizer (waveform in, CTC log-probabilities out) or a trigger-word
    detector (streaming: frames and state in, probabilities and state out) as ONNX, with
    what decoding needs (labels, blank, sample rate, threshold) in its metadata."""
    if importlib.util.find_spec("onnx") is None:
        raise fail("seqlab export needs the onnx package: pip install onnx")
    from seqlab.tasks import load_task
    from seqlab.tasks.export import export_onnx

    task = load_task(model_dir)
    output_path(onnx, "--onnx")
    done = export_onnx(task, onnx)
    if json_out:
        print_json(done.to_dict())
        return
    ins = ", ".join(f"{k} ({', '.join(v)})" for k, v in done.inputs.items())
    outs = ", ".join(f"{k} ({', '.join(v)})" for k, v in done.outputs.items())
    typer.echo(f"wrote {done.path} ({done.task}, {done.graph}) in {done.seconds:.1f} s")
    typer.echo(f"  inputs:  {ins}")
    typer.echo(f"  outputs: {outs}")
    if done.graph == "full-window":
        typer.echo(
            "  the course's network is not streaming: the graph scores whole recordings "
            "(`seqlab wake train --preset streaming` trains one that runs chunk by chunk)"
        )
