"""Showing a transaction's progress while zfsyncctl waits for it, on stderr: a live rich
progress bar when stderr is a terminal, plain lines otherwise (a log, a CI job).

Both take the events of watch.TransactionWatch; neither talks to the bus. The live view
also draws one bar per running stream of a step that sends several datasets at once (a
replica sync), below the total; the plain lines leave them out (a log of a `sync all`
would get a line per dataset per tick). rich is imported
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
    StreamRow,
    Streams,
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
            case Streams():
                pass  # the total says enough in a log

    def stop(self) -> None:
        pass


#: a stream's bar is labelled with its dataset, cut to this many characters
STREAM_LABEL_CHARS = 40


def _rate(rate: float) -> str:
    return f"{fmt_bytes(rate)}/s" if rate > 0 else ""


def _eta(eta: float) -> str:
    return f"ETA {fmt_seconds(eta)}" if eta >= 0 else ""


class RichProgress:
    """A live bar: percent, bytes, rate, ETA (the daemon's: smoothed over the whole
    transfer), the current step; below it one bar per running stream, if any."""

    def __init__(self, console: Console | None = None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
        )

        self.console = console or Console(stderr=True)
        self.progress = Progress(
            TextColumn("[bold]{task.fields[label]}"),
            BarColumn(),
            TaskProgressColumn(),
            DownloadColumn(binary_units=True),
            TextColumn("{task.fields[rate]}"),
            TextColumn("{task.fields[eta]}"),
            TextColumn("{task.fields[step]}"),
            console=self.console,
            transient=False,
            refresh_per_second=8,
        )
        self._task: TaskID | None = None
        self._streams: dict[str, TaskID] = {}  # dataset -> its bar, while it runs
        self._steps: dict[int, str] = {}
        self._bytes_mode = False

    def start(self, tx: TransactionDetail) -> None:
        self._steps = {s.index: s.description for s in tx.steps}
        self._bytes_mode = tx.bytes_total > 0
        total = float(tx.bytes_total) if self._bytes_mode else 100.0
        done = float(tx.bytes_done) if self._bytes_mode else tx.percent
        self._task = self.progress.add_task(
            "", total=total, label=tx.id, step=tx.state, rate="", eta=""
        )
        self.progress.update(self._task, completed=done)
        self.progress.start()

    def update(self, event: WatchEvent) -> None:
        if self._task is None:
            return
        match event:
            case ProgressEvent():
                self._bytes_mode = event.bytes_total > 0
                self.progress.update(
                    self._task,
                    total=float(event.bytes_total) if self._bytes_mode else 100.0,
                    completed=float(event.bytes_done) if self._bytes_mode else event.percent,
                    rate=_rate(event.rate),
                    eta=_eta(event.eta),
                )
            case Streams():
                self._show_streams(event.streams)
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
                self._show_streams([])
                task = self.progress.tasks[0]
                if event.state == "COMPLETED" and task.total is not None:
                    self.progress.update(self._task, completed=task.total)
                self.progress.update(self._task, step=event.state, eta="")

    def _show_streams(self, rows: list[StreamRow]) -> None:
        """A bar per listed stream (added as it starts), none for those that ended."""
        listed = {row.dataset: row for row in rows}
        for name in [n for n in self._streams if n not in listed]:
            self.progress.remove_task(self._streams.pop(name))
        for name, row in listed.items():
            if name not in self._streams:
                label = "  " + clean(name)[:STREAM_LABEL_CHARS]
                self._streams[name] = self.progress.add_task(
                    "", total=None, label=label, step="", rate="", eta=""
                )
            self.progress.update(
                self._streams[name],
                # without an estimate yet, rich draws a bar that pulses (total None)
                total=float(row.bytes_total) if row.bytes_total else None,
                completed=float(row.bytes_done),
                rate=_rate(row.rate),
                eta=_eta(row.eta),
            )

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
