"""`replica init SRC [HOST:]DST` (transaction type replica-init): make SRC a source that
DST replicates (seed 003: "initial set up").

Planning reads the source (one `zfs list`, one `zfs holds` at most), the destination and
its parent (one `zfs list` each), then `decide` picks one of three ways, or refuses:

- DST does not exist: full send of a first snapshot, `zfs receive -o` giving DST its
  `zfsync:*` properties and readonly=on (no command of its own);
- DST exists and shares a snapshot with SRC by guid (a replica made by another tool, or
  by plain `zfs send | zfs recv`): it is *adopted*: an incremental from the newest common
  snapshot, then DST's properties set; a diverged DST is refused with the report;
- DST exists and is empty (no snapshot, no child, no data): it is moved aside (renamed to
  a trash name: undo moves it back; destroyed once the transaction completed), and the
  full send makes DST anew. Never `receive -F`, which no undo could take back.

Either way the new snapshot `zfsync_<tx>` carries `zfsync:sent`, is held with
`zfsync_replica` on both sides (the base of the next sync) and bookmarked on the source.
An encrypted source is sent raw (-w), so its data stays encrypted with the source's key.
`-R` sends the descendants too (one `zfs send -R`); their snapshots are held and
bookmarked with the top's.

A destination's `zfsync:peer` names the source as this daemon names it (`local:SRC`).
"""

from __future__ import annotations

import time
from typing import Any

from zfsyncd.api.names import Action
from zfsyncd.ops.replication import choose, props
from zfsyncd.ops.replication.inventory import DatasetState, Side, host_of, read_side
from zfsyncd.ops.replication.props import BASE_HOLD, Peer, Role, parse_peer
from zfsyncd.ops.replication.requests import InitRequest
from zfsyncd.ops.snapshot import snapshot_name
from zfsyncd.tx.errors import MissingObjectError, PlanError
from zfsyncd.tx.hosts import LOCAL, located
from zfsyncd.tx.kinds import BusMethod, Plan, PlanContext, RequestKind, register_kind
from zfsyncd.tx.steps import Step
from zfsyncd.tx.steps.bookmarks import BookmarksArgs, CreateBookmarks
from zfsyncd.tx.steps.datasets import DestroyDataset, DestroyDatasetArgs
from zfsyncd.tx.steps.holds import HoldArgs, HoldSnapshots
from zfsyncd.tx.steps.properties import SetProperties, SetPropertiesArgs
from zfsyncd.tx.steps.snapshots import CreateSnapshots, CreateSnapshotsArgs
from zfsyncd.tx.steps.transfers import SendReceiveMany, SendReceiveManyArgs, Stream
from zfsyncd.zfs import names
from zfsyncd.zfs.models import ObjectType, RecvSpec, SendSpec


def describe(request: InitRequest) -> str:
    recursive = " with its descendants" if request.recursive else ""
    return f"replica init {request.source}{recursive} to {parse_peer(request.destination)}"


async def read_facts(ctx: PlanContext, request: InitRequest) -> tuple[Side, Side, bool]:
    """The source side, the destination side, and whether DST's parent exists."""
    peer = parse_peer(request.destination)
    target = host_of(ctx, peer.host).zfs
    source = await read_side(ctx.host(LOCAL).zfs, LOCAL, [request.source])
    destination = await read_side(target, peer.host, [peer.dataset])
    parent = names.parent_of(peer.dataset)
    parent_exists = parent is None or bool(
        await target.list_many([parent], types=[ObjectType.FILESYSTEM, ObjectType.VOLUME])
    )
    return source, destination, parent_exists


