"""Deferred cleanups: what could not be finished when a transaction ended waits in the
cleanup queue (zfsyncd/store/cleanup.py) and is tried again, with a growing delay, until it
succeeds.

Two kinds of work wait there (`CleanupKind`):
- a step's finalize that failed after its transaction completed (destroying what a step
  moved to the trash): the transaction's work is done; only the leftover waits;
- the undo of a FAILED or CANCELLED transaction that could not be finished when it ended
  (its `rollback_outcome` says "partial"); `finish_undo` also runs it on request
  (`zfsyncctl transaction rollback --last-failed`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from enum import StrEnum
from functools import partial

from zfsyncd.store import CleanupItem, TransactionRecord, TxState
from zfsyncd.tx.core import SYSTEM, Caller, EngineCore
from zfsyncd.tx.errors import InvalidTransitionError, TxError, describe_error
from zfsyncd.tx.executor import PlannedStep, planned_steps, steps_to_undo
from zfsyncd.tx.steps import StepContext

log = logging.getLogger(__name__)

#: what a failed finalize or an unfinished undo waits before it is tried again, at most
CLEANUP_MAX_DELAY = 3600.0


class CleanupKind(StrEnum):
    """The kinds of work in the cleanup queue; the values are stored there."""

    #: finalize step `idx` of a completed transaction (args: tx_id, idx)
    FINALIZE = "finalize"
    #: finish the undo of a failed or cancelled transaction (args: tx_id); the stored value
    #: keeps the older name of the undo
    FINISH_UNDO = "finish-rollback"


class DeferredCleanups:
    def __init__(self, core: EngineCore) -> None:
        self.core = core

    async def finalize(self, record: TransactionRecord, ctx: StepContext) -> None:
        """Make the steps of a completed transaction permanent (destroy what was moved to
        the trash). A failure here does not undo the transaction: its work is done; the
        leftover is queued."""
        await self.finalize_steps(record.id, planned_steps(record), ctx)

    async def finalize_steps(
        self, tx_id: str, plan: Sequence[PlannedStep], ctx: StepContext
    ) -> None:
        """`finalize` from the steps as the executor left them (with their undo data), so
        the engine need not read the transaction back first."""
        for planned in plan:
            try:
                await self.core.undo_retry.run(
                    partial(planned.step.finalize, ctx, planned.undo_data),
                    what=f"finalize {planned.step.describe()}",
                )
            except Exception as exc:
                log.warning("%s: finalize of step %d failed: %s", tx_id, planned.idx, exc)
                await self.core.cleanups.add(
                    CleanupKind.FINALIZE,
                    {"tx_id": tx_id, "idx": planned.idx},
                    f"finalize {planned.step.describe()}: {describe_error(exc)}",
                    tx_id=tx_id,
                )

    async def defer_undo(self, tx_id: str, reason: str) -> None:
        """Queue the rest of an undo that could not be finished now."""
        await self.core.cleanups.add(CleanupKind.FINISH_UNDO, {"tx_id": tx_id}, reason, tx_id=tx_id)

    async def run_due(self, now: float | None = None) -> int:
        """Retry the deferred cleanups that are due; returns how many succeeded."""
        done = 0
        for item in await self.core.cleanups.due(now):
            done += await self._run(item, now)
        return done

    async def finish_undo(self, tx_id: str, caller: Caller = SYSTEM) -> str:
        """Finish now the undo of a FAILED or CANCELLED transaction that could not be
        finished when it ended (it waits in the cleanup queue); says what happened."""
        core = self.core
        record = await core.get(tx_id)
        if record.state not in (TxState.FAILED, TxState.CANCELLED):
            raise InvalidTransitionError(tx_id, "have an unfinished rollback", record.state.value)
        waiting = [
            i for i in await core.cleanups.pending()
            if i.tx_id == tx_id and i.kind == CleanupKind.FINISH_UNDO
        ]  # fmt: skip
        if not waiting:
            outcome = record.rollback_outcome or "nothing to undo"
            await core.record("finish-rollback", "nothing left", caller, tx_id)
            return f"it was undone when it ended: {outcome}"
        for item in waiting:
            if not await self._run(item, None):
                latest = await core.cleanups.get(item.id)
                error = latest.last_error if latest else "unknown"
                await core.record("finish-rollback", f"failed: {error}", caller, tx_id)
                raise TxError(f"the rollback of {tx_id} still cannot be finished: {error}")
        await core.record("finish-rollback", "done", caller, tx_id)
        record = await core.get(tx_id)
        return record.rollback_outcome or "rolled back"

    async def _run(self, item: CleanupItem, now: float | None) -> int:
        """One deferred cleanup; 1 if it succeeded, 0 if it was put off again."""
        core = self.core
        tx_id = str(item.args.get("tx_id"))
        try:
            record = await core.get(tx_id)
            ctx = core.context(tx_id)
            if item.kind == CleanupKind.FINALIZE:
                planned = planned_steps(record)[int(item.args["idx"])]
                await planned.step.finalize(ctx, planned.undo_data)
            elif item.kind == CleanupKind.FINISH_UNDO:
                await self._finish_undo(record, ctx)
            else:
                raise ValueError(f"unknown cleanup kind {item.kind!r}")
        except Exception as exc:
            delay = min(60.0 * 2**item.attempts, CLEANUP_MAX_DELAY)
            await core.cleanups.mark_attempt(
                item.id, describe_error(exc), (now or time.time()) + delay
            )
            return 0
        await core.cleanups.mark_done(item.id)
        await core.record("cleanup", f"done: {item.kind}", SYSTEM, tx_id)
        return 1

    async def _finish_undo(self, record: TransactionRecord, ctx: StepContext) -> None:
        outcome = await self.core.executor().undo(
            record.id, steps_to_undo(planned_steps(record)), ctx
        )
        if not outcome.complete:
            raise RuntimeError(outcome.summary())
        await self.core.store.set_state(
            record.id, record.state, expected=record.state, finished=False,
            rollback_outcome=f"{outcome.summary()} (finished by a later cleanup)",
        )  # fmt: skip
