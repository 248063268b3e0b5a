"""Destroying through a trash: what a step destroys is renamed aside until its transaction
completes, so that an undo can rename it back."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from zfsyncd.tx.hosts import located
from zfsyncd.tx.steps.base import JsonDict, OnHost, Step, StepContext
from zfsyncd.tx.steps.lookup import objects_named, snapshots_below
from zfsyncd.tx.steps.subtrees import split_recursive
from zfsyncd.zfs import names
from zfsyncd.zfs.backend import DestroyMode
from zfsyncd.zfs.errors import InvalidNameError
from zfsyncd.zfs.models import ZfsObject

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


def _recursive_where_exact(
    wanted: Iterable[str], found: Iterable[str]
) -> tuple[list[str], list[str]]:
    """(tops, singles) of split_recursive for snapshots, in the order of `wanted`; every
    name a single for anything else (datasets, bookmarks: no -r that would fit)."""
    ordered = list(wanted)
    if not all("@" in name for name in ordered):
        return [], ordered
    tops, singles = split_recursive(ordered, found)
    rest = set(singles)
    return tops, [name for name in ordered if name in rest]


H = TypeVar("H", bound=OnHost)


class MovesToTrash(Step[H]):
    """A destroy that can be taken back until its transaction completes.

    `do` renames each object to its trash name, `undo` renames it back, and `finalize`
    (after the transaction completed) destroys the trash. Each reads all its names in one
    `zfs list` first; snapshots move and go by `zfs rename -r` / `zfs destroy -r` where
    that reaches exactly the step's own (a recursive snapshot's, typically). Subclasses say
    which objects (`targets`: name -> the guid it must still have, or None) and how to
    destroy them."""

    destroy_mode = DestroyMode.SINGLE

    def targets(self) -> dict[str, int | None]:
        raise NotImplementedError

    def datasets(self) -> set[str]:
        return {located(self.args.host, names.dataset_of(n)) for n in self.targets()}

    def _trash(self, ctx: StepContext) -> dict[str, str]:
        return {name: trash_name(name, ctx.tx_id) for name in self.targets()}

    async def _read(self, ctx: StepContext) -> dict[str, ZfsObject]:
        """The targets and their trash names as they are now: one `zfs list`; for snapshots
        one over their datasets, which also shows what a recursive rename would reach."""
        zfs, trash = ctx.host(self.args.host).zfs, self._trash(ctx)
        everything = [*trash, *trash.values()]
        if all("@" in name for name in everything):
            return await snapshots_below(zfs, everything)
        return await objects_named(zfs, everything)

    async def check(self, ctx: StepContext) -> bool:
        found = await self._read(ctx)
        return all(n not in found and t in found for n, t in self._trash(ctx).items())

    async def do(self, ctx: StepContext, before: JsonDict) -> JsonDict:
        found, moves = await self._read(ctx), {}
        for name, trash in self._trash(ctx).items():
            if trash in found:
                continue  # moved already (a repeated do after a crash)
            expected, obj = self.targets()[name], found.get(name)
            if expected is not None and obj is not None and obj.guid != expected:
                raise ValueError(f"{name} is not the object this step was made for (guid)")
            moves[name] = trash
        await self._rename(ctx, moves, found)
        return {}

    async def undo(self, ctx: StepContext, undo_data: JsonDict) -> None:
        found = await self._read(ctx)
        back = {
            trash: name
            for name, trash in reversed(self._trash(ctx).items())
            if trash in found and name not in found
        }
        await self._rename(ctx, back, found)

    async def _rename(self, ctx: StepContext, moves: dict[str, str], found: Iterable[str]) -> None:
        """Rename each of `moves` (old -> new). Snapshots go by `zfs rename -r` from each top
        that reaches only snapshots to move (every one of a name moves to one new name);
        the rest one by one, in order."""
        zfs = ctx.host(self.args.host).zfs
        tops, singles = _recursive_where_exact(moves, found)
        for top in tops:
            await zfs.rename(top, moves[top], recursive=True)
        for old in singles:
            await zfs.rename(old, moves[old])

    async def finalize(self, ctx: StepContext, undo_data: JsonDict) -> None:
        zfs, found = ctx.host(self.args.host).zfs, await self._read(ctx)
        doomed = [trash for trash in self._trash(ctx).values() if trash in found]
        tops, singles = _recursive_where_exact(doomed, found)
        for top in tops:
            await zfs.destroy(top, mode=DestroyMode.RECURSIVE)
        for trash in singles:
            await zfs.destroy(trash, mode=self.destroy_mode)

    def why_final(self) -> str:
        return f"{self.describe()}: what is destroyed cannot be brought back"
