"""The transaction manager: the operations of the engine (seed 002), over the store, the
per-dataset locks, the state machine and the executor.

    create -> prepare -> execute -> (COMPLETED | FAILED | CANCELLED)

- create stores the request (type and parameters) as CREATED; nothing is checked against
  ZFS yet beyond the request's own validity.
- prepare builds the plan from real ZFS state, refuses what cannot be done, stores the
  steps with their size estimates, and takes the dataset locks (waiting in the priority
  queue, or failing fast). Nothing on disk has changed when it returns.
- execute runs the steps in a task of the manager's own (not inside the state machine's
  callbacks); `wait` awaits the end.
- A completed transaction is rolled back by a new transaction ("rollback", linked to it)
  made of its steps' inverses in reverse order; a failed one by `retry` as a new one.

Every call is recorded in the audit log with who asked and how it ended.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from pydantic import ValidationError

from zfsyncd.invalid import problems
from zfsyncd.store import (
    ACTIVE_STATES,
    AuditLog,
    CleanupItem,
    CleanupQueue,
    Database,
    StepRecord,
    StepSpec,
    StepState,
    TransactionRecord,
    TransactionStore,
    TxState,
)
from zfsyncd.tx.errors import (
    InvalidTransitionError,
    PlanError,
    RollbackRefusedError,
    TransactionNotFoundError,
    TxError,
)
from zfsyncd.tx.executor import Executor, PlannedStep, describe_error, error_kind
from zfsyncd.tx.hosts import LOCAL, Host
from zfsyncd.tx.kinds import TX_KINDS, TxKind, kind_of
from zfsyncd.tx.locks import DatasetLocks
from zfsyncd.tx.machine import TransactionMachine
from zfsyncd.tx.progress import ProgressSink
from zfsyncd.tx.retry import RetryPolicy
from zfsyncd.tx.steps import Step, StepContext, build_step
from zfsyncd.zfs.errors import ZfsError

log = logging.getLogger(__name__)

ROLLBACK = "rollback"
TIMEOUT_REASON = "timed out"
#: what a failed finalize or an unfinished rollback waits before it is tried again, at most
CLEANUP_MAX_DELAY = 3600.0


@dataclass
class Caller:
    """Who asked: the uid the bus reported and the caller's bus name (or 'cli', 'recovery')."""

    uid: int | None = None
    name: str | None = None


SYSTEM = Caller(None, "zfsyncd")
RECOVERY = Caller(None, "recovery")


@dataclass
class _Run:
    executor: Executor
    task: asyncio.Task[None]


#: told the id and new state of a transaction whenever one is created or changes state
StateListener = Callable[[str, TxState], None]


