"""The ZfsBackend contract for bad names (refused before anything runs) and full pools."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from pydantic import ValidationError

from zfsyncd.zfs import errors as e
from zfsyncd.zfs.models import RecvSpec, SendSpec

from .expect import fails_with
from .world import SOURCE_POOL, World

BAD_DATASET_SUFFIXES = ["/a/", "//a", "/a*b", "/a\tb", "/" + "x" * 300, "/a@b/c", "/a#b"]


@pytest.mark.parametrize("suffix", BAD_DATASET_SUFFIXES)
async def test_create_refuses_a_bad_name_before_anything_runs(world: World, suffix: str) -> None:
    async with world.unchanged():
        with pytest.raises(e.InvalidNameError):
            await world.zfs.create(world.src + suffix)


async def test_every_method_checks_its_names_first(world: World) -> None:
    zfs, s = world.zfs, world.src
    await zfs.create(f"{s}/a")
    await zfs.snapshot([f"{s}/a@1"])
    bad, bad_snap, bad_mark = f"{s}/a*", f"{s}/a@1*", f"{s}/a#m*"
    good_snap = f"{s}/a@1"
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "list": lambda: zfs.list(bad),
        "list user property": lambda: zfs.list(s, user_properties=["nocolon"]),
        "get": lambda: zfs.get(bad),
        "exists": lambda: zfs.exists(bad_snap),
        "create": lambda: zfs.create(bad),
        "create a pool": lambda: zfs.create(SOURCE_POOL),
        "create property": lambda: zfs.create(f"{s}/b", properties={"Bad Name": "1"}),
        "snapshot": lambda: zfs.snapshot([good_snap.replace("@1", "@2"), bad_snap]),
        "snapshot of a dataset": lambda: zfs.snapshot([f"{s}/a"]),
        "destroy": lambda: zfs.destroy(bad_snap),
        "destroy a pool": lambda: zfs.destroy(SOURCE_POOL),
        "hold tag": lambda: zfs.hold("-r", [good_snap]),
        "hold": lambda: zfs.hold("zfsync-t", [good_snap, bad_snap]),
        "release": lambda: zfs.release("zfsync-t", [bad]),
        "holds": lambda: zfs.holds(f"{s}/a"),
        "bookmark": lambda: zfs.bookmark(good_snap, bad_mark),
        "bookmark source": lambda: zfs.bookmark(f"{s}/a", f"{s}/a#m"),
        "rename": lambda: zfs.rename(f"{s}/a", bad),
        "clone": lambda: zfs.clone(good_snap, bad),
        "promote": lambda: zfs.promote(bad_snap),
        "rollback": lambda: zfs.rollback(f"{s}/a"),
        "get_properties": lambda: zfs.get_properties(f"{s}/a", ["Bad"]),
        "set_properties": lambda: zfs.set_properties(f"{s}/a", {"zfsync:x": "a\nb"}),
        "inherit": lambda: zfs.inherit(bad, "zfsync:x"),
        "recv_abort": lambda: zfs.recv_abort(bad_snap),
    }
    async with world.unchanged():
        for label, call in calls.items():
            try:
                await call()
            except e.InvalidNameError:
                continue
            except Exception as exc:
                raise AssertionError(f"{label}: not InvalidNameError but {exc!r}") from exc
            raise AssertionError(f"{label}: accepted a bad name")


def test_transfer_requests_check_their_names() -> None:
    with pytest.raises(ValidationError):
        SendSpec(snapshot="pool/a*@1")
    with pytest.raises(ValidationError):
        SendSpec(snapshot="pool/a@1", base="pool/b@0")  # not of the same dataset
    with pytest.raises(ValidationError):
        RecvSpec(target="pool/a@1")


async def test_a_full_pool(world: World) -> None:
    zfs = world.zfs
    small = await world.small_pool_root()
    a, src = f"{small}/a", f"{world.src}/a"
    await zfs.create(a)
    await zfs.snapshot([f"{a}@pre"])
    await zfs.create(src)
    await zfs.snapshot([f"{src}@1"])
    await world.fill(a)
    async with world.unchanged(small, world.src):
        await fails_with(zfs.create(f"{small}/b"), e.PoolFullError)
        await fails_with(zfs.snapshot([f"{a}@x"]), e.PoolFullError)
        await fails_with(zfs.bookmark(f"{a}@pre", f"{a}#pre"), e.PoolFullError)
        await fails_with(
            zfs.send_recv(SendSpec(snapshot=f"{src}@1"), zfs, RecvSpec(target=f"{small}/r")),
            e.PoolFullError,
        )


async def test_a_quota_stops_data_but_not_datasets_or_snapshots(world: World) -> None:
    zfs, q = world.zfs, f"{world.dst}/q"
    src = f"{world.src}/a"
    await zfs.create(src)
    await world.write(src, 4 << 20)
    await zfs.snapshot([f"{src}@1"])
    await zfs.create(q, properties={"quota": "1M"})
    spec = SendSpec(snapshot=f"{src}@1")
    await fails_with(
        zfs.send_recv(spec, zfs, RecvSpec(target=f"{q}/r", resumable=False)), e.PoolFullError
    )
    assert not await zfs.exists(f"{q}/r")
    # with -s, what arrived before the quota stopped it is kept, as for a cut stream
    await fails_with(
        zfs.send_recv(spec, zfs, RecvSpec(target=f"{q}/r", resumable=True)), e.PoolFullError
    )
    assert (await zfs.get(f"{q}/r")).receive_resume_token
    await zfs.recv_abort(f"{q}/r")
    await zfs.create(f"{q}/w")
    await fails_with(world.write(f"{q}/w", 4 << 20), e.PoolFullError)
    await zfs.snapshot([f"{q}/w@s"])
    await zfs.create(f"{q}/x")
