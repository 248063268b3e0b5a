"""The life of a transaction, the same for every kind:

    create -> prepare -> execute -> (COMPLETED | FAILED | CANCELLED)

- create stores the request (type and parameters) as CREATED; nothing is checked against
  ZFS yet beyond the request's own validity.
- prepare builds the plan from real ZFS state, refuses what cannot be done, stores the
  steps with their size estimates, and takes the dataset locks (waiting in the priority
  queue, or failing fast). Nothing on disk has changed when it returns.
- execute runs the steps in a task of the manager's own (not inside the state machine's
  callbacks); `wait` awaits the end. A timeout stops it as a cancel does.
- cancel stops it before or while it runs (what was done is undone); retry makes a new
  transaction of a FAILED or CANCELLED one's request.
- a transaction of a kind that declares a follow-up (kinds.Following), which had steps
  and COMPLETED, is followed by that transaction: stored as CREATED in the same commit as
  the move to COMPLETED (whoever sees one completed sees its follow-up listed, and a crash
  cannot leave one without the other: the CREATED follow-up is the durable intent, which
  recovery starts), run once the first one's locks are released, linked to it (metadata
  `follows`; its description says so); `wait` returns once the follow-up has ended too.
  A follow-up a crash interrupted is undone by recovery and stored again (`rerun_follow_up`),
  so what the first asked for still happens.

Every call is recorded in the audit log with who asked and how it ended.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from zfsyncd.api import limits
from zfsyncd.invalid import problems
from zfsyncd.store import StepSpec, TransactionRecord, TxState
from zfsyncd.tx import bounds
from zfsyncd.tx.cleanup import DeferredCleanups
from zfsyncd.tx.core import SYSTEM, Caller, EngineCore
from zfsyncd.tx.errors import (
    InvalidTransitionError,
    PlanError,
    TxError,
    describe_error,
    error_kind,
)
from zfsyncd.tx.executor import ExecutionOutcome, Executor, planned_steps
from zfsyncd.tx.kinds import FOLLOWS, RERUN, admission, follow_up_of, kind_of
from zfsyncd.tx.machine import TransactionMachine
from zfsyncd.tx.progress import ProgressSink
from zfsyncd.zfs.errors import ZfsError

log = logging.getLogger(__name__)

TIMEOUT_REASON = "timed out"
#: the caller's name of a follow-up that recovery started
RESUMED = "recovery"
#: how many times recovery runs again a follow-up that crashes keep interrupting: a crash
#: the follow-up itself causes must not make every start run it (and crash) again
MAX_FOLLOW_UP_RERUNS = 3
#: what a refused request or a cancel before it ran stores as its undo's outcome
NOTHING_CHANGED = "nothing to undo: nothing was changed"
#: the errors that refuse a request or a plan (as opposed to a bug)
REFUSALS = (TxError, ZfsError, ValidationError, ValueError)


@dataclass
class _Run:
    executor: Executor
    task: asyncio.Task[None]


@dataclass
class _Planned:
    """A transaction's plan, made and checked, before it is stored with its move to
    PREPARED (one commit): the machine, the record as read before planning, the steps, and
    the datasets (sorted, each once: what the locks and the store take)."""

    machine: TransactionMachine
    record: TransactionRecord
    steps: list[StepSpec]
    datasets: list[str]
    #: the plan was stored already (to show while it waits for its locks)
    stored: bool = False
    #: the plan's description, stored when it differs from the record's (what the plan
    #: found: a replica sync names the datasets it left out)
    description: str | None = None


class Lifecycle:
    def __init__(
        self,
        core: EngineCore,
        deferred: DeferredCleanups,
        sinks: Callable[[TransactionRecord], ProgressSink] | None = None,
    ) -> None:
        self.core = core
        self.deferred = deferred
        self._sinks = sinks or (lambda _tx: ProgressSink())
        self._runs: dict[str, _Run] = {}
        #: started transactions waiting in the lock queue (see `start`)
        self._queued: dict[str, asyncio.Task[None]] = {}
        #: set by `shutdown`: no follow-up starts while the engine stops (one that was to
        #: start stays CREATED: the next start's recovery runs it, as after a crash)
        self._stopping = False
        #: follow-ups started by recovery, by the id of the transaction they follow (whose
        #: run, the one that would have waited for them, died with the old process)
        self._resumed: dict[str, str] = {}

    async def get(self, tx_id: str) -> TransactionRecord:
        return await self.core.get(tx_id)

    async def create(
        self,
        type: str,
        params: Mapping[str, Any],
        *,
        caller: Caller = SYSTEM,
        priority: int = 0,
        timeout: float | None = None,
        tags: Sequence[str] = (),
        metadata: Mapping[str, Any] | None = None,
        retry_of: str | None = None,
    ) -> TransactionRecord:
        """Store a request as a CREATED transaction. Bad parameters are refused here."""
        core = self.core
        try:
            priority = bounds.check_priority(priority)
            timeout = bounds.check_timeout(timeout)
            tags = bounds.check_tags(tags)
            bounds.check_json_size(params, "parameters", limits.MAX_PARAMS_BYTES)
            bounds.check_json_size(metadata, "metadata", limits.MAX_METADATA_BYTES)
            admitted = await admission(kind_of(type, core.kinds), core.store, dict(params))
        except REFUSALS as exc:
            await core.record("create", f"refused: {describe_error(exc)}", caller, None, type=type)
            raise _as_plan_error(exc) from exc
        async with core.one_commit():
            record = await core.store.create_transaction(
                type,
                description=bounds.cut_description(admitted.description),
                uid=caller.uid,
                priority=priority,
                timeout=timeout,
                tags=tags,
                metadata=metadata,
                params=params,
                datasets=admitted.datasets,
                rolls_back=admitted.rolls_back,
                retry_of=retry_of,
            )
            await core.record("create", "ok", caller, record.id, type=type)
        core.tell(record.id, record.state)
        return record

    async def prepare(
        self, tx_id: str, *, wait: bool = True, caller: Caller = SYSTEM
    ) -> TransactionRecord:
        """Validate against ZFS, plan, estimate and lock. A refusal ends the transaction
        FAILED (nothing on disk changed) and is raised to the caller."""
        planned = await self._plan_steps(tx_id, caller)
        await self._lock(planned, wait=wait, caller=caller)
        return await self._prepared(planned, caller, then_execute=False)

    async def _plan_steps(
        self, tx_id: str, caller: Caller, record: TransactionRecord | None = None
    ) -> _Planned:
        """The first half of prepare: the plan, checked against ZFS (nothing is written
        unless it is refused). `record`: the transaction as just stored, if at hand."""
        core = self.core
        record = record or await core.get(tx_id)
        machine = core.machine(record)
        if not machine.can("prepare"):
            raise InvalidTransitionError(tx_id, "be prepared", record.state.value)
        ctx = core.plan_context(tx_id)
        try:
            plan = await kind_of(record.type, core.kinds).plan(ctx, dict(record.params))
            specs = [
                StepSpec(
                    s.kind, s.to_json(), bounds.cut_description(s.describe()), await s.estimate(ctx)
                )
                for s in plan.steps
            ]
        except REFUSALS as exc:
            await self._refuse(machine, "prepare", exc, caller)
            raise _as_plan_error(exc) from exc
        follows = record.metadata.get(FOLLOWS)
        text = plan.description if follows is None else f"{plan.description} (after {follows})"
        described = bounds.cut_description(text)
        return _Planned(
            machine,
            record,
            specs,
            sorted(set(plan.datasets())),
            description=None if described == record.description else described,
        )

    async def _store_plan(self, planned: _Planned) -> TransactionRecord:
        """Store the plan of a transaction that waits for its locks, so that it shows its
        steps while it waits."""
        tx_id = planned.machine.tx_id
        await self.core.store.store_plan(
            tx_id, planned.steps, planned.datasets, planned.description
        )
        return await self.core.get(tx_id)

    async def _lock(self, planned: _Planned, *, wait: bool, caller: Caller) -> None:
        """The second half of prepare: the dataset locks (waiting in the queue, or not). A
        plan that is going to wait is stored first, unless it already was."""
        core, tx_id = self.core, planned.machine.tx_id
        if wait and not planned.stored and not core.locks.can_grant(planned.datasets):
            await self._store_plan(planned)
            planned.stored = True
        try:
            await core.locks.acquire(
                tx_id, planned.datasets, priority=planned.record.priority, wait=wait
            )
        except TxError as exc:
            await self._refuse(planned.machine, "prepare", exc, caller)
            raise

    async def _prepared(
        self, planned: _Planned, caller: Caller, *, then_execute: bool
    ) -> TransactionRecord:
        """With its locks held: the plan stored and the move to PREPARED (and, when it runs
        at once, on to EXECUTING), with their audit rows, in one commit. The record as it
        is then; the locks are released if this fails."""
        core, machine = self.core, planned.machine
        tx_id = machine.tx_id
        try:
            async with core.one_commit():
                await core.store.store_plan(
                    tx_id, planned.steps, planned.datasets, planned.description
                )
                await machine.move("prepare")
                await core.record("prepare", "ok", caller, tx_id, steps=len(planned.steps))
                if then_execute:
                    await machine.move("execute")
                    await core.record("execute", "started", caller, tx_id)
                return await core.get(tx_id)
        except BaseException:
            core.locks.release(tx_id)
            raise

    async def _refuse(
        self, machine: TransactionMachine, action: str, exc: BaseException, caller: Caller
    ) -> None:
        async with self.core.one_commit():
            await machine.move("fail", error=describe_error(exc), error_kind=error_kind(exc),
                               rollback_outcome=NOTHING_CHANGED)  # fmt: skip
            await self.core.record(action, f"refused: {describe_error(exc)}", caller, machine.tx_id)

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

    async def _start_prepared(self, planned: _Planned, caller: Caller) -> TransactionRecord:
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

    async def _run_when_granted(self, planned: _Planned, caller: Caller) -> None:
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

    async def complete(
        self,
        record: TransactionRecord,
        machine: TransactionMachine,
        caller: Caller,
        *,
        action: str = "execute",
        outcome: str = "completed",
    ) -> TransactionRecord | None:
        """The move of `record` (every step done and finalized) to COMPLETED, with its
        audit row and the follow-up its kind declares stored as CREATED, all in one commit:
        a crash leaves either none of them (the steps done, which recovery completes, here)
        or all (the follow-up waiting, which recovery starts), so the follow-up runs
        exactly once. Returns the follow-up, if any (recovery completes with `action`
        "recover")."""
        async with self.core.one_commit():
            follow = await self._create_follow_up(record, caller)
            await machine.move("complete")
            await self.core.record(action, outcome, caller, record.id)
        return follow

    async def resume_follow_ups(self) -> list[TransactionRecord]:
        """At start, after recovery: start the follow-ups still CREATED (their first
        transaction COMPLETED before the old process died, or during recovery), on behalf
        of the uid that asked for the first. `wait` on the first waits for them too. A
        refusal of the plan ends the follow-up FAILED (its own business, as in a run)."""
        started = []
        for follow in await self.core.store.list(state=TxState.CREATED, limit=None):
            first = follow.metadata.get(FOLLOWS)
            if first is None or self._stopping:
                continue
            self._resumed[str(first)] = follow.id
            try:
                started.append(await self.start(follow.id, caller=Caller(follow.uid, RESUMED)))
            except REFUSALS as exc:
                log.warning("%s: its follow-up %s was refused: %s", first, follow.id, exc)
        return started

    async def _create_follow_up(
        self, record: TransactionRecord, caller: Caller
    ) -> TransactionRecord | None:
        """The follow-up the kind of `record` (whose steps all succeeded) declares, stored
        as CREATED (inside `complete`'s commit). One that had no steps changed nothing:
        nothing follows. A refused follow-up is logged and recorded in the audit log by
        `create`; `record` completes anyway."""
        kind = self.core.kinds.get(record.type)  # (recovery completes a kind now unknown)
        then = follow_up_of(kind, record.params)
        if then is None or not record.steps:
            return None
        try:
            return await self.create(
                then.kind, then.params, caller=caller, priority=record.priority,
                metadata={FOLLOWS: record.id},
            )  # fmt: skip
        except REFUSALS as exc:
            log.warning("%s: its follow-up %s was refused: %s", record.id, then.kind, exc)
            return None

    async def rerun_follow_up(self, record: TransactionRecord) -> TransactionRecord | None:
        """For recovery, once it has undone `record`, a follow-up that a crash interrupted
        (an expiry killed while it ran): the same request stored again as CREATED, linked
        to the same first transaction (`follows`, so `resume_follow_ups` starts it and
        `wait` on the first waits for it) and to `record` (`retry_of`). The expiry a sync
        asked for then still happens, planned afresh from what ZFS holds after the undo;
        undoing it is what puts each snapshot back where a half-done run had moved it.
        None when `record` is no follow-up, has been run again MAX_FOLLOW_UP_RERUNS
        times already, or its request is refused now (logged, as a refused follow-up is).
        Called inside recovery's commit of `record`'s move to FAILED: both or neither."""
        first = record.metadata.get(FOLLOWS)
        reruns = int(record.metadata.get(RERUN, 0))
        if first is None or reruns >= MAX_FOLLOW_UP_RERUNS:
            return None
        try:
            return await self.create(
                record.type, record.params, caller=Caller(record.uid, RESUMED),
                priority=record.priority, timeout=record.timeout, tags=record.tags,
                metadata={**record.metadata, RERUN: reruns + 1}, retry_of=record.id,
            )  # fmt: skip
        except REFUSALS as exc:
            log.warning("%s: its follow-up %s was refused: %s", first, record.type, exc)
            return None

    async def _run_follow_up(
        self, record: TransactionRecord, follow: TransactionRecord, caller: Caller
    ) -> None:
        """Plan and run the follow-up of the COMPLETED `record`, and wait for its end. Its
        refusal or failure is its own transaction's (and the audit log's) business."""
        try:
            if self._stopping:
                log.info("%s: its follow-up %s runs at the next start", record.id, follow.id)
                return
            await self.start(follow.id, caller=caller)
            await self.wait(follow.id)
        except REFUSALS as exc:
            log.warning("%s: its follow-up %s ended: %s", record.id, follow.id, exc)

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


def _as_plan_error(exc: BaseException) -> TxError:
    if isinstance(exc, TxError):
        return exc
    if isinstance(exc, ValidationError):
        return PlanError(f"invalid request: {problems(exc)}")
    return PlanError(describe_error(exc))
