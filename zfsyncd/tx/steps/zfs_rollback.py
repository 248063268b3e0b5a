"""The rollback step: `zfs rollback -r fs@target` that can be taken back until its
transaction completes.

A plain `zfs rollback -r` destroys every snapshot newer than the target and the data written
since, at once: nothing newer than the target survives it, so no safety snapshot could. This
step swaps datasets instead (seed 000's clone/promote pattern), so that the old dataset, with
its newer snapshots and its current data, stays whole until `finalize`:

do (each phase reads ZFS first, so a repeated `do` after a crash carries on where it was):
  1. `zfs clone -o mountpoint=none -o <fs's local properties> fs@target <clone>`, the clone
     being `parent/zfsync_rollback_<tx>_fs` (mountpoint=none: it must not mount anywhere while
     the old one is still there);
  2. `zfs promote` the clone: it takes fs's snapshots up to and including the target (guids,
     holds, user properties and older bookmarks move with them); the old fs keeps the newer
     ones and its data, and becomes a clone of `<clone>@target`;
  3. `zfs set mountpoint=none fs` unmounts the old one (skipped when it mounts nowhere),
     so the new one can take its place (a rename alone would leave a locally set
     mountpoint mounted, and a rename -u keeps any mount where it was); a mount ZFS finds
     busy (a reader) is detached lazily first (`_unmount`);
  4. `zfs rename fs parent/zfsync_trash_<tx>_fs` (trash.trash_name);
  5. `zfs rename <clone> fs`;
  6. the mountpoint as it was on the old fs: `zfs inherit mountpoint` (it had no local one)
     or `zfs set mountpoint=<its value>`; either mounts the new fs where the old one was.
undo, the reverse, guided by guids: the old dataset is found by its guid (at its name or in
  the trash), the new one only counts as ours when the old one is a clone of its target
  snapshot; unmount the new (mountpoint=none), rename it back to the clone name, rename the
  old one back, restore its mountpoint, `zfs promote` it back, destroy the clone.
finalize (after the transaction completed): `zfs destroy -r` the trashed old dataset (with
  its newer snapshots and bookmarks). Only then is the rollback final; `inverse` is None.

Afterwards `zfs list -t all` shows what `zfs rollback -r` would show, except the dataset
itself: it is another dataset now, so its guid, createtxg and creation time are new (every
snapshot keeps its guid, as promote moves them rather than copying). Received properties
could only be given to the new dataset as local ones, which is why such datasets are
refused (`refusal`, zfs_rollback_refusal.py), with encrypted ones, volumes and those with a
legacy mountpoint.

With `clone_made` (dataset-update: ops/dataset_update.py), steps before this one made and
filled the clone: `do` skips phase 1 and `undo` leaves the clone to their undo.

First version: a dataset with child datasets is refused rather than handled. Its children
would move to the trash with the rename and would have to be renamed back under the new
dataset one by one, each rename a remount that can fail half-way (a busy mount), in do
and in undo alike; the swap of a single dataset has none of that.
"""

from __future__ import annotations

import logging

from pydantic import Field

from zfsyncd.tx.hosts import Host, located
from zfsyncd.tx.steps.base import JsonDict, OnHost, Step, StepContext, register
from zfsyncd.tx.steps.lookup import guid_of, is_same
from zfsyncd.tx.steps.trash import trash_name
from zfsyncd.tx.steps.zfs_rollback_refusal import MOUNTPOINT, clone_name, refusal
from zfsyncd.zfs import names
from zfsyncd.zfs.backend import DestroyMode, ZfsBackend
from zfsyncd.zfs.errors import MountedBusyError, NotFoundError
from zfsyncd.zfs.models import PropertySource, SnapshotName

log = logging.getLogger(__name__)

#: local properties that a clone cannot be given with `zfs clone -o` (encryption is refused
#: anyway; mountpoint is set on the clone last, once the old dataset is out of the way)
NOT_CLONED = frozenset({MOUNTPOINT, "encryption", "keyformat", "keylocation", "volsize"})


async def _local_mountpoint(zfs: ZfsBackend, name: str) -> str | None:
    value = (await zfs.get_properties(name, [MOUNTPOINT]))[MOUNTPOINT]
    return value.value if value.source is PropertySource.LOCAL else None


async def _unmount(host: Host, name: str) -> None:
    """mountpoint=none, unless it mounts nowhere already (an inherited none).

    A reader holding a file or its working directory in the mount makes ZFS refuse the
    unmount (busy). Then the mount is detached lazily (`umount -l`), as an administrator
    would: the reader keeps reading the old tree through what it holds open, whole, while
    every new lookup of the path finds the new dataset once the swap mounts it there;
    nobody sees a mix. ZFS no longer lists the old one as mounted, so the property can be
    set. The old dataset stays busy until the reader lets go, so the `zfs destroy` of
    finalize is refused until then, and waits in the deferred-cleanup queue."""
    zfs = host.zfs
    value = (await zfs.get_properties(name, [MOUNTPOINT]))[MOUNTPOINT].value
    if value == "none":
        return
    try:
        await zfs.set_properties(name, {MOUNTPOINT: "none"})
    except MountedBusyError:
        if not value or not value.startswith("/"):
            raise
        log.info("%s is busy at %s: detached lazily", name, value)
        await host.commands.run(["umount", "-l", value])
        await zfs.set_properties(name, {MOUNTPOINT: "none"})


async def _set_mountpoint(zfs: ZfsBackend, name: str, local: str | None) -> None:
    """Make the local mountpoint `local` (None: none, inherited), if it is not already."""
    if await _local_mountpoint(zfs, name) == local:
        return
    if local is None:
        await zfs.inherit(name, MOUNTPOINT)
    else:
        await zfs.set_properties(name, {MOUNTPOINT: local})


