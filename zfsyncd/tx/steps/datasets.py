"""Dataset steps: create, destroy (via the trash), rename (alone, or with settings of the renamed
dataset), clone, promote, bookmark."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from zfsyncd.tx.hosts import located
from zfsyncd.tx.steps.base import JsonDict, OnHost, ReadForDo, Step, StepContext, register
from zfsyncd.tx.steps.lookup import guid_of, is_same
from zfsyncd.tx.steps.properties import apply_changes, local_values
from zfsyncd.tx.steps.trash import MovesToTrash, trash_name
from zfsyncd.zfs import names
from zfsyncd.zfs.backend import DestroyMode, ZfsBackend
from zfsyncd.zfs.errors import NotFoundError
from zfsyncd.zfs.models import (
    BaseName,
    BookmarkName,
    DatasetName,
    ObjectName,
    ObjectType,
    Properties,
    PropertyChanges,
    SnapshotName,
)


class CreateDatasetArgs(OnHost):
    name: DatasetName
    properties: Properties = Field(default_factory=dict)
    #: the plan read the name and found nothing there, and the name carries the
    #: transaction's id (a temporary name): capture need not read it again (see capture)
    absent_in_plan: bool = Field(default=False, exclude_if=lambda absent: not absent)


class _MakesDataset(Step[Any]):
    """Create and clone: both make a dataset that undo destroys (if it is still ours)."""

    target: str

    def __init__(self, args: Any) -> None:
        super().__init__(args)
        # capture's answer to "is it there?", for the `do` right after it (ReadForDo)
        self._read_for_do: ReadForDo[bool] = ReadForDo()

    def datasets(self) -> set[str]:
        return {located(self.args.host, self.target)}

    async def check(self, ctx: StepContext) -> bool:
        return await guid_of(ctx.host(self.args.host).zfs, self.target) is not None

    def _ours_by_name(self, ctx: StepContext) -> bool:
        """A name the plan found free and that carries this transaction's id: it was free
        then and can only be made by this step since (names made by steps carry the
        transaction id: tx/steps/base.py)."""
        return bool(getattr(self.args, "absent_in_plan", False)) and (
            ctx.tx_id in names.short_name(self.target)
        )

    async def capture(self, ctx: StepContext) -> JsonDict:
        # a dataset that was there before is not ours to destroy (prepare refuses that case;
        # this keeps undo safe if something made it between prepare and do). A name ours
        # by itself (`_ours_by_name`) is not read again: this capture runs once, before the
        # step ever ran
        if self._ours_by_name(ctx):
            return {"existed": self._read_for_do.keep(False)}
        return {"existed": self._read_for_do.keep(await self.check(ctx))}

    async def _identity(self, ctx: StepContext) -> JsonDict:
        """What `do` records of the dataset it made, for the guid guard of its undo and
        inverse: its guid (one reading), except under a name ours by itself, which no one
        else makes, so that the name alone tells it is the one made (the guard would add
        nothing, the reading a command: the init pattern's temporary dataset, whose rename
        into place reads its guid and guards the dataset from there on)."""
        if self._ours_by_name(ctx):
            return {}
        return {"guid": await guid_of(ctx.host(self.args.host).zfs, self.target)}

    async def _made(self, ctx: StepContext) -> bool:
        """Is the dataset there already (a `do` redone after the change)? capture's reading
        when this `do` follows it, else a reading of its own."""
        existed = self._read_for_do.take()
        return await self.check(ctx) if existed is None else existed

    async def undo(self, ctx: StepContext, undo_data: JsonDict) -> None:
        if undo_data.get("existed"):
            return
        zfs = ctx.host(self.args.host).zfs
        if await is_same(zfs, self.target, undo_data.get("guid")):
            await zfs.destroy(self.target)

    def inverse(self, undo_data: JsonDict) -> Step[Any]:
        return DestroyDataset(
            DestroyDatasetArgs(host=self.args.host, name=self.target, guid=undo_data.get("guid"))
        )


@register
class CreateDataset(_MakesDataset):
    kind = "create-dataset"
    Args = CreateDatasetArgs

    def __init__(self, args: CreateDatasetArgs) -> None:
        super().__init__(args)
        self.target = args.name

    def describe(self) -> str:
        return f"create {self.args.name}"

    async def do(self, ctx: StepContext, before: JsonDict) -> JsonDict:
        zfs = ctx.host(self.args.host).zfs
        if not await self._made(ctx):
            await zfs.create(self.args.name, properties=self.args.properties)
        return await self._identity(ctx)


class CloneArgs(OnHost):
    snapshot: SnapshotName
    target: DatasetName
    properties: Properties = Field(default_factory=dict)


@register
class CloneSnapshot(_MakesDataset):
    kind = "clone"
    Args = CloneArgs

    def __init__(self, args: CloneArgs) -> None:
        super().__init__(args)
        self.target = args.target

    def describe(self) -> str:
        return f"clone {self.args.snapshot} as {self.args.target}"

    async def do(self, ctx: StepContext, before: JsonDict) -> JsonDict:
        zfs = ctx.host(self.args.host).zfs
        if not await self._made(ctx):
            await zfs.clone(self.args.snapshot, self.args.target, properties=self.args.properties)
        return await self._identity(ctx)


class DestroyDatasetArgs(OnHost):
    name: DatasetName
    guid: int | None = None  # the dataset it must still be (None: whatever it is now)


@register
class DestroyDataset(MovesToTrash[DestroyDatasetArgs]):
    """Renames the dataset (with what is below it) to a trash name; `finalize` destroys it."""

    kind = "destroy-dataset"
    Args = DestroyDatasetArgs
    destroy_mode = DestroyMode.RECURSIVE

    def describe(self) -> str:
        return f"destroy {self.args.name}"

    def targets(self) -> dict[str, int | None]:
        return {self.args.name: self.args.guid}


async def renamed(zfs: ZfsBackend, old: str, new: str, guid: int | None = None) -> bool:
    """Has `old` been renamed to `new`: the old name gone, the new one there (with `guid`,
    the dataset of that guid: a rename's undo moves back only what it moved)."""
    return await guid_of(zfs, old) is None and await is_same(zfs, new, guid)


class RenameArgs(OnHost):
    old: ObjectName
    new: ObjectName


@register
class Rename(Step[RenameArgs]):
    kind = "rename"
    Args = RenameArgs

    def describe(self) -> str:
        return f"rename {self.args.old} to {self.args.new}"

    def datasets(self) -> set[str]:
        return {
            located(self.args.host, names.dataset_of(name))
            for name in (self.args.old, self.args.new)
        }

    def __init__(self, args: RenameArgs) -> None:
        super().__init__(args)
        # capture's guid of the old name, for the `do` right after it (ReadForDo)
        self._read_for_do: ReadForDo[int | None] = ReadForDo()

    async def capture(self, ctx: StepContext) -> JsonDict:
        guid = await guid_of(ctx.host(self.args.host).zfs, self.args.old)
        return {"guid": self._read_for_do.keep(guid)}

    async def check(self, ctx: StepContext) -> bool:
        return await renamed(ctx.host(self.args.host).zfs, self.args.old, self.args.new)

    async def do(self, ctx: StepContext, before: JsonDict) -> JsonDict:
        # the old name there at capture, moments ago: not renamed yet, rename without
        # reading again (a retried `do`, or one after a restart, checks both names)
        if self._read_for_do.take() is not None or not await self.check(ctx):
            await ctx.host(self.args.host).zfs.rename(self.args.old, self.args.new)
        return {}

    async def undo(self, ctx: StepContext, undo_data: JsonDict) -> None:
        zfs = ctx.host(self.args.host).zfs
        if await renamed(zfs, self.args.old, self.args.new, undo_data.get("guid")):
            await zfs.rename(self.args.new, self.args.old)

    def inverse(self, undo_data: JsonDict) -> Step[Any]:
        return Rename(RenameArgs(host=self.args.host, old=self.args.new, new=self.args.old))


class RenameAndSetArgs(OnHost):
    old: DatasetName
    new: DatasetName
    #: property -> value set on the dataset (None: inherited), after the rename (before it
    #: with `set_first`)
    properties: PropertyChanges = Field(min_length=1)
    #: set them on `old` first, then rename: the order of this step's inverse
    set_first: bool = False
    #: the dataset `old` must still be (this step's inverse: the one its step renamed);
    #: None: whatever is there
    guid: int | None = Field(default=None, exclude_if=lambda guid: guid is None)


@register
class RenameAndSet(Step[RenameAndSetArgs]):
    """`Rename` and `SetProperties` of the renamed dataset as one step with one reading:
    `capture` reads the guid and the properties' values of `old` in one `zfs get` (a
    rename changes no local value, so the reading stands for the new name too), where
    the two steps read once each. What the init pattern ends with: a dataset built under a
    temporary name is renamed into place, then mounted where it belongs (its private
    mountpoint inherited). `do` makes the rename and the settings in that order (with
    `set_first`, the other), `undo` takes back what is in place in the reverse order: the
    properties as they were (`apply_changes`, as SetProperties' undo), and the old name
    (only the dataset read in `capture`: guid guard; as Rename's undo)."""

    kind = "rename-and-set"
    Args = RenameAndSetArgs

    def __init__(self, args: RenameAndSetArgs) -> None:
        super().__init__(args)
        # capture's guid of the old name, for the `do` right after it (ReadForDo)
        self._read_for_do: ReadForDo[int] = ReadForDo()

    def describe(self) -> str:
        pairs = ", ".join(
            f"{p}={v}" if v is not None else f"{p} inherited"
            for p, v in self.args.properties.items()
        )
        if self.args.set_first:
            return f"set {pairs} on {self.args.old}, then rename it to {self.args.new}"
        return f"rename {self.args.old} to {self.args.new}, then set {pairs} on it"

    def datasets(self) -> set[str]:
        return {located(self.args.host, name) for name in (self.args.old, self.args.new)}

    async def capture(self, ctx: StepContext) -> JsonDict:
        zfs = ctx.host(self.args.host).zfs
        try:
            current = await zfs.get_properties(self.args.old, ["guid", *self.args.properties])
        except NotFoundError:
            return {"guid": None, "previous": None}
        guid = int(current["guid"].value or 0) or None
        if self.args.guid is not None and guid != self.args.guid:
            raise ValueError(self._not_the_same())
        if guid is not None:
            self._read_for_do.keep(guid)
        return {"guid": guid, "previous": local_values(current, self.args.properties)}

    def _not_the_same(self) -> str:
        return f"{self.args.old} is not the dataset renamed to it (another guid): left alone"

    async def refusal(self, ctx: StepContext) -> str | None:
        if self.args.guid is None:
            return None
        found = await guid_of(ctx.host(self.args.host).zfs, self.args.old)
        return None if found == self.args.guid else self._not_the_same()

    async def _renamed(self, ctx: StepContext) -> bool:
        return await renamed(ctx.host(self.args.host).zfs, self.args.old, self.args.new)

    async def check(self, ctx: StepContext) -> bool:
        if not await self._renamed(ctx):
            return False
        zfs = ctx.host(self.args.host).zfs
        current = await zfs.get_properties(self.args.new, list(self.args.properties))
        return local_values(current, self.args.properties) == self.args.properties

    async def do(self, ctx: StepContext, before: JsonDict) -> JsonDict:
        zfs = ctx.host(self.args.host).zfs
        # the old name there at capture, moments ago: not renamed yet, no reading again (a
        # retried `do`, or one after a restart, reads both names); the settings are
        # idempotent in ZFS, so made again whatever an earlier attempt did
        fresh = self._read_for_do.take() is not None
        if self.args.set_first:
            if fresh or await guid_of(zfs, self.args.old) is not None:
                await apply_changes(zfs, self.args.old, self.args.properties)
            if fresh or not await self._renamed(ctx):
                await zfs.rename(self.args.old, self.args.new)
            return {}
        if fresh or not await self._renamed(ctx):
            await zfs.rename(self.args.old, self.args.new)
        await apply_changes(zfs, self.args.new, self.args.properties)
        return {}

    async def undo(self, ctx: StepContext, undo_data: JsonDict) -> None:
        guid, previous = undo_data.get("guid"), undo_data.get("previous")
        if guid is None or previous is None:
            return  # nothing was there to rename: nothing was changed
        zfs = ctx.host(self.args.host).zfs
        old, new = self.args.old, self.args.new
        moved = await renamed(zfs, old, new, guid)
        if self.args.set_first:
            if moved:
                await zfs.rename(new, old)
            if await is_same(zfs, old, guid):
                await apply_changes(zfs, old, previous)
        elif moved:
            await apply_changes(zfs, new, previous)
            await zfs.rename(new, old)

    def inverse(self, undo_data: JsonDict) -> Step[Any]:
        return RenameAndSet(
            RenameAndSetArgs(
                host=self.args.host,
                old=self.args.new,
                new=self.args.old,
                properties=undo_data["previous"],
                set_first=not self.args.set_first,
                guid=undo_data.get("guid"),
            )
        )


class PromoteArgs(OnHost):
    clone: DatasetName


@register
class Promote(Step[PromoteArgs]):
    """Promote a clone; undo promotes back the dataset it was cloned from."""

    kind = "promote"
    Args = PromoteArgs

    def describe(self) -> str:
        return f"promote {self.args.clone}"

    def datasets(self) -> set[str]:
        return {located(self.args.host, self.args.clone)}

    async def _origin(self, ctx: StepContext, dataset: str) -> str | None:
        return (await ctx.host(self.args.host).zfs.get(dataset)).origin

    async def capture(self, ctx: StepContext) -> JsonDict:
        origin = await self._origin(ctx, self.args.clone)
        if origin is None:
            raise ValueError(f"{self.args.clone} is not a clone: there is nothing to promote")
        # after the promote, this dataset is the clone; undo promotes it back
        return {"former_parent": names.dataset_of(origin)}

    async def check(self, ctx: StepContext) -> bool:
        return await self._origin(ctx, self.args.clone) is None

    async def do(self, ctx: StepContext, before: JsonDict) -> JsonDict:
        if not await self.check(ctx):
            await ctx.host(self.args.host).zfs.promote(self.args.clone)
        return {}

    async def undo(self, ctx: StepContext, undo_data: JsonDict) -> None:
        parent = undo_data["former_parent"]
        if await self._origin(ctx, parent) is not None:
            await ctx.host(self.args.host).zfs.promote(parent)

    def inverse(self, undo_data: JsonDict) -> Step[Any]:
        return Promote(PromoteArgs(host=self.args.host, clone=undo_data["former_parent"]))


class BookmarkArgs(OnHost):
    source: BaseName
    bookmark: BookmarkName


@register
class CreateBookmark(Step[BookmarkArgs]):
    kind = "bookmark"
    Args = BookmarkArgs

    def describe(self) -> str:
        return f"bookmark {self.args.source} as {self.args.bookmark}"

    def datasets(self) -> set[str]:
        return {located(self.args.host, names.dataset_of(self.args.bookmark))}

    async def check(self, ctx: StepContext) -> bool:
        return await guid_of(ctx.host(self.args.host).zfs, self.args.bookmark) is not None

    async def capture(self, ctx: StepContext) -> JsonDict:
        return {"existed": await self.check(ctx)}

    async def do(self, ctx: StepContext, before: JsonDict) -> JsonDict:
        if not await self.check(ctx):
            await ctx.host(self.args.host).zfs.bookmark(self.args.source, self.args.bookmark)
        return {}

    async def undo(self, ctx: StepContext, undo_data: JsonDict) -> None:
        if not undo_data.get("existed") and await self.check(ctx):
            await ctx.host(self.args.host).zfs.destroy(self.args.bookmark)

    def inverse(self, undo_data: JsonDict) -> Step[Any] | None:
        if undo_data.get("existed"):
            return None
        return DestroyBookmark(
            DestroyBookmarkArgs(host=self.args.host, bookmark=self.args.bookmark)
        )


class DestroyBookmarkArgs(OnHost):
    bookmark: BookmarkName


@register
class DestroyBookmark(Step[DestroyBookmarkArgs]):
    """ZFS cannot rename a bookmark, so its trash is a copy (`zfs bookmark fs#b fs#trash`,
    OpenZFS 2.0+): `do` copies and destroys, `undo` copies back, `finalize` destroys the
    copy. A copy keeps the guid and createtxg, so an incremental from it still works."""

    kind = "destroy-bookmark"
    Args = DestroyBookmarkArgs

    def describe(self) -> str:
        return f"destroy {self.args.bookmark}"

    def datasets(self) -> set[str]:
        return {located(self.args.host, names.dataset_of(self.args.bookmark))}

    async def check(self, ctx: StepContext) -> bool:
        zfs = ctx.host(self.args.host).zfs
        trash = trash_name(self.args.bookmark, ctx.tx_id)
        return (
            await guid_of(zfs, self.args.bookmark) is None and await guid_of(zfs, trash) is not None
        )

    async def do(self, ctx: StepContext, before: JsonDict) -> JsonDict:
        zfs = ctx.host(self.args.host).zfs
        trash = trash_name(self.args.bookmark, ctx.tx_id)
        if await guid_of(zfs, trash) is None:
            await zfs.bookmark(self.args.bookmark, trash)
        if await guid_of(zfs, self.args.bookmark) is not None:
            await zfs.destroy(self.args.bookmark)
        return {}

    async def undo(self, ctx: StepContext, undo_data: JsonDict) -> None:
        zfs = ctx.host(self.args.host).zfs
        trash = trash_name(self.args.bookmark, ctx.tx_id)
        if await guid_of(zfs, trash) is None:
            return
        if await guid_of(zfs, self.args.bookmark) is None:
            await zfs.bookmark(trash, self.args.bookmark)
        await zfs.destroy(trash)

    async def finalize(self, ctx: StepContext, undo_data: JsonDict) -> None:
        """Destroy the copy wherever it is now: a later step of the same transaction may
        have moved it (`zfs promote` takes the bookmarks older than the origin along to
        the clone). Its name carries the transaction id, so no other bookmark has it; one
        listing of the pool finds it."""
        zfs = ctx.host(self.args.host).zfs
        trash = names.short_name(trash_name(self.args.bookmark, ctx.tx_id))
        pool = names.pool_of(self.args.bookmark)
        for mark in await zfs.list(pool, types=[ObjectType.BOOKMARK]):
            if names.short_name(mark.name) == trash:
                await zfs.destroy(mark.name)

    def why_final(self) -> str:
        return f"{self.describe()}: a destroyed bookmark cannot be brought back"
