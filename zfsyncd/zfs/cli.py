"""`CliBackend`: the ZfsBackend that runs the real zfs commands.

Each method checks its names (zfsyncd.zfs.names) before it builds an argv, so a bad name
never reaches a command line; then it runs one zfs command through its `CommandRunner`,
whose failures arrive as typed errors.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import re
from collections.abc import Mapping, Sequence

from zfsyncd.commands.runner import CommandResult, CommandRunner
from zfsyncd.zfs import names, programs
from zfsyncd.zfs.backend import ALL_TYPES, EXPLICIT_SOURCES, DestroyMode, ProgressCallback
from zfsyncd.zfs.capabilities import Capabilities, Feature, parse_version
from zfsyncd.zfs.errors import ZFS_ERRORS, InvalidNameError, NotFoundError, ZfsCommandError
from zfsyncd.zfs.inventory import list_columns, parse_list
from zfsyncd.zfs.models import (
    Hold,
    ObjectType,
    PropertySource,
    PropertyValue,
    ReachedSnapshot,
    RecvSpec,
    SendSpec,
    TransferProgress,
    TransferResult,
    ZfsObject,
)
from zfsyncd.zfs.sendrecv import pipe

# `zfs send -nvP` ends with "size\t<bytes>"; `zfs send -vP` writes the same on stderr before
# the stream's first byte (libzfs: the size of its dry run, or lzc_send_space's)
_SIZE_LINE = re.compile(r"^size\t(\d+)$", re.MULTILINE)
# the other lines of -vP: what each snapshot adds ("full"/"incremental"), then one line a
# second while the stream runs ("HH:MM:SS<TAB>bytes<TAB>snapshot")
_REPORT_LINE = re.compile(r"^(?:(?:full|incremental)\t.*|\d\d:\d\d:\d\d\t\d+\t.*)$")
# what `zfs list` and `zfs holds` print for a name that is not there (libzfs zfs_open: a
# dataset or snapshot, or a bookmark), and what `zfs holds` adds when it found no snapshot
# at all; the other names are still listed
_MISSING = re.compile(
    r"cannot open '(?P<name>[^']*)': (?:dataset does not exist|no such pool or dataset)"
)
_NOTHING_LISTED = "no datasets available"
#: the most bytes of names one command takes before the next begins: far below Linux's
#: 128 KiB limit on one argument, which an ssh transport's single command string meets
ARGV_BUDGET = 64 << 10


def _batches(words: Sequence[str]) -> builtins.list[builtins.list[str]]:
    """`words` in runs of at most ARGV_BUDGET bytes (one run unless there are very many)."""
    budget = ARGV_BUDGET
    runs: builtins.list[builtins.list[str]] = [[]]
    size = 0
    for word in words:
        if runs[-1] and size + len(word) + 1 > budget:
            runs.append([])
            size = 0
        runs[-1].append(word)
        size += len(word) + 1
    return runs


def _assignments(properties: Mapping[str, str] | None) -> builtins.list[str]:
    """`prop=value` words, each name and value checked first."""
    words = []
    for prop, value in (properties or {}).items():
        names.check_property_name(prop)
        names.check_property_value(prop, value)
        words.append(f"{prop}={value}")
    return words


def _property_args(properties: Mapping[str, str] | None) -> builtins.list[str]:
    """`-o prop=value` for each property (create, clone, snapshot, receive)."""
    return [arg for word in _assignments(properties) for arg in ("-o", word)]


def _user_only(properties: Mapping[str, str]) -> bool:
    """Are these all user properties (the only ones a channel program can set)?"""
    try:
        for prop in properties:
            names.check_user_property(prop)
    except InvalidNameError:
        return False
    return True


def _parse_holds(text: str) -> builtins.list[Hold]:
    """`zfs holds -Hp` output: snapshot, tag and time, tab-separated."""
    holds = []
    for line in text.splitlines():
        if line:
            snap, tag, stamp = line.split("\t")
            holds.append(Hold(snapshot=snap, tag=tag, timestamp=int(stamp)))
    return holds


def _only_missing(stderr: str, named: Sequence[str]) -> bool:
    """Does `stderr` say only that some of `named` (or, with -r, their datasets) are not
    there?"""
    allowed = {*named, *(names.dataset_of(n) for n in named)}
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        match = _MISSING.fullmatch(line)
        if line != _NOTHING_LISTED and (match is None or match["name"] not in allowed):
            return False
    return bool(lines)


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


class CliBackend:
    """ZFS through the zfs command, locally or through the runner's transport (ssh)."""

    def __init__(
        self, runner: CommandRunner | None = None, *, zfs: str = "zfs", zpool: str | None = None
    ) -> None:
        self.runner = runner or CommandRunner()
        self.zfs = zfs
        #: beside the zfs command when that is a path, else found on PATH as zfs is
        self.zpool = zpool or (zfs.rsplit("/", 1)[0] + "/zpool" if "/" in zfs else "zpool")
        self._capabilities: Capabilities | None = None

    async def _run(self, *args: str) -> CommandResult:
        """One zfs command; its failure raised as the ZFS error its stderr names (the runner
        itself may be shared with other commands on the same host)."""
        return await self.runner.run([self.zfs, *args], errors=ZFS_ERRORS)

    async def _zfs(self, *args: str) -> str:
        return (await self._run(*args)).stdout

    async def _zfs_of_names(self, args: Sequence[str], named: Sequence[str]) -> str:
        """The output of `zfs ARGS NAME...` where a name that is not there is no failure:
        zfs reports it on stderr, exits 1 and lists the rest. Any other complaint fails as
        usual. Very many names take more than one command (see ARGV_BUDGET)."""
        out = []
        for batch in _batches(named):
            result = await self.runner.run(
                [self.zfs, *args, *batch], check=False, errors=ZFS_ERRORS
            )
            if result.returncode != 0 and not _only_missing(result.stderr, batch):
                raise ZFS_ERRORS.failed(result.argv, result.returncode, result.stderr)
            out.append(result.stdout)
        return "".join(out)

    async def capabilities(self) -> Capabilities:
        if self._capabilities is None:
            try:
                text = await self._zfs("version")
            except ZfsCommandError as exc:
                if type(exc) is not ZfsCommandError:
                    raise  # a lost connection or a refusal says nothing about the version
                # zfs-fuse and OpenZFS before 0.8 have no `zfs version`: their usage text
                # gets the version error that names what is needed
                text = exc.stderr
            self._capabilities = parse_version(text)
        return self._capabilities

    async def _require(self, feature: Feature) -> None:
        (await self.capabilities()).require(feature)

    # ------------------------------------------------------------------ reading

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
        args = ["list", "-Hp", "-t", ",".join(t.value for t in types)]
        columns = list_columns(user_properties, written=written, encryption=encryption)
        args += ["-o", columns, *(["-r"] if recursive else [])]
        found = parse_list(
            await self._zfs_of_names(args, roots),
            user_properties,
            written=written,
            encryption=encryption,
        )
        if len(_batches(roots)) == 1:
            return found
        # several commands: each object once, in zfs list's order (by name, a dataset's
        # snapshots after it by createtxg)
        unique = {o.name: o for o in found}
        return sorted(unique.values(), key=_list_order)

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

    async def settle(self, pools: Sequence[str]) -> None:
        for pool in pools:
            names.check_pool(pool)
        if not pools:
            return
        # a pool that is not there is the listing's business (its names are missing), not
        # this one's: its failure is left for the listing to report
        with contextlib.suppress(ZfsCommandError):
            await self.runner.run([self.zpool, "sync", *sorted(set(pools))], errors=ZFS_ERRORS)

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

    async def send_estimate(self, spec: SendSpec) -> int:
        await self._require(Feature.SEND_SIZE_ESTIMATE)
        out = await self._run(*self._send_args(spec, estimate=True))
        # -nvP prints the estimate on stdout (older releases on stderr)
        match = _SIZE_LINE.search(out.stdout) or _SIZE_LINE.search(out.stderr)
        if match is None:
            raise ZfsCommandError(out.argv, 0, f"no size in zfs send -nvP output: {out.stdout!r}")
        return int(match[1])

    # ------------------------------------------------------------------ changing

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
        args = ["create", *(["-p"] if parents else []), *_property_args(properties)]
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
        args = ["snapshot", *(["-r"] if recursive else []), *_property_args(properties)]
        await self._zfs(*args, *snapshots)

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
        _assignments(properties)  # each name and value checked, as for `zfs snapshot -o`
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
        for batch in _batches(snapshots):
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
        for batch in _batches(snapshots):
            await self._zfs(verb, *(["-r"] if recursive else []), tag, *batch)

    async def bookmark(self, source: str, bookmark: str) -> None:
        names.check_snapshot_or_bookmark(source)
        names.check_bookmark(bookmark)
        await self._require(Feature.BOOKMARKS if "@" in source else Feature.BOOKMARK_COPY)
        await self._zfs("bookmark", source, bookmark)

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
        await self._zfs("clone", *_property_args(properties), snapshot, target)

    async def promote(self, clone: str) -> None:
        names.check_dataset(clone)
        await self._zfs("promote", clone)

    async def rollback(self, snapshot: str, *, destroy_newer: bool = False) -> None:
        names.check_snapshot(snapshot)
        await self._zfs("rollback", *(["-r"] if destroy_newer else []), snapshot)

    async def set_properties(self, name: str, properties: Mapping[str, str]) -> None:
        names.check_any(name)
        if properties:
            await self._zfs("set", *_assignments(properties), name)

    async def inherit(self, name: str, prop: str, *, recursive: bool = False) -> None:
        names.check_any(name)
        names.check_property_name(prop)
        await self._zfs("inherit", *(["-r"] if recursive else []), prop, name)

    async def set_many(self, objects: Sequence[str], properties: Mapping[str, str]) -> None:
        for name in objects:
            names.check_any(name)
        words = _assignments(properties)
        if not objects or not words:
            return
        for batch in _batches(objects):
            await self._zfs("set", *words, *batch)

    async def inherit_many(self, objects: Sequence[str], prop: str) -> None:
        for name in objects:
            names.check_any(name)
        names.check_property_name(prop)
        for batch in _batches(objects) if objects else ():
            await self._zfs("inherit", prop, *batch)

    # ------------------------------------------------------------------ send | recv

    def _send_args(
        self, spec: SendSpec, *, estimate: bool = False, verbose: bool = False
    ) -> builtins.list[str]:
        """`zfs send`'s argv: with `estimate`, the dry run (-nvP); with `verbose`, the
        stream with its size and progress reported on stderr (-vP)."""
        args = ["send", *(["-nvP"] if estimate else ["-vP"] if verbose else [])]
        if spec.resume_token is not None:
            return [*args, "-t", spec.resume_token]
        if spec.raw:
            args.append("-w")
        else:
            args += [
                flag
                for flag, on in (
                    ("-c", spec.compressed),
                    ("-L", spec.large_blocks),
                    ("-e", spec.embedded),
                )
                if on
            ]
        if spec.replicate:
            args.append("-R")
        if spec.properties:
            args.append("-p")
        if spec.base is not None:
            args += ["-I" if spec.intermediates else "-i", spec.base]
        if spec.snapshot is None:  # SendSpec's validator makes this unreachable
            raise ValueError("a send needs a snapshot or a resume token")
        return [*args, spec.snapshot]

    @staticmethod
    def _recv_args(recv: RecvSpec) -> builtins.list[str]:
        args = ["receive"]
        if recv.force:
            args.append("-F")
        if recv.resumable:
            args.append("-s")
        if not recv.mount:
            args.append("-u")
        args += _property_args(recv.properties)
        for prop in recv.exclude_properties:
            args += ["-x", prop]
        return [*args, recv.target]

    async def send_recv(
        self,
        spec: SendSpec,
        target: CliBackend,
        recv: RecvSpec,
        *,
        progress: ProgressCallback | None = None,
    ) -> TransferResult:
        if spec.raw:
            await self._require(Feature.RAW_SEND)
        if spec.resume_token is not None or recv.resumable:
            await self._require(Feature.RESUMABLE_RECEIVE)
            await target._require(Feature.RESUMABLE_RECEIVE)
        await self._require(Feature.SEND_SIZE_ESTIMATE)  # -P
        # the size comes from the send itself (-vP), before its first byte: no -nvP first
        estimate: builtins.list[int] = []

        def on_send_line(line: str) -> bool:
            size = _SIZE_LINE.fullmatch(line)
            if size is not None and not estimate:
                estimate.append(int(size[1]))
            return size is not None or _REPORT_LINE.fullmatch(line) is not None

        def on_bytes(count: int) -> None:
            if progress is not None:
                total = estimate[0] if estimate else None
                progress(TransferProgress(bytes_done=count, bytes_total=total))

        outcome = await pipe(
            self.runner,
            [self.zfs, *self._send_args(spec, verbose=True)],
            target.runner,
            [target.zfs, *self._recv_args(recv)],
            on_bytes=on_bytes,
            on_send_line=on_send_line,
        )
        return TransferResult(
            bytes_done=outcome.bytes_done,
            bytes_estimated=estimate[0] if estimate else None,
            seconds=outcome.seconds,
        )

    async def recv_abort(self, dataset: str) -> None:
        names.check_dataset(dataset)
        await self._require(Feature.RESUMABLE_RECEIVE)
        await self._zfs("receive", "-A", dataset)