class RollbackArgs(OnHost):
    snapshot: SnapshotName
    guid: int | None = None  # the dataset it must still be (None: whatever it is now)
    #: the clone was made (and filled) by the steps before this one, a dataset update's
    #: (ops/dataset_update.py): do not clone, and leave its destruction to their undo
    clone_made: bool = Field(default=False, exclude_if=lambda made: not made)


@register
class RollbackDataset(Step[RollbackArgs]):
    kind = "rollback-dataset"
    Args = RollbackArgs

    @property
    def dataset(self) -> str:
        return names.dataset_of(self.args.snapshot)

    @property
    def short(self) -> str:
        return names.short_name(self.args.snapshot)

    def describe(self) -> str:
        return f"roll {self.dataset} back to {self.args.snapshot}"

    def datasets(self) -> set[str]:
        return {located(self.args.host, self.dataset)}

    def _names(self, ctx: StepContext) -> tuple[str, str, str]:
        """(the dataset, its trash name, the clone's name)."""
        fs = self.dataset
        return fs, trash_name(fs, ctx.tx_id), clone_name(fs, ctx.tx_id)

    async def _is_origin_of(self, zfs: ZfsBackend, dataset: str, clone: str) -> bool:
        """Is `clone` a clone of `dataset`'s target snapshot (by name: both carry the tx)?"""
        try:
            return (await zfs.get(clone)).origin == f"{dataset}@{self.short}"
        except NotFoundError:
            return False

    async def check(self, ctx: StepContext) -> bool:
        """Swapped: the old dataset is in the trash, a clone of the new one's target."""
        zfs = ctx.host(self.args.host).zfs
        fs, trash, clone = self._names(ctx)
        return await guid_of(zfs, clone) is None and await self._is_origin_of(zfs, fs, trash)

    async def capture(self, ctx: StepContext) -> JsonDict:
        zfs = ctx.host(self.args.host).zfs
        fs, _, _ = self._names(ctx)
        problem = await refusal(zfs, self.args.snapshot, ctx.tx_id, clone_made=self.args.clone_made)
        if problem is not None:  # it may have changed since the plan was made
            raise ValueError(problem)
        guid = await guid_of(zfs, fs)
        if self.args.guid is not None and guid != self.args.guid:
            raise ValueError(f"{fs} is not the dataset this step was made for (guid)")
        return {"guid": guid, "local": await zfs.local_properties(fs)}

    async def do(self, ctx: StepContext, before: JsonDict) -> JsonDict:
        zfs, (fs, trash, clone) = ctx.host(self.args.host).zfs, self._names(ctx)
        old: int = before["guid"]
        local: dict[str, str] = before["local"]
        if await is_same(zfs, fs, old):
            if await guid_of(zfs, clone) is None:
                if self.args.clone_made:
                    raise ValueError(f"{clone}, which the steps before made, is gone")
                props = {p: v for p, v in local.items() if p not in NOT_CLONED}
                await zfs.clone(self.args.snapshot, clone, properties={**props, MOUNTPOINT: "none"})
            if (await zfs.get(clone)).origin == self.args.snapshot:  # not promoted yet
                await zfs.promote(clone)
            await _unmount(ctx.host(self.args.host), fs)
            await zfs.rename(fs, trash)
        if not await is_same(zfs, trash, old):
            raise ValueError(f"{fs} (guid {old}) is neither at its name nor in the trash")
        if await guid_of(zfs, clone) is not None:
            await zfs.rename(clone, fs)
        if not await self._is_origin_of(zfs, fs, trash):
            raise ValueError(f"{fs} is not the dataset this step made")
        await _set_mountpoint(zfs, fs, local.get(MOUNTPOINT))
        return {"new_guid": await guid_of(zfs, fs)}

    async def undo(self, ctx: StepContext, undo_data: JsonDict) -> None:
        if "guid" not in undo_data:
            return  # capture refused: nothing was changed
        zfs, (fs, trash, clone) = ctx.host(self.args.host).zfs, self._names(ctx)
        old: int = undo_data["guid"]
        if await is_same(zfs, trash, old):
            if await guid_of(zfs, fs) is not None:
                if not await self._is_origin_of(zfs, fs, trash):
                    raise ValueError(f"{fs} is not the dataset this step made: left alone")
                await _unmount(ctx.host(self.args.host), fs)
                await zfs.rename(fs, clone)
            await zfs.rename(trash, fs)
        if not await is_same(zfs, fs, old):
            raise ValueError(f"{fs} (guid {old}) is gone: the rollback cannot be taken back")
        await _set_mountpoint(zfs, fs, undo_data["local"].get(MOUNTPOINT))
        if await guid_of(zfs, clone) is None:
            return
        if await self._is_origin_of(zfs, clone, fs):  # the old one is still the clone
            await zfs.promote(fs)
        if not await self._is_origin_of(zfs, fs, clone):
            raise ValueError(f"{clone} is not a clone of {self.args.snapshot}: left alone")
        if not self.args.clone_made:  # else the undo of the step that made it destroys it
            await zfs.destroy(clone)

    async def finalize(self, ctx: StepContext, undo_data: JsonDict) -> None:
        zfs = ctx.host(self.args.host).zfs
        _, trash, _ = self._names(ctx)
        if await is_same(zfs, trash, undo_data["guid"]):
            await zfs.destroy(trash, mode=DestroyMode.RECURSIVE)

    def why_final(self) -> str:
        return (
            f"{self.describe()}: the snapshots newer than {self.short} and the data written "
            "after it were destroyed when it completed"
        )
