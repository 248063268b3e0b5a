"""zfsyncd on a private system bus with real polkitd, driven through zfsyncctl subprocesses:
root may do everything; nobody may read and watch but is refused every change, with a
message a person understands, and nothing changes."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import pytest

from tests.system.daemon import Daemon, start_daemon
from tests.system.harness import SystemBus, User

NOT_AUTHORIZED, NOT_FOUND, INVALID, BUSY, FAILED_TX = 3, 4, 5, 6, 1


@pytest.fixture(scope="module")
async def daemon(
    system_bus: SystemBus, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Daemon]:
    started = await start_daemon(system_bus, tmp_path_factory.mktemp("daemon"), memory_delay=0.05)
    yield started
    assert started.proc.poll() is None, f"zfsyncd died during the tests:\n{started.log()}"
    assert system_bus.stop(started.proc) == 0, started.log()


def _snapshot_names(daemon: Daemon) -> list[str]:
    return [row["name"] for row in daemon.ctl_json("snapshot", "list", "--all")]


def test_status_for_anyone(daemon: Daemon, nobody: User) -> None:
    for user in (None, nobody):
        status = daemon.ctl_json("status", user=user)
        assert status["backend"] == "memory"
        assert sorted(status["pools"]) == ["backup", "tank"]


def test_root_snapshots_watches_lists_and_rolls_back(daemon: Daemon) -> None:
    # held at its first call until zfsyncctl watches (its first line comes after it has
    # subscribed), so the later steps' signals cannot come before the watch
    daemon.gate.hold_after(0)
    proc, log = daemon.ctl_spawn("snapshot", "create", "-r", "--hold", "tank", "backup")
    daemon.gate.wait_held()
    deadline = time.monotonic() + 60
    while "EXECUTING" not in log.read_text():
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.02)
    daemon.gate.release()
    stdout, _ = proc.communicate(timeout=60)
    stderr = log.read_text()
    assert proc.returncode == 0, stderr
    assert "COMPLETED" in stdout.decode()
    # the watch drew its progress on stderr (plain lines: not a terminal)
    assert "step 1 started" in stderr
    assert "100%" in stderr
    listed = daemon.ctl_json("transaction", "list", "--limit", "1")
    tx = listed[0]
    assert (tx["type"], tx["state"], tx["uid"]) == ("snapshot", "COMPLETED", 0)
    names = _snapshot_names(daemon)
    assert f"tank@zfsync_{tx['id']}" in names
    assert f"backup@zfsync_{tx['id']}" in names
    shown = daemon.ctl_json("transaction", "show", tx["id"])
    assert [s["state"] for s in shown["steps"]] == ["COMPLETED"] * 4

    back = daemon.ctl("transaction", "rollback", tx["id"])
    assert back.returncode == 0, back.stderr
    assert f"tank@zfsync_{tx['id']}" not in _snapshot_names(daemon)
    again = daemon.ctl("transaction", "rollback", tx["id"])
    assert again.returncode == INVALID
    assert "has already been rolled back" in again.stderr
    assert "Traceback" not in again.stderr


def test_destroy_and_refusals_of_bad_input(daemon: Daemon) -> None:
    made = daemon.ctl_json("snapshot", "create", "tank")
    snap = f"tank@zfsync_{made['id']}"
    assert snap in _snapshot_names(daemon)
    before = _snapshot_names(daemon)
    cases = [
        # a missing dataset or snapshot is NotFound (exit 4), as for `snapshot list`
        (["snapshot", "create", "tank/missing"], NOT_FOUND, "dataset tank/missing does not exist"),
        (["snapshot", "create", "tank@x"], 2, "'tank@x' is not a dataset name"),  # usage
        (["snapshot", "destroy", "tank@manual"], INVALID, "tank@manual was not made by zfsyncd"),
        (
            ["snapshot", "destroy", "tank@zfsync_x"],
            NOT_FOUND,
            "snapshot tank@zfsync_x does not exist",
        ),
        (["transaction", "show", "nope"], NOT_FOUND, "there is no transaction 'nope'"),
        (["transaction", "cancel", made["id"]], INVALID, "is COMPLETED"),
    ]
    for args, code, message in cases:
        done = daemon.ctl(*args)
        assert done.returncode == code, (args, done.returncode, done.stderr)
        assert message in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr
    assert _snapshot_names(daemon) == before
    gone = daemon.ctl("snapshot", "destroy", snap)
    assert gone.returncode == 0, gone.stderr
    assert snap not in _snapshot_names(daemon)


def test_nobody_reads_but_is_refused_every_change(daemon: Daemon, nobody: User) -> None:
    root_tx = daemon.ctl_json("snapshot", "create", "--hold", "backup")
    names = _snapshot_names(daemon)
    count = len(daemon.ctl_json("transaction", "list", "--limit", "0"))
    # reading and watching: allowed
    assert daemon.ctl_json("transaction", "list", user=nobody)[0]["id"] == root_tx["id"]
    assert daemon.ctl_json("snapshot", "list", user=nobody)
    watched = daemon.ctl("transaction", "watch", root_tx["id"], user=nobody)
    assert watched.returncode == 0, watched.stderr
    # every change: refused, saying who and what
    refusals = [
        (["snapshot", "create", "tank"], "may not take or destroy snapshots"),
        (["snapshot", "destroy", f"backup@zfsync_{root_tx['id']}"], "may not take or destroy"),
        (["transaction", "rollback", root_tx["id"]], "may not roll back transactions"),
        (["transaction", "retry", root_tx["id"]], "may not take or destroy snapshots"),
        (["transaction", "cleanup", "--older-than", "1s"], "may not administer zfsyncd"),
    ]
    for args, message in refusals:
        done = daemon.ctl(*args, "--no-ask-password", user=nobody)
        assert done.returncode == NOT_AUTHORIZED, (args, done.returncode, done.stderr)
        assert f"not authorized: uid {nobody.uid} {message}" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    assert _snapshot_names(daemon) == names
    assert len(daemon.ctl_json("transaction", "list", "--limit", "0")) == count
    # every refusal is in the audit log: who tried what (and nothing else of theirs is)
    audit = daemon.rows("SELECT action, outcome FROM audit WHERE uid = ?", (nobody.uid,))
    assert [a for a, _ in audit] == [
        "Snapshot", "DestroySnapshots", "Rollback", "Retry", "Cleanup"
    ]  # fmt: skip
    assert all(o.startswith(f"refused: not authorized: uid {nobody.uid}") for _, o in audit)


def test_nobody_may_not_cancel_roots_transaction(nobody: User, daemon: Daemon) -> None:
    # the authorization comes first, so the refusal does not depend on how far it got
    slow = daemon.ctl_json("snapshot", "create", "--hold", "-r", "tank", "--no-wait")
    refused = daemon.ctl("transaction", "cancel", slow["id"], "--no-ask-password", user=nobody)
    assert refused.returncode == NOT_AUTHORIZED, refused.stderr
    assert "may not cancel another user's transaction" in refused.stderr
    finished = daemon.ctl("transaction", "watch", slow["id"])
    assert finished.returncode == 0, finished.stderr
    assert daemon.ctl_json("transaction", "show", slow["id"])["state"] == "COMPLETED"


def test_root_cancels_while_it_runs_and_everything_is_undone(daemon: Daemon) -> None:
    before = _snapshot_names(daemon)
    # four steps of one call each (snapshot tank, snapshot backup, hold tank, hold backup):
    # held at the first hold, so two snapshots exist when the cancel arrives
    daemon.gate.hold_after(2)
    started = daemon.ctl_json("snapshot", "create", "-r", "--hold", "tank", "backup", "--no-wait")
    daemon.gate.wait_held()
    assert daemon.ctl_json("transaction", "show", started["id"])["state"] == "EXECUTING"
    assert len(set(_snapshot_names(daemon)) - set(before)) >= 2  # tank's and backup's
    cancelled = daemon.ctl("transaction", "cancel", started["id"])
    assert cancelled.returncode == 0, cancelled.stderr
    shown = daemon.ctl_json("transaction", "show", started["id"])
    assert shown["state"] == "CANCELLED", shown
    assert _snapshot_names(daemon) == before  # the two snapshot steps were undone
    steps = daemon.rows(
        "SELECT state, undo_state FROM steps WHERE tx_id = ? ORDER BY idx", (started["id"],)
    )
    assert steps[:2] == [("COMPLETED", "COMPLETED")] * 2, steps
    assert steps[3] == ("PENDING", None), steps


def test_json_is_one_document(daemon: Daemon) -> None:
    out = daemon.ctl("transaction", "list", "--json")
    assert isinstance(json.loads(out.stdout), list)


def test_rollback_last_failed_reports_an_undo_that_already_finished(daemon: Daemon) -> None:
    refused = daemon.ctl("snapshot", "create", "backup/missing")
    assert refused.returncode == NOT_FOUND
    failed = daemon.ctl_json("transaction", "list", "--state", "FAILED", "--limit", "1")[0]
    assert failed["rollback_pending"] is False
    done = daemon.ctl("transaction", "rollback", "--last-failed")
    assert done.returncode == 0, done.stderr
    assert f"transaction {failed['id']}: it was undone when it ended" in done.stdout
