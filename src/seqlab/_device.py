"""Devices named in configs: ``"auto"`` resolved, and a device that is not there rejected
when the config is built (a ``ValueError`` the CLI prints as one line), not by a traceback
from deep inside torch when training starts. Used by ``TrainConfig`` and the embedding
trainers' configs.
"""

from __future__ import annotations

import torch

__all__ = ["check_device", "parse_device", "resolve_device"]


def resolve_device(device: str, *, gpu_path: bool) -> str:
    """``"auto"`` -> ``"cuda"`` when ``gpu_path`` and torch sees a CUDA GPU, else ``"cpu"``.

    Any other name is returned as given (check it with :func:`check_device`).
    """
    if device != "auto":
        return device
    return "cuda" if gpu_path and torch.cuda.is_available() else "cpu"


def parse_device(device: str) -> torch.device:
    """The torch device named ``device``; ``ValueError`` if the name is not a device."""
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"device {device!r} is not a torch device: {e}") from None


def check_device(device: str) -> torch.device:
    """The torch device named ``device``; ``ValueError`` if the name is not a device or the
    device is not available in this process (no CUDA build, no GPU, index out of range)."""
    dev = parse_device(device)
    if dev.type == "cpu":
        return dev
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            why = (
                f"this torch ({torch.__version__}) is built without CUDA"
                if torch.version.cuda is None
                else "torch sees no CUDA GPU"
            )
            raise ValueError(f"device {device!r} is not available: {why}; use 'cpu' or 'auto'")
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise ValueError(
                f"device {device!r} is not available: torch sees {count} CUDA GPU(s) "
                f"(cuda:0..cuda:{count - 1})"
            )
        return dev
    if dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError(f"device {device!r} is not available here; use 'cpu' or 'auto'")
        return dev
    try:
        torch.empty(1, device=dev)
    except Exception as e:  # any backend's way of saying it is absent
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ValueError(f"device {device!r} is not available: {first}") from None
    return dev
