"""A replica sync's expiry (its follow-up) survives a daemon that dies between the sync's
last step and the expiry's start: after the restart the expiry runs once, and each side
keeps its savecount of snapshots; and one that dies while the expiry runs, after any of its
zfs calls or steps: recovery undoes it and runs it again (or completes it, its steps all
done), so it still happens. (The generic mechanism, with a test kind: test_follow_ups.py;
here the real kinds, on the model of two pools.)"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.faults import SimulatedCrash
from zfsyncd.store import JournalEvent, TransactionRecord, TxState
from zfsyncd.store.journal import StepJournal
from zfsyncd.tx.core import Caller
from zfsyncd.tx.follow_ups import MAX_FOLLOW_UP_RERUNS
from zfsyncd.tx.kinds import FOLLOWS, RERUN
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


async def _synced_twice(r: Replicas) -> str:
    """src/a replicated to dst/a (two pools of this host) with savecount 2 on both sides,
    synced twice, then written to; its newest snapshot (the one a third sync's expiry
    keeps beside the sync's own)."""
    zfs = r.local
    await filesystem(zfs, "src/a")
    await r.done("replica-init", {"source": "src/a", "destination": "dst/a", "savecount": 2})
    for _ in range(2):
        zfs.write("src/a", 16 * KIB)
        await r.done("replica-sync", {"sources": ["src/a"]})
    zfs.write("src/a", 16 * KIB)
    return sorted(await guids(zfs, "src/a"))[-1]


async def _sync_killed(
    r: Replicas, monkeypatch: pytest.MonkeyPatch, where: str
) -> tuple[TransactionRecord, list[str]]:
    """A pair with savecount 2 on both sides, after two syncs; a third sync killed at
    `where`. That sync, and the one snapshot of before that it leaves to keep."""
    kept = [await _synced_twice(r)]
    method, dying = CRASHES[where]
    monkeypatch.setattr(Lifecycle, method, dying)
    record = await r.manager.submit("replica-sync", {"sources": ["src/a"]})
    with pytest.raises(SimulatedCrash):
        await r.manager.wait(record.id)
    monkeypatch.undo()
    assert len(await guids(r.local, "src/a")) == 3  # nothing expired yet
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


# ------------------------------------------------------------------ an expiry killed mid-way

_RUN_FOLLOW_UP = Lifecycle._run_follow_up
_STEP_EVENT = StepJournal.step_event


@dataclass
class _Kill:
    """Where the daemon dies in a sync's expiry: after its `at`-th changing zfs call
    (`call`: the call happened, its step's result is not journaled) or after its `at`-th
    step's result was journaled (`step`: between that step and the next, or the finalize);
    `none`: nowhere. What it saw: the sync's id, the changing calls before the expiry
    started, the expiry's steps that ended."""

    by: str
    at: int = 0
    sync_id: str = ""
    calls_before: int | None = None
    steps: int = 0


def _watch_the_expiry(r: Replicas, monkeypatch: pytest.MonkeyPatch, kill: _Kill) -> None:
    faults = r.faults["local"]

    async def follow_up(
        self: Lifecycle, record: TransactionRecord, follow: TransactionRecord, caller: Caller
    ) -> None:
        kill.calls_before = len(faults.calls)
        if kill.by == "call":
            faults.crash_after(kill.calls_before + kill.at)
        await _RUN_FOLLOW_UP(self, record, follow, caller)

    async def step_event(self: StepJournal, tx_id: str, idx: int, *args: Any, **kw: Any) -> None:
        await _STEP_EVENT(self, tx_id, idx, *args, **kw)
        if kill.calls_before is not None and args[1] is JournalEvent.RESULT:
            kill.steps += 1
            if kill.by == "step" and kill.steps == kill.at + 1:
                raise SimulatedCrash(f"killed after the expiry's step {idx}")

    monkeypatch.setattr(Lifecycle, "_run_follow_up", follow_up)
    monkeypatch.setattr(StepJournal, "step_event", step_event)


async def _sync_with_its_expiry(
    r: Replicas, monkeypatch: pytest.MonkeyPatch, kill: _Kill
) -> list[str]:
    """The pair of `_synced_twice`, and a third sync whose expiry is watched (and killed
    where `kill` says). The snapshots each side keeps once that expiry has run: the newest
    before the sync, and the sync's own."""
    kept = await _synced_twice(r)
    _watch_the_expiry(r, monkeypatch, kill)
    try:
        record = await r.manager.submit("replica-sync", {"sources": ["src/a"]})
        kill.sync_id = record.id
        await r.manager.wait(record.id)
    finally:
        monkeypatch.undo()
    return [kept, f"zfsync_{record.id}"]


async def _expiry_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, int]:
    """(changing zfs calls, steps) of the expiry in a run nothing kills; checks what it
    keeps."""
    r = await Replicas.start(tmp_path / "clean.db")
    try:
        kill = _Kill("none")
        kept = await _sync_with_its_expiry(r, monkeypatch, kill)
        assert sorted(await guids(r.local, "src/a")) == kept
        assert kill.calls_before is not None
        return len(r.faults["local"].calls) - kill.calls_before, kill.steps
    finally:
        await r.close()


