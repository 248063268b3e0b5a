"""The replica methods of zfsyncd's Manager for zfsyncctl: their option dictionaries and calls
(dbus/org.zfsync.Daemon1.xml documents them; the daemon generates the Replica* methods from
the replica kinds' declarations, REPL-PLAN.md fixes their names). Imported by the `replica`
commands when they run, not at zfsyncctl's start (pydantic, dbus-fast)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from pydantic import Field

from zfsyncd.api.limits import MAX_REPLICA_PAGE

from .client import ZfsyncClient, _Options, _parse, _started
from .models import ReplicaRow, StartedTransaction

_COMMON = {"priority": "i", "timeout": "d", "tags": "as", "wait_for_locks": "b"}


class ReplicaOptions(_Options):
    """What every Replica* method takes (ReplicaSyncTo, ReplicaExpire, ReplicaPause,
    ReplicaResume and ReplicaReconfigure take nothing more)."""

    SIGNATURES: ClassVar[dict[str, str]] = dict(_COMMON)
    priority: int | None = None
    timeout: float | None = None
    tags: list[str] = Field(default_factory=list)
    wait_for_locks: bool | None = None


class InitOptions(ReplicaOptions):
    SIGNATURES: ClassVar[dict[str, str]] = {
        **_COMMON,
        "recursive": "b",
        "savecount": "u",
        "destination_savecount": "u",
    }
    recursive: bool | None = None
    savecount: int | None = None
    destination_savecount: int | None = None


class SyncOptions(ReplicaOptions):
    SIGNATURES: ClassVar[dict[str, str]] = {**_COMMON, "parallel": "u"}
    parallel: int | None = None


class ClearOptions(ReplicaOptions):
    SIGNATURES: ClassVar[dict[str, str]] = {**_COMMON, "destroy_snapshots": "b"}
    destroy_snapshots: bool | None = None


class FailoverOptions(ReplicaOptions):
    SIGNATURES: ClassVar[dict[str, str]] = {**_COMMON, "local_only": "b"}
    local_only: bool | None = None


class TakeoverOptions(ReplicaOptions):
    SIGNATURES: ClassVar[dict[str, str]] = {**_COMMON, "local_only": "b", "snapshot": "s"}
    local_only: bool | None = None
    snapshot: str | None = None


class ListReplicasOptions(_Options):
    """options of ListReplicas."""

    SIGNATURES: ClassVar[dict[str, str]] = {"dataset": "s", "limit": "u", "after": "s"}
    dataset: str | None = None
    limit: int | None = Field(default=None, ge=0, le=MAX_REPLICA_PAGE)
    after: str | None = None


#: Replica* method -> the signature of its positional arguments
ARGUMENTS: dict[str, str] = {
    "ReplicaInit": "ss",
    "ReplicaSync": "as",
    "ReplicaSyncTo": "s",
    "ReplicaExpire": "as",
    "ReplicaPause": "s",
    "ReplicaResume": "s",
    "ReplicaClear": "s",
    "ReplicaFailover": "s",
    "ReplicaTakeover": "s",
    "ReplicaReconfigure": "ss",
}


async def start(
    zc: ZfsyncClient, method: str, arguments: Sequence[object], options: ReplicaOptions
) -> StartedTransaction:
    """Call a Replica* method: its positional arguments, then its options."""
    signature = ARGUMENTS[method] + "a{sv}"
    (path,) = await zc.call(method, signature, [*arguments, options.to_dbus()])
    return _started(path, method)


async def list_replicas(zc: ZfsyncClient, options: ListReplicasOptions) -> list[ReplicaRow]:
    """One page (see `all_replicas`)."""
    (rows,) = await zc.call("ListReplicas", "a{sv}", [options.to_dbus()])
    return [_parse(ReplicaRow, r, "ListReplicas") for r in rows]


async def all_replicas(zc: ZfsyncClient, dataset: str | None = None) -> list[ReplicaRow]:
    """Every pair (or the pair of `dataset`), page after page."""
    found: list[ReplicaRow] = []
    while True:
        after = found[-1].cursor if found else None
        options = ListReplicasOptions(dataset=dataset, limit=MAX_REPLICA_PAGE, after=after)
        rows = await list_replicas(zc, options)
        found += rows
        if len(rows) < MAX_REPLICA_PAGE or not rows[-1].cursor:
            return found
