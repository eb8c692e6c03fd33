"""One progress bar for the step-counting loops (training steps, GloVe epochs), on stderr."""

from __future__ import annotations

import math
import time
from typing import Any


def _remaining_column(time_limit: float | None) -> Any:
    """rich's compact time-remaining column, capped by a time limit when there is one."""
    from rich.progress import TimeRemainingColumn
    from rich.text import Text

    deadline = None if time_limit is None else time.monotonic() + time_limit

    class _Remaining(TimeRemainingColumn):
        def render(self, task: Any) -> Text:
            remaining = task.time_remaining
            if deadline is not None and not task.finished:
                left = max(0.0, deadline - time.monotonic())
                remaining = left if remaining is None else min(remaining, left)
            if remaining is None or not math.isfinite(remaining):
                return Text("-:--", style="progress.remaining")
            minutes, seconds = divmod(int(remaining), 60)
            hours, minutes = divmod(minutes, 60)
            shown = (
                f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes:02d}:{seconds:02d}"
            )
            return Text(shown, style="progress.remaining")

    return _Remaining(compact=True)


class ProgressBar:
    """A rich bar ``label ━━━ n/total elapsed remaining info`` on stderr, or nothing.

    The remaining time is the smaller of the pace's estimate and ``time_limit`` seconds
    from now (a training time budget). On a narrow terminal the info text is cut, never
    the counts.

    >>> bar = ProgressBar("train", total=100, enabled=False)
    >>> bar.update(10, "loss 1.23"); bar.close()
    """

    def __init__(
        self,
        label: str,
        total: int,
        *,
        completed: int = 0,
        enabled: bool = True,
        time_limit: float | None = None,
    ):
        self._progress = None
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )
        from rich.table import Column

        console = Console(stderr=True)
        digits = len(str(total))
        # label, bar, n/total, elapsed h:mm:ss, remaining mm:ss, the spaces between
        fixed = len(label) + 1 + 11 + (2 * digits + 2) + 8 + 6
        self._info_width = max(0, console.width - fixed)
        self._progress = Progress(
            TextColumn(f"[bold]{label}"),
            BarColumn(bar_width=10),  # narrow: the line fits 80 columns with its info
            MofNCompleteColumn(table_column=Column(no_wrap=True)),
            TimeElapsedColumn(),
            _remaining_column(time_limit),
            TextColumn("{task.fields[info]}", markup=False),
            console=console,
        )
        self._task = self._progress.add_task(label, total=total, completed=completed, info="")
        self._progress.start()

    def update(self, completed: int, info: str | None = None) -> None:
        """Show ``completed`` of the total; ``info`` replaces the text at the end when given."""
        if self._progress is not None:
            if info is not None and len(info) > self._info_width:  # cut the info, not counts
                info = info[: max(0, self._info_width - 1)] + "…"
            fields = {} if info is None else {"info": info}
            self._progress.update(self._task, completed=completed, **fields)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