async def _killed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kill: _Kill
) -> tuple[Replicas, Replicas, list[str]]:
    """A sync whose expiry is killed where `kill` says: the dead manager's models, the
    restarted manager (not recovered yet), and what the expiry keeps."""
    r = await Replicas.start(tmp_path / f"{kill.by}-{kill.at}.db")
    try:
        with pytest.raises(SimulatedCrash):
            await _sync_with_its_expiry(r, monkeypatch, kill)
        # what it keeps: the snapshot before the sync's own, which a clean run keeps too
        names = sorted(await guids(r.local, "src/a"))
        kept = [names[names.index(f"zfsync_{kill.sync_id}") - 1], f"zfsync_{kill.sync_id}"]
        return r, await _restart(r), kept
    except BaseException:
        await r.close()
        raise


async def test_an_expiry_killed_anywhere_is_undone_then_run_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon dies after each changing call of a sync's expiry, and after each of its
    steps. Recovery undoes what the expiry did and stores it again as a new follow-up of
    the same sync (`retry_of` the one it undid), or completes it when its steps were all
    done; either way each side ends with what the expiry keeps (savecount 2: the snapshot
    before the sync and the sync's own), the cleanup queue empty, and no third expiry."""
    calls, steps = await _expiry_size(tmp_path, monkeypatch)
    assert min(calls, steps) >= 2  # a step per pool; their renames, the finalize's destroys
    kills = [_Kill("call", i) for i in range(calls)] + [_Kill("step", i) for i in range(steps)]
    reran = 0
    for kill in kills:
        where = f"killed after the expiry's {kill.by} {kill.at}"
        r, restarted, kept = await _killed(tmp_path, monkeypatch, kill)
        try:
            await restarted.manager.recover()
            sync = await restarted.manager.wait(kill.sync_id)
            assert sync.state is TxState.COMPLETED, where
            listed = await restarted.manager.list(type="replica-expire", limit=None)
            expiries = sorted(
                (t for t in listed if t.metadata.get(FOLLOWS) == kill.sync_id), key=lambda t: t.id
            )
            states = [t.state for t in expiries]
            if states != [TxState.COMPLETED]:  # else its steps were all done: completed
                assert states == [TxState.FAILED, TxState.COMPLETED], (where, states)
                interrupted, again = expiries
                assert interrupted.error_kind == "interrupted", where
                assert (interrupted.rollback_outcome or "").startswith("complete"), where
                assert f"run again as {again.id}" in (interrupted.error or ""), where
                assert (again.retry_of, again.metadata.get(RERUN)) == (interrupted.id, 1)
                reran += 1
            assert await restarted.manager.cleanups.pending() == [], where
            for side in ("src/a", "dst/a"):
                assert sorted(await guids(r.local, side)) == kept, (where, side)
        finally:
            await restarted.close()
    assert reran >= steps  # every kill before the last step ended ran it again


async def test_a_follow_up_is_run_again_a_bounded_number_of_times(replicas: Replicas) -> None:
    """An expiry that a crash keeps interrupting (one that makes the daemon die, say) is
    stored again MAX_FOLLOW_UP_RERUNS times, then left FAILED: not run at every start."""
    await filesystem(replicas.local, "src/a")
    await replicas.done("replica-init", {"source": "src/a", "destination": "dst/a"})
    first = await replicas.manager.create(
        "replica-expire", {"sources": ["src/a"]}, metadata={FOLLOWS: "t0"}
    )
    found = [first]
    while (again := await replicas.manager.rerun_follow_up(found[-1])) is not None:
        found.append(again)
    assert [t.metadata.get(RERUN) for t in found] == [None, *range(1, MAX_FOLLOW_UP_RERUNS + 1)]
    assert [t.retry_of for t in found[1:]] == [t.id for t in found[:-1]]
    assert {t.metadata[FOLLOWS] for t in found} == {"t0"}
    plain = await replicas.manager.create("replica-expire", {"sources": ["src/a"]})
    assert await replicas.manager.rerun_follow_up(plain) is None  # no follow-up: not run again
