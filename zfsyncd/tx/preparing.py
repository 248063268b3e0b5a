"""The first half of a transaction's life, the same for every kind: create and prepare.

- create stores the request (type and parameters) as CREATED; nothing is checked against
  ZFS yet beyond the request's own validity.
- prepare builds the plan from real ZFS state, refuses what cannot be done, stores the
  steps with their size estimates, and takes the dataset locks (waiting in the priority
  queue, or failing fast). Nothing on disk has changed when it returns.

A refusal ends the transaction FAILED (nothing changed) and is raised to the caller as a
TxError. `Preparing` is the base of `Lifecycle` (lifecycle.py), which runs what it made.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from zfsyncd.api import limits
from zfsyncd.invalid import problems
from zfsyncd.store import StepSpec, TransactionRecord
from zfsyncd.tx import bounds
from zfsyncd.tx.core import SYSTEM, Caller, EngineCore
from zfsyncd.tx.errors import (
    InvalidTransitionError,
    PlanError,
    TxError,
    describe_error,
    error_kind,
)
from zfsyncd.tx.kinds import FOLLOWS, admission, kind_of
from zfsyncd.tx.machine import TransactionMachine
from zfsyncd.zfs.errors import ZfsError

#: what a refused request or a cancel before it ran stores as its undo's outcome
NOTHING_CHANGED = "nothing to undo: nothing was changed"
#: the errors that refuse a request or a plan (as opposed to a bug)
REFUSALS = (TxError, ZfsError, ValidationError, ValueError)


@dataclass
class Planned:
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


class Preparing:
    """create and prepare, over the engine's shared parts (`core`)."""

    def __init__(self, core: EngineCore) -> None:
        self.core = core

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
            raise as_plan_error(exc) from exc
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
    ) -> Planned:
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
            raise as_plan_error(exc) from exc
        follows = record.metadata.get(FOLLOWS)
        text = plan.description if follows is None else f"{plan.description} (after {follows})"
        described = bounds.cut_description(text)
        return Planned(
            machine,
            record,
            specs,
            sorted(set(plan.datasets())),
            description=None if described == record.description else described,
        )

    async def _store_plan(self, planned: Planned) -> TransactionRecord:
        """Store the plan of a transaction that waits for its locks, so that it shows its
        steps while it waits."""
        tx_id = planned.machine.tx_id
        await self.core.store.store_plan(
            tx_id, planned.steps, planned.datasets, planned.description
        )
        return await self.core.get(tx_id)

    async def _lock(self, planned: Planned, *, wait: bool, caller: Caller) -> None:
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
        self, planned: Planned, caller: Caller, *, then_execute: bool
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


def as_plan_error(exc: BaseException) -> TxError:
    if isinstance(exc, TxError):
        return exc
    if isinstance(exc, ValidationError):
        return PlanError(f"invalid request: {problems(exc)}")
    return PlanError(describe_error(exc))
