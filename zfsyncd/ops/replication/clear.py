"""The replica-clear transaction: forget a pair (seed 003's `zrep clear`). On both ends: the
base hold released, the pair's dataset properties (props.DATASET_PROPERTIES) removed (`zfs
inherit`), and the `zfsync:sent` marks of its snapshots (one `zfs inherit` over them);
with `destroy_snapshots`, the zfsync_ snapshots destroyed too (moved to trash names,
destroyed when the transaction completes, so a failure puts them back). Otherwise every
snapshot stays. Bookmarks stay either way (no step destroys many at once yet).

Either end may be named (the request calls it `source`, the usual case): a destination
whose source is gone is cleared the same way, to be used as a plain filesystem. The other
end is cleared too when it exists and names the named one as its peer; otherwise (gone,
on a host no longer configured, already cleared, or paired elsewhere) only the named end
is, and the description says so. A snapshot someone else holds, or
has cloned, is not destroyed (it is theirs to keep; zfs could not) and is named in the
description.

Planning reads each end once (ends.read_pair), and with `destroy_snapshots` each end's pool
for its clones (origins.py); per end at most four steps: release,
destroy (one step over all its snapshots), sent marks, properties.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zfsyncd.api.names import Action
from zfsyncd.ops.replication import origins
from zfsyncd.ops.replication.choose import is_ours
from zfsyncd.ops.replication.ends import End, PairReading, partner_refusal, read_pair
from zfsyncd.ops.replication.inventory import DatasetState, host_of
from zfsyncd.ops.replication.marks import move_base, unmark_sent
from zfsyncd.ops.replication.props import BASE_HOLD, ROLE
from zfsyncd.ops.replication.requests import ClearRequest
from zfsyncd.tx.errors import PlanError
from zfsyncd.tx.hosts import LOCAL
from zfsyncd.tx.kinds import BusMethod, Plan, PlanContext, RequestKind, register_kind
from zfsyncd.tx.steps import Step
from zfsyncd.tx.steps.properties import SetProperties, SetPropertiesArgs
from zfsyncd.tx.steps.snapshots import DestroySnapshots, DestroySnapshotsArgs
from zfsyncd.zfs import names


def end_steps(
    end: End, state: DatasetState, destroy: bool, cloned: frozenset[str] = frozenset()
) -> tuple[list[Step[Any]], list[str]]:
    """(the steps that clear one end, the snapshots kept because someone else holds them
    or has a clone of them: `cloned`)."""
    steps = move_base(end.host, state.snapshots, None)
    kept: list[str] = []
    doomed: dict[str, int | None] = {}
    if destroy:
        for point in state.snapshots:
            if not is_ours(point):
                continue
            if point.holds - {BASE_HOLD} or point.name in cloned:
                kept.append(point.name)
            else:
                doomed[point.name] = point.guid
        if doomed:
            args = DestroySnapshotsArgs(host=end.host, snapshots=doomed)
            steps.append(DestroySnapshots(args))
    steps += unmark_sent((p for p in state.snapshots if p.name not in doomed), end.host)
    if end.local:
        forget: dict[str, str | None] = dict.fromkeys(end.local)
        args_ = SetPropertiesArgs(host=end.host, name=end.dataset, properties=forget)
        steps.append(SetProperties(args_))
    return steps, kept


def describe(request: ClearRequest) -> str:
    also = ", destroying its zfsync_ snapshots" if request.destroy_snapshots else ""
    return f"forget the replica pair of {request.source}{also}"


def decide(
    request: ClearRequest, pair: PairReading, cloned: Mapping[str, frozenset[str]] | None = None
) -> Plan:
    """Both ends' steps (the named end's first), or the named one's alone; PlanError when it
    is not part of a pair. `cloned`: host -> the snapshots with clones there (read when
    snapshots are destroyed)."""
    cloned = cloned or {}
    here = pair.here
    if here.role is None:
        raise PlanError(f"{here.dataset} is not part of a replica pair (no {ROLE} set on it)")
    none: frozenset[str] = frozenset()
    destroy = request.destroy_snapshots
    steps, kept = end_steps(here, pair.here_state, destroy, cloned.get(here.host, none))
    note = ""
    peer, there, there_state = here.peer, pair.there, pair.there_state
    if (
        peer is not None
        and there is not None
        and there_state is not None
        and partner_refusal(here, there, peer) is None
    ):
        more, kept_there = end_steps(there, there_state, destroy, cloned.get(there.host, none))
        steps += more
        kept += kept_there
    elif pair.unreachable is not None:
        note = f" (this end only: {pair.unreachable})"
    else:
        note = f" (this end only: its peer {peer} is gone or not paired with it)"
    if kept:
        note += f" (kept, held by others or cloned: {', '.join(kept)})"
    return Plan(steps=steps, description=describe(request) + note)


class ClearKind(RequestKind[ClearRequest]):
    name = "replica-clear"
    action = Action.REPLICATE
    request = ClearRequest
    method = BusMethod("ReplicaClear", positional=("source",))

    def summary(self, request: ClearRequest) -> str:
        return describe(request)

    def targets(self, request: ClearRequest) -> set[str]:
        return {request.source}

    async def plan_request(self, ctx: PlanContext, request: ClearRequest) -> Plan:
        pair = await read_pair(ctx, LOCAL, request.source)
        cloned: dict[str, frozenset[str]] = {}
        if request.destroy_snapshots:
            for end in (pair.here, pair.there):
                if end is not None:
                    zfs = host_of(ctx, end.host).zfs
                    found = await origins.cloned(zfs, [names.pool_of(end.dataset)])
                    cloned[end.host] = cloned.get(end.host, frozenset()) | found
        return decide(request, pair, cloned)


CLEAR = register_kind(ClearKind())