def decide(
    request: InitRequest,
    source_side: Side,
    destination_side: Side,
    parent_exists: bool,
    tx_id: str,
    now: int,
) -> Plan:
    """The steps of the init, or a PlanError that says what is wrong."""
    peer = parse_peer(request.destination)
    source = _check_source(request, source_side)
    dst = destination_side.get(peer.dataset)
    if peer.host == LOCAL and (
        names.is_descendant(peer.dataset, source.name)
        or names.is_descendant(source.name, peer.dataset)
    ):
        raise PlanError(f"destination {peer.dataset} and source {source.name} overlap")
    short = snapshot_name(tx_id)
    below = [d.name for d in source_side.below(source.name)] if request.recursive else []
    covered = below or [source.name]
    snaps = tuple(f"{d}@{short}" for d in covered)
    for snap in snaps:
        names.check_snapshot(snap)  # a long name may leave no room
    savecount = request.destination_savecount or request.savecount
    dst_properties = {
        props.ROLE: Role.DESTINATION.value,
        props.PEER: str(Peer(host=LOCAL, dataset=source.name)),
        props.SAVECOUNT: str(savecount),
        "readonly": "on",
    }
    steps: list[Step[Any]] = [
        SetProperties(
            SetPropertiesArgs(
                name=source.name,
                properties={
                    props.ROLE: Role.SOURCE.value,
                    props.PEER: str(peer),
                    props.SAVECOUNT: str(request.savecount),
                },
            )
        )
    ]
    send = SendSpec(
        snapshot=f"{source.name}@{short}", raw=source.encrypted, replicate=request.recursive
    )
    adopted = False
    if dst is None:
        if not parent_exists:
            parent = names.parent_of(peer.dataset)
            raise MissingObjectError(
                f"the parent of destination {peer.dataset} ({parent}) does not exist on {peer.host}"
            )
    else:
        send, adopted = _existing_destination(request, source, destination_side, dst, send)
        if adopted and not dst.encrypted:
            # a plain replica of an encrypted source (sent with its key loaded) goes on plain
            send = send.model_copy(update={"raw": False})
        if not adopted:
            steps.append(
                DestroyDataset(DestroyDatasetArgs(host=peer.host, name=dst.name, guid=dst.guid))
            )
    steps.append(
        CreateSnapshots(
            CreateSnapshotsArgs(
                snapshots=(f"{source.name}@{short}",),
                recursive=request.recursive,
                properties={props.SENT: str(now)},
            )
        )
    )
    steps.append(HoldSnapshots(HoldArgs(tag=BASE_HOLD, snapshots=snaps)))
    recv = RecvSpec(target=peer.dataset, properties={} if adopted else dst_properties)
    stream = Stream(send=send, recv=recv)
    steps.append(SendReceiveMany(SendReceiveManyArgs(streams=(stream,), target=peer.host)))
    if adopted:
        steps.append(
            SetProperties(
                SetPropertiesArgs(host=peer.host, name=peer.dataset, properties=dst_properties)
            )
        )
    dst_snaps = tuple(f"{peer.dataset}{d[len(source.name) :]}@{short}" for d in covered)
    steps.append(HoldSnapshots(HoldArgs(host=peer.host, tag=BASE_HOLD, snapshots=dst_snaps)))
    steps.append(
        CreateBookmarks(BookmarksArgs(bookmarks={f"{d}#{short}": f"{d}@{short}" for d in covered}))
    )
    how = " (adopting the existing replica)" if adopted else ""
    return Plan(
        steps=steps,
        description=f"{describe(request)}{how}",
        extra_datasets=set(covered),
    )


def _check_source(request: InitRequest, side: Side) -> DatasetState:
    source = side.get(request.source)
    if source is None:
        raise MissingObjectError(f"source {request.source} does not exist")
    if source.role is not None:
        raise PlanError(
            f"{source.name} is already part of a replica (zfsync:role={source.role.value}, "
            f"zfsync:peer={source.peer}); `replica clear` forgets it"
        )
    if request.recursive:
        managed = [d.name for d in side.below(source.name) if d.role is not None]
        if managed:
            raise PlanError(f"{managed[0]}, below {source.name}, is already part of a replica")
    return source


def _existing_destination(
    request: InitRequest, source: DatasetState, side: Side, dst: DatasetState, send: SendSpec
) -> tuple[SendSpec, bool]:
    """What to do with a destination that exists: (the send, adopted?); PlanError when it
    cannot be used."""
    if dst.role is not None:
        raise PlanError(
            f"destination {dst.name} is already part of a replica "
            f"(zfsync:role={dst.role.value}, zfsync:peer={dst.peer})"
        )
    common = choose.newest_common(source, dst)
    children = [d for d in side.below(dst.name) if d.name != dst.name]
    if common is not None:
        diverged = choose.divergence(dst, common)
        if diverged is not None:
            raise PlanError(f"cannot adopt: {diverged.report()}")
        if common.source.is_bookmark:
            if request.recursive:
                raise PlanError(
                    f"cannot adopt {dst.name} with -R from a bookmark ({common.source.name}): "
                    "zfs send -R takes a snapshot as base"
                )
            return send.model_copy(
                update={"base": common.source.name, "intermediates": False}
            ), True
        return send.model_copy(update={"base": common.source.name, "intermediates": True}), True
    if names.parent_of(dst.name) is None:
        raise PlanError(f"destination {dst.name} is a pool's root: name a dataset below it")
    if not choose.is_empty(dst, len(children)):
        what = (
            f"{len(dst.snapshots)} snapshots, none shared with {source.name} by guid"
            if dst.snapshots
            else f"{len(children)} datasets below it"
            if children
            else f"{dst.referenced} bytes of data"
        )
        raise PlanError(f"destination {dst.name} exists and is not empty ({what})")
    return send, False


class ReplicaInitKind(RequestKind[InitRequest]):
    name = "replica-init"
    action = Action.REPLICATE
    request = InitRequest
    method = BusMethod("ReplicaInit", positional=("source", "destination"))

    def summary(self, request: InitRequest) -> str:
        return describe(request)

    def targets(self, request: InitRequest) -> set[str]:
        peer = parse_peer(request.destination)
        return {request.source, located(peer.host, peer.dataset)}

    async def plan_request(self, ctx: PlanContext, request: InitRequest) -> Plan:
        source, destination, parent_exists = await read_facts(ctx, request)
        return decide(request, source, destination, parent_exists, ctx.tx_id, int(time.time()))


REPLICA_INIT = register_kind(ReplicaInitKind())
