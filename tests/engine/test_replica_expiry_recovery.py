"""A replica sync's expiry (its follow-up) survives a daemon that dies between the sync's
last step and the expiry's start: after the restart the expiry runs once, and each side
keeps its savecount of snapshots. (The generic mechanism, with a test kind:
test_follow_ups.py; here the real kinds, on the model of two pools.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults import SimulatedCrash
from zfsyncd.store import TransactionRecord, TxState
from zfsyncd.tx.core import Caller
from zfsyncd.tx.kinds import FOLLOWS
from zfsyncd.tx.lifecycle import Lifecycle
from zfsyncd.tx.machine import TransactionMachine

from .replicas import KIB, MODEL_ONLY, Replicas, filesystem, guids, replicas

pytestmark = MODEL_ONLY

__all__ = ["replicas"]

_CREATE = Lifecycle._create_follow_up


async def _before_complete(
    self: Lifecycle, record: TransactionRecord, machine: TransactionMachine, caller: Caller
) -> None:
    raise SimulatedCrash("killed with the sync's steps done, before COMPLETED")


async def _inside_the_commit(self: Lifecycle, record: TransactionRecord, caller: Caller) -> None:
    await _CREATE(self, record, caller)
    raise SimulatedCrash("killed with the expiry stored, before the commit")


async def _before_the_expiry_starts(
    self: Lifecycle, record: TransactionRecord, follow: TransactionRecord, caller: Caller
) -> None:
    raise SimulatedCrash("killed with the sync COMPLETED, before its expiry started")


CRASHES = {
    "steps done": ("complete", _before_complete),
    "expiry stored, not committed": ("_create_follow_up", _inside_the_commit),
    "completed, expiry not started": ("_run_follow_up", _before_the_expiry_starts),
}


async def _restart(r: Replicas) -> Replicas:
    """A new manager over the same database and models (the old one dropped, as a killed
    process is: no shutdown)."""
    await r.db.close()
    for faults in r.faults.values():
        faults.heal()
        faults.crash_after(-1)
    return await Replicas._open(r.path, r.local, r.backup, r.recorders, r.faults)


async def _sync_killed(
    r: Replicas, monkeypatch: pytest.MonkeyPatch, where: str
) -> tuple[TransactionRecord, list[str]]:
    """A pair with savecount 2 on both sides, after two syncs; a third sync killed at
    `where`. That sync, and the one snapshot of before that it leaves to keep."""
    zfs = r.local
    await filesystem(zfs, "src/a")
    await r.done("replica-init", {"source": "src/a", "destination": "dst/a", "savecount": 2})
    for _ in range(2):
        zfs.write("src/a", 16 * KIB)
        await r.done("replica-sync", {"sources": ["src/a"]})
    kept = sorted(await guids(zfs, "src/a"))[-1:]
    zfs.write("src/a", 16 * KIB)
    method, dying = CRASHES[where]
    monkeypatch.setattr(Lifecycle, method, dying)
    record = await r.manager.submit("replica-sync", {"sources": ["src/a"]})
    with pytest.raises(SimulatedCrash):
        await r.manager.wait(record.id)
    monkeypatch.undo()
    assert len(await guids(zfs, "src/a")) == 3  # nothing expired yet
    return record, kept


@pytest.mark.parametrize("where", sorted(CRASHES))
async def test_a_crash_before_a_syncs_expiry_runs_it_once_after_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    r = await Replicas.start(tmp_path / "zfsyncd.db")
    try:
        record, kept = await _sync_killed(r, monkeypatch, where)
    except BaseException:
        await r.close()
        raise
    restarted = await _restart(r)
    try:
        await restarted.manager.recover()
        assert (await restarted.manager.wait(record.id)).state is TxState.COMPLETED
        expiries = [
            t for t in await restarted.manager.list(type="replica-expire")
            if t.metadata.get(FOLLOWS) == record.id
        ]  # fmt: skip
        assert [t.state for t in expiries] == [TxState.COMPLETED], [t.error for t in expiries]
        newest = [*kept, f"zfsync_{record.id}"]
        zfs = r.local
        assert sorted(await guids(zfs, "src/a")) == sorted(await guids(zfs, "dst/a")) == newest
        # exactly once: a second start changes nothing and runs no second expiry
        await restarted.manager.recover()
        again = await restarted.manager.list(type="replica-expire")
        assert [t.id for t in again if t.metadata.get(FOLLOWS) == record.id] == [expiries[0].id]
    finally:
        await restarted.close()
