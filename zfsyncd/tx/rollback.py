"""The rollback transaction: undoes a COMPLETED transaction, as a new transaction of type
"rollback" linked to it (`rolls_back`), made of the inverses of its completed steps in
reverse order. A kind like the others: `Manager.Rollback(id)` (and
`TransactionManager.rollback`) creates it; it is planned, run, cancelled and retried as any
transaction is.

It is refused, with the reason, when the original is not COMPLETED, has been rolled back
already, has a step that cannot be taken back (what is destroyed cannot be brought back), when a
later transaction changed the same datasets and stands in the way (not a follow-up of the
original that cannot be rolled back itself: a sync's expiry), or when ZFS changed since in
a way an inverse step cannot take back (`Step.refusal`, asked at plan time: the base an
expiry destroyed, a destination written to).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from zfsyncd.api.names import Action
from zfsyncd.store import ACTIVE_STATES, StepState, TransactionRecord, TransactionStore, TxState
from zfsyncd.tx.errors import RollbackRefusedError, TransactionNotFoundError
from zfsyncd.tx.executor import planned_steps
from zfsyncd.tx.kinds import FOLLOWS, Admission, Plan, PlanContext, RequestKind, register_kind
from zfsyncd.tx.steps import Step
from zfsyncd.tx.steps.base import JsonDict


class RollbackTxRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    #: the id of the COMPLETED transaction to undo
    rolls_back: str


class RollbackKind(RequestKind[RollbackTxRequest]):
    name = "rollback"
    action = Action.ROLLBACK
    request = RollbackTxRequest
    #: Manager.Rollback(id) starts it, through `TransactionManager.rollback`
    method = None

    def summary(self, request: RollbackTxRequest) -> str:
        """Only the id: `admit` records the full description, naming what it undoes."""
        return f"roll back {request.rolls_back}"

    def targets(self, request: RollbackTxRequest) -> set[str]:
        """None known from the parameters alone: `admit` records the original's."""
        return set()

    async def admit(self, transactions: TransactionStore, params: JsonDict) -> Admission:
        """The link to the original, its datasets, and a description that names it. Not
        the refusal checks: those run when it is asked for and again when it is planned
        (a retry of a failed rollback is recorded first, then planned)."""
        request = self.parse(params)
        original = await _original(transactions, request.rolls_back)
        return Admission(
            description=_description(original),
            datasets=set(original.datasets),
            rolls_back=original.id,
        )

    async def plan_request(self, ctx: PlanContext, request: RollbackTxRequest) -> Plan:
        original, steps = await undoable(ctx.transactions, request.rolls_back, ctx.tx_id)
        for step in steps:
            # built from records: ZFS may have changed since (a destination written to)
            reason = await step.refusal(ctx)
            if reason is not None:
                raise RollbackRefusedError(
                    f"transaction {original.id} cannot be rolled back: {reason}"
                )
        return Plan(
            steps=steps,
            description=_description(original),
            extra_datasets=set(original.datasets),
        )


ROLLBACK_KIND = register_kind(RollbackKind())
ROLLBACK = ROLLBACK_KIND.name


def _description(original: TransactionRecord) -> str:
    return f"roll back {original.id}: {original.description or original.type}"


async def _original(transactions: TransactionStore, tx_id: str) -> TransactionRecord:
    original = await transactions.get(tx_id)
    if original is None:
        raise TransactionNotFoundError(tx_id)
    return original


async def undoable(
    transactions: TransactionStore, tx_id: str, rollback_id: str | None = None
) -> tuple[TransactionRecord, list[Step[Any]]]:
    """The COMPLETED transaction `tx_id` and the steps that undo it, if a rollback
    transaction (`rollback_id`, when it exists already) may undo it now;
    RollbackRefusedError with the reason otherwise."""
    original = await _rollback_target(transactions, tx_id, rollback_id)
    return original, _inverse_steps(original)


async def _rollback_target(
    transactions: TransactionStore, tx_id: str, rollback_id: str | None
) -> TransactionRecord:
    original = await _original(transactions, tx_id)
    if original.state is not TxState.COMPLETED:
        undone = " (a failed or cancelled one was undone when it ended)"
        raise RollbackRefusedError(
            f"transaction {tx_id} is {original.state.value}: only a completed transaction "
            f"can be rolled back{undone if original.state.is_terminal else ''}"
        )
    later = await transactions.transactions_touching(
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
    # a final follow-up of the original (its expiry: what it destroyed is gone for good)
    # stands aside: it cannot be rolled back first, and what the rollback needs of ZFS
    # (the snapshots an expiry could have taken) is read by its steps' `refusal` at plan time
    later = [t for t in later if not (t.metadata.get(FOLLOWS) == tx_id and _final(t))]
    if later:
        names = ", ".join(_named(t) for t in later[:5])
        raise RollbackRefusedError(
            f"transaction {tx_id} cannot be rolled back: later transactions changed the "
            f"same datasets and would be undone too: {names}; roll those back first"
        )
    return original


def _final(record: TransactionRecord) -> bool:
    """Whether a COMPLETED transaction cannot be rolled back (a step of it has no inverse)."""
    if record.state is not TxState.COMPLETED:
        return False
    try:
        _inverse_steps(record)
    except RollbackRefusedError:
        return True
    return False


def _named(record: TransactionRecord) -> str:
    final = " and final: it cannot be rolled back" if _final(record) else ""
    return f"{record.id} ({record.type}, {record.state.value}{final})"


def _inverse_steps(original: TransactionRecord) -> list[Step[Any]]:
    """The inverses of the completed steps of `original`, last first; refused when one of
    them cannot be taken back or none changed anything."""
    steps: list[Step[Any]] = []
    for planned in reversed(planned_steps(original)):
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
