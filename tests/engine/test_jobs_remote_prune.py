"""A job whose target is on another host, pruning both sides by itself, on the model with a
controllable clock (the lab runs a shorter form over the guest's real sshd:
tests/real/test_prune_remote_real.py).

The source keeps its newest snapshot (`last = 1`), the destination its two newest (`last =
2`, pruned on the target's host). One slot's stream is cut (the target fails, retried a
minute later): the source's prune of that slot keeps the pair's newest common snapshot
beside its newest, and a snapshot held on the destination is never pruned."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.contract.world import backend_kind
from tests.engine.jobs_sim import HOUR, Sim, at, ram_directory
from zfsyncd.ops.prune import PruneRequest, preview
from zfsyncd.retention import RetentionPolicy
from zfsyncd.zfs import errors

pytestmark = pytest.mark.skipif(
    backend_kind() == "real",
    reason="the scheduler on the model; the lab runs it over ssh in test_prune_remote_real.py",
)

START = at("2026-11-30 10:17:00")
KEEP = "keep_me"


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    with ram_directory() as directory:
        s = await Sim.start(directory / "zfsyncd.db", START)
        await s.local.create("tank/data")
        yield s
        await s.close()


async def test_both_sides_pruned_the_common_base_and_a_held_snapshot_kept(sim: Sim) -> None:
    job: dict[str, Any] = {
        "datasets": ["tank/data"], "schedule": "hourly", "jitter": 0,
        "retention": {"last": 1},
        "targets": {"off": {"host": "backup", "destination": "bak/data",
                            "retention": {"last": 2}}},
    }  # fmt: skip
    await sim.configure(home=job)

    first = START - START % HOUR + HOUR  # slot 1

    async def until(slot: int, after: float = 30) -> None:
        """The clock to `after` seconds past the slot, each run due before it done."""
        await sim.advance(first + (slot - 1) * HOUR + after - sim.clock.t)

    async def sides() -> tuple[list[str], list[str]]:
        return await sim.snapshots("local", "tank/data"), await sim.snapshots("backup", "bak/data")

    await until(1)  # slot 1: the job's snapshot, then replica init's own, sent
    src, dst = await sides()
    [i1] = src  # the job's first snapshot pruned: it was never sent
    assert dst == [i1]
    await until(2)
    src, dst = await sides()
    [s2] = src
    assert dst == [i1, s2]
    await sim.backup.hold(KEEP, [f"bak/data@{i1}"])

    # slot 3: the stream is cut; the sync fails, the source's prune keeps its base
    sends = sim.local.send_recv

    async def cut(*args: Any, **kwargs: Any) -> Any:
        raise errors.ConnectionLostError(["ssh", "backup"], 255, "Connection closed")

    sim.local.send_recv = cut  # type: ignore[method-assign]
    await until(3)
    src, dst = await sides()
    s2_, s3 = src  # the newest, and the one both still share
    assert s2_ == s2
    assert dst == [i1, s2]
    # the dry run of the same policy says why: s2 is what both sides share, and replication
    # holds it (zfsync_replica) on both
    request = PruneRequest.of(["tank/data"], RetentionPolicy(last=1), now=sim.clock.t)
    rows = await preview(sim.manager.hosts, request, [])
    assert [(r.snapshot, r.why) for r in rows] == [(s2, "held"), (s3, "newest")]
    target = sim.scheduler.row("home").targets[0]
    assert target.failures == 1
    assert "Connection closed" in target.last_error

    sim.local.send_recv = sends  # type: ignore[method-assign]
    await until(3, 90)  # the target's retry: it syncs, its prune keeps the held one
    src, dst = await sides()
    assert (src, dst) == ([s2, s3], [i1, s2, s3])
    assert sim.scheduler.row("home").targets[0].failures == 0

    await until(4)
    src, dst = await sides()
    [s4] = src
    assert dst == [i1, s3, s4]
    row = sim.scheduler.row("home")
    assert (row.failures, row.last_error) == (0, "")
