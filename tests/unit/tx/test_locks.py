"""Per-dataset locks: conflicts by hierarchy, fail-fast, priority queue, parallelism limit."""

from __future__ import annotations

import asyncio

import pytest

from zfsyncd.tx.locks import DatasetBusyError, DatasetLocks, conflicts


def test_hierarchy_conflicts() -> None:
    assert conflicts("tank/a", "tank/a")
    assert conflicts("tank/a", "tank/a/b")
    assert conflicts("tank/a/b", "tank/a")
    assert not conflicts("tank/a", "tank/ab")
    assert not conflicts("tank/a", "other/a")
    assert not conflicts("//peer/tank/a", "tank/a")


async def test_fail_fast_names_the_dataset_and_the_holder() -> None:
    locks = DatasetLocks()
    await locks.acquire("tx1", ["tank/a"])
    with pytest.raises(DatasetBusyError) as info:
        await locks.acquire("tx2", ["tank/b", "tank/a/child"], wait=False)
    assert info.value.dataset == "tank/a/child"
    assert info.value.holder == "tx1"
    assert "tank/a/child is busy in transaction tx1" in str(info.value)
    assert locks.waiting() == []  # a refused request leaves nothing behind
    await locks.acquire("tx3", ["tank/b"], wait=False)  # independent datasets run in parallel
    assert set(locks.holders()) == {"tx1", "tx3"}


async def test_waiters_are_granted_by_priority_then_arrival() -> None:
    locks = DatasetLocks()
    await locks.acquire("first", ["tank/a"])
    order: list[str] = []

    async def take(tx: str, priority: int) -> None:
        await locks.acquire(tx, ["tank/a"], priority=priority)
        order.append(tx)
        locks.release(tx)

    tasks = [
        asyncio.create_task(take("low", 0)),
        asyncio.create_task(take("high", 5)),
        asyncio.create_task(take("low2", 0)),
    ]
    await asyncio.sleep(0)
    assert locks.waiting() == ["high", "low", "low2"]
    locks.release("first")
    await asyncio.gather(*tasks)
    assert order == ["high", "low", "low2"]


async def test_a_lower_priority_request_does_not_overtake_a_conflicting_one() -> None:
    locks = DatasetLocks()
    await locks.acquire("big", ["tank/a/x"])
    waiting_root = asyncio.create_task(locks.acquire("root", ["tank/a"], priority=5))
    await asyncio.sleep(0)
    # tank/a/y is free, but it conflicts with the waiting, higher-priority request on tank/a
    small = asyncio.create_task(locks.acquire("small", ["tank/a/y"], priority=0))
    await asyncio.sleep(0)
    assert not small.done()
    locks.release("big")
    await waiting_root
    assert not small.done()
    locks.release("root")
    await small
    assert set(locks.holders()) == {"small"}


async def test_parallelism_limit_queues_independent_work() -> None:
    locks = DatasetLocks(max_parallel=1)
    await locks.acquire("one", ["tank/a"])
    second = asyncio.create_task(locks.acquire("two", ["tank/b"], wait=False))
    await asyncio.sleep(0)
    assert not second.done()  # fail-fast is about datasets; the limit always queues
    locks.release("one")
    await second
    assert set(locks.holders()) == {"two"}


async def test_a_cancelled_waiter_leaves_the_queue() -> None:
    locks = DatasetLocks()
    await locks.acquire("one", ["tank/a"])
    waiter = asyncio.create_task(locks.acquire("two", ["tank/a"]))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert locks.waiting() == []
    locks.release("one")
    assert locks.holders() == {}


async def test_double_acquire_is_a_programming_error() -> None:
    locks = DatasetLocks()
    await locks.acquire("one", ["tank/a"])
    with pytest.raises(RuntimeError, match="already holds"):
        await locks.acquire("one", ["tank/b"])
