"""The typed client's real D-Bus paths against the scripted double (daemon_double.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from dbus_fast import MessageFlag

from tests.unit.cli.daemon_double import DaemonDouble, TransactionObject, Tx
from zfsyncctl.client import SnapshotOptions, TransactionFilter, ZfsyncClient
from zfsyncctl.errors import (
    BusyError,
    DaemonUnavailableError,
    InternalError,
    InvalidRequestError,
    NotAuthorizedError,
    NotFoundError,
    RefusedError,
)
from zfsyncctl.models import Finished, Progress, WatchEvent
from zfsyncd.api.names import ErrorName


@pytest.fixture
async def client(double: DaemonDouble) -> AsyncIterator[ZfsyncClient]:
    zc = await ZfsyncClient.connect(bus_address=double.address)
    yield zc
    await zc.close()


async def collect(zc: ZfsyncClient, tx_id: str, poll: float | None = None) -> list[WatchEvent]:
    events: list[WatchEvent] = []
    async with asyncio.timeout(10), zc.watch(tx_id, poll_interval=poll) as watch:
        async for event in watch.events():
            events.append(event)
    return events


async def test_status_and_typed_replies(client: ZfsyncClient) -> None:
    status = await client.get_status()
    assert status.backend == "memory"
    assert status.pools == ["tank", "backup"]


async def test_options_are_sent_with_their_signatures(
    client: ZfsyncClient, double: DaemonDouble
) -> None:
    """The double refuses an option of the wrong type, as the daemon does: so this passing
    shows each option's D-Bus type matches the XML."""
    opts = SnapshotOptions(
        recursive=True, hold=True, properties={"com.example:k": "v"}, priority=-3,
        timeout=30.0, tags=["nightly"], wait_for_locks=False,
    )  # fmt: skip
    await client.snapshot(["tank/home"], opts)
    _, body, _ = next(c for c in double.calls if c[0] == "Snapshot")
    assert body[0] == ["tank/home"]
    assert {k: (v.signature, v.value) for k, v in body[1].items()} == {
        "recursive": ("b", True), "hold": ("b", True),
        "properties": ("a{ss}", {"com.example:k": "v"}), "priority": ("i", -3),
        "timeout": ("d", 30.0), "tags": ("as", ["nightly"]), "wait_for_locks": ("b", False),
    }  # fmt: skip
    rows = await client.list_transactions(
        TransactionFilter(states=["FAILED"], type="snapshot", since=1.0, limit=5, active=True)
    )
    assert rows == []


async def test_unset_options_are_not_sent(client: ZfsyncClient, double: DaemonDouble) -> None:
    await client.snapshot(["tank"])
    _, body, _ = next(c for c in double.calls if c[0] == "Snapshot")
    assert body[1] == {}


@pytest.mark.parametrize("interactive", [True, False])
async def test_interactive_authorization_flag(double: DaemonDouble, interactive: bool) -> None:
    async with await ZfsyncClient.connect(
        interactive=interactive, bus_address=double.address
    ) as zc:
        await zc.get_status()
    _, _, flags = next(c for c in double.calls if c[0] == "GetStatus")
    assert bool(flags & MessageFlag.ALLOW_INTERACTIVE_AUTHORIZATION) is interactive


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        (ErrorName.NOT_AUTHORIZED, NotAuthorizedError),
        (ErrorName.INVALID_ARGUMENT, InvalidRequestError),
        (ErrorName.NOT_FOUND, NotFoundError),
        (ErrorName.BUSY, BusyError),
        (ErrorName.REFUSED, RefusedError),
        (ErrorName.FAILED, InternalError),
    ],
)
async def test_daemon_errors_are_typed(
    client: ZfsyncClient, double: DaemonDouble, name: str, cls: type[Exception]
) -> None:
    double.fail["GetStatus"] = (name, "what the daemon said")
    with pytest.raises(cls, match="what the daemon said"):
        await client.get_status()


async def test_a_reply_missing_a_documented_key_is_an_internal_error(
    client: ZfsyncClient, double: DaemonDouble
) -> None:
    tx = double.add_transaction("COMPLETED")
    del tx.data["rollback_outcome"]
    with pytest.raises(InternalError, match="rollback_outcome"):
        await client.get_transaction(tx.id)


