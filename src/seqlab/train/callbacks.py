"""Callbacks that ship with the trainer: :class:`TensorBoard` scalars.

The loss-curve PNG is drawn by ``LossCurve`` of the viz package (the figures live there;
this package does not import it).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from seqlab._validate import is_number
from seqlab.train.protocol import Callback

__all__ = ["TensorBoard"]

_MISSING = "--tensorboard needs the tensorboard package: pip install 'seqlab[tensorboard]'"


class TensorBoard(Callback):
    """Every numeric field of each metrics line as a TensorBoard scalar at the line's step.

    A train line ``{"step": 20, "train_loss": 1.2, "lr": 0.002, ...}`` gives the scalars
    ``train/loss``, ``train/lr``, ``train/tokens_per_s``, ``train/epoch`` and
    ``train/elapsed``; a validation line gives ``valid/loss``, ``valid/exact_match``, ...
    (and ``valid/epoch``, ``valid/elapsed``). The event files go to ``log_dir``
    (``tensorboard --logdir LOG_DIR`` shows them); they are flushed and closed when
    ``fit()`` ends. A resumed run purges the events past the checkpoint's step, so a
    re-trained stretch is not drawn twice.

    Raises ``ValueError`` when the ``tensorboard`` package is not installed.
    """

    def __init__(self, log_dir: str | os.PathLike[str]) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter  # needs the tensorboard package
        except ImportError:
            raise ValueError(_MISSING) from None
        self.log_dir = Path(log_dir)  # where the event files go
        self._writer_class = SummaryWriter
        self._writer: Any = None  # the SummaryWriter of this fit(), made at its first line

    def on_record(self, record: dict[str, Any], records: list[dict[str, Any]]) -> None:
        step = record.get("step")
        if not is_number(step):
            return
        if self._writer is None:
            # lines before this one are from earlier sessions: drop later events of theirs
            earlier = [r["step"] for r in records[:-1] if is_number(r.get("step"))]
            purge_step = int(max(earlier)) + 1 if earlier else None
            self._writer = self._writer_class(log_dir=str(self.log_dir), purge_step=purge_step)
        section = "valid" if any(k.startswith("valid_") for k in record) else "train"
        for key, value in record.items():
            if key == "step" or isinstance(value, bool) or not isinstance(value, int | float):
                continue
            self._writer.add_scalar(_tag(section, key), float(value), int(step))

    def on_end(self, records: list[dict[str, Any]]) -> None:
        if self._writer is not None:
            self._writer.flush()
            self._writer.close()
            self._writer = None


def _tag(section: str, key: str) -> str:
    """``"train_loss"`` -> ``"train/loss"``, ``"valid_mae"`` -> ``"valid/mae"``, ``"lr"`` in a
    train line -> ``"train/lr"``."""
    prefix = f"{section}_"
    name = key[len(prefix) :] if key.startswith(prefix) else key
    return f"{section}/{name}"
