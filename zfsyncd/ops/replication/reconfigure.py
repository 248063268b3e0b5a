"""The replica-reconfigure transaction (`replica reconfigure SRC [HOST:]DST`): SRC gets a new
destination (seed 003's `reconfig`): another dataset, or the same one reached through
another host label. No data moves: the new destination must already be a replica of SRC,
sharing a snapshot with it by guid and not diverged since (choose.adoption), as one made
by `zfs send | zfs recv` or another tool is. One that does not exist is refused with what
to do instead (`replica clear` then `replica init`: init makes destinations).

Steps:
- the new destination: `readonly=on`, `zfsync:role=destination`, `zfsync:peer=SRC` (and
  SRC's savecount, unless it has its own) in one set-properties step on its host;
- the base hold onto the newest snapshot they share, on both ends (marks.move_base: on the
  source released from the old pair's base);
- the sent marks removed from SRC's snapshots newer than that (they went to the old
  destination, not the new one);
- SRC's `zfsync:peer` set to the new destination, last.

The old destination is left as it is (it may be gone, or unreachable: often the reason to
reconfigure); `replica clear` on it forgets it there. Planning reads SRC and the new
destination once each (a `zfs get`, a `zfs list`, at most a `zfs holds`).
"""

from __future__ import annotations

from typing import Any

from zfsyncd.api.names import Action
from zfsyncd.ops.replication.choose import Divergence, adoption
from zfsyncd.ops.replication.ends import (
    READONLY,
    End,
    PairReading,
    read_end,
    read_pair,
    role_refusal,
)
from zfsyncd.ops.replication.inventory import DatasetState, host_of, read_side
from zfsyncd.ops.replication.marks import move_base, unmark_sent
from zfsyncd.ops.replication.props import PEER, ROLE, SAVECOUNT, Peer, Role, parse_peer
from zfsyncd.ops.replication.requests import ReconfigureRequest
from zfsyncd.tx.errors import PlanError
from zfsyncd.tx.hosts import LOCAL
from zfsyncd.tx.kinds import BusMethod, Plan, PlanContext, RequestKind, register_kind
from zfsyncd.tx.steps import Step
from zfsyncd.tx.steps.properties import SetProperties, SetPropertiesArgs


def describe(request: ReconfigureRequest) -> str:
    return f"replicate {request.source} to {parse_peer(request.destination)} from now on"


def decide(
    request: ReconfigureRequest,
    pair: PairReading,
    new: End | None,
    new_state: DatasetState | None,
) -> Plan:
    """The steps (see the module's docstring); PlanError when the new destination is not
    a replica of SRC that can go on from where they both are."""
    source, src = pair.here, pair.here_state
    problem = role_refusal(source, Role.SOURCE)
    if problem is not None:
        raise PlanError(problem)
    target = parse_peer(request.destination)
    if source.peer == target:
        raise PlanError(f"{target} is the destination of {source.dataset} already")
    if new is None or new_state is None:
        raise PlanError(
            f"{target} does not exist: a new destination is made by `replica init` "
            f"(forget the pair with `replica clear {source.dataset}` first)"
        )
    if new.role is not None and not (new.role == Role.DESTINATION and new.peer == source.address):
        raise PlanError(
            f"{target} is the {new.role} of another replica pair (its peer: "
            f"{new.local.get(PEER)}): clear it first"
        )
    common = adoption(src, new_state)
    if common is None:
        raise PlanError(
            f"{target} shares no snapshot with {source.dataset} (by guid): it is not a "
            "replica of it; a new destination is made by `replica init`"
        )
    if isinstance(common, Divergence):
        raise PlanError(common.report())
    pair_props: dict[str, str | None] = {
        READONLY: "on",
        ROLE: Role.DESTINATION,
        PEER: str(source.address),
    }
    savecount = source.local.get(SAVECOUNT)
    if SAVECOUNT not in new.local and savecount is not None:
        pair_props[SAVECOUNT] = savecount
    args = SetPropertiesArgs(host=target.host, name=target.dataset, properties=pair_props)
    steps: list[Step[Any]] = [SetProperties(args)]
    steps += move_base(target.host, new_state.snapshots, common.destination)
    steps += move_base(LOCAL, src.snapshots, common.source)
    newer = [p for p in src.snapshots if p.createtxg > common.source.createtxg]
    steps += unmark_sent(newer)
    repoint: dict[str, str | None] = {PEER: str(target)}
    steps.append(SetProperties(SetPropertiesArgs(name=source.dataset, properties=repoint)))
    return Plan(steps=steps, description=describe(request))


class ReconfigureKind(RequestKind[ReconfigureRequest]):
    name = "replica-reconfigure"
    action = Action.MANAGE
    request = ReconfigureRequest
    method = BusMethod("ReplicaReconfigure", positional=("source", "destination"))

    def summary(self, request: ReconfigureRequest) -> str:
        return describe(request)

    def targets(self, request: ReconfigureRequest) -> set[str]:
        return {request.source}

    async def plan_request(self, ctx: PlanContext, request: ReconfigureRequest) -> Plan:
        pair = await read_pair(ctx, LOCAL, request.source, peer=False)
        target: Peer = parse_peer(request.destination)
        zfs = host_of(ctx, target.host).zfs
        new = await read_end(zfs, target.host, target.dataset)
        state = None
        if new is not None:
            state = (await read_side(zfs, target.host, [target.dataset])).get(target.dataset)
        return decide(request, pair, new, state)


RECONFIGURE = register_kind(ReconfigureKind())
