"""Running a transaction's steps: journal the intent, act, journal the result; on failure,
undo the steps in reverse order, journaling each undo (the executor's *undo*; see the
glossary in zfsyncd/tx/__init__.py).

The journal is what crash recovery reads. Its rule: an `intent` row is written (and
committed) before anything touches ZFS, a `result` row after. Each is committed with the
step state it implies (RUNNING; COMPLETED or FAILED) in one commit, so a step costs two
syncs of the database (tests/unit/tx/test_commits.py holds that bound). So after a
crash, a step with an intent and no result may or may not have happened, and its `check`
(reading ZFS) decides; a step without an intent certainly did not.

The executor never decides *whether* to run; the manager does (state machine, locks).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from zfsyncd.api.limits import MAX_STORED_BYTES
from zfsyncd.store.records import (
    JournalEvent,
    JournalPhase,
    StepRecord,
    StepState,
    TransactionRecord,
)
from zfsyncd.tx.errors import describe_error
from zfsyncd.tx.progress import ProgressSink
from zfsyncd.tx.retry import RetryPolicy
from zfsyncd.tx.steps.base import JsonDict, Step, StepContext, build_step
from zfsyncd.zfs.models import TransferProgress

log = logging.getLogger(__name__)


class StepLog(Protocol):
    """What the executor writes: the store's journal (see zfsyncd/store/journal.py)."""

    async def step_event(
        self,
        tx_id: str,
        idx: int,
        phase: JournalPhase,
        event: JournalEvent,
        state: StepState,
        *,
        outcome: str | None = None,
        detail: dict[str, Any] | None = None,
        error: str | None = None,
        undo_data: dict[str, Any] | None = None,
        bytes_total: int | None = None,
    ) -> None: ...

    async def journal(
        self,
        tx_id: str,
        step_idx: int | None,
        phase: JournalPhase,
        event: JournalEvent,
        *,
        outcome: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> object: ...


class StepCancelled(Exception):
    """The running step was stopped on request (cancel, timeout, shutdown)."""

    kind = "cancelled"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _StepFailure(Exception):
    """A step's `do` failed; carries what its undo needs, since it may have half-happened."""

    def __init__(self, error: BaseException, before: JsonDict) -> None:
        super().__init__(describe_error(error))
        self.error, self.before = error, before


@dataclass
class PlannedStep:
    """A step with its stored record: what the executor works from."""

    idx: int
    step: Step[Any]
    record: StepRecord

    @property
    def undo_data(self) -> JsonDict:
        return dict(self.record.undo_data or {})


def planned_steps(record: TransactionRecord) -> list[PlannedStep]:
    """The stored steps of `record`, rebuilt from their kinds and arguments."""
    return [PlannedStep(s.idx, build_step(s.kind, s.args), s) for s in record.steps]


def steps_to_undo(plan: Sequence[PlannedStep]) -> list[PlannedStep]:
    """The steps an undo must look at, in the order they ran: every step that started
    (completed, failed part-way, or cut off by a crash) and is not undone yet."""
    started = (StepState.COMPLETED, StepState.FAILED, StepState.RUNNING)
    return [p for p in plan if p.record.state in started]


@dataclass
class UndoOutcome:
    """How an undo ended; its `summary` is what a transaction stores as `rollback_outcome`."""

    undone: list[int] = field(default_factory=list)
    failed: int | None = None  # the step whose undo failed; the ones before it were left
    error: BaseException | None = None

    @property
    def complete(self) -> bool:
        return self.failed is None

    def summary(self) -> str:
        if self.failed is not None:
            reason = describe_error(self.error) if self.error else "unknown error"
            return f"partial: the undo of step {self.failed} failed ({reason})"
        if not self.undone:
            return "nothing to undo"
        return f"complete: undid steps {', '.join(map(str, self.undone))}"


@dataclass
class ExecutionOutcome:
    error: BaseException | None = None
    failed_step: int | None = None
    undo: UndoOutcome | None = None
    #: when it succeeded: every step, with the undo data it ended with (what finalize takes)
    done: list[PlannedStep] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return self.error is None

    @property
    def cancelled(self) -> bool:
        return isinstance(self.error, StepCancelled)


class Executor:
    def __init__(
        self,
        log_to: StepLog,
        *,
        do_retry: RetryPolicy | None = None,
        undo_retry: RetryPolicy | None = None,
    ) -> None:
        self.store = log_to
        self.do_retry = do_retry or RetryPolicy()
        self.undo_retry = undo_retry or RetryPolicy()
        self._current: asyncio.Task[JsonDict] | None = None
        self._cancel_reason: str | None = None

    def cancel(self, reason: str) -> None:
        """Stop the running step; the executor then undoes what was done."""
        self._cancel_reason = reason
        if self._current is not None and not self._current.done():
            self._current.cancel()

    async def run(
        self,
        tx_id: str,
        plan: Sequence[PlannedStep],
        ctx: StepContext,
        sink: ProgressSink | None = None,
    ) -> ExecutionOutcome:
        """Run every PENDING step in order; on failure undo what was done and say what
        happened."""
        sink = sink or ProgressSink()
        done: list[PlannedStep] = [p for p in plan if p.record.state is StepState.COMPLETED]
        for planned in plan:
            if planned.record.state is not StepState.PENDING:
                continue
            try:
                undo_data = await self._do(tx_id, planned, ctx, sink)
            except _StepFailure as failure:
                # the failed step may have half-happened (a partial receive): undo it too
                planned = _with_undo_data(planned, failure.before)
                undo = await self.undo(tx_id, [*done, planned], ctx, sink)
                return ExecutionOutcome(error=failure.error, failed_step=planned.idx, undo=undo)
            done.append(_with_undo_data(planned, undo_data))
        return ExecutionOutcome(done=sorted(done, key=lambda p: p.idx))

    async def _do(
        self, tx_id: str, planned: PlannedStep, ctx: StepContext, sink: ProgressSink
    ) -> JsonDict:
        idx, step = planned.idx, planned.step
        if self._cancel_reason is not None:
            raise _StepFailure(StepCancelled(self._cancel_reason), {})
        try:
            before = await step.capture(ctx)
        except Exception as exc:  # nothing was changed yet: a failure to read is a plain failure
            raise _StepFailure(exc, {}) from exc
        finally:
            ctx.handed.clear()  # what the step before read is now this step's to change
        # intent first, with what undo needs, durable with the step's RUNNING state in one
        # commit: from here on, the step may have happened
        await self.store.step_event(
            tx_id, idx, JournalPhase.DO, JournalEvent.INTENT, StepState.RUNNING,
            detail={"before": before}, undo_data=before,
        )  # fmt: skip
        sink.step_started(idx, step.describe())
        moved = _Moved(ctx.progress)
        counted = dataclasses.replace(ctx, progress=moved)
        try:
            result = await self.do_retry.run(
                lambda: self._in_task(step.do(counted, before)), what=step.describe()
            )
        except asyncio.CancelledError as exc:
            if not self._cancelled(exc):
                # our caller is cancelling us, not `cancel`: stop without a word, as a crash
                # would; the intent stays without a result and recovery decides at restart
                raise
            cancelled = StepCancelled(self._cancel_reason or "cancelled")
            await self._record_failure(tx_id, idx, cancelled, sink)
            raise _StepFailure(cancelled, before) from exc
        except Exception as exc:
            # anything else (a BaseException: a crash, SystemExit) passes with nothing written
            await self._record_failure(tx_id, idx, exc, sink)
            raise _StepFailure(exc, before) from exc
        undo_data = {**before, **result}
        # what a transfer moved, kept with the step when it is more than its estimate (or
        # it had none): a finished step counts max(moved, estimate), live (ProgressTracker)
        # and once stored (what a completed transaction shows as its bytes done)
        estimate = planned.record.bytes_total or 0
        await self.store.step_event(
            tx_id, idx, JournalPhase.DO, JournalEvent.RESULT, StepState.COMPLETED,
            outcome="completed", detail={"undo_data": undo_data}, undo_data=undo_data,
            bytes_total=moved.bytes if moved.bytes > estimate else None,
        )  # fmt: skip
        sink.step_finished(idx, StepState.COMPLETED)
        return undo_data

    async def _record_failure(
        self, tx_id: str, idx: int, error: BaseException, sink: ProgressSink
    ) -> None:
        text = describe_error(error)
        await self.store.step_event(
            tx_id, idx, JournalPhase.DO, JournalEvent.RESULT, StepState.FAILED,
            outcome="failed", detail={"error": text}, error=text,
        )  # fmt: skip
        sink.step_finished(idx, StepState.FAILED)

    def _cancelled(self, exc: BaseException) -> bool:
        """Was `exc` our own `cancel` reaching the step (rather than our caller cancelling us)?"""
        return isinstance(exc, asyncio.CancelledError) and self._cancel_reason is not None

    async def _in_task(self, work: Any) -> JsonDict:
        """Run one attempt in its own task, so that `cancel` stops the step, not us."""
        self._current = asyncio.ensure_future(work)
        try:
            return await self._current
        finally:
            self._current = None

    async def undo(
        self,
        tx_id: str,
        done: Sequence[PlannedStep],
        ctx: StepContext,
        sink: ProgressSink | None = None,
    ) -> UndoOutcome:
        """Undo `done` in reverse order. Stops at the first undo that keeps failing: undoing
        what came before it could pull the ground from under it (a dataset whose snapshot
        could not be removed)."""
        sink = sink or ProgressSink()
        outcome = UndoOutcome()
        # the detail keeps its key "rollback" (the name before undo): the journal is unchanged
        await self.store.journal(tx_id, None, JournalPhase.TX, JournalEvent.INTENT,
                                 detail={"rollback": [p.idx for p in reversed(done)]})  # fmt: skip
        for planned in reversed(done):
            if planned.record.undo_state is StepState.COMPLETED:
                continue
            idx = planned.idx
            await self.store.step_event(
                tx_id, idx, JournalPhase.UNDO, JournalEvent.INTENT, StepState.RUNNING
            )
            sink.message(f"undoing step {idx}: {planned.step.describe()}")
            try:
                await self.undo_retry.run(
                    partial(planned.step.undo, ctx, planned.undo_data),
                    retry_if=lambda _e: True,
                    what=f"undo of {planned.step.describe()}",
                )
            except Exception as exc:
                text = describe_error(exc)
                await self.store.step_event(
                    tx_id, idx, JournalPhase.UNDO, JournalEvent.RESULT, StepState.FAILED,
                    outcome="failed", detail={"error": text}, error=text,
                )  # fmt: skip
                outcome.failed, outcome.error = idx, exc
                break
            await self.store.step_event(
                tx_id, idx, JournalPhase.UNDO, JournalEvent.RESULT, StepState.COMPLETED,
                outcome="completed",
            )  # fmt: skip
            outcome.undone.append(idx)
        await self.store.journal(tx_id, None, JournalPhase.TX, JournalEvent.RESULT,
                                 outcome=outcome.summary())  # fmt: skip
        return outcome


class _Moved:
    """A step's progress callback that also keeps the last count of bytes it reported
    (bounded: api/limits.py MAX_STORED_BYTES)."""

    def __init__(self, report: Callable[[TransferProgress], None]) -> None:
        self._report = report
        self.bytes = 0

    def __call__(self, progress: TransferProgress) -> None:
        self.bytes = min(max(progress.bytes_done, 0), MAX_STORED_BYTES)
        self._report(progress)


def _with_undo_data(planned: PlannedStep, undo_data: JsonDict | None) -> PlannedStep:
    if undo_data is None:
        return planned
    record = planned.record.model_copy(update={"undo_data": undo_data})
    return PlannedStep(planned.idx, planned.step, record)
