"""Destroying through a trash: what a step destroys is renamed aside until its transaction
completes, so that an undo can rename it back."""

from __future__ import annotations

from typing import TypeVar

from zfsyncd.tx.hosts import located
from zfsyncd.tx.steps.base import JsonDict, OnHost, Step, StepContext
from zfsyncd.tx.steps.lookup import guid_of
from zfsyncd.zfs import names
from zfsyncd.zfs.backend import DestroyMode
from zfsyncd.zfs.errors import InvalidNameError

TRASH_PREFIX = "zfsync_trash_"


def trash_name(name: str, tx_id: str) -> str:
    """Where a step that destroys `name` puts it until its transaction completes.

    The snapshot `p/fs@s` goes to `p/fs@zfsync_trash_<tx>_s`, the bookmark `p/fs#b` to
    `p/fs#zfsync_trash_<tx>_b`, the dataset `p/a/fs` to `p/a/zfsync_trash_<tx>_fs`: same
    place, so the move is a plain rename (ZFS renames within a pool only)."""
    dataset = names.dataset_of(name)
    if dataset != name:
        delimiter = name[len(dataset)]
        trash = f"{dataset}{delimiter}{TRASH_PREFIX}{tx_id}_{names.short_name(name)}"
    else:
        parent = names.parent_of(name)
        if parent is None:
            raise InvalidNameError(name, "a pool's root dataset cannot be destroyed here")
        trash = f"{parent}/{TRASH_PREFIX}{tx_id}_{name.rsplit('/', 1)[1]}"
    names.check_any(trash)  # a long name may not leave room for the prefix: say so now
    return trash


H = TypeVar("H", bound=OnHost)


class MovesToTrash(Step[H]):
    """A destroy that can be taken back until its transaction completes.

    `do` renames each object to its trash name, `undo` renames it back, and `finalize`
    (after the transaction completed) destroys the trash. Subclasses say which objects
    (`targets`: name -> the guid it must still have, or None) and how to destroy them."""

    destroy_mode = DestroyMode.SINGLE

    def targets(self) -> dict[str, int | None]:
        raise NotImplementedError

    def datasets(self) -> set[str]:
        return {located(self.args.host, names.dataset_of(n)) for n in self.targets()}

    async def check(self, ctx: StepContext) -> bool:
        zfs = ctx.host(self.args.host).zfs
        for name in self.targets():
            if await guid_of(zfs, name) is not None:
                return False
            if await guid_of(zfs, trash_name(name, ctx.tx_id)) is None:
                return False
        return True

    async def do(self, ctx: StepContext, before: JsonDict) -> JsonDict:
        zfs = ctx.host(self.args.host).zfs
        for name, expected in self.targets().items():
            trash = trash_name(name, ctx.tx_id)
            if await guid_of(zfs, trash) is not None:
                continue  # moved already (a repeated do after a crash)
            found = await guid_of(zfs, name)
            if expected is not None and found is not None and found != expected:
                raise ValueError(f"{name} is not the object this step was made for (guid)")
            await zfs.rename(name, trash)
        return {}

    async def undo(self, ctx: StepContext, undo_data: JsonDict) -> None:
        zfs = ctx.host(self.args.host).zfs
        for name in reversed(list(self.targets())):
            trash = trash_name(name, ctx.tx_id)
            if await guid_of(zfs, trash) is not None and await guid_of(zfs, name) is None:
                await zfs.rename(trash, name)

    async def finalize(self, ctx: StepContext, undo_data: JsonDict) -> None:
        zfs = ctx.host(self.args.host).zfs
        for name in self.targets():
            trash = trash_name(name, ctx.tx_id)
            if await guid_of(zfs, trash) is not None:
                await zfs.destroy(trash, mode=self.destroy_mode)

    def why_final(self) -> str:
        return f"{self.describe()}: what is destroyed cannot be brought back"
