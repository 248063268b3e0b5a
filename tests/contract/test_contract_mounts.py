"""`mounted`, as the fill step reads it before rsync writes (zfsyncd/tx/steps/fill.py):
ZFS mounts a filesystem by itself on create, clone, rename and `zfs set mountpoint`, and
unmounts it for mountpoint=none."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

from .world import World

MOUNTED = "mounted"


async def _mounted(world: World, name: str) -> str:
    return (await world.zfs.get_properties(name, [MOUNTED]))[MOUNTED].value or ""


async def test_mounted_follows_the_mountpoint(world: World) -> None:
    zfs, a, c = world.zfs, f"{world.src}/a", f"{world.src}/c"
    where = Path(tempfile.mkdtemp(prefix="zfsync-contract-mnt-"))
    try:
        await zfs.create(a, properties={"mountpoint": str(where / "a")})
        assert await _mounted(world, a) == "yes"
        await zfs.snapshot([f"{a}@1"])
        # a clone made with a mountpoint is mounted there at once
        await zfs.clone(f"{a}@1", c, properties={"mountpoint": str(where / "c")})
        assert await _mounted(world, c) == "yes"
        # a rename keeps a local mountpoint, and the mount
        await zfs.rename(c, f"{world.src}/c2")
        assert await _mounted(world, f"{world.src}/c2") == "yes"
        await zfs.set_properties(f"{world.src}/c2", {"mountpoint": "none"})
        assert await _mounted(world, f"{world.src}/c2") == "no"
        await zfs.set_properties(a, {"canmount": "off"})
        assert await _mounted(world, a) == "no"
    finally:
        # the suite's teardown destroys the datasets (and so unmounts them); the
        # directories ZFS made for them are left empty
        for sub in (where / "a", where / "c", where):
            with contextlib.suppress(OSError):  # still mounted: EBUSY, left
                sub.rmdir()
