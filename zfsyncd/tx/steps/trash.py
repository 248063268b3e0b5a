"""Destroying through a trash: what a step destroys is renamed aside until its transaction
completes, so that an undo can rename it back."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypeVar

from zfsyncd.tx.hosts import located
from zfsyncd.tx.steps.base import JsonDict, OnHost, ReadForDo, Step, StepContext
from zfsyncd.tx.steps.lookup import objects_named, snapshots_below, take_handed
from zfsyncd.tx.steps.subtrees import split_recursive
from zfsyncd.zfs import names
from zfsyncd.zfs.backend import DestroyMode
from zfsyncd.zfs.errors import InvalidNameError
from zfsyncd.zfs.models import ReachedSnapshot, ZfsObject

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
#: a reading of the targets and their trash names, by name (only the guids are used)
Found = Mapping[str, ZfsObject | ReachedSnapshot]


class MovesToTrash(Step[H]):
    """A destroy that can be taken back until its transaction completes.

    `do` renames each object to its trash name, `undo` renames it back, and `finalize`
    (after the transaction completed) destroys the trash. Each reads all its names in one
    reading first (for snapshots one walk of their trees for both names); snapshots move
    and go by `zfs rename -r` / `zfs destroy -r` where that reaches exactly the step's own
    (a recursive snapshot's, typically). `do` takes the step before's reading of the same
    snapshots when it left one (a release's: after it, they are as it read them but for
    the tag) instead of reading again, and `finalize` reads the trash names alone.
    Subclasses say which objects (`targets`: name -> the guid it must still have, or None)
    and how to destroy them."""

    destroy_mode = DestroyMode.SINGLE

    def __init__(self, args: H) -> None:
        super().__init__(args)
        #: a reading `capture` took over from the step before, for the `do` after it
        self._read_for_do: ReadForDo[Found] = ReadForDo()

    def targets(self) -> dict[str, int | None]:
        raise NotImplementedError

    def datasets(self) -> set[str]:
        return {located(self.args.host, names.dataset_of(n)) for n in self.targets()}

    def _trash(self, ctx: StepContext) -> dict[str, str]:
        return {name: trash_name(name, ctx.tx_id) for name in self.targets()}

    def _snapshots_only(self) -> bool:
        return all("@" in name for name in self.targets())

    async def _read(self, ctx: StepContext) -> Found:
        """The targets and their trash names as they are now: one reading; for snapshots
        one walk of their datasets for both names, which also shows what a recursive
        rename would reach."""
        zfs, trash = ctx.host(self.args.host).zfs, self._trash(ctx)
        everything = [*trash, *trash.values()]
        if self._snapshots_only():
            return await snapshots_below(zfs, everything)
        return await objects_named(zfs, everything)

    async def capture(self, ctx: StepContext) -> JsonDict:
        """No reading of its own: the step before's reading of the same snapshots, when it
        left one (StepContext.handed), is kept for `do`. It has no trash names in it: they
        carry this transaction's id, and before this step's first `do` none of them can
        exist (a `do` after a restart or a retry reads afresh; were one there all the same,
        zfs would refuse the rename, and the undo reads)."""
        if self._snapshots_only():
            zfs = ctx.host(self.args.host).zfs
            found = take_handed(ctx.handed, zfs, list(self.targets()))
            if found is not None:
                self._read_for_do.keep(found)
        return {}

    async def check(self, ctx: StepContext) -> bool:
        found = await self._read(ctx)
        return all(n not in found and t in found for n, t in self._trash(ctx).items())

    async def do(self, ctx: StepContext, before: JsonDict) -> JsonDict:
        found, moves = self._read_for_do.take() or await self._read(ctx), {}
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
        """Destroy what is in the trash now: only the trash names are read (a later step of
        the transaction may have moved one with its dataset: a rename, a promote)."""
        zfs, trash = ctx.host(self.args.host).zfs, list(self._trash(ctx).values())
        if self._snapshots_only():
            found: Found = await snapshots_below(zfs, trash)
        else:
            found = await objects_named(zfs, trash)
        await self._destroy(ctx, [name for name in trash if name in found], found)

    async def _destroy(self, ctx: StepContext, doomed: list[str], found: Iterable[str]) -> None:
        """Destroy `doomed` (trash names that exist): with `zfs destroy -r` from each top
        that reaches only them (among `found`, what exists), the rest one by one."""
        zfs = ctx.host(self.args.host).zfs
        tops, singles = _recursive_where_exact(doomed, found)
        for top in tops:
            await zfs.destroy(top, mode=DestroyMode.RECURSIVE)
        for trash in singles:
            await zfs.destroy(trash, mode=self.destroy_mode)

    def why_final(self) -> str:
        return f"{self.describe()}: what is destroyed cannot be brought back"
