"""The destroy-snapshots transaction and the snapshot listing, on the world's backend."""

from __future__ import annotations

import pytest

from tests.engine.conftest import Engine
from zfsyncd.ops.snapshot_list import list_snapshots, transaction_of
from zfsyncd.store import TxState
from zfsyncd.tx.errors import PlanError


async def _snapshot(engine: Engine, *datasets: str, hold: bool = False) -> str:
    record = await engine.manager.submit(
        "snapshot", {"datasets": list(datasets), "recursive": True, "hold": hold}
    )
    done = await engine.manager.wait(record.id)
    assert done.state is TxState.COMPLETED, done.error
    return record.id


async def test_destroy_is_refused_whole_when_one_snapshot_is_missing_else_removes_them(
    engine: Engine,
) -> None:
    src = engine.world.src
    await engine.world.zfs.create(f"{src}/a")
    tx_id = await _snapshot(engine, f"{src}/a")
    snap = f"{src}/a@zfsync_{tx_id}"
    kept = await engine.world.state(src)

    rows = await list_snapshots(engine.world.zfs, [src])
    assert [r.name for r in rows] == [snap]
    assert rows[0].transaction == tx_id
    assert not rows[0].held

    # refused at planning, before anything moved: the second name does not exist (a failure
    # while it runs, at each of its calls, is test_fault_harness.py's)
    with pytest.raises(PlanError, match=f"snapshot {src}@zfsync_x does not exist"):
        await engine.manager.submit("destroy-snapshots", {"snapshots": [snap, f"{src}@zfsync_x"]})
    assert await engine.world.state(src) == kept

    record = await engine.manager.submit("destroy-snapshots", {"snapshots": [snap]})
    done = await engine.manager.wait(record.id)
    assert done.state is TxState.COMPLETED, done.error
    assert not await engine.world.zfs.exists(snap)
    assert await list_snapshots(engine.world.zfs, [src]) == []


async def test_destroy_refuses_what_zfsyncd_did_not_make_held_or_cloned(engine: Engine) -> None:
    src = engine.world.src
    zfs = engine.world.zfs
    await zfs.create(f"{src}/b")
    await zfs.snapshot([f"{src}/b@mine"])
    held = await _snapshot(engine, f"{src}/b", hold=True)
    before = await engine.world.state(src)

    with pytest.raises(PlanError, match="was not made by zfsyncd"):
        await engine.manager.submit("destroy-snapshots", {"snapshots": [f"{src}/b@mine"]})
    with pytest.raises(PlanError, match=f"is held \\(zfsync_{held}\\): release it first"):
        await engine.manager.submit("destroy-snapshots", {"snapshots": [f"{src}/b@zfsync_{held}"]})
    await zfs.clone(f"{src}/b@mine", f"{src}/clone")
    after_clone = await engine.world.state(src)
    with pytest.raises(PlanError, match=f"has a clone, {src}/clone"):
        await engine.manager.submit(
            "destroy-snapshots", {"snapshots": [f"{src}/b@mine"], "any_name": True}
        )
    assert await engine.world.state(src) == after_clone
    await zfs.destroy(f"{src}/clone")
    assert await engine.world.state(src) == before

    # told to, it destroys any snapshot
    record = await engine.manager.submit(
        "destroy-snapshots", {"snapshots": [f"{src}/b@mine"], "any_name": True}
    )
    assert (await engine.manager.wait(record.id)).state is TxState.COMPLETED
    assert not await zfs.exists(f"{src}/b@mine")


async def test_listing_chooses_zfsyncd_snapshots_unless_asked_for_all(engine: Engine) -> None:
    src = engine.world.src
    zfs = engine.world.zfs
    await zfs.create(f"{src}/c")
    await zfs.create(f"{src}/c/d")
    await zfs.snapshot([f"{src}/c@manual"])
    tx_id = await _snapshot(engine, f"{src}/c")
    ours = [f"{src}/c@zfsync_{tx_id}", f"{src}/c/d@zfsync_{tx_id}"]
    assert [r.name for r in await list_snapshots(zfs, [f"{src}/c"])] == ours
    assert [r.name for r in await list_snapshots(zfs, [f"{src}/c"], recursive=False)] == ours[:1]
    every = [r.name for r in await list_snapshots(zfs, [f"{src}/c"], any_name=True)]
    assert every == [f"{src}/c@manual", ours[0], ours[1]]
    assert set(ours) <= {r.name for r in await list_snapshots(zfs)}


def test_transaction_of_reads_only_zfsyncd_names() -> None:
    assert transaction_of("zfsync_20261121T101010_000001Z_0123abcd") == (
        "20261121T101010_000001Z_0123abcd"
    )
    assert transaction_of("zfsync_hourly") == ""
    assert transaction_of("daily") == ""