async def test_watch_of_a_transaction_that_had_ended(
    client: ZfsyncClient, double: DaemonDouble
) -> None:
    tx = double.add_transaction("FAILED", error="pool is full")
    assert await collect(client, tx.id) == [Finished(state="FAILED", error="pool is full")]


async def test_watch_catches_a_finished_right_after_subscribing(
    client: ZfsyncClient, double: DaemonDouble
) -> None:
    """The state read says EXECUTING, and Finished is sent the moment that reply has gone
    out: only a client that subscribed BEFORE reading sees it (no poll to rescue it)."""
    tx = double.add_transaction("EXECUTING")

    def finish_right_after_reply(t: Tx) -> None:
        asyncio.get_running_loop().call_soon(double.finish, t, "COMPLETED", "")

    double.on_get_transaction[tx.id] = finish_right_after_reply
    tx.iface = TransactionObject(double, tx)
    assert double.bus is not None
    double.bus.export(tx.data["path"], tx.iface)
    assert await collect(client, tx.id, poll=None) == [Finished(state="COMPLETED", error="")]


async def test_watch_sees_the_whole_run(client: ZfsyncClient, double: DaemonDouble) -> None:
    started = await client.snapshot(["tank/home"])
    events = await collect(client, started.id)
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "StepStarted"
    assert "Progress" in kinds
    assert kinds[-3:] == ["StepFinished", "MessageEvent", "Finished"]
    assert events[-1] == Finished(state="COMPLETED", error="")


async def test_a_signal_burst_is_coalesced_not_fatal(
    client: ZfsyncClient, double: DaemonDouble
) -> None:
    """3000 Progress signals in a burst (the double yields every 50). The double writes
    through the daemon's guarded connection, as the daemon does: under load the client
    reads slower than the burst comes and the socket fills, which plain dbus-fast answers
    by dropping the connection (this test's old flake). The client sees the last one and
    Finished."""

    async def burst(d: DaemonDouble, tx: Tx) -> None:
        await tx.watched.wait()
        for i in range(3000):
            d.progress(tx, i / 30, i, 3000, 1.0, -1.0)
            if i % 50 == 0:
                await asyncio.sleep(0.002)
        d.finish(tx, "COMPLETED", "")

    double.script = burst
    started = await client.snapshot(["tank"])
    events = await collect(client, started.id)
    progress = [e for e in events if isinstance(e, Progress)]
    assert events[-1] == Finished(state="COMPLETED", error="")
    assert progress[-1].bytes_done == 2999
    assert 1 <= len(progress) <= 3000


async def test_the_poll_finds_an_end_whose_signal_was_lost(
    client: ZfsyncClient, double: DaemonDouble
) -> None:
    async def silent(d: DaemonDouble, tx: Tx) -> None:
        await tx.watched.wait()
        d.set_state(tx, "COMPLETED")  # no Finished signal

    double.script = silent
    started = await client.snapshot(["tank"])
    assert await collect(client, started.id, poll=0.2) == [Finished(state="COMPLETED", error="")]


async def test_the_daemon_vanishing_mid_watch(client: ZfsyncClient, double: DaemonDouble) -> None:
    async def crash(d: DaemonDouble, tx: Tx) -> None:
        await tx.watched.wait()
        d.progress(tx, 10.0, 1, 10, 1.0, 9.0)
        await d.vanish()

    double.script = crash
    started = await client.snapshot(["tank"])
    with pytest.raises(DaemonUnavailableError, match="left the system bus"):
        await collect(client, started.id)
    with pytest.raises(DaemonUnavailableError, match="not running"):
        await client.get_status()


async def test_no_bus(tmp_path: object) -> None:
    with pytest.raises(DaemonUnavailableError, match="cannot connect to the system bus"):
        await ZfsyncClient.connect(bus_address="unix:path=/nonexistent/zfsync-test.sock")


async def test_no_daemon_on_the_bus(private_bus: str) -> None:
    async with await ZfsyncClient.connect(bus_address=private_bus) as zc:
        with pytest.raises(DaemonUnavailableError, match="not running"):
            await zc.get_status()
