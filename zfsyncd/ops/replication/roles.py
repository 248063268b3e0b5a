"""The replica-failover and replica-takeover transactions: the pair's roles swap (seed 003,
zrep's failover/takeover pair): the source becomes the read-only destination, the
destination the writable source. Data does not move; properties do.

- `failover SRC` (run where SRC is): SRC `readonly=on`, `zfsync:role=destination`; then its
  peer `readonly=off`, `zfsync:role=source`. With -L (the peer cannot be reached) only SRC
  changes; the other side's `takeover -L` finishes the swap there.
- `takeover DST` (run where DST is): the same from the other end: first the source is made
  read-only and a destination, then DST writable and the source. With -L only DST changes.
  `--snapshot S` rolls DST back to its snapshot S first (rewind.py: the reversible swap, the
  base hold moved onto S).

The order is the safety: the side that was writable is made read-only before the other is
made writable, so at no moment are both writable; undo runs the steps backwards, which
keeps that true on the way back. `zfsync:paused` moves with the source role.

Without -L the swap begins with a final sync, planned by replica-sync's own `decide` (sync.py)
over the readings made here: the source is made read-only first (so nothing is written
after the snapshot that sync takes), then the sync's steps (snapshot, holds, send, bases,
bookmarks; no expiry: that follows a replica-sync transaction), then the roles; all undone
together if any fails. A takeover whose source is on another host cannot run that sync
from here (sync sends from this host): it is refused while the source has anything its
destination lacks, with `replica sync` on the source's host as the way.

Refused before anything changes, whatever could split the brain (`split_brain`): both
sides writable already, no snapshot shared by guid, a destination that diverged (written
to, or holding snapshots the source never had: choose.divergence). Without -L the two must
also name each other as peers. -L checks only the named side's role, and, unlike zrep's
`failover -L`, does not roll SRC back to its last sent snapshot: what was written since
stays (read-only), and the new source's next sync refuses the pair as diverged, naming it,
until `replica sync NEW@SNAP` (sync-to) rolls it back on purpose. Nothing is destroyed
unless someone names what.

Planning reads each end once (ends.read_pair: a `zfs get`, a `zfs list`, at most a `zfs
holds`), plus, for --snapshot, the pool of DST for the swap's refusals (three commands);
then decides with the pure functions here (tables in tests/unit/ops/replication/test_roles.py).
The final sync's steps are replica-sync's, with their costs.
"""

from __future__ import annotations

import time
from typing import Any

from zfsyncd.api.names import Action
from zfsyncd.ops.replication import sync as replica_sync
from zfsyncd.ops.replication.choose import divergence, newest_common, unsent
from zfsyncd.ops.replication.ends import (
    READONLY,
    End,
    PairReading,
    partner_of,
    read_pair,
    role_refusal,
)
from zfsyncd.ops.replication.inventory import DatasetState
from zfsyncd.ops.replication.props import PAUSED, ROLE, Role
from zfsyncd.ops.replication.requests import FailoverRequest, SyncRequest, TakeoverRequest
from zfsyncd.ops.replication.rewind import rewind_steps
from zfsyncd.tx.errors import MissingObjectError, PlanError
from zfsyncd.tx.hosts import LOCAL
from zfsyncd.tx.kinds import BusMethod, Plan, PlanContext, RequestKind, register_kind
from zfsyncd.tx.steps import Step
from zfsyncd.tx.steps.properties import SetProperties, SetPropertiesArgs
from zfsyncd.tx.steps.zfs_rollback_refusal import RollbackFacts, read_facts

ON, OFF = "on", "off"


def split_brain(
    source: End, src: DatasetState, destination: End, dst: DatasetState, *, rewinding: bool
) -> str | None:
    """Why swapping these two could split the brain; None when it cannot. `rewinding`: the
    destination is rolled back first (takeover --snapshot), so what it has beyond the
    common snapshot is given up on purpose and does not count."""
    if not source.readonly and not destination.readonly:
        return (
            f"both {source.address} and {destination.address} are writable (readonly=off): "
            "one of them may hold writes the other lacks; make one read-only first"
        )
    common = newest_common(src, dst)
    if common is None:
        return f"{source.address} and {destination.address} share no snapshot (by guid)"
    diverged = divergence(dst, common)
    if diverged is not None and not rewinding:
        return diverged.report()
    return None


def final_sync_refusal(source: End, src: DatasetState, dst: DatasetState) -> str | None:
    """What the source has that its destination lacks (the final sync would carry it),
    when that sync cannot run from here; None when it has nothing."""
    common = newest_common(src, dst)
    newer = [p.short for p in unsent(src, common)]
    if not newer and not src.written:
        return None
    what = f"snapshots not sent ({', '.join(newer)})" if newer else f"{src.written} bytes written"
    return (
        f"{source.address} has {what} that its destination lacks: run `replica sync "
        f"{source.dataset}` on its host first (or swap this side alone with -L)"
    )


def final_sync(pair: PairReading, source_here: bool, tx_id: str, now: int) -> Plan:
    """replica-sync's plan for the pair (no steps when nothing is unsent). `source_here`:
    the named end is the source (failover), else its peer is (takeover, on this host)."""
    here, there = pair.here_side(), pair.there_side()
    if there is None or pair.there is None:
        raise PlanError(f"the peer of {pair.here.dataset} was not read")
    sources, destinations = (here, there) if source_here else (there, here)
    dataset = (pair.here if source_here else pair.there).dataset
    facts = replica_sync.SyncFacts(sources=sources, destinations={destinations.host: destinations})
    return replica_sync.decide(SyncRequest(sources=(dataset,)), facts, tx_id, now)


