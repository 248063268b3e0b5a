"""A daemon caught mid-work: each test holds its transaction at a zfs call of its choosing
(the model's test gate, `Daemon.gate`) for as long as it needs, so nothing here races the
clock. Busy datasets fail fast or queue, a queued transaction is cancelled; and a clean
stop (SIGTERM, as systemd sends) in the middle of a step: the running step finishes or is
undone, everything before it is undone, the transaction ends CANCELLED with the reason, and
the daemon exits 0."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from dbus_fast import Variant
from dbus_fast.aio import MessageBus

from tests.system.daemon import call, start_daemon
from tests.system.harness import SystemBus, disconnect
from zfsyncd.api.names import TRANSACTION_IFACE, transaction_id


async def test_sigterm_mid_step_undoes_the_running_transaction(
    system_bus: SystemBus, tmp_path: Path
) -> None:
    """systemd's stop: the running step finishes or is undone, everything before it is
    undone, the transaction ends CANCELLED with the reason, and the daemon exits 0."""
    slow = await start_daemon(system_bus, tmp_path / "slow", memory_delay=0.05)
    # four steps of one call each: snapshot tank, snapshot backup, hold tank, hold backup;
    # the second is held until the daemon has been told to stop
    slow.gate.hold_after(1)
    bus = await MessageBus(bus_address=system_bus.address).connect()
    try:
        reply = await call(
            bus, "Snapshot", "asa{sv}",
            [["tank", "backup"], {"recursive": Variant("b", True), "hold": Variant("b", True)}],
        )  # fmt: skip
        path = reply.body[0]
        await asyncio.to_thread(slow.gate.wait_held)
        current = await call(
            bus, "Get", "ss", [TRANSACTION_IFACE, "CurrentStep"], path=path,
            interface="org.freedesktop.DBus.Properties",
        )  # fmt: skip
        assert current.body[0].value == 1
    finally:
        await disconnect(bus)
    slow.proc.send_signal(signal.SIGTERM)
    assert slow.proc.wait(timeout=60) == 0, slow.log()
    tx_id = transaction_id(path)
    ((state, error, outcome),) = slow.rows(
        "SELECT state, error, rollback_outcome FROM transactions WHERE id = ?", (tx_id,)
    )
    assert state == "CANCELLED", (state, error, outcome)
    assert "zfsyncd is stopping" in error
    assert outcome.startswith("complete"), outcome
    steps = slow.rows("SELECT state, undo_state FROM steps WHERE tx_id = ? ORDER BY idx", (tx_id,))
    assert steps[0] == ("COMPLETED", "COMPLETED"), steps  # the first step ran and was undone
    assert steps[1] in {("FAILED", "COMPLETED"), ("FAILED", None)}, steps  # the held one
    assert steps[2:] == [("PENDING", None)] * 2, steps


async def test_busy_datasets_fail_fast_or_queue_and_a_queued_one_can_be_cancelled(
    system_bus: SystemBus, tmp_path: Path
) -> None:
    slow = await start_daemon(system_bus, tmp_path / "busy", memory_delay=0.05)
    try:
        slow.gate.hold_after(0)  # the first transaction holds tank until released below
        first = slow.ctl_json("snapshot", "create", "--hold", "tank", "--no-wait")
        slow.gate.wait_held()
        busy = slow.ctl("snapshot", "create", "tank", "--fail-if-busy")
        assert busy.returncode == 6, busy.stderr
        assert f"dataset tank is busy in transaction {first['id']}" in busy.stderr
        queued = slow.ctl_json("snapshot", "create", "tank", "--no-wait")
        assert slow.ctl_json("transaction", "show", queued["id"])["state"] == "CREATED"
        cancelled = slow.ctl("transaction", "cancel", queued["id"])
        assert cancelled.returncode == 0, cancelled.stderr
        assert slow.ctl_json("transaction", "show", first["id"])["state"] == "EXECUTING"
        slow.gate.release()
        last = slow.ctl_json("snapshot", "create", "tank", "--no-wait")
        assert slow.ctl("transaction", "watch", last["id"]).returncode == 0
        states = {
            tx_id: slow.ctl_json("transaction", "show", tx_id)["state"]
            for tx_id in (first["id"], queued["id"], last["id"])
        }
        assert states == {first["id"]: "COMPLETED", queued["id"]: "CANCELLED",
                          last["id"]: "COMPLETED"}  # fmt: skip
        names = {row["name"] for row in slow.ctl_json("snapshot", "list")}
        assert names == {f"tank@zfsync_{first['id']}", f"tank@zfsync_{last['id']}"}
    finally:
        system_bus.stop(slow.proc)
