"""The replica-sync-to transaction (`replica sync SRC@SNAP`): roll the destination back to
SNAP, a snapshot both sides have (by guid), as seed 003's `zrep -S fs@snap_sent` does with
`zfs rollback -r` on the remote side, "useful for: hey let's test out something on our
remote host".

Steps, in order (each undone by its own inverse if a later one fails):
- on the destination (its host): the base hold moved onto SNAP's copy and the reversible
  swap to it (rewind.py; the newer snapshots and the data written since are destroyed only
  when the transaction completes);
- on the source: the base hold moved onto SNAP, the newest snapshot both sides now share;
- on the source: `zfsync:sent` removed from every snapshot newer than SNAP, which the
  destination no longer has (the seed: "must rename to not have _sent"). The snapshots
  themselves stay: the seed keeps them "what if they WANT it to be temporary?", and the
  next sync sends them again from SNAP.

The destination's state is not checked for divergence: throwing away what it has beyond
SNAP is the request. It must still be SRC's partner (each names the other). The warning
and the confirmation (`--yes`) are the client's.

The sent markers go in one `zfs inherit` over the snapshots (marks.unmark_sent).
Planning reads each end once (ends.read_pair) and the destination's pool for the swap's
refusals (three commands).
"""

from __future__ import annotations

from typing import Any

from zfsyncd.api.names import Action
from zfsyncd.ops.replication.ends import PairReading, partner_of, read_pair, role_refusal
from zfsyncd.ops.replication.inventory import DatasetState, Point, host_of
from zfsyncd.ops.replication.marks import move_base, unmark_sent
from zfsyncd.ops.replication.props import BASE_HOLD, Role
from zfsyncd.ops.replication.requests import SyncToRequest
from zfsyncd.ops.replication.rewind import rewind_steps
from zfsyncd.tx.errors import MissingObjectError, PlanError
from zfsyncd.tx.hosts import LOCAL
from zfsyncd.tx.kinds import BusMethod, Plan, PlanContext, RequestKind, register_kind
from zfsyncd.tx.steps import Step
from zfsyncd.tx.steps.zfs_rollback_refusal import RollbackFacts, read_facts
from zfsyncd.zfs import names


def describe(request: SyncToRequest) -> str:
    return (
        f"roll the destination of {names.dataset_of(request.snapshot)} back to "
        f"{names.short_name(request.snapshot)}, destroying its newer snapshots"
    )


def targets(request: SyncToRequest, pair: PairReading) -> tuple[Point, DatasetState, Point]:
    """(SNAP on the source, the destination's state, SNAP's copy there); PlanError when SNAP
    is not a snapshot of a source whose partner has it (by guid)."""
    source = pair.here
    problem = role_refusal(source, Role.SOURCE)
    if problem is not None:
        raise PlanError(problem)
    _, dst = partner_of(pair)
    snap = pair.here_state.snapshot(names.short_name(request.snapshot))
    if snap is None:
        raise MissingObjectError(f"snapshot {request.snapshot} does not exist")
    copy = next((p for p in dst.snapshots if p.guid == snap.guid), None)
    if copy is None:
        raise PlanError(
            f"{dst.name} has no snapshot with the guid of {request.snapshot}: it was never "
            "received there, or has expired; roll back only to a snapshot both sides have"
        )
    return snap, dst, copy


def decide(request: SyncToRequest, pair: PairReading, facts: RollbackFacts, tx_id: str) -> Plan:
    """The steps (see the module's docstring); PlanError when there is nothing to do or it
    cannot be done. `facts`: the destination's pool, as the swap's refusals read it."""
    snap, dst, copy = targets(request, pair)
    destination, _ = partner_of(pair)
    steps: list[Step[Any]] = rewind_steps(destination.host, dst, copy, facts, tx_id)
    src = pair.here_state
    newer = [p for p in src.snapshots if p.createtxg > snap.createtxg]
    if any(BASE_HOLD in p.holds for p in newer):
        steps += move_base(LOCAL, newer, snap)
    steps += unmark_sent(newer)
    if not steps:
        raise PlanError(f"{dst.name} is at {copy.short} already, with nothing written since")
    return Plan(steps=steps, description=describe(request))


class SyncToKind(RequestKind[SyncToRequest]):
    name = "replica-sync-to"
    action = Action.REPLICATE
    request = SyncToRequest
    method = BusMethod("ReplicaSyncTo", positional=("snapshot",))

    def summary(self, request: SyncToRequest) -> str:
        return describe(request)

    def targets(self, request: SyncToRequest) -> set[str]:
        return {names.dataset_of(request.snapshot)}

    async def plan_request(self, ctx: PlanContext, request: SyncToRequest) -> Plan:
        pair = await read_pair(ctx, LOCAL, names.dataset_of(request.snapshot))
        _, _, copy = targets(request, pair)
        destination, _ = partner_of(pair)
        facts = await read_facts(host_of(ctx, destination.host).zfs, copy.name)
        return decide(request, pair, facts, ctx.tx_id)


SYNC_TO = register_kind(SyncToKind())
