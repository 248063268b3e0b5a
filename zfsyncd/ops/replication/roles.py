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

Refused before anything changes, whatever could split the brain (`split_brain`): both
sides writable already, no snapshot shared by guid, a destination that diverged (written
to, or holding snapshots the source never had: choose.divergence). Without -L the two must
name each other as peers and the source must have nothing its destination lacks (no
snapshot newer than the common one, nothing written since): the final sync a failover
needs is not part of these transactions yet, so they ask for `replica sync` first rather
than swap away data the new source would not have. -L checks only the named side's role.

Planning reads each end once (ends.read_pair: a `zfs get`, a `zfs list`, at most a `zfs
holds`), plus, for --snapshot, the pool of DST for the swap's refusals (three commands);
then decides with the pure functions here (tables in tests/unit/ops/replication/test_roles.py).
"""

from __future__ import annotations

from typing import Any

from zfsyncd.api.names import Action
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
from zfsyncd.ops.replication.requests import FailoverRequest, TakeoverRequest
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
    """What the source has that its destination lacks (the final sync would carry it);
    None when nothing."""
    common = newest_common(src, dst)
    newer = [p.short for p in unsent(src, common)]
    if not newer and not src.written:
        return None
    what = f"snapshots not sent ({', '.join(newer)})" if newer else f"{src.written} bytes written"
    return (
        f"{source.address} has {what} that its destination lacks: run `replica sync "
        f"{source.dataset}` first (or swap this side alone with -L)"
    )


def _demote(end: End) -> SetProperties:
    """The source becomes a read-only destination (first: nothing is writable twice)."""
    change: dict[str, str | None] = {READONLY: ON, ROLE: Role.DESTINATION}
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


def decide_failover(request: FailoverRequest, pair: PairReading) -> Plan:
    source = pair.here
    _refuse(role_refusal(source, Role.SOURCE))
    steps: list[Step[Any]] = [_demote(source)]
    if not request.local_only:
        destination, dst = partner_of(pair)
        _refuse(split_brain(source, pair.here_state, destination, dst, rewinding=False))
        _refuse(final_sync_refusal(source, pair.here_state, dst))
        steps.append(_promote(destination, paused=PAUSED in source.local))
    return Plan(steps=steps, description=describe_failover(request))


def describe_takeover(request: TakeoverRequest) -> str:
    alone = " (this side only)" if request.local_only else ""
    back = f", rolled back to {request.snapshot}" if request.snapshot else ""
    return f"take over {request.destination}: it becomes the source of its peer{back}{alone}"


def decide_takeover(
    request: TakeoverRequest, pair: PairReading, rollback: RollbackFacts | None, tx_id: str
) -> Plan:
    """`rollback`: the pool of DST as the swap's refusals read it (with --snapshot)."""
    destination, dst = pair.here, pair.here_state
    _refuse(role_refusal(destination, Role.DESTINATION))
    steps: list[Step[Any]] = []
    paused = False
    if not request.local_only:
        source, src = partner_of(pair)
        rewinding = request.snapshot is not None
        _refuse(split_brain(source, src, destination, dst, rewinding=rewinding))
        if not rewinding:
            _refuse(final_sync_refusal(source, src, dst))
        steps.append(_demote(source))
        paused = PAUSED in source.local
    if request.snapshot is not None:
        target = dst.snapshot(request.snapshot)
        if target is None or rollback is None:
            raise MissingObjectError(
                f"snapshot {destination.dataset}@{request.snapshot} does not exist"
            )
        steps += rewind_steps(destination.host, dst, target, rollback, tx_id)
    steps.append(_promote(destination, paused))
    return Plan(steps=steps, description=describe_takeover(request))


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
        pair = await read_pair(ctx.host, LOCAL, request.source, peer=not request.local_only)
        return decide_failover(request, pair)


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
        pair = await read_pair(ctx.host, LOCAL, request.destination, peer=not request.local_only)
        rollback = None
        if request.snapshot is not None and pair.here_state.snapshot(request.snapshot):
            target = f"{request.destination}@{request.snapshot}"
            rollback = await read_facts(ctx.host(LOCAL).zfs, target)
        return decide_takeover(request, pair, rollback, ctx.tx_id)


FAILOVER = register_kind(FailoverKind())
TAKEOVER = register_kind(TakeoverKind())
