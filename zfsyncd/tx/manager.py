"""The transaction manager: the operations of the engine (seed 002), over the store, the
per-dataset locks, the state machine and the executor. The one object the daemon, the bus
and the tests hold; its parts live beside it:

- zfsyncd/tx/lifecycle.py: execute, start, submit, wait, cancel, retry, timeouts and
  shutdown, the same for every kind of transaction, over preparing.py (create, prepare)
  and follow_ups.py (the transaction a completed one's kind declares to follow it);
- zfsyncd/tx/rollback.py: the rollback transaction (of a COMPLETED one), a kind like the
  others: its target checks and inverse steps;
- zfsyncd/tx/recovery.py: bringing what a stopped zfsyncd left unfinished to a safe end;
- zfsyncd/tx/cleanup.py: deferred cleanups (failed finalizes, unfinished undos);
- zfsyncd/tx/core.py: what they share (store, audit log, locks, hosts, kinds, listeners).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from zfsyncd.store import Database, StepRecord, TransactionRecord, TxState
from zfsyncd.tx.bounds import check_age
from zfsyncd.tx.cleanup import DeferredCleanups
from zfsyncd.tx.core import RECOVERY, SYSTEM, Caller, EngineCore, StateListener
from zfsyncd.tx.errors import TxError, describe_error
from zfsyncd.tx.hosts import Host
from zfsyncd.tx.kinds import TxKind
from zfsyncd.tx.lifecycle import Lifecycle
from zfsyncd.tx.machine import TransactionMachine
from zfsyncd.tx.progress import ProgressSink
from zfsyncd.tx.recovery import recover
from zfsyncd.tx.retry import RetryPolicy
from zfsyncd.tx.rollback import ROLLBACK, undoable


class TransactionManager(Lifecycle):
    """The lifecycle of every transaction (see Lifecycle), plus the rollback of completed
    ones, recovery at start, deferred cleanups and reading."""

    def __init__(
        self,
        db: Database,
        hosts: Mapping[str, Host],
        *,
        max_parallel: int = 4,
        do_retry: RetryPolicy | None = None,
        undo_retry: RetryPolicy | None = None,
        sinks: Callable[[TransactionRecord], ProgressSink] | None = None,
        kinds: Mapping[str, TxKind] | None = None,
    ) -> None:
        core = EngineCore(
            db, hosts, max_parallel=max_parallel, do_retry=do_retry, undo_retry=undo_retry,
            kinds=kinds,
        )  # fmt: skip
        super().__init__(core, DeferredCleanups(core), sinks)
        # what the bus, the daemon and the tests use: the very objects the parts share
        self.db = core.db
        self.store = core.store
        self.audit = core.audit
        self.cleanups = core.cleanups
        self.hosts = core.hosts
        self.locks = core.locks
        self.kinds = core.kinds
        self.listeners: builtins.list[StateListener] = core.listeners

    # ------------------------------------------------------------------ reading

    async def list(
        self,
        *,
        state: TxState | Sequence[TxState] | None = None,
        type: str | None = None,
        since: float | None = None,
        limit: int | None = 100,
    ) -> builtins.list[TransactionRecord]:
        return await self.store.list(state=state, type=type, since=since, limit=limit)

    async def list_active(self) -> builtins.list[TransactionRecord]:
        return await self.store.list_active()

    async def update_metadata(
        self, tx_id: str, merge: Mapping[str, Any], caller: Caller = SYSTEM
    ) -> dict[str, Any]:
        await self.get(tx_id)
        merged = await self.store.update_metadata(tx_id, merge)
        await self.core.record("update-metadata", "ok", caller, tx_id, keys=sorted(merge))
        return merged

    async def cleanup_finished(self, older_than: float, *, caller: Caller = SYSTEM) -> int:
        """Forget finished transactions older than `older_than` seconds (the audit log stays).
        An age that is not finite, or below 0, is refused before anything is deleted."""
        older_than = check_age(older_than)
        count = await self.store.delete_finished_older_than(older_than)
        await self.core.record("cleanup", f"removed {count}", caller, None, older_than=older_than)
        return count

    # ------------------------------------------------------------------ rollback transactions

    async def rollback(self, tx_id: str, *, caller: Caller = SYSTEM) -> TransactionRecord:
        """A new CREATED rollback transaction that undoes the COMPLETED transaction `tx_id`.
        Refused, with the reason, when it cannot be undone as a whole. A completed one
        whose follow-up (a sync's expiry) is still to run or running is waited for first:
        that is the engine's own work, which ends by itself, and what it did decides."""
        try:
            if (await self.get(tx_id)).state is TxState.COMPLETED:
                await self.wait(tx_id)  # its run lasts until its follow-up has ended
            original, _steps = await undoable(self.store, tx_id)
        except TxError as exc:
            await self.core.record("rollback", f"refused: {describe_error(exc)}", caller, tx_id)
            raise
        record = await self.create(
            ROLLBACK, {"rolls_back": tx_id}, caller=caller, priority=original.priority
        )
        await self.core.record("rollback", "ok", caller, record.id, rolls_back=tx_id)
        return record

    # ------------------------------------------------------------------ restart and leftovers

    async def recover(self, *, resume: bool = True) -> builtins.list[TransactionRecord]:
        """At start: bring every transaction a stopped zfsyncd left unfinished to a safe end
        (see zfsyncd/tx/recovery.py), then start the follow-ups of the completed ones that
        had not started, or that it undid (they run on; `wait` on the one they follow waits
        for them). With
        `resume` false the caller starts them (`resume_follow_ups`): the daemon does once
        its bus objects can show their progress."""

        async def complete(record: TransactionRecord, machine: TransactionMachine) -> None:
            caller = Caller(record.uid, RECOVERY.name)
            text = "completed: every step had finished"
            await self.complete(record, machine, caller, action="recover", outcome=text)

        recovered = await recover(self.deferred, complete, self.rerun_follow_up)
        if resume:
            await self.resume_follow_ups()
        return recovered

    async def run_cleanups(self, now: float | None = None) -> int:
        """Retry the deferred cleanups that are due; returns how many succeeded."""
        return await self.deferred.run_due(now)

    async def finish_rollback(self, tx_id: str, *, caller: Caller = SYSTEM) -> str:
        """Finish now the undo of a FAILED or CANCELLED transaction that could not be
        finished when it ended (it waits in the cleanup queue); says what happened."""
        return await self.deferred.finish_undo(tx_id, caller)


__all__ = ["RECOVERY", "ROLLBACK", "SYSTEM", "Caller", "StepRecord", "TransactionManager"]
