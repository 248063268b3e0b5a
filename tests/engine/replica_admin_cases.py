"""The worlds of the replica admin kinds' fault-injection cases (fault_cases.py names them):
each makes a pair of `src/fs` and `dst/fs` on this host with the backend (replica_pairs.py)
and returns the request's parameters."""

from __future__ import annotations

from typing import Any

from tests.engine.conftest import Engine
from tests.engine.replica_pairs import Writer, make_pair, plain_copy

Params = dict[str, Any]


def _writer(engine: Engine) -> Writer:
    async def write(dataset: str) -> None:
        await engine.world.write(dataset, 64 << 10)

    return write


async def pause_world(engine: Engine, src: str, dst: str) -> Params:
    """A running pair: pause sets one property."""
    zfs = engine.world.zfs
    pair = await make_pair(zfs, f"{src}/fs", zfs, f"{dst}/fs", write=_writer(engine))
    return {"source": pair.src}


async def resume_world(engine: Engine, src: str, dst: str) -> Params:
    """A paused pair: resume removes the property."""
    params = await pause_world(engine, src, dst)
    await engine.world.zfs.set_properties(params["source"], {"zfsync:paused": "on"})
    return params


async def failover_world(engine: Engine, src: str, dst: str) -> Params:
    """A pair with data written since its last sync: the source frozen, the final sync
    (snapshot, send, holds moved, bookmark), then the roles swapped."""
    params = await pause_world(engine, src, dst)
    await engine.world.write(params["source"], 64 << 10)
    return params


async def takeover_world(engine: Engine, src: str, dst: str) -> Params:
    """Three snapshots sent; take the destination over at the first: demote the source,
    move the base hold (hold, release), roll back by swap (clone, promote, renames,
    mountpoints), promote the destination."""
    zfs = engine.world.zfs
    pair = await make_pair(zfs, f"{src}/fs", zfs, f"{dst}/fs", write=_writer(engine), snapshots=3)
    return {"destination": pair.dst, "snapshot": "zfsync_1"}


async def sync_to_world(engine: Engine, src: str, dst: str) -> Params:
    """Three snapshots sent, data written on the destination since: roll it back to the
    first (base hold moved on both sides, the swap, two sent marks removed)."""
    zfs = engine.world.zfs
    pair = await make_pair(zfs, f"{src}/fs", zfs, f"{dst}/fs", write=_writer(engine), snapshots=3)
    await zfs.set_properties(pair.dst, {"readonly": "off"})  # real ZFS: no write otherwise
    await engine.world.write(pair.dst, 64 << 10)
    return {"snapshot": pair.src_snap(1)}


async def expire_world(engine: Engine, src: str, dst: str) -> Params:
    """Four snapshots sent; the source keeps 1, the destination 2: three and two snapshots
    renamed to the trash, destroyed when the transaction completes."""
    zfs = engine.world.zfs
    pair = await make_pair(
        zfs,
        f"{src}/fs",
        zfs,
        f"{dst}/fs",
        write=_writer(engine),
        snapshots=4,
        savecount=1,
        dst_savecount=2,
    )
    return {"sources": [pair.src]}


async def clear_world(engine: Engine, src: str, dst: str) -> Params:
    """A pair of three snapshots, cleared with its snapshots: release, destroy by the trash
    and properties removed, on both ends."""
    params = await pause_world(engine, src, dst)
    return {**params, "destroy_snapshots": True}


async def reconfigure_world(engine: Engine, src: str, dst: str) -> Params:
    """A pair of three snapshots and a plain copy of SRC up to the second one: the copy
    becomes the destination (properties, holds moved on both, a sent mark removed, the
    source's peer)."""
    zfs = engine.world.zfs
    pair = await make_pair(zfs, f"{src}/fs", zfs, f"{dst}/fs", write=_writer(engine), snapshots=3)
    await plain_copy(pair, zfs, f"{dst}/new", upto=2)
    return {"source": pair.src, "destination": f"{dst}/new"}
