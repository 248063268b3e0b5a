"""The one protocol for ZFS that everything above zfs/ uses.

Two implementations honour it: `CliBackend` (zfsyncd/zfs/cli/), which runs the real zfs
commands, and `MemoryBackend` (zfsyncd/zfs/memory/), a model of ZFS for fast unit tests.
tests/contract/ runs one suite against both: on the host against the model, in the OpenZFS
lab against real pools. Where they disagree, the model is wrong.

Every method validates the names it is given before it does anything, raises the typed
errors of zfsyncd.zfs.errors, and changes nothing when it raises for bad input.

Not all-or-nothing in OpenZFS itself, and so not here either (the model does the same):
`hold`/`release` of several snapshots where one is missing still act on the others;
`destroy` with -r/-R that meets a held snapshot has already destroyed what it passed;
`rollback` with -r that meets a held newer snapshot destroys the others and then fails.
Steps above this layer read ZFS before and after such calls rather than assume either.
`send_recv` learns the stream's size from the send itself (`zfs send -vP` reports it
before the first byte): a transfer is two commands, its send and its receive.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from typing import Protocol, Self

from zfsyncd.zfs.capabilities import Capabilities
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

ALL_TYPES: tuple[ObjectType, ...] = tuple(ObjectType)
#: the sources `local_properties` can list
EXPLICIT_SOURCES = frozenset({PropertySource.LOCAL, PropertySource.RECEIVED})
ProgressCallback = Callable[[TransferProgress], None]


class DestroyMode(StrEnum):
    SINGLE = "single"  # only the named object
    RECURSIVE = "recursive"  # -r: descendants (and, for a snapshot, same-named ones below)
    DEPENDENTS = "dependents"  # -R: descendants and every clone that depends on them


#: the protocol's calls that change ZFS (fault injection and simulated latency wrap these)
CHANGING_CALLS = frozenset(
    {
        "create", "snapshot", "destroy", "hold", "release", "bookmark", "rename", "clone",
        "promote", "rollback", "set_properties", "inherit", "send_recv", "recv_abort",
        "set_many", "inherit_many", "snapshot_guids", "bookmark_many",
        "destroy_snapshots",
    }
)  # fmt: skip


class ZfsBackend(Protocol):
    """Operations on the pools of one host."""

    async def capabilities(self) -> Capabilities: ...

    async def list(
        self,
        root: str | None = None,
        *,
        types: Sequence[ObjectType] = ALL_TYPES,
        recursive: bool = True,
        depth: int | None = None,
        user_properties: Sequence[str] = (),
    ) -> builtins.list[ZfsObject]:
        """`zfs list -Hp`: `root` and (if recursive) what lies below it, or every pool."""
        ...

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
        """`zfs list -Hp` of several names at once: each of `roots` (and, if recursive, what
        lies below it), each object once, in `zfs list` order. One command however many
        names (the CLI splits only an argv past 64 KiB), so a step reads all it acts on in
        one go. A root that does not exist is left out, not an error: zfs lists the others
        and names the missing one on stderr, and "which of these exist" is the question.
        No roots, no objects (never the bare `zfs list` of everything). With `written`
        and `encryption`, each object's `written` and `encryption` are read too (more
        columns of the same command). ZFS counts `written` only once a txg is written
        out (up to zfs_txg_timeout, 5 s, after the write): a caller deciding from it
        calls `settle` first."""
        ...

    async def list_every_pool(
        self,
        *,
        types: Sequence[ObjectType] = ALL_TYPES,
        user_properties: Sequence[str] = (),
        written: bool = False,
        encryption: bool = False,
    ) -> builtins.list[ZfsObject]:
        """`zfs list -Hp -r` with no name: every pool's whole tree, with `list_many`'s
        columns and order. One command: a reading of every pool (sync all, expire all)
        needs no `zfs list -d 0` first to learn the pools' names."""
        ...

    async def list_reached(
        self, snapshots: Sequence[str], *, holds: bool = False
    ) -> tuple[builtins.list[ReachedSnapshot], builtins.list[Hold]]:
        """What a recursive command (`hold -r`, `rename -r`, `destroy -r`) on `snapshots`
        would reach: each of them and every snapshot of the same name below its dataset, by
        name, with its guid and hold count (what steps keep of a snapshot: ReachedSnapshot);
        with `holds`, the holds on them too, as `holds_many` lists them (else none). A name
        or dataset that is not there is left out, as in `list_many`. One command a pool
        where OpenZFS has channel programs (a read-only `zfs program -n` that walks each
        tree once in the kernel for all the names asked for there, reading two properties a
        snapshot, and the tags only of those held: 2.3 s for 51 filesystems in the lab,
        where `zfs list -r -t snapshot` took 4.5 s and `zfs holds -r` 4.2 s, and the
        program does not read the datasets' other snapshots), else a `zfs list -r -t
        snapshot` and, with `holds`, a `zfs holds` of those held."""
        ...

    async def settle(self, pools: Sequence[str]) -> None:
        """`zpool sync POOL...`: the pools' pending writes written out, so that `written`
        (and the space properties) count every write made before the call. One command
        for all the pools; no pools, no command. A pool that is not there is no failure
        here (the reading that follows finds its names missing). Only the plans that
        decide from `written` call it, once per pool per reading (a replica sync, the
        final sync of a failover, the rollback of a sync); a status read does not."""
        ...

    async def settle_every_pool(self) -> None:
        """`zpool sync` with no name: `settle` of every imported pool, for a reading of
        every pool (`list_every_pool`), without naming them first."""
        ...

    async def get(self, name: str, *, user_properties: Sequence[str] = ()) -> ZfsObject:
        """One object by name; NotFoundError if there is none."""
        ...

    async def exists(self, name: str) -> bool: ...

    async def create(
        self,
        name: str,
        *,
        properties: Mapping[str, str] | None = None,
        parents: bool = False,
        volume_size: int | None = None,
    ) -> None: ...

    async def snapshot(
        self,
        snapshots: Sequence[str],
        *,
        recursive: bool = False,
        properties: Mapping[str, str] | None = None,
    ) -> None:
        """Create the snapshots atomically (one txg), with user properties set on them."""
        ...

    async def snapshot_guids(
        self,
        snapshots: Sequence[str],
        *,
        recursive: bool = False,
        properties: Mapping[str, str] | None = None,
    ) -> dict[str, int]:
        """`snapshot`, and what it made, by name, with the guids (for an exact undo): one
        command where OpenZFS has channel programs (one `zfs program` that checks, makes
        every snapshot in one txg and reads their guids; programs.py), else `zfs snapshot`
        and one `zfs list`. Fails as `snapshot` does, having made nothing."""
        ...

    async def destroy(self, name: str, *, mode: DestroyMode = DestroyMode.SINGLE) -> None: ...

    async def destroy_snapshots(self, dataset: str, snapshots: Sequence[str]) -> None:
        """`zfs destroy DATASET@a,b,c`: several snapshots of one dataset (their short names)
        in one command, all or none (OpenZFS checks every one before it destroys any: a held
        or cloned one fails the whole call). Each must exist."""
        ...

    async def hold(
        self, tag: str, snapshots: Sequence[str], *, recursive: bool = False
    ) -> None: ...

    async def release(
        self, tag: str, snapshots: Sequence[str], *, recursive: bool = False
    ) -> None: ...

    async def holds(self, snapshot: str, *, recursive: bool = False) -> builtins.list[Hold]: ...

    async def holds_many(
        self, snapshots: Sequence[str], *, recursive: bool = False
    ) -> builtins.list[Hold]:
        """`zfs holds -Hp` of several snapshots at once (with -r, each one's same-named
        snapshots below too), sorted by snapshot and tag. A snapshot that does not exist
        has no holds here rather than an error, as in `list_many`; a hold listed means its
        snapshot exists, a snapshot unlisted may exist without holds."""
        ...

    async def bookmark(self, source: str, bookmark: str) -> None:
        """Bookmark a snapshot (or copy a bookmark) as `bookmark` (`pool/fs#mark`)."""
        ...

    async def bookmark_many(self, bookmarks: Mapping[str, str]) -> None:
        """`bookmark` of each source as its bookmark (bookmark -> source): one command a
        pool where OpenZFS has channel programs (`zfs bookmark` makes one a command), else
        one each. All or nothing within a pool: a refusal (say, a bookmark that exists)
        makes none of that pool's and fails as `bookmark` would; the pools go in name
        order, so an earlier pool's stay made. No bookmarks, no command."""
        ...

    async def rename(self, old: str, new: str, *, recursive: bool = False) -> None:
        """Rename a dataset or a snapshot; `recursive` (-r) renames a snapshot and its
        same-named counterparts below."""
        ...

    async def clone(
        self, snapshot: str, target: str, *, properties: Mapping[str, str] | None = None
    ) -> None: ...

    async def promote(self, clone: str) -> None: ...

    async def rollback(self, snapshot: str, *, destroy_newer: bool = False) -> None:
        """Roll a dataset back to `snapshot`; newer snapshots are destroyed only with -r."""
        ...

    async def get_properties(
        self, name: str, properties: Sequence[str]
    ) -> dict[str, PropertyValue]: ...

    async def local_properties(
        self, name: str, *, source: PropertySource = PropertySource.LOCAL
    ) -> dict[str, str]:
        """Every property set on `name` itself, by name -> value (`zfs get -H -p -s local
        -o property,value all NAME`): what `zfs set` (or create/clone -o) put there, user
        properties included. With `source=RECEIVED`, those whose value came from a `zfs
        receive` instead (a local value hides the received one, as in `zfs get`). Only LOCAL
        and RECEIVED: the other sources would list every default of every property."""
        ...

    async def set_properties(self, name: str, properties: Mapping[str, str]) -> None: ...

    async def inherit(self, name: str, prop: str, *, recursive: bool = False) -> None: ...

    async def set_many(self, objects: Sequence[str], properties: Mapping[str, str]) -> None:
        """`zfs set prop=value... NAME...`: the same values on several objects in one
        command (a replica sync marks every snapshot it sent). Not all-or-nothing: zfs sets
        each object it can open and fails naming the others. No names, no command."""
        ...

    async def inherit_many(self, objects: Sequence[str], prop: str) -> None:
        """`zfs inherit PROP NAME...`: `inherit` of several objects in one command, as
        `set_many` (no -r)."""
        ...

    async def send_estimate(self, spec: SendSpec) -> int:
        """The stream size in bytes that `zfs send -nvP` predicts."""
        ...

    async def send_recv(
        self,
        spec: SendSpec,
        target: Self,
        recv: RecvSpec,
        *,
        progress: ProgressCallback | None = None,
    ) -> TransferResult:
        """Send from this host's pools into `target`'s (which may be this same backend).

        A failure raises the error of the side that explains it (recv for a mismatched
        incremental, send for a missing snapshot); with `recv.resumable` a cut stream
        leaves a `receive_resume_token` on the target. Cancelling the awaiting task cuts
        the stream the same way.
        """
        ...

    async def recv_abort(self, dataset: str) -> None:
        """`zfs receive -A`: discard a partial resumable receive."""
        ...
