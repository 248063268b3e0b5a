"""Bookmarks of many snapshots in one step (a replica sync bookmarks every snapshot it
sent, so that the next incremental has a base even after the snapshot expired).

`zfs bookmark` makes one bookmark a command (OpenZFS 2.3's CLI; the ioctl takes many), so
the step makes them with `bookmark_many`: one channel program a pool (zfs/programs.py; one
`zfs bookmark` each on an OpenZFS without them; in the lab ten bookmarks took 0.6 s that
way against 5.6 s), and reads all of them with their snapshots in one `zfs list` before
(capture, which the first attempt of `do` reuses); what it made has its snapshot's guid (a
bookmark keeps the guid of the snapshot it marks), so no read after. Undo destroys the
bookmarks the step made (a bookmark that existed before is not its own): they carry the
transaction's snapshot names and the guid read when made guards them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import Field

from zfsyncd.tx.hosts import located
from zfsyncd.tx.steps.base import JsonDict, OnHost, ReadForDo, Step, StepContext, register
from zfsyncd.tx.steps.lookup import objects_named, take_made_guids
from zfsyncd.zfs import names
from zfsyncd.zfs.models import BookmarkName, SnapshotName


class BookmarksArgs(OnHost):
    #: bookmark -> the snapshot it marks (of the same dataset)
    bookmarks: dict[BookmarkName, SnapshotName] = Field(min_length=1)


@register
class CreateBookmarks(Step[BookmarksArgs]):
    kind = "bookmarks"
    Args = BookmarksArgs

    def __init__(self, args: BookmarksArgs) -> None:
        super().__init__(args)
        #: capture's reading, for the first attempt of `do` right after it
        self._read_for_do: ReadForDo[_Reading] = ReadForDo()

    def describe(self) -> str:
        return "bookmark " + ", ".join(
            f"{snap} as {mark}" for mark, snap in self.args.bookmarks.items()
        )

    def datasets(self) -> set[str]:
        return _datasets(self.args.host, self.args.bookmarks)

    async def _existing(self, ctx: StepContext) -> dict[str, int]:
        return await _existing(ctx, self.args.host, self.args.bookmarks)

    async def check(self, ctx: StepContext) -> bool:
        return len(await self._existing(ctx)) == len(self.args.bookmarks)

    async def _reading(self, ctx: StepContext) -> _Reading:
        """The bookmarks that exist and the guids of their snapshots: one `zfs list`."""
        marks = self.args.bookmarks
        found = await objects_named(ctx.host(self.args.host).zfs, [*marks, *marks.values()])
        existing = {m: found[m].guid for m in marks if m in found}
        return existing, {s: o.guid for s, o in found.items() if "@" in s}

    def _handed(self, ctx: StepContext) -> _Reading | None:
        """The reading from what the snapshot step right before made, when it made every
        snapshot marked here: their guids as it answered, and no bookmark of them yet
        (each mark has its snapshot's name, a replica sync's transaction's own, and the
        snapshot was made moments ago). None when it did not, or a mark has another name
        (read them)."""
        zfs = ctx.host(self.args.host).zfs
        made = take_made_guids(ctx.handed, zfs, self.args.bookmarks.values())
        marks = self.args.bookmarks.items()
        if made is None or any(names.short_name(m) != names.short_name(s) for m, s in marks):
            return None
        return {}, {s: made[s] for s in self.args.bookmarks.values()}

    async def capture(self, ctx: StepContext) -> JsonDict:
        reading = self._handed(ctx) or await self._reading(ctx)
        existing, _ = self._read_for_do.keep(reading)
        return {"existed": sorted(existing)}

    async def do(self, ctx: StepContext, before: JsonDict) -> JsonDict:
        zfs = ctx.host(self.args.host).zfs
        existing, snapshots = self._read_for_do.take() or await self._reading(ctx)
        wanted = {m: s for m, s in self.args.bookmarks.items() if m not in existing}
        if wanted:
            # one channel program a pool where zfs has them, all of a pool's or none
            await zfs.bookmark_many(wanted)
        # a bookmark has its snapshot's guid (zfs send relies on it): no read-back
        made = {**existing, **{m: snapshots[s] for m, s in wanted.items()}}
        had = set(before.get("existed", []))
        return {"made": {name: guid for name, guid in made.items() if name not in had}}

    async def undo(self, ctx: StepContext, undo_data: JsonDict) -> None:
        zfs = ctx.host(self.args.host).zfs
        had = set(undo_data.get("existed", []))
        made: dict[str, int] = undo_data.get("made", {})
        for name, guid in (await self._existing(ctx)).items():
            # without `made` (a crash inside do), whatever is there now under our names
            # and was not there before is ours
            if name not in had and made.get(name, guid) == guid:
                await zfs.destroy(name)

    def inverse(self, undo_data: JsonDict) -> Step[Any] | None:
        """The bookmarks it made destroyed (for the rollback of a replica sync, which
        destroys their snapshots too); those that existed before stay."""
        made: dict[str, int] = undo_data.get("made", {})
        if not made:
            return None
        return DestroyBookmarks(
            MadeBookmarksArgs(
                host=self.args.host,
                bookmarks={m: self.args.bookmarks[m] for m in made if m in self.args.bookmarks},
                guids=made,
            )
        )

    def why_final(self) -> str:
        return f"{self.describe()}: it made no bookmark of its own to destroy"


#: the bookmarks that exist (name -> guid) and the guids of the snapshots they mark
_Reading = tuple[dict[str, int], dict[str, int]]


class MadeBookmarksArgs(BookmarksArgs):
    #: bookmark -> the guid it had when made (a bookmark of that name and another guid is
    #: not the one to destroy)
    guids: dict[BookmarkName, int]


@register
class DestroyBookmarks(Step[MadeBookmarksArgs]):
    """Destroy bookmarks a completed transaction made. ZFS cannot rename a bookmark, and
    these are bookmarks of snapshots that are still there while the transaction runs (the
    rollback of a sync destroys the snapshot after them, through the trash, so an undo
    renames it back first): `undo` makes each again from its snapshot, which gives it the
    same guid and createtxg. One `zfs list`, then one `zfs destroy` a bookmark."""

    kind = "destroy-bookmarks"
    Args = MadeBookmarksArgs

    def describe(self) -> str:
        return "destroy " + ", ".join(self.args.bookmarks)

    def datasets(self) -> set[str]:
        return _datasets(self.args.host, self.args.bookmarks)

    async def _existing(self, ctx: StepContext) -> dict[str, int]:
        return await _existing(ctx, self.args.host, self.args.bookmarks)

    async def check(self, ctx: StepContext) -> bool:
        return not await self._existing(ctx)

    async def do(self, ctx: StepContext, before: JsonDict) -> JsonDict:
        zfs = ctx.host(self.args.host).zfs
        for name, guid in (await self._existing(ctx)).items():
            if guid != self.args.guids.get(name, guid):
                raise ValueError(f"{name} is not the bookmark this step was made for (guid)")
            await zfs.destroy(name)
        return {}

    async def undo(self, ctx: StepContext, undo_data: JsonDict) -> None:
        zfs = ctx.host(self.args.host).zfs
        existing = await self._existing(ctx)
        for mark, snap in self.args.bookmarks.items():
            if mark not in existing:
                await zfs.bookmark(snap, mark)


def _datasets(host: str, bookmarks: Iterable[str]) -> set[str]:
    return {located(host, names.dataset_of(m)) for m in bookmarks}


async def _existing(ctx: StepContext, host: str, bookmarks: Iterable[str]) -> dict[str, int]:
    """Those of `bookmarks` that exist now, by name -> guid (one `zfs list`)."""
    found = await objects_named(ctx.host(host).zfs, bookmarks)
    return {name: obj.guid for name, obj in found.items()}
