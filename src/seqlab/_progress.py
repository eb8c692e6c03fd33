"""One progress bar for the step-counting loops (training steps, GloVe epochs), on stderr."""

from __future__ import annotations


class ProgressBar:
    """A rich bar ``label ━━━ n/total elapsed remaining info`` on stderr, or nothing.

    >>> bar = ProgressBar("train", total=100, enabled=False)
    >>> bar.update(10, "loss 1.23"); bar.close()
    """

    def __init__(self, label: str, total: int, *, completed: int = 0, enabled: bool = True):
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
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn(f"[bold]{label}"),
            BarColumn(bar_width=10),  # narrow: the line fits 80 columns with its info
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(compact=True),
            TextColumn("{task.fields[info]}"),
            console=Console(stderr=True),
        )
        self._task = self._progress.add_task(label, total=total, completed=completed, info="")
        self._progress.start()

    def update(self, completed: int, info: str | None = None) -> None:
        """Show ``completed`` of the total; ``info`` replaces the text at the end when given."""
        if self._progress is not None:
            fields = {} if info is None else {"info": info}
            self._progress.update(self._task, completed=completed, **fields)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
