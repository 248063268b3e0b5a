"""The memory backend's test gate (zfsyncd/zfs/latency.py): a test holds a chosen call."""

from __future__ import annotations

import asyncio
from pathlib import Path

from zfsyncd.zfs.latency import HELD, LatencyBackend
from zfsyncd.zfs.memory import MemoryBackend
from zfsyncd.zfs.models import RecvSpec, SendSpec


def _held(gate: Path) -> bool:
    return gate.exists() and gate.read_text() == HELD


async def _until_held(gate: Path) -> None:
    for _ in range(500):
        if _held(gate):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the gate never held a call")


async def test_the_gate_holds_the_call_after_n_until_released(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    zfs = LatencyBackend(MemoryBackend(pools=["tank"]), 0.0, gate)
    await zfs.create("tank/free")  # no file: nothing is held
    gate.write_text("1")
    await zfs.create("tank/a")  # one passes
    held = asyncio.create_task(zfs.create("tank/b"))
    await _until_held(gate)
    assert not held.done()
    assert await zfs.exists("tank/a")
    assert not await zfs.exists("tank/b")
    gate.unlink()
    await asyncio.wait_for(held, 5)
    assert await zfs.exists("tank/b")


async def test_a_held_call_that_is_cancelled_opens_the_gate(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    zfs = LatencyBackend(MemoryBackend(pools=["tank"]), 0.0, gate)
    gate.write_text("0")
    held = asyncio.create_task(zfs.create("tank/a"))
    await _until_held(gate)
    held.cancel()
    await asyncio.gather(held, return_exceptions=True)
    assert not gate.exists()
    await asyncio.wait_for(zfs.create("tank/b"), 5)  # the undo after a cancel is not held
    assert not await zfs.exists("tank/a")


async def test_a_send_between_two_slowed_models_reaches_the_target_model() -> None:
    """The daemon wraps each host's model (memory_delay): a replica's send names the
    target host's wrapper, and the model must receive into the model under it."""
    source = LatencyBackend(MemoryBackend(pools=["tank"]), 0.0)
    target = LatencyBackend(MemoryBackend(pools=["backup"]), 0.0)
    await source.create("tank/a")
    await source.snapshot(["tank/a@s1"])
    await source.send_recv(SendSpec(snapshot="tank/a@s1"), target, RecvSpec(target="backup/a"))
    assert await target.exists("backup/a@s1")