def _freeze(end: End) -> SetProperties:
    """The source made read-only before its final snapshot."""
    change: dict[str, str | None] = {READONLY: ON}
    return SetProperties(SetPropertiesArgs(host=end.host, name=end.dataset, properties=change))


def _demote(end: End, frozen: bool = False) -> SetProperties:
    """The source becomes a read-only destination (first: nothing is writable twice);
    `frozen`: made read-only already (before a final sync)."""
    change: dict[str, str | None] = {ROLE: Role.DESTINATION}
    if not frozen:
        change = {READONLY: ON, **change}
    if PAUSED in end.local:
        change[PAUSED] = None
    return SetProperties(SetPropertiesArgs(host=end.host, name=end.dataset, properties=change))


def _promote(end: End, paused: bool) -> SetProperties:
    """The destination becomes the writable source (last)."""
    change: dict[str, str | None] = {READONLY: OFF, ROLE: Role.SOURCE}
    if paused:
        change[PAUSED] = ON
    return SetProperties(SetPropertiesArgs(host=end.host, name=end.dataset, properties=change))


def _refuse(problem: str | None) -> None:
    if problem is not None:
        raise PlanError(problem)


def describe_failover(request: FailoverRequest) -> str:
    alone = " (this side only)" if request.local_only else ""
    return f"fail over {request.source}: it becomes the destination of its peer{alone}"


def decide_failover(request: FailoverRequest, pair: PairReading, tx_id: str, now: int) -> Plan:
    """`now`: the time the final sync marks its snapshot sent with."""
    source = pair.here
    _refuse(role_refusal(source, Role.SOURCE))
    if request.local_only:
        return Plan(steps=[_demote(source)], description=describe_failover(request))
    destination, dst = partner_of(pair)
    _refuse(split_brain(source, pair.here_state, destination, dst, rewinding=False))
    synced = final_sync(pair, True, tx_id, now)
    steps: list[Step[Any]] = [_freeze(source), *synced.steps] if synced.steps else []
    steps.append(_demote(source, frozen=bool(synced.steps)))
    steps.append(_promote(destination, PAUSED in source.local))
    return Plan(steps, describe_failover(request), extra_datasets=synced.extra_datasets)


def describe_takeover(request: TakeoverRequest) -> str:
    alone = " (this side only)" if request.local_only else ""
    back = f", rolled back to {request.snapshot}" if request.snapshot else ""
    return f"take over {request.destination}: it becomes the source of its peer{back}{alone}"


def decide_takeover(
    request: TakeoverRequest,
    pair: PairReading,
    rollback: RollbackFacts | None,
    tx_id: str,
    now: int,
) -> Plan:
    """`rollback`: the pool of DST as the swap's refusals read it (with --snapshot); `now`:
    the time a final sync marks its snapshot sent with."""
    destination, dst = pair.here, pair.here_state
    _refuse(role_refusal(destination, Role.DESTINATION))
    steps: list[Step[Any]] = []
    extra: set[str] = set()
    paused = False
    if not request.local_only:
        source, src = partner_of(pair)
        rewinding = request.snapshot is not None
        _refuse(split_brain(source, src, destination, dst, rewinding=rewinding))
        synced: list[Step[Any]] = []
        if not rewinding and source.host == LOCAL:
            sync_plan = final_sync(pair, False, tx_id, now)
            synced, extra = sync_plan.steps, sync_plan.extra_datasets
        elif not rewinding:
            _refuse(final_sync_refusal(source, src, dst))
        steps += [_freeze(source), *synced] if synced else []
        steps.append(_demote(source, frozen=bool(synced)))
        paused = PAUSED in source.local
    if request.snapshot is not None:
        target = dst.snapshot(request.snapshot)
        if target is None or rollback is None:
            raise MissingObjectError(
                f"snapshot {destination.dataset}@{request.snapshot} does not exist"
            )
        steps += rewind_steps(destination.host, dst, target, rollback, tx_id)
    steps.append(_promote(destination, paused))
    return Plan(steps, describe_takeover(request), extra_datasets=extra)


class FailoverKind(RequestKind[FailoverRequest]):
    name = "replica-failover"
    action = Action.MANAGE
    request = FailoverRequest
    method = BusMethod("ReplicaFailover", positional=("source",))

    def summary(self, request: FailoverRequest) -> str:
        return describe_failover(request)

    def targets(self, request: FailoverRequest) -> set[str]:
        return {request.source}

    async def plan_request(self, ctx: PlanContext, request: FailoverRequest) -> Plan:
        # the final sync decides from `written` (-L has none)
        both = not request.local_only
        pair = await read_pair(ctx, LOCAL, request.source, peer=both, settle=both)
        return decide_failover(request, pair, ctx.tx_id, int(time.time()))


class TakeoverKind(RequestKind[TakeoverRequest]):
    name = "replica-takeover"
    action = Action.MANAGE
    request = TakeoverRequest
    method = BusMethod("ReplicaTakeover", positional=("destination",))

    def summary(self, request: TakeoverRequest) -> str:
        return describe_takeover(request)

    def targets(self, request: TakeoverRequest) -> set[str]:
        return {request.destination}

    async def plan_request(self, ctx: PlanContext, request: TakeoverRequest) -> Plan:
        # the final sync, or its refusal, decides from `written` (-L has none)
        both = not request.local_only
        pair = await read_pair(ctx, LOCAL, request.destination, peer=both, settle=both)
        rollback = None
        if request.snapshot is not None and pair.here_state.snapshot(request.snapshot):
            target = f"{request.destination}@{request.snapshot}"
            rollback = await read_facts(ctx.host(LOCAL).zfs, target)
        return decide_takeover(request, pair, rollback, ctx.tx_id, int(time.time()))


FAILOVER = register_kind(FailoverKind())
TAKEOVER = register_kind(TakeoverKind())
