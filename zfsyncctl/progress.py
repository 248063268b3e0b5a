"""Showing a transaction's progress while zfsyncctl waits for it, on stderr: a live rich
progress bar when stderr is a terminal, plain lines otherwise (a log, a CI job).

Both take the events of watch.TransactionWatch; neither talks to the bus. rich is imported
only when the live bar is drawn: on a terminal, not in a log or a script."""

from __future__ import annotations

import sys
import time
from typing import IO, TYPE_CHECKING, Protocol

from .models import (
    Finished,
    MessageEvent,
    StepFinished,
    StepStarted,
    TransactionDetail,
    WatchEvent,
)
from .models import Progress as ProgressEvent
from .render import clean, fmt_bytes, fmt_seconds, safe

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import TaskID


class ProgressView(Protocol):
    def start(self, tx: TransactionDetail) -> None: ...
    def update(self, event: WatchEvent) -> None: ...
    def stop(self) -> None: ...


class NoProgress:
    """--json on a non-terminal: stay silent."""

    def start(self, tx: TransactionDetail) -> None:
        pass

    def update(self, event: WatchEvent) -> None:
        pass

    def stop(self) -> None:
        pass


class PlainProgress:
    """Lines: each step, each message, progress at each further 10% or every `every`
    seconds (whichever comes first), the end."""

    def __init__(self, file: IO[str] | None = None, *, every: float = 10.0) -> None:
        self.file = file or sys.stderr
        self.every = every
        self._steps: dict[int, str] = {}
        self._last_decile = -1
        self._last_time = 0.0
        self._id = ""

    def _line(self, text: str) -> None:
        self.file.write(f"{self._id}: {clean(text)}\n")
        self.file.flush()

    def start(self, tx: TransactionDetail) -> None:
        self._id = tx.id
        self._steps = {s.index: s.description for s in tx.steps}
        self._line(f"{tx.state} {tx.description}")

    def update(self, event: WatchEvent) -> None:
        match event:
            case ProgressEvent():
                decile = int(event.percent // 10)
                now = time.monotonic()
                if decile <= self._last_decile and now - self._last_time < self.every:
                    return
                self._last_decile = max(decile, self._last_decile)
                self._last_time = now
                text = f"{event.percent:.0f}%"
                if event.bytes_total:
                    text += f" {fmt_bytes(event.bytes_done)} of {fmt_bytes(event.bytes_total)}"
                if event.rate > 0:
                    text += f", {fmt_bytes(event.rate)}/s"
                if event.eta >= 0:
                    text += f", ETA {fmt_seconds(event.eta)}"
                self._line(text)
            case StepStarted():
                self._steps[event.index] = event.description
                self._line(f"step {event.index} started: {event.description}")
            case StepFinished():
                desc = self._steps.get(event.index, "")
                self._line(f"step {event.index} {event.state}: {desc}".rstrip(": "))
            case MessageEvent():
                self._line(event.text)
            case Finished():
                self._line(event.state + (f": {event.error}" if event.error else ""))

    def stop(self) -> None:
        pass


class RichProgress:
    """A live bar: percent, bytes, rate, ETA, the current step below it."""

    def __init__(self, console: Console | None = None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self.console = console or Console(stderr=True)
        self.progress = Progress(
            TextColumn("[bold]{task.fields[label]}"),
            BarColumn(),
            TaskProgressColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[step]}"),
            console=self.console,
            transient=False,
            refresh_per_second=8,
        )
        self._task: TaskID | None = None
        self._steps: dict[int, str] = {}
        self._bytes_mode = False

    def start(self, tx: TransactionDetail) -> None:
        self._steps = {s.index: s.description for s in tx.steps}
        self._bytes_mode = tx.bytes_total > 0
        total = float(tx.bytes_total) if self._bytes_mode else 100.0
        done = float(tx.bytes_done) if self._bytes_mode else tx.percent
        self._task = self.progress.add_task("", total=total, label=tx.id, step=tx.state)
        self.progress.update(self._task, completed=done)
        self.progress.start()

    def update(self, event: WatchEvent) -> None:
        if self._task is None:
            return
        match event:
            case ProgressEvent():
                if event.bytes_total:
                    self._bytes_mode = True
                    self.progress.update(
                        self._task,
                        total=float(event.bytes_total),
                        completed=float(event.bytes_done),
                    )
                else:
                    self._bytes_mode = False
                    self.progress.update(self._task, total=100.0, completed=event.percent)
            case StepStarted():
                self._steps[event.index] = clean(event.description)
                self.progress.update(self._task, step=self._steps[event.index])
            case StepFinished():
                if event.state != "COMPLETED":
                    desc = self._steps.get(event.index, f"step {event.index}")
                    line = f"step {event.index} {clean(event.state)}: {desc}"
                    self.progress.console.print(safe(line))
            case MessageEvent():
                self.progress.console.print(safe(event.text))
            case Finished():
                task = self.progress.tasks[0]
                if event.state == "COMPLETED" and task.total is not None:
                    self.progress.update(self._task, completed=task.total)
                self.progress.update(self._task, step=event.state)

    def stop(self) -> None:
        self.progress.stop()


def choose_view(*, json_output: bool, stderr: IO[str] | None = None) -> ProgressView:
    stream = stderr or sys.stderr
    if stream.isatty():
        from rich.console import Console

        return RichProgress(Console(file=stream))
    if json_output:
        return NoProgress()
    return PlainProgress(stream)
