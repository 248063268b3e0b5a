"""FairSlots: one caller's flood delays only that caller; the queue of each is bounded."""

from __future__ import annotations

import asyncio

import pytest

from zfsyncd.bus.fair import FairSlots, TooManyWaitingError


async def _hold(slots: FairSlots, key: str, order: list[str], gate: asyncio.Event) -> None:
    async with slots.slot(key):
        order.append(key)
        await gate.wait()


async def test_a_flooding_caller_does_not_starve_another() -> None:
    slots = FairSlots(2, max_waiting=1000)
    gate = asyncio.Event()
    order: list[str] = []
    flood = [asyncio.create_task(_hold(slots, "nobody", order, gate)) for _ in range(200)]
    await asyncio.sleep(0)
    root = asyncio.create_task(_hold(slots, "root", order, gate))
    await asyncio.sleep(0)
    assert order == ["nobody", "nobody"]  # both slots taken by the flood
    assert slots.waiting("nobody") == 198
    assert slots.waiting("root") == 1
    gate.set()
    await asyncio.gather(*flood, root)
    # root came after 200 of nobody's, yet is served within the next round
    assert order.index("root") <= 3, order.index("root")
    assert len(order) == 201


async def test_a_caller_with_too_many_waiting_is_told_at_once() -> None:
    slots = FairSlots(1, max_waiting=2)
    gate = asyncio.Event()
    order: list[str] = []
    held = [asyncio.create_task(_hold(slots, "nobody", order, gate)) for _ in range(3)]
    await asyncio.sleep(0)
    with pytest.raises(TooManyWaitingError):
        await _hold(slots, "nobody", order, gate)
    other = asyncio.create_task(_hold(slots, "root", order, gate))  # others still queue
    await asyncio.sleep(0)
    assert slots.waiting("root") == 1
    gate.set()
    await asyncio.gather(*held, other)
    assert sorted(order) == ["nobody"] * 3 + ["root"]


async def test_a_cancelled_waiter_leaves_the_queue_and_slots_are_not_lost() -> None:
    slots = FairSlots(1, max_waiting=10)
    gate = asyncio.Event()
    order: list[str] = []
    first = asyncio.create_task(_hold(slots, "a", order, gate))
    await asyncio.sleep(0)
    waiting = asyncio.create_task(_hold(slots, "b", order, gate))
    await asyncio.sleep(0)
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    assert slots.waiting() == 0
    gate.set()
    await first
    # the one slot is free again: a new caller gets it at once
    async with slots.slot("c"):
        order.append("c")
    assert order == ["a", "c"]
