"""`ChannelPrograms`: what CliBackend does with a channel program (`zfs program`,
zfsyncd/zfs/programs.py) in one command a pool where the zfs command has them, and with
the plain commands (Reading's, Changing's) where it has not: the snapshots a recursive
command reaches, snapshots with their guids, many bookmarks."""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Mapping, Sequence

from zfsyncd.zfs import names, programs
from zfsyncd.zfs.capabilities import Feature
from zfsyncd.zfs.cli.changing import Changing
from zfsyncd.zfs.cli.command import assignments
from zfsyncd.zfs.cli.reading import Reading
from zfsyncd.zfs.errors import ZFS_ERRORS, InvalidNameError, ZfsCommandError
from zfsyncd.zfs.models import Hold, ReachedSnapshot


def _user_only(properties: Mapping[str, str]) -> bool:
    """Are these all user properties (the only ones a channel program can set)?"""
    try:
        for prop in properties:
            names.check_user_property(prop)
    except InvalidNameError:
        return False
    return True


class ChannelPrograms(Reading, Changing):
    async def list_reached(
        self, snapshots: Sequence[str], *, holds: bool = False
    ) -> tuple[builtins.list[ReachedSnapshot], builtins.list[Hold]]:
        by_pool: dict[str, builtins.list[str]] = {}
        for snap in snapshots:
            names.check_snapshot(snap)
            by_pool.setdefault(names.pool_of(snap), []).append(snap)
        if not snapshots:
            return [], []
        if not await self._programs():
            return await programs.reached_by_listing(self, snapshots, holds=holds)
        return await self._reached_in_pools(by_pool, holds=holds)

    async def _reached_in_pools(
        self, by_pool: Mapping[str, Sequence[str]], *, holds: bool
    ) -> tuple[builtins.list[ReachedSnapshot], builtins.list[Hold]]:
        """list_reached's programs, one a pool, all at once: each is read-only and reads
        its own pool, so none waits for another (a hold over the snapshots of a source
        pool and a destination pool reads both in the time of the slower)."""

        async def one(pool: str, named: Sequence[str]) -> dict[str, object]:
            args = ["h" if holds else "-", *sorted(set(named))]
            return await self._program(pool, programs.READ_REACHED, args, "read", read_only=True)

        answers = await asyncio.gather(*(one(p, n) for p, n in sorted(by_pool.items())))
        found: builtins.list[ReachedSnapshot] = []
        held: builtins.list[Hold] = []
        for returned in answers:
            objects, tags = programs.reached(returned)
            found += objects
            held += tags
        return found, held

    async def snapshot_guids(
        self,
        snapshots: Sequence[str],
        *,
        recursive: bool = False,
        properties: Mapping[str, str] | None = None,
    ) -> dict[str, int]:
        if not snapshots:
            raise ValueError("snapshot needs at least one name")
        for snap in snapshots:
            names.check_snapshot(snap)
        assignments(properties)  # each name and value checked, as for `zfs snapshot -o`
        props = dict(properties or {})
        pools = {names.pool_of(s) for s in snapshots}
        if len(pools) != 1 or not _user_only(props) or not await self._programs():
            # what a program cannot do (two pools, a native property) zfs snapshot refuses
            # in its own words; without programs, the two commands
            await self.snapshot(snapshots, recursive=recursive, properties=properties)
            made = await programs.listed_after(self, snapshots, recursive)
            return {o.name: o.guid for o in made}
        args = programs.snapshot_args(snapshots, recursive, props)
        returned = await self._program(pools.pop(), programs.SNAPSHOT, args, "snapshot")
        return programs.made_guids(returned)

    async def _programs(self) -> bool:
        return (await self.capabilities()).has(Feature.CHANNEL_PROGRAMS)

    async def _program(
        self, pool: str, script: str, args: Sequence[str], verb: str, *, read_only: bool = False
    ) -> dict[str, object]:
        """Run a channel program (its script on stdin) on `pool`; its refusal raised as the
        error the plain command would have given (programs.refusal)."""
        result = await self.runner.run(
            [self.zfs, *programs.argv(pool, read_only=read_only), *args],
            stdin=script.encode(),
            errors=ZFS_ERRORS,
        )
        try:
            returned = programs.answer(result.stdout)
        except (ValueError, KeyError) as exc:
            raise ZfsCommandError(result.argv, 0, f"channel program answer: {exc}") from None
        problem = programs.refusal(verb, returned)
        if problem is not None:
            raise ZFS_ERRORS.failed(result.argv, 1, problem)
        return returned

    async def bookmark_many(self, bookmarks: Mapping[str, str]) -> None:
        by_pool: dict[str, builtins.list[str]] = {}
        for mark, source in bookmarks.items():
            names.check_snapshot_or_bookmark(source)
            names.check_bookmark(mark)
            by_pool.setdefault(names.pool_of(mark), []).extend((source, mark))
        if not bookmarks:
            return
        if not await self._programs():
            for mark, source in bookmarks.items():
                await self.bookmark(source, mark)
            return
        for pool, args in sorted(by_pool.items()):
            await self._program(pool, programs.BOOKMARKS, args, "bookmark")