class TransactionManager:
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
        if LOCAL not in hosts:
            raise ValueError(f"the manager needs the local host, under {LOCAL!r}")
        self.db = db
        self.store = TransactionStore(db)
        self.audit = AuditLog(db)
        self.cleanups = CleanupQueue(db)
        self.hosts = dict(hosts)
        self.locks = DatasetLocks(max_parallel)
        self.do_retry = do_retry or RetryPolicy()
        self.undo_retry = undo_retry or RetryPolicy()
        self._sinks = sinks or (lambda _tx: ProgressSink())
        self._kinds = TX_KINDS if kinds is None else kinds
        self._runs: dict[str, _Run] = {}
        #: started transactions waiting in the lock queue (see `start`)
        self._queued: dict[str, asyncio.Task[None]] = {}
        self.listeners: builtins.list[StateListener] = []

    # ------------------------------------------------------------------ helpers

    def _context(self, tx_id: str, sink: ProgressSink | None = None) -> StepContext:
        sink = sink or ProgressSink()
        return StepContext(tx_id=tx_id, hosts=self.hosts, progress=sink.transfer)

    def _machine(self, record: TransactionRecord) -> TransactionMachine:
        return TransactionMachine(record.id, record.state, self._persist)

    async def _persist(
        self, tx_id: str, source: TxState, dest: TxState, details: dict[str, Any]
    ) -> None:
        await self.store.set_state(
            tx_id,
            dest,
            expected=source,
            error=details.get("error"),
            error_kind=details.get("error_kind"),
            rollback_outcome=details.get("rollback_outcome"),
        )
        self._notify(tx_id, dest)

    def _notify(self, tx_id: str, state: TxState) -> None:
        for listener in self.listeners:
            try:
                listener(tx_id, state)
            except Exception:  # a listener (the bus) must never break a transaction
                log.exception("%s: a state listener failed", tx_id)

    def _executor(self) -> Executor:
        return Executor(self.store, do_retry=self.do_retry, undo_retry=self.undo_retry)

    async def _audit(
        self, action: str, outcome: str, caller: Caller, tx_id: str | None, **detail: Any
    ) -> None:
        await self.audit.append(
            action, outcome, uid=caller.uid, caller=caller.name, tx_id=tx_id, detail=detail
        )

    async def get(self, tx_id: str) -> TransactionRecord:
        record = await self.store.get(tx_id)
        if record is None:
            raise TransactionNotFoundError(tx_id)
        return record

    @staticmethod
    def _planned(record: TransactionRecord) -> list[PlannedStep]:
        return [PlannedStep(s.idx, build_step(s.kind, s.args), s) for s in record.steps]

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
        await self._audit("update-metadata", "ok", caller, tx_id, keys=sorted(merge))
        return merged

    # ------------------------------------------------------------------ the lifecycle

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
        try:
            kind = kind_of(type, self._kinds)
            description, datasets = kind.describe(dict(params)), kind.datasets(dict(params))
        except (TxError, ZfsError, ValidationError, ValueError) as exc:
            await self._audit("create", f"refused: {describe_error(exc)}", caller, None, type=type)
            raise _as_plan_error(exc) from exc
        record = await self.store.create_transaction(
            type,
            description=description,
            uid=caller.uid,
            priority=priority,
            timeout=timeout,
            tags=tags,
            metadata=metadata,
            params=params,
            datasets=datasets,
            retry_of=retry_of,
        )
        self._notify(record.id, record.state)
        await self._audit("create", "ok", caller, record.id, type=type)
        return record

    async def prepare(
        self, tx_id: str, *, wait: bool = True, caller: Caller = SYSTEM
    ) -> TransactionRecord:
        """Validate against ZFS, plan, estimate and lock. A refusal ends the transaction
        FAILED (nothing on disk changed) and is raised to the caller."""
        machine, record = await self._plan_steps(tx_id, caller)
        return await self._lock(machine, record, wait=wait, caller=caller)

    async def _plan_steps(
        self, tx_id: str, caller: Caller
    ) -> tuple[TransactionMachine, TransactionRecord]:
        """The first half of prepare: the plan, checked against ZFS and stored; the record
        as stored with it."""
        record = await self.get(tx_id)
        machine = self._machine(record)
        if not machine.can("prepare"):
            raise InvalidTransitionError(tx_id, "be prepared", record.state.value)
        ctx = self._context(tx_id)
        try:
            steps, datasets = await self._plan(record, ctx)
            specs = [
                StepSpec(s.kind, s.to_json(), s.describe(), await s.estimate(ctx)) for s in steps
            ]
        except (TxError, ZfsError, ValidationError, ValueError) as exc:
            await self._refuse(machine, "prepare", exc, caller)
            raise _as_plan_error(exc) from exc
        await self.store.replace_steps(tx_id, specs)
        return machine, await self.store.replace_datasets(tx_id, datasets)

    async def _lock(
        self,
        machine: TransactionMachine,
        record: TransactionRecord,
        *,
        wait: bool,
        caller: Caller,
    ) -> TransactionRecord:
        """The second half of prepare: the dataset locks (waiting in the queue, or not)."""
        tx_id = machine.tx_id
        try:
            await self.locks.acquire(tx_id, record.datasets, priority=record.priority, wait=wait)
        except TxError as exc:
            await self._refuse(machine, "prepare", exc, caller)
            raise
        try:
            await machine.move("prepare")
        except BaseException:
            self.locks.release(tx_id)
            raise
        await self._audit("prepare", "ok", caller, tx_id, steps=len(record.steps))
        return await self.get(tx_id)

    async def _plan(
        self, record: TransactionRecord, ctx: StepContext
    ) -> tuple[builtins.list[Step[Any]], set[str]]:
        if record.type == ROLLBACK:
            original = await self._rollback_target(record.params.get("rolls_back"), record.id)
            steps = self._inverse_steps(original)
            datasets = set(original.datasets)
            for step in steps:
                datasets |= step.datasets()
            return steps, datasets
        plan = await kind_of(record.type, self._kinds).plan(ctx, dict(record.params))
        return plan.steps, plan.datasets()

    async def _refuse(
        self, machine: TransactionMachine, action: str, exc: BaseException, caller: Caller
    ) -> None:
        await machine.move("fail", error=describe_error(exc), error_kind=error_kind(exc),
                           rollback_outcome="nothing to undo: nothing was changed")  # fmt: skip
        await self._audit(action, f"refused: {describe_error(exc)}", caller, machine.tx_id)

    async def execute(self, tx_id: str, *, caller: Caller = SYSTEM) -> TransactionRecord:
        """Start a PREPARED transaction; returns at once (see `wait`)."""
        record = await self.get(tx_id)
        machine = self._machine(record)
        if not machine.can("execute"):
            raise InvalidTransitionError(tx_id, "be executed", record.state.value)
        if tx_id not in self.locks.holders():  # prepared before a restart: locks are in memory
            await self.locks.acquire(tx_id, record.datasets, priority=record.priority)
        try:
            await machine.move("execute")
        except BaseException:
            self.locks.release(tx_id)
            raise
        await self._audit("execute", "started", caller, tx_id)
        executor = self._executor()
        task = asyncio.create_task(self._run(await self.get(tx_id), machine, executor, caller))
        self._runs[tx_id] = _Run(executor, task)
        return await self.get(tx_id)

    async def wait(self, tx_id: str) -> TransactionRecord:
        """The transaction once it has ended (at once if it already has)."""
        queued = self._queued.get(tx_id)
        if queued is not None:  # waits for its locks; once granted, it runs
            await asyncio.gather(asyncio.shield(queued), return_exceptions=True)
        run = self._runs.get(tx_id)
        if run is not None:
            await asyncio.shield(run.task)
        return await self.get(tx_id)

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
        await self.prepare(record.id, wait=wait_for_locks, caller=caller)
        return await self.execute(record.id, caller=caller)

    async def start(
        self, tx_id: str, *, wait_for_locks: bool = True, caller: Caller = SYSTEM
    ) -> TransactionRecord:
        """Plan a CREATED transaction and run it, without waiting in the lock queue here.

        A refusal of the plan (or, when `wait_for_locks` is false, a busy dataset) raises
        at once, so the caller hears what was wrong. When its datasets are busy and it may
        wait, it stays CREATED, queued, and runs as soon as it is granted its locks (a
        cancel takes it out of the queue); this returns at once either way."""
        machine, record = await self._plan_steps(tx_id, caller)
        # no await between this check and the acquire in _lock: another start cannot slip
        # in between, so "grantable" still holds when the locks are taken
        if not wait_for_locks or self.locks.can_grant(record.datasets):
            await self._lock(machine, record, wait=wait_for_locks, caller=caller)
            return await self.execute(tx_id, caller=caller)
        self._queued[tx_id] = asyncio.create_task(self._run_when_granted(machine, record, caller))
        return record

    async def _run_when_granted(
        self, machine: TransactionMachine, record: TransactionRecord, caller: Caller
    ) -> None:
        try:
            await self._lock(machine, record, wait=True, caller=caller)
            await self.execute(machine.tx_id, caller=caller)
        except asyncio.CancelledError:
            raise
        except Exception:  # recorded in the transaction and the audit log by the calls above
            log.exception("%s: could not start after waiting for its locks", machine.tx_id)
        finally:
            self._queued.pop(machine.tx_id, None)

    async def _run(
        self,
        record: TransactionRecord,
        machine: TransactionMachine,
        executor: Executor,
        caller: Caller,
    ) -> None:
        tx_id = record.id
        sink = self._sinks(record)
        ctx = self._context(tx_id, sink)
        timer = None
        if record.timeout is not None:
            timer = asyncio.get_running_loop().call_later(
                record.timeout, executor.cancel, TIMEOUT_REASON
            )
        try:
            plan = self._planned(record)
            outcome = await executor.run(tx_id, plan, ctx, sink)
            if timer is not None:
                timer.cancel()
            if outcome.succeeded:
                await self._finalize(await self.get(tx_id), ctx)
                await machine.move("complete")
                await self._audit("execute", "completed", caller, tx_id)
                return
            rollback = outcome.rollback
            summary = rollback.summary() if rollback else "nothing to undo"
            if rollback is not None and not rollback.complete:
                await self.cleanups.add("finish-rollback", {"tx_id": tx_id}, summary, tx_id=tx_id)
            error = outcome.error or RuntimeError("failed")
            cancelled = outcome.cancelled and str(error) != TIMEOUT_REASON
            kind = "timeout" if str(error) == TIMEOUT_REASON else error_kind(error)
            text = f"step {outcome.failed_step}: {describe_error(error)}"
            await machine.move("cancel" if cancelled else "fail", error=text, error_kind=kind,
                               rollback_outcome=summary)  # fmt: skip
            await self._audit("execute", "cancelled" if cancelled else f"failed: {text}",
                              caller, tx_id, rollback=summary)  # fmt: skip
        finally:
            self.locks.release(tx_id)
            self._runs.pop(tx_id, None)

    async def _finalize(self, record: TransactionRecord, ctx: StepContext) -> None:
        """Make the steps permanent (destroy what was moved to the trash). A failure here
        does not undo the transaction: its work is done; the leftover is queued for cleanup."""
        for planned in self._planned(record):
            try:
                await self.undo_retry.run(
                    partial(planned.step.finalize, ctx, planned.undo_data),
                    what=f"finalize {planned.step.describe()}",
                )
            except Exception as exc:
                log.warning("%s: finalize of step %d failed: %s", record.id, planned.idx, exc)
                await self.cleanups.add(
                    "finalize",
                    {"tx_id": record.id, "idx": planned.idx},
                    f"finalize {planned.step.describe()}: {describe_error(exc)}",
                    tx_id=record.id,
                )

    # ------------------------------------------------------------------ cancel, rollback, retry

    async def cancel(
        self, tx_id: str, *, caller: Caller = SYSTEM, wait: bool = True
    ) -> TransactionRecord:
        """Cancel before or while executing; while executing, the running step is stopped
        and everything done so far is undone. With `wait=False` a running one is only told
        to stop (its undo may take long; its state says when it has ended)."""
        record = await self.get(tx_id)
        run = self._runs.get(tx_id)
        if run is not None:
            who = f"uid {caller.uid}" if caller.uid is not None else (caller.name or "zfsyncd")
            run.executor.cancel(f"cancelled by {who}")
            if wait:
                await asyncio.shield(run.task)
            return await self.get(tx_id)
        queued = self._queued.pop(tx_id, None)
        if queued is not None:  # waiting in the lock queue: leave it, then cancel below
            queued.cancel()
            await asyncio.gather(queued, return_exceptions=True)
            record = await self.get(tx_id)
        machine = self._machine(record)
        if not machine.can("cancel"):
            raise InvalidTransitionError(tx_id, "be cancelled", record.state.value)
        await machine.move("cancel", error="cancelled before it ran", error_kind="cancelled",
                           rollback_outcome="nothing to undo: nothing was changed")  # fmt: skip
        self.locks.release(tx_id)
        await self._audit("cancel", "ok", caller, tx_id)
        return await self.get(tx_id)

    async def rollback(self, tx_id: str, *, caller: Caller = SYSTEM) -> TransactionRecord:
        """A new CREATED transaction that undoes the COMPLETED transaction `tx_id`.
        Refused, with the reason, when it cannot be undone as a whole."""
        try:
            original = await self._rollback_target(tx_id, None)
            self._inverse_steps(original)  # refuses if a step cannot be taken back
        except TxError as exc:
            await self._audit("rollback", f"refused: {describe_error(exc)}", caller, tx_id)
            raise
        record = await self.store.create_transaction(
            ROLLBACK,
            description=f"roll back {tx_id}: {original.description or original.type}",
            uid=caller.uid,
            priority=original.priority,
            params={"rolls_back": tx_id},
            datasets=original.datasets,
            rolls_back=tx_id,
        )
        self._notify(record.id, record.state)
        await self._audit("rollback", "ok", caller, record.id, rolls_back=tx_id)
        return record

    async def _rollback_target(self, tx_id: object, rollback_id: str | None) -> TransactionRecord:
        if not isinstance(tx_id, str):
            raise PlanError("a rollback names the transaction it undoes")
        original = await self.get(tx_id)
        if original.state is not TxState.COMPLETED:
            undone = " (a failed or cancelled one was undone when it ended)"
            raise RollbackRefusedError(
                f"transaction {tx_id} is {original.state.value}: only a completed transaction "
                f"can be rolled back{undone if original.state.is_terminal else ''}"
            )
        later = await self.store.transactions_touching(
            original.datasets,
            after=tx_id,
            states=[TxState.COMPLETED, *ACTIVE_STATES],
            hierarchical=True,
        )
        # a later transaction that a completed rollback has undone changes nothing any more:
        # neither it nor its rollback stands in the way
        neutralized: set[str] = set()
        for t in later:
            if t.type == ROLLBACK and t.state is TxState.COMPLETED and t.rolls_back:
                neutralized |= {t.id, t.rolls_back}
        if tx_id in neutralized:
            raise RollbackRefusedError(f"transaction {tx_id} has already been rolled back")
        later = [t for t in later if t.id not in neutralized and t.id != rollback_id]
        if later:
            names = ", ".join(f"{t.id} ({t.type}, {t.state.value})" for t in later[:5])
            raise RollbackRefusedError(
                f"transaction {tx_id} cannot be rolled back: later transactions changed the "
                f"same datasets and would be undone too: {names}; roll those back first"
            )
        return original

    def _inverse_steps(self, original: TransactionRecord) -> builtins.list[Step[Any]]:
        steps: builtins.list[Step[Any]] = []
        for planned in reversed(self._planned(original)):
            if planned.record.state is not StepState.COMPLETED:
                continue
            inverse = planned.step.inverse(planned.undo_data)
            if inverse is None:
                raise RollbackRefusedError(
                    f"transaction {original.id} cannot be rolled back: {planned.step.why_final()}"
                )
            steps.append(inverse)
        if not steps:
            raise RollbackRefusedError(f"transaction {original.id} changed nothing to undo")
        return steps

    async def retry(self, tx_id: str, *, caller: Caller = SYSTEM) -> TransactionRecord:
        """A new CREATED transaction with the same request as the FAILED or CANCELLED `tx_id`."""
        original = await self.get(tx_id)
        if original.state not in (TxState.FAILED, TxState.CANCELLED):
            raise InvalidTransitionError(tx_id, "be retried", original.state.value)
        if original.type == ROLLBACK:
            record = await self.store.create_transaction(
                ROLLBACK, description=original.description, uid=caller.uid,
                priority=original.priority, params=original.params, datasets=original.datasets,
                rolls_back=original.rolls_back, retry_of=tx_id,
            )  # fmt: skip
            self._notify(record.id, record.state)
            await self._audit("retry", "ok", caller, record.id, retry_of=tx_id)
            return record
        record = await self.create(
            original.type, original.params, caller=caller, priority=original.priority,
            timeout=original.timeout, tags=original.tags, metadata=original.metadata,
            retry_of=tx_id,
        )  # fmt: skip
        await self._audit("retry", "ok", caller, record.id, retry_of=tx_id)
        return record

    async def cleanup_finished(self, older_than: float, *, caller: Caller = SYSTEM) -> int:
        """Forget finished transactions older than `older_than` seconds (the audit log stays)."""
        count = await self.store.delete_finished_older_than(older_than)
        await self._audit("cleanup", f"removed {count}", caller, None, older_than=older_than)
        return count

    # ------------------------------------------------------------------ restart and leftovers

    async def recover(self) -> builtins.list[TransactionRecord]:
        """At start: bring every transaction left EXECUTING to a safe end, from its journal
        and the real ZFS state. Steps all done: finish (finalize) and complete; otherwise undo
        what was done (a step with an intent but no result included: its undo reads ZFS and
        does nothing when the step never happened) and fail with the reason.

        Transactions that had not begun (CREATED or PREPARED: queued, nothing changed) are
        cancelled: whoever asked for them is gone, and work that starts by itself long after
        it was asked for is not what an administrator expects."""
        recovered = []
        for record in await self.store.list(state=[TxState.CREATED, TxState.PREPARED], limit=None):
            await self._machine(record).move(
                "cancel", error="zfsyncd stopped before it ran", error_kind="interrupted",
                rollback_outcome="nothing to undo: nothing was changed",
            )  # fmt: skip
            await self._audit("recover", "cancelled: it had not begun", RECOVERY, record.id)
            recovered.append(await self.get(record.id))
        for record in await self.store.list(state=TxState.EXECUTING, limit=None):
            machine = self._machine(record)
            ctx = self._context(record.id)
            plan = self._planned(record)
            if plan and all(p.record.state is StepState.COMPLETED for p in plan):
                await self._finalize(record, ctx)
                await machine.move("complete")
                await self._audit("recover", "completed: every step had finished", RECOVERY,
                                  record.id)  # fmt: skip
            else:
                running = [p.idx for p in plan if p.record.state is StepState.RUNNING]
                where = f"while step {running[0]} was running" if running else "between steps"
                outcome = await self._executor().rollback(record.id, _to_undo(plan), ctx)
                if not outcome.complete:
                    await self.cleanups.add("finish-rollback", {"tx_id": record.id},
                                            outcome.summary(), tx_id=record.id)  # fmt: skip
                text = f"interrupted: zfsyncd stopped {where}; undone at restart"
                await machine.move("fail", error=text, error_kind="interrupted",
                                   rollback_outcome=outcome.summary())  # fmt: skip
                await self._audit("recover", f"rolled back: {outcome.summary()}", RECOVERY,
                                  record.id)  # fmt: skip
            recovered.append(await self.get(record.id))
        return recovered

    async def run_cleanups(self, now: float | None = None) -> int:
        """Retry the deferred cleanups that are due; returns how many succeeded."""
        done = 0
        for item in await self.cleanups.due(now):
            done += await self._run_cleanup(item, now)
        return done

    async def finish_rollback(self, tx_id: str, *, caller: Caller = SYSTEM) -> str:
        """Finish now the undo of a FAILED or CANCELLED transaction that could not be
        finished when it ended (it waits in the cleanup queue); says what happened."""
        record = await self.get(tx_id)
        if record.state not in (TxState.FAILED, TxState.CANCELLED):
            raise InvalidTransitionError(tx_id, "have an unfinished rollback", record.state.value)
        waiting = [
            i for i in await self.cleanups.pending()
            if i.tx_id == tx_id and i.kind == "finish-rollback"
        ]  # fmt: skip
        if not waiting:
            outcome = record.rollback_outcome or "nothing to undo"
            await self._audit("finish-rollback", "nothing left", caller, tx_id)
            return f"it was undone when it ended: {outcome}"
        for item in waiting:
            if not await self._run_cleanup(item, None):
                latest = await self.cleanups.get(item.id)
                error = latest.last_error if latest else "unknown"
                await self._audit("finish-rollback", f"failed: {error}", caller, tx_id)
                raise TxError(f"the rollback of {tx_id} still cannot be finished: {error}")
        await self._audit("finish-rollback", "done", caller, tx_id)
        record = await self.get(tx_id)
        return record.rollback_outcome or "rolled back"

    async def _run_cleanup(self, item: CleanupItem, now: float | None) -> int:
        """One deferred cleanup; 1 if it succeeded, 0 if it was put off again."""
        tx_id = str(item.args.get("tx_id"))
        try:
            record = await self.get(tx_id)
            ctx = self._context(tx_id)
            if item.kind == "finalize":
                planned = self._planned(record)[int(item.args["idx"])]
                await planned.step.finalize(ctx, planned.undo_data)
            elif item.kind == "finish-rollback":
                outcome = await self._executor().rollback(
                    tx_id, _to_undo(self._planned(record)), ctx
                )
                if not outcome.complete:
                    raise RuntimeError(outcome.summary())
                await self.store.set_state(
                    tx_id, record.state, expected=record.state, finished=False,
                    rollback_outcome=f"{outcome.summary()} (finished by a later cleanup)",
                )  # fmt: skip
            else:
                raise ValueError(f"unknown cleanup kind {item.kind!r}")
        except Exception as exc:
            delay = min(60.0 * 2**item.attempts, CLEANUP_MAX_DELAY)
            await self.cleanups.mark_attempt(
                item.id, describe_error(exc), (now or time.time()) + delay
            )
            return 0
        await self.cleanups.mark_done(item.id)
        await self._audit("cleanup", f"done: {item.kind}", SYSTEM, tx_id)
        return 1

    async def shutdown(self, reason: str = "zfsyncd is stopping") -> None:
        """Stop running transactions: each running step is stopped and what was done undone,
        so no transaction is left half-done by a clean stop. Queued ones are cancelled."""
        for tx_id in list(self._queued):
            await self.cancel(tx_id)
        for run in list(self._runs.values()):
            run.executor.cancel(reason)
        await asyncio.gather(*(r.task for r in list(self._runs.values())), return_exceptions=True)


def _to_undo(plan: Sequence[PlannedStep]) -> builtins.list[PlannedStep]:
    """The steps a rollback must look at, in the order they ran: every step that started
    (completed, failed part-way, or cut off by a crash) and is not undone yet."""
    started = (StepState.COMPLETED, StepState.FAILED, StepState.RUNNING)
    return [p for p in plan if p.record.state in started]


def _as_plan_error(exc: BaseException) -> TxError:
    if isinstance(exc, TxError):
        return exc
    if isinstance(exc, ValidationError):
        return PlanError(f"invalid request: {problems(exc)}")
    return PlanError(describe_error(exc))


__all__ = ["RECOVERY", "ROLLBACK", "SYSTEM", "Caller", "StepRecord", "TransactionManager"]
