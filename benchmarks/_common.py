"""Shared helpers for seqlab's side-by-side benchmarks: timing, machine facts, results."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, object]:
    """Facts that make a timing comparable: CPU/GPU, threads, versions, date."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import seqlab

    info: dict[str, object] = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "seqlab": seqlab.__version__,
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def vendor(cpu: object) -> str:
    """``intel``, ``amd`` or ``other``: the vendor in :func:`machine`'s ``cpu``."""
    text = str(cpu).lower()
    return "intel" if "intel" in text else "amd" if "amd" in text else "other"


def run_name(cpu: object, threads: int) -> str:
    """``2threads-intel``: what a result file's name needs so that runs on another machine
    or thread count never overwrite it."""
    return f"{threads}thread{'s' if threads != 1 else ''}-{vendor(cpu)}"


def _cpu_of(payload: object) -> object:
    facts = payload.get("machine") if isinstance(payload, dict) else None
    return facts.get("cpu") if isinstance(facts, dict) else None


def timer(device: str) -> Callable[[Callable[[], object]], float]:
    """A function that times one call of ``fn`` in seconds, synchronising CUDA."""

    def run(fn: Callable[[], object]) -> float:
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    return run


def summary(values: list[float]) -> dict[str, float]:
    """min / median / max of a list."""
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def save(name: str, payload: dict[str, object]) -> Path:
    """Write ``benchmarks/results/<name>.json`` atomically; where that file holds a run on
    another CPU vendor, write ``<name>-<vendor>.json`` instead, so that one vendor's results
    never replace the other's."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    ours = _cpu_of(payload)
    if path.exists() and ours is not None:
        try:
            theirs = _cpu_of(json.loads(path.read_text()))
        except (OSError, ValueError):
            theirs = None
        if theirs is not None and vendor(theirs) != vendor(ours):
            path = RESULTS / f"{name}-{vendor(ours)}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n")
    os.replace(tmp, path)
    return path
