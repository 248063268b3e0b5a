"""One bar per running stream below the total, on a terminal; nothing more off one (a
script or a log sees what it always saw). The views alone, then zfsyncctl against the
scripted double (its real D-Bus paths: the StreamProgress signal, the watch's inbox)."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator
from typing import IO, Any

import pytest
from click.testing import CliRunner
from rich.console import Console

import zfsyncctl.progress
from tests.unit.cli.daemon_double import DaemonDouble, Tx
from tests.unit.cli.test_render import tx_data
from zfsyncctl.client import ZfsyncClient
from zfsyncctl.main import cli
from zfsyncctl.models import (
    Finished,
    MessageEvent,
    Progress,
    StepFinished,
    StepStarted,
    StreamRow,
    Streams,
    TransactionDetail,
    WatchEvent,
)
from zfsyncctl.progress import PlainProgress, RichProgress
from zfsyncd.api import limits

KIB = 1024


def rows(*streams: tuple[str, int, int, float, float]) -> Streams:
    return Streams(
        streams=[
            StreamRow(dataset=d, bytes_done=b, bytes_total=t, rate=r, eta=e)
            for d, b, t, r, e in streams
        ]
    )


SYNC: list[WatchEvent] = [
    StepStarted(index=0, description="send tank/home@zfsync_t2, tank/db@zfsync_t2"),
    rows(("tank/home", 0, 0, 0.0, -1.0)),
    Progress(percent=5.0, bytes_done=0, bytes_total=0, rate=0.0, eta=-1.0),
    rows(("tank/home", 512 * KIB, 1024 * KIB, 256 * KIB, 2.0), ("tank/db", 0, 64 * KIB, 0.0, -1.0)),
    Progress(percent=40.0, bytes_done=512 * KIB, bytes_total=1088 * KIB, rate=256 * KIB, eta=3.0),
    rows(("tank/db", 32 * KIB, 64 * KIB, 16 * KIB, 2.0)),
    rows(),
    Progress(percent=100.0, bytes_done=1088 * KIB, bytes_total=1088 * KIB, rate=1.0, eta=-1.0),
    StepFinished(index=0, state="COMPLETED"),
    Finished(state="COMPLETED", error=""),
]


def table(view: RichProgress) -> str:
    """The bars as drawn now (the live display redraws on a timer; this is what it draws)."""
    buf = io.StringIO()
    Console(file=buf, width=160, color_system=None).print(
        view.progress.make_tasks_table(view.progress.tasks)
    )
    return buf.getvalue()


def labels(view: RichProgress) -> list[str]:
    return [str(t.fields["label"]).strip() for t in view.progress.tasks]


def test_a_bar_per_running_stream_below_the_total() -> None:
    term = Console(file=io.StringIO(), force_terminal=True, width=160, color_system=None)
    view = RichProgress(term)
    view.start(TransactionDetail.model_validate(tx_data(bytes_total=0, bytes_done=0)))
    drawn: list[tuple[list[str], str]] = []
    for event in SYNC:
        view.update(event)
        drawn.append((labels(view), table(view)))
    view.stop()
    assert drawn[1][0] == ["t1", "tank/home"]  # shown from its start, before a byte moved
    both, text = drawn[4]
    assert both == ["t1", "tank/home", "tank/db"]  # the total first, then in their order
    home = next(line for line in text.splitlines() if line.strip().startswith("tank/home"))
    assert "50%" in home
    assert "0.5/1.0 MiB" in home
    assert "256.0 KiB/s" in home
    assert "ETA 0:02" in home
    total = text.splitlines()[0]
    assert "ETA 0:03" in total  # the daemon's numbers for the total too
    assert drawn[5][0] == ["t1", "tank/db"]  # an ended stream's bar goes
    assert drawn[6][0] == ["t1"]
    assert labels(view) == ["t1"]


def test_the_end_removes_the_bars_left() -> None:
    """A transaction that failed mid-stream: its Finished clears what the streams said."""
    view = RichProgress(Console(file=io.StringIO(), force_terminal=True, color_system=None))
    view.start(TransactionDetail.model_validate(tx_data()))
    view.update(rows(("tank/home", 1, 10, 1.0, 9.0)))
    view.update(Finished(state="FAILED", error="cut"))
    view.stop()
    assert labels(view) == ["t1"]


def test_a_hostile_dataset_name_is_shown_as_text() -> None:
    view = RichProgress(Console(file=io.StringIO(), force_terminal=True, color_system=None))
    view.start(TransactionDetail.model_validate(tx_data()))
    view.update(rows(("tank/[red]x\x1b[2J" + "y" * 100, 1, 10, 1.0, 9.0)))
    (label,) = labels(view)[1:]
    assert "\x1b" not in label
    assert len(label) <= zfsyncctl.progress.STREAM_LABEL_CHARS
    view.stop()


def test_off_a_terminal_nothing_changes() -> None:
    """The plain lines of a sync with streams are those of the same sync without."""
    printed = []
    for events in (SYNC, [e for e in SYNC if not isinstance(e, Streams)]):
        buf = io.StringIO()
        view = PlainProgress(buf, every=3600)
        view.start(TransactionDetail.model_validate(tx_data()))
        for event in events:
            view.update(event)
        printed.append(buf.getvalue())
    assert printed[0] == printed[1]


# ------------------------------------------------------------------ against the double


def _row(name: str, done: int, total: int = 64 * KIB) -> tuple[str, int, int, float, float]:
    return (name, done, total, 1024.0, (total - done) / 1024)


async def sync_with_streams(d: DaemonDouble, tx: Tx) -> None:
    """Two streams, then one, then none; a Message after each StreamProgress so that none
    is folded into the next (the watch keeps only the newest of those not yet read)."""
    await tx.watched.wait()
    d.step_started(tx, 0, "send tank/home@zfsync_t2, tank/db@zfsync_t2")
    for i, streams in enumerate(
        [[_row("tank/home", 0), _row("tank/db", 0)], [_row("tank/db", 32 * KIB)], []]
    ):
        d.streams(tx, streams)
        d.progress(tx, 30.0 * i, 32 * KIB * i, 128 * KIB, 1024.0, 10.0)
        d.message(tx, f"mark {i}")
    d.step_finished(tx, 0, "COMPLETED")
    d.finish(tx, "COMPLETED", "")


class Recording(RichProgress):
    """The live view, remembering the bars after each event."""

    def __init__(self, console: Console) -> None:
        super().__init__(console)
        self.seen: list[list[str]] = []

    def update(self, event: WatchEvent) -> None:
        super().update(event)
        if isinstance(event, Streams | Finished):
            self.seen.append(labels(self)[1:])  # below the total


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_replica_sync_draws_a_bar_per_stream_on_a_terminal(
    double: DaemonDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    views: list[Recording] = []
    real = zfsyncctl.progress.choose_view

    def on_a_terminal(*, json_output: bool, stderr: IO[str] | None = None) -> Any:
        chosen = real(json_output=json_output, stderr=Tty())
        assert isinstance(chosen, RichProgress)  # a terminal gets the live view
        views.append(Recording(chosen.console))
        return views[-1]

    monkeypatch.setattr(zfsyncctl.progress, "choose_view", on_a_terminal)
    double.script = sync_with_streams
    result = CliRunner().invoke(cli, ["replica", "sync", "tank/home", "tank/db", "-P", "2"])
    assert result.exit_code == 0, result.output
    (view,) = views
    assert view.seen == [["tank/home", "tank/db"], ["tank/db"], [], []]


def test_replica_sync_in_a_script_prints_what_it_always_did(double: DaemonDouble) -> None:
    double.script = sync_with_streams
    result = CliRunner().invoke(cli, ["replica", "sync", "tank/home", "tank/db"])
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    # bytes only on the total's lines (at each further 10%), none of a stream's
    assert [ln for ln in lines if "KiB" in ln and not re.match(r"\S+: \d+% ", ln)] == []
    assert [ln.split(": ", 1)[1] for ln in lines if "mark" in ln] == ["mark 0", "mark 1", "mark 2"]


@pytest.fixture
async def client(double: DaemonDouble) -> AsyncIterator[ZfsyncClient]:
    zc = await ZfsyncClient.connect(bus_address=double.address)
    yield zc
    await zc.close()


async def test_the_watch_reads_streams_and_folds_a_burst(
    client: ZfsyncClient, double: DaemonDouble
) -> None:
    """300 Progress and StreamProgress pairs, as fast as the double bears to send them:
    the client keeps the newest of each; more rows than the API's bound are cut to it."""

    async def burst(d: DaemonDouble, tx: Tx) -> None:
        await tx.watched.wait()
        many = [_row(f"tank/{n}", 0) for n in range(limits.MAX_PROGRESS_STREAMS + 4)]
        d.streams(tx, many)
        for i in range(1, 301):
            d.streams(tx, [_row("tank/home", i)])
            d.progress(tx, i / 3, i, 300, 1.0, -1.0)
            if i % 10 == 0:
                # dbus-fast drops a connection whose socket fills (the daemon throttles)
                await asyncio.sleep(0.005)
        d.streams(tx, [])
        d.finish(tx, "COMPLETED", "")

    double.script = burst
    started = await client.snapshot(["tank"])
    events: list[WatchEvent] = []
    async with client.watch(started.id) as watch:
        async for event in watch.events():
            events.append(event)
    streams = [e for e in events if isinstance(e, Streams)]
    assert all(len(e.streams) <= limits.MAX_PROGRESS_STREAMS for e in streams)
    assert streams[-1] == Streams(streams=[])
    assert [e.streams[0].bytes_done for e in streams[1:-1]] == sorted(
        e.streams[0].bytes_done for e in streams[1:-1]
    )
    assert len(streams) <= 302
    assert events[-1] == Finished(state="COMPLETED", error="")
    assert isinstance(events[-2], Streams | Progress | MessageEvent)
