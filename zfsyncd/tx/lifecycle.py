"""The life of a transaction, the same for every kind:

    create -> prepare -> execute -> (COMPLETED | FAILED | CANCELLED)

- create and prepare: preparing.py (nothing on disk changes before execute).
- execute runs the steps in a task of the manager's own (not inside the state machine's
  callbacks); `wait` awaits the end. A timeout stops it as a cancel does.
- cancel stops it before or while it runs (what was done is undone); retry makes a new
  transaction of a FAILED or CANCELLED one's request.
- a transaction of a kind that declares a follow-up, which COMPLETED, is followed by that
  transaction, run once its locks are released: follow_ups.py.

Every call is recorded in the audit log with who asked and how it ended.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from zfsyncd.store import TransactionRecord, TxState
from zfsyncd.tx.cleanup import DeferredCleanups
from zfsyncd.tx.core import SYSTEM, Caller, EngineCore
from zfsyncd.tx.errors import InvalidTransitionError, describe_error, error_kind
from zfsyncd.tx.executor import ExecutionOutcome, Executor, planned_steps
from zfsyncd.tx.follow_ups import FollowUps
from zfsyncd.tx.machine import TransactionMachine
from zfsyncd.tx.preparing import NOTHING_CHANGED, Planned
from zfsyncd.tx.progress import ProgressSink

log = logging.getLogger(__name__)

TIMEOUT_REASON = "timed out"


@dataclass
class _Run:
    executor: Executor
    task: asyncio.Task[None]


class Lifecycle(FollowUps):
    def __init__(
        self,
        core: EngineCore,
        deferred: DeferredCleanups,
        sinks: Callable[[TransactionRecord], ProgressSink] | None = None,
    ) -> None:
        super().__init__(core)
        self.deferred = deferred
        self._sinks = sinks or (lambda _tx: ProgressSink())
        self._runs: dict[str, _Run] = {}
        #: started transactions waiting in the lock queue (see `start`)
        self._queued: dict[str, asyncio.Task[None]] = {}

    async def execute(self, tx_id: str, *, caller: Caller = SYSTEM) -> TransactionRecord:
        """Start a PREPARED transaction; returns at once (see `wait`)."""
        core = self.core
        record = await core.get(tx_id)
        machine = core.machine(record)
        if not machine.can("execute"):
            raise InvalidTransitionError(tx_id, "be executed", record.state.value)
        if tx_id not in core.locks.holders():  # prepared before a restart: locks are in memory
            await core.locks.acquire(tx_id, record.datasets, priority=record.priority)
        try:
            async with core.one_commit():
                await machine.move("execute")
                await core.record("execute", "started", caller, tx_id)
                record = await core.get(tx_id)
        except BaseException:
            core.locks.release(tx_id)
            raise
        return self._launch(record, machine, caller)

    def _launch(
        self, record: TransactionRecord, machine: TransactionMachine, caller: Caller
    ) -> TransactionRecord:
        """Run an EXECUTING transaction's steps in a task of our own; `record` back."""
        executor = self.core.executor()
        task = asyncio.create_task(self._lifetime(record, machine, executor, caller))
        self._runs[record.id] = _Run(executor, task)
        return record

    async def _start_prepared(self, planned: Planned, caller: Caller) -> TransactionRecord:
        """With its locks held: PREPARED and EXECUTING in one commit, then run."""
        record = await self._prepared(planned, caller, then_execute=True)
        return self._launch(record, planned.machine, caller)

    async def wait(self, tx_id: str) -> TransactionRecord:
        """The transaction once it has ended (at once if it already has)."""
        queued = self._queued.get(tx_id)
        if queued is not None:  # waits for its locks; once granted, it runs
            await asyncio.gather(asyncio.shield(queued), return_exceptions=True)
        run = self._runs.get(tx_id)
        if run is not None:
            await asyncio.shield(run.task)
        resumed = self._resumed.get(tx_id)
        if resumed is not None:
            await self.wait(resumed)
        return await self.core.get(tx_id)

    async def submit(
        self,
        type: str,
        params: Mapping[str, Any],
        *,
        wait_for_locks: bool = True,
        caller: Caller = SYSTEM,
        **options: Any,
    ) -> TransactionRecord:
        """create + prepare + execute; returns once it is running (a refusal raises)."""
        record = await self.create(type, params, caller=caller, **options)
        planned = await self._plan_steps(record.id, caller, record)
        await self._lock(planned, wait=wait_for_locks, caller=caller)
        return await self._start_prepared(planned, caller)

    async def start(
        self, tx_id: str, *, wait_for_locks: bool = True, caller: Caller = SYSTEM
    ) -> TransactionRecord:
        """Plan a CREATED transaction and run it, without waiting in the lock queue here.

        A refusal of the plan (or, when `wait_for_locks` is false, a busy dataset) raises
        at once, so the caller hears what was wrong. When its datasets are busy and it may
        wait, it stays CREATED, queued, and runs as soon as it is granted its locks (a
        cancel takes it out of the queue); this returns at once either way."""
        planned = await self._plan_steps(tx_id, caller)
        # no await between this check and the acquire in _lock: another start cannot slip
        # in between, so "grantable" still holds when the locks are taken
        if not wait_for_locks or self.core.locks.can_grant(planned.datasets):
            await self._lock(planned, wait=wait_for_locks, caller=caller)
            return await self._start_prepared(planned, caller)
        record = await self._store_plan(planned)
        planned.stored = True
        self._queued[tx_id] = asyncio.create_task(self._run_when_granted(planned, caller))
        return record

    async def _run_when_granted(self, planned: Planned, caller: Caller) -> None:
        tx_id = planned.machine.tx_id
        try:
            await self._lock(planned, wait=True, caller=caller)
            await self._start_prepared(planned, caller)
        except asyncio.CancelledError:
            raise
        except Exception:  # recorded in the transaction and the audit log by the calls above
            log.exception("%s: could not start after waiting for its locks", tx_id)
        finally:
            self._queued.pop(tx_id, None)

    async def _lifetime(
        self,
        record: TransactionRecord,
        machine: TransactionMachine,
        executor: Executor,
        caller: Caller,
    ) -> None:
        """The run, then its follow-up if it completed and has one (the run's locks are
        released first: the follow-up takes its own), until that has ended too."""
        try:
            follow = await self._run(record, machine, executor, caller)
            if follow is not None:
                await self._run_follow_up(record, follow, caller)
        finally:
            self._runs.pop(record.id, None)

    async def _run(
        self,
        record: TransactionRecord,
        machine: TransactionMachine,
        executor: Executor,
        caller: Caller,
    ) -> TransactionRecord | None:
        """Run the steps to the end; the follow-up to run when it COMPLETED and has one."""
        core, tx_id = self.core, record.id
        sink = self._sinks(record)
        ctx = core.context(tx_id, sink)
        timer = None
        if record.timeout is not None:
            timer = asyncio.get_running_loop().call_later(
                record.timeout, executor.cancel, TIMEOUT_REASON
            )
        try:
            outcome = await executor.run(tx_id, planned_steps(record), ctx, sink)
            if timer is not None:
                timer.cancel()
            if outcome.succeeded:
                await self.deferred.finalize_steps(tx_id, outcome.done, ctx)
                return await self.complete(record, machine, caller)
            await self._end_failed(machine, outcome, caller)
            return None
        finally:
            core.locks.release(tx_id)

    async def _end_failed(
        self, machine: TransactionMachine, outcome: ExecutionOutcome, caller: Caller
    ) -> None:
        """A run that did not succeed ends CANCELLED (on request) or FAILED (an error or a
        timeout), with what its undo did; an undo left unfinished waits as a cleanup."""
        tx_id, undo = machine.tx_id, outcome.undo
        summary = undo.summary() if undo else "nothing to undo"
        error = outcome.error or RuntimeError("failed")
        timed_out = str(error) == TIMEOUT_REASON
        cancelled = outcome.cancelled and not timed_out
        kind = "timeout" if timed_out else error_kind(error)
        text = f"step {outcome.failed_step}: {describe_error(error)}"
        async with self.core.one_commit():
            if undo is not None and not undo.complete:
                await self.deferred.defer_undo(tx_id, summary)
            await machine.move("cancel" if cancelled else "fail", error=text, error_kind=kind,
                               rollback_outcome=summary)  # fmt: skip
            await self.core.record("execute", "cancelled" if cancelled else f"failed: {text}",
                                   caller, tx_id, rollback=summary)  # fmt: skip

    async def cancel(
        self, tx_id: str, *, caller: Caller = SYSTEM, wait: bool = True
    ) -> TransactionRecord:
        """Cancel before or while executing; while executing, the running step is stopped
        and everything done so far is undone. With `wait=False` a running one is only told
        to stop (its undo may take long; its state says when it has ended)."""
        core = self.core
        record = await core.get(tx_id)
        run = self._runs.get(tx_id)
        if run is not None and not record.state.is_terminal:  # (not while its follow-up runs)
            who = f"uid {caller.uid}" if caller.uid is not None else (caller.name or "zfsyncd")
            run.executor.cancel(f"cancelled by {who}")
            if wait:
                await asyncio.shield(run.task)
            return await core.get(tx_id)
        queued = self._queued.pop(tx_id, None)
        if queued is not None:  # waiting in the lock queue: leave it, then cancel below
            queued.cancel()
            await asyncio.gather(queued, return_exceptions=True)
            record = await core.get(tx_id)
        machine = core.machine(record)
        if not machine.can("cancel"):
            raise InvalidTransitionError(tx_id, "be cancelled", record.state.value)
        async with core.one_commit():
            await machine.move(
                "cancel", error="cancelled before it ran", error_kind="cancelled",
                rollback_outcome=NOTHING_CHANGED,
            )  # fmt: skip
            await core.record("cancel", "ok", caller, tx_id)
            record = await core.get(tx_id)
        core.locks.release(tx_id)
        return record

    async def retry(self, tx_id: str, *, caller: Caller = SYSTEM) -> TransactionRecord:
        """A new CREATED transaction with the same request as the FAILED or CANCELLED `tx_id`
        (of any kind: a failed rollback transaction makes a new one, linked to the same
        original)."""
        original = await self.core.get(tx_id)
        if original.state not in (TxState.FAILED, TxState.CANCELLED):
            raise InvalidTransitionError(tx_id, "be retried", original.state.value)
        record = await self.create(
            original.type, original.params, caller=caller, priority=original.priority,
            timeout=original.timeout, tags=original.tags, metadata=original.metadata,
            retry_of=tx_id,
        )  # fmt: skip
        await self.core.record("retry", "ok", caller, record.id, retry_of=tx_id)
        return record

    async def shutdown(self, reason: str = "zfsyncd is stopping") -> None:
        """Stop running transactions: each running step is stopped and what was done undone,
        so no transaction is left half-done by a clean stop. Queued ones are cancelled."""
        self._stopping = True
        for tx_id in list(self._queued):
            await self.cancel(tx_id)
        for run in list(self._runs.values()):
            run.executor.cancel(reason)
        await asyncio.gather(*(r.task for r in list(self._runs.values())), return_exceptions=True)
