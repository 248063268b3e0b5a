"""Replication on real pools (the lab guest): replica-init and replica-sync through the
engine, each check reading ZFS directly (`zfs list -t all`, holds, properties) rather than
through the code under test.

The tier has one pool (`zreal`): a replica goes from `ROOT/src/...` to `ROOT/dst/...`, and
the destination is reached as the host `backup` (the same machine under another label, so
the steps name it as they would a remote one). Few test functions, several checks each:
one pool setup serves them all. The last one SIGKILLs the daemon after each step of a
sync (tests/real/crash_child.py) and recovers.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

import zfsyncd.ops  # noqa: F401 - registers the transaction kinds
from tests.faults import FaultyBackend, InjectedError
from tests.real.realzfs import write_file, zfs_cli
from tests.real.test_crash_real import _killed_after, _recover
from zfsyncd.commands.runner import CommandRunner, Transport
from zfsyncd.store import Database, TransactionRecord, TxState
from zfsyncd.tx.errors import PlanError
from zfsyncd.tx.hosts import Host
from zfsyncd.tx.manager import TransactionManager
from zfsyncd.tx.retry import RetryPolicy
from zfsyncd.zfs import errors
from zfsyncd.zfs.cli import CliBackend
from zfsyncd.zfs.models import RecvSpec, SendSpec

COLUMNS = (
    "name,type,guid,createtxg,userrefs,receive_resume_token,"
    "zfsync:role,zfsync:peer,zfsync:savecount,zfsync:sent,readonly,zfsync:paused"
)
FAST = RetryPolicy(attempts=3, first_delay=0.0)
BASE_HOLD = "zfsync_replica"


def picture(*roots: str) -> dict[str, Any]:
    """`zfs list -t all` under `roots` (names, guids, txgs, tokens, zfsync properties,
    readonly; in COLUMNS' order after the name) and every hold (snapshot, tag): what a
    failed or refused transaction must leave as it was."""
    rows = zfs_cli("zfs", "list", "-t", "all", "-Hp", "-r", "-o", COLUMNS, *roots).splitlines()
    listing = {r.split("\t")[0]: tuple(r.split("\t")[1:]) for r in rows if r}
    held = [n for n, row in listing.items() if row[0] == "snapshot" and row[3] not in ("0", "-")]
    # a hold is its snapshot and tag: its time is when it was (re)placed, and an undo that
    # releases a base hold and places it again restores the hold, not the minute
    lines = zfs_cli("zfs", "holds", "-H", *held).splitlines() if held else []
    holds = tuple(sorted(tuple(line.split("\t")[:2]) for line in lines))
    return {"listing": listing, "holds": holds}


def snapshots(dataset: str) -> dict[str, str]:
    """Short name -> guid, oldest first."""
    out = zfs_cli(
        "zfs", "list", "-t", "snapshot", "-Hp", "-d", "1", "-s", "createtxg", "-o", "name,guid",
        dataset,
    )  # fmt: skip
    return {
        line.split("\t")[0].split("@", 1)[1]: line.split("\t")[1]
        for line in out.splitlines()
        if line
    }


def holds(snapshot: str) -> list[str]:
    return [line.split("\t")[1] for line in zfs_cli("zfs", "holds", "-H", snapshot).splitlines()]


def flaky_once(flag: Path) -> Transport:
    """A transport whose next `zfs receive` (while `flag` exists) gets 3 MB of its stream,
    then the "connection" drops as ssh reports it; later commands run as they are."""
    drop = 'head -c 3000000 | "$0" "$@"; echo "Connection to peer closed." >&2; exit 255'
    script = (
        f'if [ "$1" = receive ] && [ -e "{flag}" ]; then rm -f "{flag}"; {drop}; '
        'else exec "$0" "$@"; fi'
    )
    return Transport(prefix=("sh", "-c", script), label="flaky")


class Lab:
    """An engine over the local host and `backup` (this machine again, possibly through a
    transport that drops a stream, and wrapped for fault injection)."""

    def __init__(
        self, manager: TransactionManager, db: Database, local: FaultyBackend, backup: FaultyBackend
    ) -> None:
        self.manager, self.db, self.local, self.backup = manager, db, local, backup

    @classmethod
    async def open(cls, path: Path, transport: Transport | None = None) -> Lab:
        db = await Database.open(path)
        local = FaultyBackend(CliBackend())
        runner = CommandRunner(transport=transport) if transport else CommandRunner()
        backup = FaultyBackend(CliBackend(runner))
        hosts = {
            "local": Host("local", local),
            "backup": Host("backup", backup, runner),
        }
        manager = TransactionManager(db, hosts, do_retry=FAST, undo_retry=FAST)
        return cls(manager, db, local, backup)

    async def close(self) -> None:
        await self.manager.shutdown()
        await self.db.close()

    async def run(self, kind: str, params: dict[str, Any]) -> TransactionRecord:
        record = await self.manager.submit(kind, params)
        return await self.manager.wait(record.id)

    async def done(self, kind: str, params: dict[str, Any]) -> str:
        """Runs it to completion; the name of the snapshot it made."""
        record = await self.run(kind, params)
        assert record.state is TxState.COMPLETED, record.error
        return f"zfsync_{record.id}"

    async def refused(self, params: dict[str, Any], words: str) -> None:
        record = await self.manager.create("replica-sync", params)
        with pytest.raises(PlanError, match=words):
            await self.manager.prepare(record.id)


def _tree(root: str) -> tuple[str, str]:
    src, dst = f"{root}/src", f"{root}/dst"
    zfs_cli("zfs", "create", src)
    zfs_cli("zfs", "create", dst)
    return src, dst


async def test_init_sync_adoption_bookmark_base_and_divergence(root: str, tmp_path: Path) -> None:
    src, dst = _tree(root)
    a, p = f"{src}/a", f"{src}/p"
    zfs_cli("zfs", "create", "-o", "compression=off", a)
    write_file(a, "one", 2)
    lab = await Lab.open(tmp_path / "zfsyncd.db")
    try:
        # init: full send, properties on both sides, read-only destination, held base
        first = await lab.done("replica-init", {"source": a, "destination": f"backup:{dst}/a"})
        assert snapshots(f"{dst}/a") == snapshots(a)
        assert zfs_cli("zfs", "get", "-H", "-o", "value", "readonly", f"{dst}/a").strip() == "on"
        role = zfs_cli("zfs", "get", "-H", "-o", "value", "zfsync:role", f"{dst}/a").strip()
        assert role == "destination"
        assert holds(f"{dst}/a@{first}") == [BASE_HOLD]

        # sync with an intermediate snapshot someone else took (-I carries it)
        write_file(a, "two", 1)
        zfs_cli("zfs", "snapshot", f"{a}@hourly")
        write_file(a, "three", 1)
        second = await lab.done("replica-sync", {"sources": [a]})
        assert list(snapshots(f"{dst}/a")) == [first, "hourly", second]
        assert snapshots(f"{dst}/a") == snapshots(a)
        assert holds(f"{a}@{second}") == holds(f"{dst}/a@{second}") == [BASE_HOLD]
        assert holds(f"{dst}/a@{first}") == []

        # nothing written: nothing done
        before = picture(root)
        await lab.done("replica-sync", {"sources": [a]})
        assert picture(root) == before

        # the source lost the common snapshot: its bookmark is the base
        zfs_cli("zfs", "release", BASE_HOLD, f"{a}@{second}")
        zfs_cli("zfs", "destroy", f"{a}@{second}")
        write_file(a, "four", 1)
        third = await lab.done("replica-sync", {"sources": [a]})
        assert third in snapshots(f"{dst}/a")
        assert snapshots(f"{dst}/a")[third] == snapshots(a)[third]

        # a diverged destination is refused, and nothing changes
        write_file(a, "five", 1)
        zfs_cli("zfs", "snapshot", f"{dst}/a@theirs")
        before = picture(root)
        await lab.refused({"sources": [a]}, f"has diverged.*{dst}/a@theirs")
        assert picture(root) == before
        zfs_cli("zfs", "destroy", f"{dst}/a@theirs")

        # a replica made by plain zfs send | zfs recv is adopted
        zfs_cli("zfs", "create", p)
        write_file(p, "one", 1)
        zfs_cli("zfs", "snapshot", f"{p}@by-hand")
        zfs_cli("sh", "-c", 'zfs send "$1" | zfs recv -u "$2"', "sh", f"{p}@by-hand", f"{dst}/p")
        write_file(p, "two", 1)
        adopted = await lab.done("replica-init", {"source": p, "destination": f"backup:{dst}/p"})
        assert list(snapshots(f"{dst}/p")) == ["by-hand", adopted]
        assert snapshots(f"{dst}/p") == snapshots(p)
    finally:
        await lab.close()
        _release_all(root)


async def test_a_cut_stream_is_resumed_and_a_stale_token_cleared(root: str, tmp_path: Path) -> None:
    src, dst = _tree(root)
    a = f"{src}/a"
    zfs_cli("zfs", "create", "-o", "compression=off", a)
    write_file(a, "one", 1)
    flag = tmp_path / "drop-next-receive"
    lab = await Lab.open(tmp_path / "zfsyncd.db", flaky_once(flag))
    try:
        first = await lab.done("replica-init", {"source": a, "destination": f"backup:{dst}/a"})
        # the connection drops 3 MB into the stream; the same transaction resumes it
        write_file(a, "big", 16)
        flag.touch()
        second = await lab.done("replica-sync", {"sources": [a]})
        assert not flag.exists(), "the stream was not cut"
        assert snapshots(f"{dst}/a") == snapshots(a)
        token = zfs_cli("zfs", "get", "-H", "-o", "value", "receive_resume_token", f"{dst}/a")
        assert token.strip() == "-"

        # a token left by an earlier cut whose snapshot is gone: cleared with recv -A
        write_file(a, "more", 16)
        zfs_cli("zfs", "snapshot", f"{a}@manual")
        flag.touch()
        cutter = CliBackend(CommandRunner(transport=flaky_once(flag)))
        with pytest.raises(errors.ConnectionLostError):
            await CliBackend().send_recv(
                SendSpec(snapshot=f"{a}@manual", base=f"{a}@{second}"),
                cutter,
                RecvSpec(target=f"{dst}/a"),
            )
        token = zfs_cli("zfs", "get", "-H", "-o", "value", "receive_resume_token", f"{dst}/a")
        assert token.strip() != "-"
        zfs_cli("zfs", "destroy", f"{a}@manual")
        third = await lab.done("replica-sync", {"sources": [a]})
        assert list(snapshots(f"{dst}/a")) == [first, second, third]
        token = zfs_cli("zfs", "get", "-H", "-o", "value", "receive_resume_token", f"{dst}/a")
        assert token.strip() == "-"
    finally:
        await lab.close()
        _release_all(root)


@pytest.mark.parametrize("call", ["send_recv", "hold", "bookmark"])
async def test_a_failed_sync_is_rolled_back(root: str, tmp_path: Path, call: str) -> None:
    src, dst = _tree(root)
    a = f"{src}/a"
    zfs_cli("zfs", "create", "-o", "compression=off", a)
    write_file(a, "one", 1)
    lab = await Lab.open(tmp_path / f"zfsyncd-{uuid.uuid4().hex[:6]}.db")
    try:
        await lab.done("replica-init", {"source": a, "destination": f"backup:{dst}/a"})
        write_file(a, "two", 2)
        before = picture(root)
        broken: list[str] = []

        def breaking(index: int, label: str) -> None:
            if label.startswith(call) and not broken:
                broken.append(label)
                raise InjectedError([call], 1, f"injected failure of {label}")

        # the local host makes the snapshot, sends and bookmarks; the backup holds
        wrapped = lab.backup if call == "hold" else lab.local
        wrapped.on_call = breaking
        record = await lab.run("replica-sync", {"sources": [a]})
        wrapped.on_call = None
        assert broken, f"no {call} was made"
        assert record.state is TxState.FAILED
        assert (record.rollback_outcome or "").startswith("complete"), record.rollback_outcome
        assert picture(root) == before
        # and the next sync works
        await lab.done("replica-sync", {"sources": [a]})
        assert snapshots(f"{dst}/a") == snapshots(a)
    finally:
        await lab.close()
        _release_all(root)


async def test_a_completed_sync_is_rolled_back_and_the_next_sync_works(
    root: str, tmp_path: Path
) -> None:
    """`transaction rollback` of a completed sync: both sides exactly as before it (the
    received snapshots destroyed and the destination's head back at its base, the holds
    moved back, the bookmark and the source's snapshot destroyed, the sent marker of the
    intermediate snapshot cleared), then a sync sends the same again."""
    src, dst = _tree(root)
    a = f"{src}/a"
    zfs_cli("zfs", "create", "-o", "compression=off", a)
    write_file(a, "one", 1)
    lab = await Lab.open(tmp_path / "zfsyncd.db")
    try:
        first = await lab.done("replica-init", {"source": a, "destination": f"backup:{dst}/a"})
        write_file(a, "two", 2)
        zfs_cli("zfs", "snapshot", f"{a}@hourly")
        write_file(a, "three", 1)
        before = picture(root)
        sync = await lab.run("replica-sync", {"sources": [a]})
        assert sync.state is TxState.COMPLETED, sync.error
        assert list(snapshots(f"{dst}/a")) == [first, "hourly", f"zfsync_{sync.id}"]
        rollback = await lab.manager.rollback(sync.id)
        await lab.manager.start(rollback.id)
        undone = await lab.manager.wait(rollback.id)
        assert undone.state is TxState.COMPLETED, undone.error
        assert await lab.manager.cleanups.pending() == []
        assert picture(root) == before
        written = zfs_cli("zfs", "get", "-Hp", "-o", "value", "written", f"{dst}/a").strip()
        assert written == "0"  # back at its base: the next sync does not see it diverged
        again = await lab.done("replica-sync", {"sources": [a]})
        assert list(snapshots(f"{dst}/a")) == [first, "hourly", again]
        assert snapshots(f"{dst}/a") == snapshots(a)
        assert holds(f"{dst}/a@{again}") == holds(f"{a}@{again}") == [BASE_HOLD]
    finally:
        await lab.close()
        _release_all(root)


def _release_all(root: str) -> None:
    """So that the root fixture can destroy everything: the base holds go."""
    for name, row in picture(root)["listing"].items():
        if row[0] == "snapshot" and row[3] not in ("0", "-") and BASE_HOLD in holds(name):
            zfs_cli("zfs", "release", BASE_HOLD, name)


async def test_a_sync_killed_after_each_step_is_recovered(root: str, tmp_path: Path) -> None:
    """SIGKILL of the daemon right after each step of a sync (its result journaled), then
    recovery as at start: undone to exactly the state before, or, after the last step,
    completed. Both sides on this host (the crash child knows only `local`)."""
    src, dst = _tree(root)
    a = f"{src}/a"
    zfs_cli("zfs", "create", "-o", "compression=off", a)
    write_file(a, "one", 1)
    lab = await Lab.open(tmp_path / "init.db")
    try:
        await lab.done("replica-init", {"source": a, "destination": f"{dst}/a"})
    finally:
        await lab.close()
    write_file(a, "two", 1)
    zfs_cli("zfs", "snapshot", f"{a}@hourly")  # carried by -I: the sent marker step too
    write_file(a, "three", 1)
    before = picture(root)
    # create-snapshots, bookmarks, send-receive-many, move-hold, set-user-property
    last = 4
    for step in range(last + 1):
        db = tmp_path / f"sync-{step}.db"
        tx_id = _killed_after(db, "replica-sync", {"sources": [a]}, step)
        manager = await _recover(db)
        try:
            [done] = await manager.recover()
            assert done.id == tx_id
            if step == last:
                assert done.state is TxState.COMPLETED, done.error
                assert snapshots(f"{dst}/a") == snapshots(a)
            else:
                assert done.state is TxState.FAILED, (step, done.state)
                assert done.error_kind == "interrupted"
                assert picture(root) == before, f"killed after step {step}"
        finally:
            await manager.db.close()
    _release_all(root)
