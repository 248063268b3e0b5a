"""The rollback transaction is a kind like the others: declared once, created, planned and
retried through the kinds table, with no special case for it in the manager."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tests.engine.conftest import FAST, Engine
from zfsyncd.api.names import Action
from zfsyncd.store import TransactionStore, TxState
from zfsyncd.tx.errors import RollbackRefusedError
from zfsyncd.tx.hosts import local_hosts
from zfsyncd.tx.kinds import TX_KINDS, Admission, Admitting, Plan, PlanContext, TxKind
from zfsyncd.tx.manager import TransactionManager
from zfsyncd.tx.rollback import ROLLBACK, RollbackKind
from zfsyncd.tx.steps.base import JsonDict


def test_rollback_is_declared_like_every_kind() -> None:
    kind = TX_KINDS[ROLLBACK]
    assert isinstance(kind, RollbackKind)
    assert (kind.name, kind.action, kind.method) == ("rollback", Action.ROLLBACK, None)
    assert isinstance(kind, Admitting)
    # the parameters rows written before rollback was a kind hold still load
    assert kind.request.model_validate({"rolls_back": "20260101-000000-0001"})
    with pytest.raises(ValidationError):
        kind.request.model_validate({"rolls_back": "x", "extra": 1})


class Spy:
    """Wraps a kind and counts what the manager asks of it."""

    def __init__(self, inner: RollbackKind) -> None:
        self.inner = inner
        self.name, self.action, self.request = inner.name, inner.action, inner.request
        self.method = inner.method
        self.calls: list[str] = []

    def describe(self, params: JsonDict) -> str:
        return self.inner.describe(params)

    def datasets(self, params: JsonDict) -> set[str]:
        return self.inner.datasets(params)

    async def admit(self, transactions: TransactionStore, params: JsonDict) -> Admission:
        self.calls.append("admit")
        return await self.inner.admit(transactions, params)

    async def plan(self, ctx: PlanContext, params: JsonDict) -> Plan:
        self.calls.append("plan")
        return await self.inner.plan(ctx, params)


async def _spied(engine: Engine) -> tuple[TransactionManager, Spy]:
    spy = Spy(RollbackKind())
    kinds: dict[str, TxKind] = {**engine.kinds, ROLLBACK: spy}
    manager = TransactionManager(
        engine.db, local_hosts(engine.zfs), do_retry=FAST, undo_retry=FAST, kinds=kinds
    )
    return manager, spy


async def test_a_rollback_is_created_and_planned_through_the_kinds_table(engine: Engine) -> None:
    manager, spy = await _spied(engine)
    src = engine.world.src
    await engine.world.zfs.create(f"{src}/a")
    before = await engine.world.state(src)
    done = await manager.wait((await manager.submit("snapshot", {"datasets": [f"{src}/a"]})).id)
    assert done.state is TxState.COMPLETED, done.error

    undo = await manager.rollback(done.id)
    assert spy.calls == ["admit"]
    assert (undo.type, undo.params, undo.rolls_back) == (ROLLBACK, {"rolls_back": done.id}, done.id)
    assert undo.description == f"roll back {done.id}: {done.description}"
    assert undo.datasets == done.datasets
    await manager.start(undo.id)
    assert (await manager.wait(undo.id)).state is TxState.COMPLETED
    assert spy.calls == ["admit", "plan"]
    assert await engine.world.state(src) == before
    await manager.shutdown()


async def test_a_failed_rollback_is_retried_as_a_new_one_linked_to_the_same(
    engine: Engine,
) -> None:
    manager, src = engine.manager, engine.world.src
    await engine.world.zfs.create(f"{src}/a")
    before = await engine.world.state(src)
    params = {"datasets": [f"{src}/a"], "hold": True}
    done = await manager.wait((await manager.submit("snapshot", params)).id)
    assert done.state is TxState.COMPLETED, done.error

    undo = await manager.rollback(done.id)
    engine.zfs.fail(len(engine.zfs.calls))  # its first change (the release) fails
    await manager.start(undo.id)
    failed = await manager.wait(undo.id)
    assert failed.state is TxState.FAILED, failed.state
    engine.zfs.heal()
    # a failed rollback stands in no one's way, and has not rolled anything back
    with pytest.raises(RollbackRefusedError, match="only a completed transaction"):
        await manager.rollback(undo.id)

    again = await manager.retry(undo.id)
    assert (again.type, again.rolls_back, again.retry_of) == (ROLLBACK, done.id, undo.id)
    assert (again.description, again.datasets) == (undo.description, undo.datasets)
    assert again.priority == undo.priority
    await manager.start(again.id)
    assert (await manager.wait(again.id)).state is TxState.COMPLETED
    assert await engine.world.state(src) == before
    with pytest.raises(RollbackRefusedError, match="has already been rolled back"):
        await manager.rollback(done.id)


class Relink:
    """A made-up kind that, like a rollback, is recorded from an earlier transaction: the
    manager records what its `admit` says, whatever the kind's name."""

    name, action, method = "relink", Action.MANAGE, None
    request = RollbackKind.request

    def describe(self, params: JsonDict) -> str:
        return "never used: admit says"

    def datasets(self, params: JsonDict) -> set[str]:
        return set()

    async def admit(self, transactions: TransactionStore, params: JsonDict) -> Admission:
        original = await transactions.get(params["rolls_back"])
        assert original is not None
        return Admission(f"relinked to {original.id}", {"p/x"}, rolls_back=original.id)

    async def plan(self, ctx: PlanContext, params: JsonDict) -> Plan:
        raise AssertionError("not planned in this test")


async def test_what_create_records_comes_from_the_kind(engine: Engine) -> None:
    src = engine.world.src
    done = await engine.manager.wait(
        (await engine.manager.submit("snapshot", {"datasets": [src]})).id
    )
    manager = TransactionManager(engine.db, local_hosts(engine.zfs), kinds={"relink": Relink()})
    record = await manager.create("relink", {"rolls_back": done.id})
    assert (record.description, record.datasets, record.rolls_back) == (
        f"relinked to {done.id}",
        ["p/x"],
        done.id,
    )
