"""Replication through the real daemon, bus and polkitd: `zfsyncctl replica status` and
ListReplicas are reads, open to everyone (org.zfsync.read), and print nothing on stderr from
a script; replica init and sync as root, refused to nobody with nothing changed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from dbus_fast import MessageType, Variant
from dbus_fast.aio import MessageBus

import zfsyncd.ops  # noqa: F401 - registers the kinds the daemon runs (the same code)
from tests.system.daemon import Daemon, call, start_daemon
from tests.system.harness import SystemBus, User

NOT_AUTHORIZED = 3


@pytest.fixture(scope="module")
async def daemon(
    system_bus: SystemBus, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Daemon]:
    started = await start_daemon(system_bus, tmp_path_factory.mktemp("daemon"), memory_delay=0.01)
    yield started
    assert started.proc.poll() is None, f"zfsyncd died during the tests:\n{started.log()}"
    assert system_bus.stop(started.proc) == 0, started.log()


def test_replica_status_for_anyone_and_nothing_on_stderr(daemon: Daemon, nobody: User) -> None:
    for user in (None, nobody):
        done = daemon.ctl("replica", "status", user=user)
        assert (done.returncode, done.stderr) == (0, ""), (user, done.stderr)
        assert done.stdout.strip() == "no replica pairs"
        assert daemon.ctl_json("replica", "status", user=user) == []


async def test_list_replicas_checks_its_options(daemon: Daemon, client: MessageBus) -> None:
    fine = await call(client, "ListReplicas", "a{sv}", [{"limit": Variant("u", 0)}])
    assert fine.message_type is MessageType.METHOD_RETURN, fine.body
    assert fine.body == [[]]
    cases = [
        ({"limit": Variant("u", 1001)}, "limit"),
        ({"after": Variant("s", "tank@x")}, "after"),
        ({"dataset": Variant("b", True)}, "must be of D-Bus type s"),
        ({"recursive": Variant("b", True)}, "unknown option 'recursive'"),
    ]
    for options, text in cases:
        reply = await call(client, "ListReplicas", "a{sv}", [options])
        assert reply.message_type is MessageType.ERROR, options
        assert reply.error_name == "org.zfsync.Error.InvalidArgument", reply.error_name
        assert text in reply.body[0], reply.body


def test_replica_init_sync_and_status(daemon: Daemon, nobody: User) -> None:
    init = daemon.ctl("replica", "init", "tank", "backup/tank")
    assert init.returncode == 0, init.stderr
    (row,) = daemon.ctl_json("replica", "status")
    assert (row["dataset"], row["role"], row["destination"]) == (
        "tank",
        "source",
        "local:backup/tank",
    )
    assert row["last_sent"].startswith("tank@zfsync_")
    assert (row["error"], row["lag_seconds"]) == ("", 0.0)

    refused = daemon.ctl("replica", "sync", "tank", "--no-ask-password", user=nobody)
    assert refused.returncode == NOT_AUTHORIZED, refused.stderr
    assert "Traceback" not in refused.stderr
    audit = daemon.rows("SELECT action FROM audit WHERE uid = ?", (nobody.uid,))
    assert audit[-1:] == [("ReplicaSync",)]
    (seen,) = daemon.ctl_json("replica", "status", user=nobody)  # a read: open to nobody
    assert _without_age(seen) == _without_age(row)  # and nothing changed

    synced = daemon.ctl("replica", "sync", "all")
    assert synced.returncode == 0, synced.stderr
    types = [t["type"] for t in daemon.ctl_json("transaction", "list", "--limit", "2")]
    assert types == ["replica-sync", "replica-init"]


def _without_age(row: dict[str, object]) -> dict[str, object]:
    """A row without what moves with the clock."""
    return {k: v for k, v in row.items() if k != "age"}


def test_replica_pause_shows_in_status_and_failover_needs_manage(
    daemon: Daemon, nobody: User
) -> None:
    """After test_replica_init_sync_and_status (the pair tank -> backup/tank)."""
    if not daemon.ctl_json("replica", "status"):
        assert daemon.ctl("replica", "init", "tank", "backup/tank").returncode == 0
    paused = daemon.ctl("replica", "pause", "tank")
    assert paused.returncode == 0, paused.stderr
    (row,) = daemon.ctl_json("replica", "status", "tank")
    assert row["paused"] is True
    shown = daemon.ctl("replica", "status")
    assert "paused" in shown.stdout
    assert daemon.ctl("replica", "resume", "tank").returncode == 0
    (row,) = daemon.ctl_json("replica", "status", "backup/tank")  # either side names it
    assert row["paused"] is False
    refused = daemon.ctl("replica", "failover", "tank", "--no-ask-password", user=nobody)
    assert refused.returncode == NOT_AUTHORIZED, refused.stderr
    assert "Traceback" not in refused.stderr
