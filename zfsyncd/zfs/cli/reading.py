"""`Reading`: CliBackend's commands that read (zfs list, holds, get; zpool sync), each one
command, or one per ARGV_BUDGET of very many names."""

from __future__ import annotations

import builtins
import contextlib
from collections.abc import Sequence

from zfsyncd.zfs import names
from zfsyncd.zfs.backend import ALL_TYPES, EXPLICIT_SOURCES
from zfsyncd.zfs.cli.command import ZfsCommand, batches
from zfsyncd.zfs.errors import ZFS_ERRORS, NotFoundError, ZfsCommandError
from zfsyncd.zfs.inventory import list_columns, parse_list
from zfsyncd.zfs.models import Hold, ObjectType, PropertySource, PropertyValue, ZfsObject


def _parse_holds(text: str) -> builtins.list[Hold]:
    """`zfs holds -Hp` output: snapshot, tag and time, tab-separated."""
    holds = []
    for line in text.splitlines():
        if line:
            snap, tag, stamp = line.split("\t")
            holds.append(Hold(snapshot=snap, tag=tag, timestamp=int(stamp)))
    return holds


def _columns_args(
    types: Sequence[ObjectType], user_properties: Sequence[str], *, written: bool, encryption: bool
) -> builtins.list[str]:
    """`zfs list -Hp -t TYPES -o COLUMNS`: the argv of list_many and list_every_pool before
    their -r and names, whose output parse_list reads with the same columns."""
    columns = list_columns(user_properties, written=written, encryption=encryption)
    return ["list", "-Hp", "-t", ",".join(t.value for t in types), "-o", columns]


def _list_order(obj: ZfsObject) -> tuple[str, int, int]:
    """zfs list's default order: by name, a snapshot after its dataset by createtxg."""
    if obj.is_snapshot:
        return (obj.dataset, 1, obj.createtxg)
    return (obj.name, 0, 0)


def _parse_source(text: str) -> tuple[PropertySource, str | None]:
    if text.startswith("inherited from "):
        return PropertySource.INHERITED, text.removeprefix("inherited from ")
    if text == "-":
        return PropertySource.NONE, None
    try:
        return PropertySource(text), None
    except ValueError:
        return PropertySource.NONE, None


class Reading(ZfsCommand):
    async def list(
        self,
        root: str | None = None,
        *,
        types: Sequence[ObjectType] = ALL_TYPES,
        recursive: bool = True,
        depth: int | None = None,
        user_properties: Sequence[str] = (),
    ) -> builtins.list[ZfsObject]:
        args = ["list", "-Hp", "-t", ",".join(t.value for t in types)]
        args += ["-o", list_columns(user_properties)]
        if depth is not None:  # with no root too: `zfs list -d 0` lists the pools' roots
            args += ["-d", str(int(depth))]
        if root is not None:
            names.check_any(root)
            if depth is None and recursive:
                args.append("-r")
            args.append(root)
        return parse_list(await self._zfs(*args), user_properties)

    async def list_many(
        self,
        roots: Sequence[str],
        *,
        types: Sequence[ObjectType] = ALL_TYPES,
        recursive: bool = False,
        user_properties: Sequence[str] = (),
        written: bool = False,
        encryption: bool = False,
    ) -> builtins.list[ZfsObject]:
        for root in roots:
            names.check_any(root)
        if not roots:
            return []
        args = _columns_args(types, user_properties, written=written, encryption=encryption)
        found = parse_list(
            await self._zfs_of_names([*args, *(["-r"] if recursive else [])], roots),
            user_properties,
            written=written,
            encryption=encryption,
        )
        if len(batches(roots)) == 1:
            return found
        # several commands: each object once, in zfs list's order (by name, a dataset's
        # snapshots after it by createtxg)
        unique = {o.name: o for o in found}
        return sorted(unique.values(), key=_list_order)

    async def list_every_pool(
        self,
        *,
        types: Sequence[ObjectType] = ALL_TYPES,
        user_properties: Sequence[str] = (),
        written: bool = False,
        encryption: bool = False,
    ) -> builtins.list[ZfsObject]:
        args = _columns_args(types, user_properties, written=written, encryption=encryption)
        # no name: zfs lists every pool, in its usual order ("no datasets available" on
        # stderr, exit 0, when there is none)
        return parse_list(
            await self._zfs(*args, "-r"),
            user_properties,
            written=written,
            encryption=encryption,
        )

    async def settle(self, pools: Sequence[str]) -> None:
        for pool in pools:
            names.check_pool(pool)
        if not pools:
            return
        # a pool that is not there is the listing's business (its names are missing), not
        # this one's: its failure is left for the listing to report
        with contextlib.suppress(ZfsCommandError):
            await self.runner.run([self.zpool, "sync", *sorted(set(pools))], errors=ZFS_ERRORS)

    async def settle_every_pool(self) -> None:
        # as settle: a failure is the listing's to report
        with contextlib.suppress(ZfsCommandError):
            await self.runner.run([self.zpool, "sync"], errors=ZFS_ERRORS)

    async def get(self, name: str, *, user_properties: Sequence[str] = ()) -> ZfsObject:
        found = await self.list(name, recursive=False, user_properties=user_properties)
        if len(found) != 1:  # `zfs list -t all` of a single name lists just that name
            raise NotFoundError(["zfs", "list", name], 1, f"cannot open '{name}': not listed")
        return found[0]

    async def exists(self, name: str) -> bool:
        names.check_any(name)
        try:
            await self.get(name)
        except NotFoundError:
            return False
        return True

    async def holds(self, snapshot: str, *, recursive: bool = False) -> builtins.list[Hold]:
        names.check_snapshot(snapshot)
        args = ["holds", "-Hp", *(["-r"] if recursive else []), snapshot]
        return _parse_holds(await self._zfs(*args))

    async def holds_many(
        self, snapshots: Sequence[str], *, recursive: bool = False
    ) -> builtins.list[Hold]:
        for snap in snapshots:
            names.check_snapshot(snap)
        if not snapshots:
            return []
        args = ["holds", "-Hp", *(["-r"] if recursive else [])]
        holds = _parse_holds(await self._zfs_of_names(args, snapshots))
        # each once: with -r, two names (or two commands) may reach the same snapshot
        unique = {(h.snapshot, h.tag): h for h in holds}
        return [unique[key] for key in sorted(unique)]

    async def get_properties(
        self, name: str, properties: Sequence[str]
    ) -> dict[str, PropertyValue]:
        names.check_any(name)
        if not properties:
            return {}
        for prop in properties:
            names.check_property_name(prop)
        out = await self._zfs(
            "get", "-Hp", "-o", "property,value,source", ",".join(properties), name
        )
        result: dict[str, PropertyValue] = {}
        for line in out.splitlines():
            if not line:
                continue
            prop, value, source_text = line.split("\t")
            source, inherited_from = _parse_source(source_text)
            unset = source is PropertySource.NONE and ":" in prop and value == "-"
            result[prop] = PropertyValue(
                value=None if unset else value, source=source, inherited_from=inherited_from
            )
        return result

    async def local_properties(
        self, name: str, *, source: PropertySource = PropertySource.LOCAL
    ) -> dict[str, str]:
        names.check_any(name)
        if source not in EXPLICIT_SOURCES:
            raise ValueError(f"local_properties reads local or received values, not {source}")
        out = await self._zfs(
            "get", "-H", "-p", "-s", source.value, "-o", "property,value", "all", name
        )
        result: dict[str, str] = {}
        for line in out.splitlines():
            if line:
                prop, value = line.split("\t", 1)
                result[prop] = value
        return result
