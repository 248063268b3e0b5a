"""`Changing`: CliBackend's commands that change ZFS, one zfs command each (or one per
ARGV_BUDGET of very many names: each command is atomic, the run of them is not)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from zfsyncd.zfs import names
from zfsyncd.zfs.backend import DestroyMode
from zfsyncd.zfs.capabilities import Feature
from zfsyncd.zfs.cli.command import ZfsCommand, assignments, batches, property_args
from zfsyncd.zfs.errors import InvalidNameError


class Changing(ZfsCommand):
    async def create(
        self,
        name: str,
        *,
        properties: Mapping[str, str] | None = None,
        parents: bool = False,
        volume_size: int | None = None,
    ) -> None:
        names.check_dataset(name)
        if "/" not in name:
            raise InvalidNameError(name, "a pool's root dataset is made by zpool create")
        args = ["create", *(["-p"] if parents else []), *property_args(properties)]
        if volume_size is not None:
            args += ["-V", str(int(volume_size))]
        await self._zfs(*args, name)

    async def snapshot(
        self,
        snapshots: Sequence[str],
        *,
        recursive: bool = False,
        properties: Mapping[str, str] | None = None,
    ) -> None:
        if not snapshots:
            raise ValueError("snapshot needs at least one name")
        for snap in snapshots:
            names.check_snapshot(snap)
        args = ["snapshot", *(["-r"] if recursive else []), *property_args(properties)]
        await self._zfs(*args, *snapshots)

    async def destroy(self, name: str, *, mode: DestroyMode = DestroyMode.SINGLE) -> None:
        _, kind = names.check_any(name)
        if kind is names.NameKind.DATASET and "/" not in name:
            raise InvalidNameError(name, "a pool's root dataset is destroyed by zpool destroy")
        flag = {
            DestroyMode.SINGLE: [],
            DestroyMode.RECURSIVE: ["-r"],
            DestroyMode.DEPENDENTS: ["-R"],
        }[mode]
        await self._zfs("destroy", *flag, name)

    async def destroy_snapshots(self, dataset: str, snapshots: Sequence[str]) -> None:
        names.check_dataset(dataset)
        if not snapshots:
            raise ValueError("destroy_snapshots needs at least one snapshot")
        for short in snapshots:
            names.check_short_snapshot(dataset, short)
        # the comma list is one argument: very many names take one command per ARGV_BUDGET
        # (all or none within each; the kernel caps one argument at 128 KiB)
        for batch in batches(snapshots):
            await self._zfs("destroy", f"{dataset}@{','.join(batch)}")

    async def hold(self, tag: str, snapshots: Sequence[str], *, recursive: bool = False) -> None:
        await self._hold_or_release("hold", tag, snapshots, recursive)

    async def release(self, tag: str, snapshots: Sequence[str], *, recursive: bool = False) -> None:
        await self._hold_or_release("release", tag, snapshots, recursive)

    async def _hold_or_release(
        self, verb: str, tag: str, snapshots: Sequence[str], recursive: bool
    ) -> None:
        names.check_hold_tag(tag)
        if not snapshots:
            raise ValueError(f"{verb} needs at least one snapshot")
        for snap in snapshots:
            names.check_snapshot(snap)
        # very many (a prune's thousands) take one command per ARGV_BUDGET: the kernel caps
        # the whole argv (E2BIG); each command is atomic, the run of them is not
        for batch in batches(snapshots):
            await self._zfs(verb, *(["-r"] if recursive else []), tag, *batch)

    async def bookmark(self, source: str, bookmark: str) -> None:
        names.check_snapshot_or_bookmark(source)
        names.check_bookmark(bookmark)
        await self._require(Feature.BOOKMARKS if "@" in source else Feature.BOOKMARK_COPY)
        await self._zfs("bookmark", source, bookmark)

    async def rename(self, old: str, new: str, *, recursive: bool = False) -> None:
        _, old_kind = names.check_any(old)
        _, new_kind = names.check_any(new)
        if old_kind is not new_kind:
            raise InvalidNameError(new, f"cannot rename a {old_kind} to a {new_kind} name")
        if recursive and old_kind is not names.NameKind.SNAPSHOT:
            raise InvalidNameError(old, "a recursive rename is for snapshots only")
        await self._zfs("rename", *(["-r"] if recursive else []), old, new)

    async def clone(
        self, snapshot: str, target: str, *, properties: Mapping[str, str] | None = None
    ) -> None:
        names.check_snapshot(snapshot)
        names.check_dataset(target)
        await self._zfs("clone", *property_args(properties), snapshot, target)

    async def promote(self, clone: str) -> None:
        names.check_dataset(clone)
        await self._zfs("promote", clone)

    async def rollback(self, snapshot: str, *, destroy_newer: bool = False) -> None:
        names.check_snapshot(snapshot)
        await self._zfs("rollback", *(["-r"] if destroy_newer else []), snapshot)

    async def set_properties(self, name: str, properties: Mapping[str, str]) -> None:
        names.check_any(name)
        if properties:
            await self._zfs("set", *assignments(properties), name)

    async def inherit(self, name: str, prop: str, *, recursive: bool = False) -> None:
        names.check_any(name)
        names.check_property_name(prop)
        await self._zfs("inherit", *(["-r"] if recursive else []), prop, name)

    async def set_many(self, objects: Sequence[str], properties: Mapping[str, str]) -> None:
        for name in objects:
            names.check_any(name)
        words = assignments(properties)
        if not objects or not words:
            return
        for batch in batches(objects):
            await self._zfs("set", *words, *batch)

    async def inherit_many(self, objects: Sequence[str], prop: str) -> None:
        for name in objects:
            names.check_any(name)
        names.check_property_name(prop)
        for batch in batches(objects) if objects else ():
            await self._zfs("inherit", prop, *batch)
