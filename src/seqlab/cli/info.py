"""``seqlab info``: what seqlab runs on."""

from __future__ import annotations

import json
import os
import platform
import sys

import typer


def cpu_name() -> str:
    """The processor's model name (from /proc/cpuinfo on Linux), else the architecture."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def collect() -> dict[str, object]:
    """Versions, devices and threads, as a dict."""
    import numpy
    import torch

    from seqlab._version import __version__
    from seqlab.functional import _fused_step
    from seqlab.functional._gemm import onednn_enabled

    devices: list[dict[str, object]] = [
        {"type": "cpu", "name": platform.processor() or platform.machine()}
    ]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            devices.append(
                {
                    "type": "cuda",
                    "index": i,
                    "name": p.name,
                    "memory_gib": round(p.total_memory / 2**30, 1),
                }
            )
    return {
        "seqlab": __version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "devices": devices,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.version.cuda,
        # the GEMM library seqlab's BPTT kernels use for float32 on the CPU
        "cpu_gemm": "oneDNN" if onednn_enabled(torch.empty(0)) else "torch (addmm)",
        # what runs the LSTM and GRU loops in float32 on the CPU
        "rnn_loops": _fused_step.describe(),
    }


def info(json_out: bool = typer.Option(False, "--json", help="Machine-readable JSON.")) -> None:
    """Print the versions of seqlab, torch, numpy and Python, the devices and thread count."""
    facts = collect()
    if json_out:
        typer.echo(json.dumps(facts, indent=2))
        return
    width = max(len(k) for k in facts)
    for key, value in facts.items():
        if key == "devices":
            assert isinstance(value, list)
            shown = "; ".join(
                f"{d['type']}" + (f":{d['index']}" if "index" in d else "") + f" {d['name']}"
                for d in value
            )
            typer.echo(f"{'devices':<{width}}  {shown}")
        else:
            typer.echo(f"{key:<{width}}  {value}")
