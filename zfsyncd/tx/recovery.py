"""Recovery at start: every transaction a stopped (or killed) zfsyncd left unfinished is
brought to a safe end, from its journal and the real ZFS state, and the audit log says how.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from zfsyncd.store import StepState, TransactionRecord, TxState
from zfsyncd.tx.cleanup import DeferredCleanups
from zfsyncd.tx.core import RECOVERY
from zfsyncd.tx.executor import planned_steps, steps_to_undo
from zfsyncd.tx.kinds import FOLLOWS
from zfsyncd.tx.machine import TransactionMachine

#: the move of a transaction whose steps all finished to COMPLETED, with the follow-up its
#: kind declares in the same commit (Lifecycle.complete)
Complete = Callable[[TransactionRecord, TransactionMachine], Awaitable[object]]
#: a follow-up undone here stored again to run (Lifecycle.rerun_follow_up): the new one, or
#: None when it is no follow-up or is not run again
Rerun = Callable[[TransactionRecord], Awaitable[TransactionRecord | None]]


async def recover(
    cleanup: DeferredCleanups, complete: Complete, rerun: Rerun
) -> list[TransactionRecord]:
    """Steps all done: finish (finalize) and complete (with its follow-up, as a run does);
    otherwise undo what was done (a step with an intent but no result included: its undo
    reads ZFS and does nothing when the step never happened) and fail with the reason. A
    follow-up undone so (a sync's expiry the daemon died in) is stored again, in the same
    commit as its move to FAILED, and runs after recovery as a follow-up left CREATED does:
    the first transaction asked for it, and it was not the follow-up that failed.

    Transactions that had not begun (CREATED or PREPARED: queued, nothing changed) are
    cancelled: whoever asked for them is gone, and work that starts by itself long after
    it was asked for is not what an administrator expects. Except the follow-up of a
    COMPLETED transaction (a sync's expiry): that is part of what was asked for, and is
    left CREATED for the manager to start (Lifecycle.resume_follow_ups), or, PREPARED
    (queued for its locks), cancelled and stored again to start so."""
    core = cleanup.core
    recovered = []
    for record in await core.store.list(state=[TxState.CREATED, TxState.PREPARED], limit=None):
        follows = await _follows_a_completed(cleanup, record)
        if follows and record.state is TxState.CREATED:
            continue
        async with core.one_commit():
            # a follow-up that was planned and waited for its locks (PREPARED) holds a plan
            # of a moment gone: cancelled, and stored again to be planned afresh
            again = await rerun(record) if follows else None
            text = "zfsyncd stopped before it ran"
            await core.machine(record).move(
                "cancel", error=text if again is None else f"{text}; run again as {again.id}",
                error_kind="interrupted", rollback_outcome="nothing to undo: nothing was changed",
            )  # fmt: skip
            await core.record("recover", "cancelled: it had not begun", RECOVERY, record.id)
        recovered.append(await core.get(record.id))
    for record in await core.store.list(state=TxState.EXECUTING, limit=None):
        await _end(cleanup, record, complete, rerun)
        recovered.append(await core.get(record.id))
    return recovered


async def _follows_a_completed(cleanup: DeferredCleanups, record: TransactionRecord) -> bool:
    """A follow-up (CREATED or PREPARED) whose first transaction COMPLETED (one stored
    before its first completed, as a zfsyncd before this one did, is cancelled: recovery
    completes the first and stores its follow-up again)."""
    first = record.metadata.get(FOLLOWS)
    if first is None:
        return False
    followed = await cleanup.core.store.get(str(first))
    return followed is not None and followed.state is TxState.COMPLETED


async def _end(
    cleanup: DeferredCleanups, record: TransactionRecord, complete: Complete, rerun: Rerun
) -> None:
    """Bring one transaction left EXECUTING to its end."""
    core = cleanup.core
    machine = core.machine(record)
    ctx = core.context(record.id)
    plan = planned_steps(record)
    if plan and all(p.record.state is StepState.COMPLETED for p in plan):
        await cleanup.finalize(record, ctx)
        await complete(record, machine)
        return
    running = [p.idx for p in plan if p.record.state is StepState.RUNNING]
    where = f"while step {running[0]} was running" if running else "between steps"
    outcome = await core.executor().undo(record.id, steps_to_undo(plan), ctx)
    if not outcome.complete:
        await cleanup.defer_undo(record.id, outcome.summary())
    text = f"interrupted: zfsyncd stopped {where}; undone at restart"
    async with core.one_commit():
        # only once every step is undone: a half-undone expiry's snapshots wait in the
        # cleanup queue, and a new plan would read them where the undo has yet to put them
        again = await rerun(record) if outcome.complete else None
        if again is not None:
            text = f"{text}; run again as {again.id}"
        await machine.move("fail", error=text, error_kind="interrupted",
                           rollback_outcome=outcome.summary())  # fmt: skip
        await core.record("recover", f"rolled back: {outcome.summary()}", RECOVERY, record.id)
