"""`replica sync SRC... | all [-P N]` (transaction type replica-sync): bring destinations up
to date with their sources (seed 003: "zrep -S", "zrep -P x -S all").

One transaction for all the sources named (or, with none, every managed source of this
host that is not paused): the steps are batched, so the zfs commands stay constant per
pool rather than growing per dataset beyond the transfer itself:

    create-snapshots  one `zfs snapshot` per source pool over every source with written > 0
                      (one txg: one point in time per pool), each marked zfsync:sent
    bookmarks         `SRC#<snapshot>` of every new base (the next base if it expires),
                      with the guids the snapshot answered (no reading before it)
    hold              the current bases that have no hold at all, per host
    send-receive-many the streams of one destination host, `parallel` at a time; a resume
                      token left on a destination is resumed first (or discarded when stale)
    move-hold         `zfsync_replica` onto the new bases (the snapshots just sent) and off
                      every older snapshot of the pairs that has it, per host: one reading
                      (the tags), the `zfs hold` and the `zfs release` at once
    set-user-property zfsync:sent on the snapshots made before and sent now (-I), one
                      `zfs set` for all

Expiry is not a step of the sync ("the sent marker recorded; expire afterwards"): once a
sync COMPLETED, the engine runs its follow-up, a replica-expire transaction over the same
sources (expire.py: one expiry implementation), linked to it. So every step of a sync has
an inverse and a completed sync can be rolled back (`transaction rollback ID`): the
received snapshots taken back and the destination's head back at its base, the holds moved
back, the bookmarks and the source's snapshot destroyed, the sent markers as they were.
A later sync stands in the way of that rollback (the engine's rule: a later transaction
changed the same datasets; roll it back first); the expiry that followed does not (it
cannot be rolled back itself, and only the base the rollback needs matters, which the
inverse steps find gone at plan time when savecount 1 let it expire).

Planning reads the sources (one `zpool sync` of this host's pools, so that `written`
counts every write made before the sync, destinations here included; one `zfs list`) and
each other destination host the same way (its `written` tells a diverged destination): no
`zfs holds`, since a plan only asks whether a snapshot is held (`userrefs`), and the hold
steps read the tags of what they act on. Then it decides per pair with choose.py's
functions:
- nothing written since the newest snapshot and nothing unsent, no token: nothing to do
  (no snapshot, no send);
- a destination that has diverged (snapshots newer than the common one, data written after
  its newest snapshot), shares nothing with its source, or cannot be reached is left out,
  and the description names it and why; when every source is left out the plan is refused
  with those reasons;
- the base is the newest snapshot both sides share by guid (-I), or the source's bookmark
  of it when the snapshot expired there (-i); an encrypted source is sent raw.

A pair is recursive (`init -R`) when its destination has datasets below it: the snapshot
is then recursive and the send `-R`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from zfsyncd.api import limits
from zfsyncd.api.names import Action
from zfsyncd.commands.errors import CommandError
from zfsyncd.ops.replication import choose, props
from zfsyncd.ops.replication.expire import EXPIRE
from zfsyncd.ops.replication.inventory import (
    DatasetState,
    Point,
    Side,
    host_of,
    list_side,
)
from zfsyncd.ops.replication.props import BASE_HOLD, Peer, Role, parse_peer
from zfsyncd.ops.replication.requests import ExpireRequest, SyncRequest
from zfsyncd.ops.snapshot import snapshot_name
from zfsyncd.tx.errors import MissingObjectError, PlanError
from zfsyncd.tx.hosts import LOCAL
from zfsyncd.tx.kinds import (
    BusMethod,
    FollowUp,
    Plan,
    PlanContext,
    RequestKind,
    register_kind,
)
from zfsyncd.tx.steps import Step
from zfsyncd.tx.steps.base import JsonDict
from zfsyncd.tx.steps.bookmarks import BookmarksArgs, CreateBookmarks
from zfsyncd.tx.steps.holds import HoldArgs, HoldSnapshots
from zfsyncd.tx.steps.move_hold import MoveHold, MoveHoldArgs
from zfsyncd.tx.steps.snapshots import CreateSnapshots, CreateSnapshotsArgs
from zfsyncd.tx.steps.transfers import SendReceiveMany, SendReceiveManyArgs, Stream
from zfsyncd.tx.steps.user_properties import SetUserProperty, UserPropertyArgs
from zfsyncd.zfs import names
from zfsyncd.zfs.models import RecvSpec, SendSpec

log = logging.getLogger(__name__)


def describe(request: SyncRequest) -> str:
    what = ", ".join(request.sources) if request.sources else "all"
    parallel = f", {request.parallel} at a time" if request.parallel > 1 else ""
    return f"replica sync {what}{parallel}"


@dataclass(frozen=True)
class SyncFacts:
    """What the plan decides from: the sources' side and each destination host's."""

    sources: Side
    #: host -> its side (the destinations of the pairs on it); a host that is not
    #: configured is missing here
    destinations: Mapping[str, Side]
    #: host -> why it could not be read
    unreachable: Mapping[str, str] = field(default_factory=dict)


async def read_facts(ctx: PlanContext, request: SyncRequest) -> SyncFacts:
    """One reading of the local host (the sources named, or every pool), and one of each
    destination host (the local one reuses the first when it covers every pool), each a
    `zfs list` and no `zfs holds`: the plan asks only whether a snapshot is held (its
    `userrefs`, Listing.held_side), and the hold steps read the tags where they act."""
    local = ctx.host(LOCAL).zfs
    named = None
    if request.sources:
        # their parents too: a child of a -R pair inherits its parent's role and peer, and
        # only the parent's reading tells it from a pair of its own (Side.managed)
        parents = {names.parent_of(s) for s in request.sources}
        named = [*request.sources, *(p for p in parents if p is not None)]
    # `written` decides what is sent: each side settled first (sync.py's docstring), here
    # every pool of this host in one `zpool sync` (as `sync all` does), so a destination on
    # this host, whose pool only the sources' zfsync:peer tells, needs no `zpool sync` of
    # its own after that reading: one command and one wait less before the stream
    listing = await list_side(local, LOCAL, named, settle=True, every_pool=True)
    sources = listing.held_side()
    wanted: dict[str, list[str]] = defaultdict(list)
    for ds in _candidates(request, sources):
        peer = _peer(ds)
        if peer is not None:
            wanted[peer.host].append(peer.dataset)
    # the local host's pools were all read (sync all): its destinations are in them
    apart = [h for h in sorted(wanted) if h != LOCAL or request.sources]

    async def destination(host: str) -> Side | str:
        try:
            zfs = host_of(ctx, host).zfs
            found = await list_side(zfs, host, wanted[host], settle=host != LOCAL)
            return found.held_side()
        except (PlanError, CommandError) as exc:
            # one host down (not configured, ssh failing) leaves out its pairs only
            return f"host {host} cannot be read: {exc}"

    found = await asyncio.gather(*map(destination, apart))
    destinations: dict[str, Side] = {h: sources for h in wanted if h not in apart}
    unreachable: dict[str, str] = {}
    for host, side in zip(apart, found, strict=True):
        if isinstance(side, str):
            unreachable[host] = side
        else:
            destinations[host] = side
    return SyncFacts(sources, destinations, unreachable)


def _candidates(request: SyncRequest, side: Side) -> list[DatasetState]:
    """The sources the request covers: those named (each must be a source), or every
    managed source of the host."""
    if not request.sources:
        return [d for d in side.managed() if d.role is Role.SOURCE]
    found = []
    roots = {d.name for d in side.managed()}
    for name in request.sources:
        ds = side.get(name)
        if ds is None:
            raise MissingObjectError(f"source {name} does not exist")
        if ds.role is not Role.SOURCE:
            role = "unset" if ds.role is None else ds.role.value
            raise PlanError(f"{name} is not a replica source (zfsync:role is {role})")
        if name not in roots:
            raise PlanError(f"{name} is part of the replica of {names.parent_of(name)} (-R)")
        found.append(ds)
    return found


def _peer(ds: DatasetState) -> Peer | None:
    try:
        return None if ds.peer is None else parse_peer(ds.peer)
    except ValueError:
        return None


# ------------------------------------------------------------------ one pair


@dataclass(frozen=True)
class PairPlan:
    """What the sync does for one pair."""

    source: DatasetState
    peer: Peer
    #: the source datasets the pair covers (the source and, for -R, its descendants)
    covered: tuple[str, ...]
    recursive: bool
    #: take a new snapshot (data was written since the newest)
    snapshot: bool
    stream: Stream
    #: (host, snapshot) to hold before the send: the bases that lack the hold
    hold_before: tuple[tuple[str, str], ...]
    #: (host, snapshot) to hold after it: the new base
    hold_after: tuple[tuple[str, str], ...]
    #: (host, snapshot) to release: every other held snapshot (the step releases the base
    #: hold from those that have it)
    release: tuple[tuple[str, str], ...]
    #: bookmark -> snapshot (source)
    bookmarks: Mapping[str, str]
    #: source snapshots sent without the sent marker (those made earlier and sent now)
    mark_sent: tuple[str, ...] = ()


@dataclass(frozen=True)
class Refused:
    source: str
    reason: str


def decide_pair(
    source: DatasetState,
    sources: Side,
    destinations: Mapping[str, Side],
    unreachable: Mapping[str, str],
    short: str,
) -> PairPlan | Refused | None:
    """The plan of one pair, the reason it is left out, or None: nothing to do."""
    peer = _peer(source)
    if peer is None:
        return Refused(source.name, f"zfsync:peer {source.peer!r} is not HOST:DATASET")
    if peer.host in unreachable:
        return Refused(source.name, unreachable[peer.host])
    side = destinations[peer.host]
    dst = side.get(peer.dataset)
    if dst is None:
        return Refused(source.name, f"destination {peer} does not exist")
    if dst.role is not Role.DESTINATION:
        role = "unset" if dst.role is None else dst.role.value
        return Refused(source.name, f"{peer} is not a replica destination (zfsync:role {role})")
    dst_children = [d for d in side.below(dst.name) if d.name != dst.name]
    recursive = bool(dst_children)
    src_children = [d for d in sources.below(source.name) if d.name != source.name]
    common = choose.newest_common(source, dst)
    extra = sum(d.written for d in dst_children if d.snapshots)
    diverged = choose.divergence(dst, common, extra_written=extra)
    if diverged is not None:
        return Refused(source.name, diverged.report())
    if common is None:
        return Refused(source.name, f"destination {peer} has no snapshot to continue from")
    if recursive and common.source.is_bookmark:
        return Refused(
            source.name,
            f"the base is a bookmark ({common.source.name}): zfs send -R needs a snapshot",
        )
    written = source.written + (sum(d.written for d in src_children) if recursive else 0)
    pending = choose.unsent(source, common)
    token = dst.receive_resume_token
    if not written and not pending and token is None:
        return None
    # only a token to resume or discard: the transfer goes to the common snapshot (there
    # already), or to a new one when the source keeps only its bookmark
    new = bool(written) or (not pending and common.source.is_bookmark)
    covered = (source.name, *(d.name for d in src_children)) if recursive else (source.name,)
    if new:
        target_short = short
    elif pending:
        target_short = pending[-1].short
    else:
        target_short = common.source.short
    target = f"{source.name}@{target_short}"
    transfer = choose.what_to_send(common, target)
    stream = Stream(
        send=SendSpec(
            snapshot=target,
            base=transfer.base,
            intermediates=transfer.intermediates,
            # raw as the replica began: an encrypted destination took raw streams (a plain
            # replica of an encrypted source, made with its key loaded, takes plain ones)
            raw=source.encrypted and dst.encrypted,
            replicate=recursive,
        ),
        recv=RecvSpec(target=dst.name),
    )
    # the base held on both sides while the stream needs it: one with no hold at all gets
    # the base hold first; one held already (ours, as every sync leaves it, or someone
    # else's) cannot be destroyed while that hold lasts, and is not ours to hold again
    # unread (the plan reads no tags: held_side)
    hold_before: list[tuple[str, str]] = []
    if not common.source.is_bookmark and not common.source.holds:
        hold_before.append((LOCAL, common.source.name))
    if not common.destination.holds:
        hold_before.append((peer.host, common.destination.name))
    # the datasets that have (or will have) the snapshot sent: with -R, a child made after
    # a snapshot someone took of the top alone does not
    having = [source.name] + [
        d.name for d in src_children if recursive and (new or d.snapshot(target_short) is not None)
    ]
    dst_covered = [f"{dst.name}{d[len(source.name) :]}" for d in having]
    new_bases = [(LOCAL, f"{d}@{target_short}") for d in having]
    new_bases += [(peer.host, f"{d}@{target_short}") for d in dst_covered]
    held_sides = [(LOCAL, source), *((LOCAL, d) for d in src_children if recursive)]
    held_sides += [(peer.host, dst), *((peer.host, d) for d in dst_children)]
    # every other held snapshot of the pair: the move-hold step reads their tags and
    # releases the base hold where it finds it (the plan read no tags)
    release = [
        (host, p.name)
        for host, d in held_sides
        for p in d.snapshots
        if p.holds and p.short != target_short
    ]
    # a base held only for the send is released with the others
    release += [h for h in hold_before if h not in release]
    if new:
        marks = {f"{d}#{short}": f"{d}@{short}" for d in covered}
    elif pending and not any(b.short == target_short for b in source.bookmarks):
        marks = {f"{source.name}#{target_short}": target}
    else:
        marks = {}
    # the zfsync_ snapshots the destination receives (-I: every pending one; -i: the last)
    carried = pending if transfer.intermediates or transfer.base is None else pending[-1:]
    return PairPlan(
        source=source,
        peer=peer,
        covered=covered,
        recursive=recursive,
        snapshot=new,
        stream=stream,
        hold_before=tuple(hold_before),
        hold_after=tuple(new_bases),
        release=tuple(sorted(set(release))),
        bookmarks=marks,
        mark_sent=tuple(p.name for p in carried if p.sent is None),
    )


# ------------------------------------------------------------------ the whole sync


def decide(request: SyncRequest, facts: SyncFacts, tx_id: str, now: int) -> Plan:
    """The batched steps of every pair; PlanError when every source is left out."""
    short = snapshot_name(tx_id)
    candidates = _candidates(request, facts.sources)
    pairs: list[PairPlan] = []
    refused: list[Refused] = []
    idle: list[str] = []
    for ds in candidates:
        if ds.paused and not request.sources:
            refused.append(Refused(ds.name, "paused"))
            continue
        found = decide_pair(ds, facts.sources, facts.destinations, facts.unreachable, short)
        if found is None:
            idle.append(ds.name)
        elif isinstance(found, Refused):
            refused.append(found)
        else:
            pairs.append(found)
    if not candidates and request.sources:
        raise PlanError("no source to sync")
    if refused and not pairs and not idle:
        reasons = "; ".join(f"{r.source}: {r.reason}" for r in refused)
        raise PlanError(f"nothing can be synced: {reasons}")
    return Plan(
        steps=_steps(pairs, request.parallel, short, now),
        description=_description(request, pairs, idle, refused),
        extra_datasets={d for p in pairs for d in p.covered},
    )


def _steps(pairs: list[PairPlan], parallel: int, short: str, now: int) -> list[Step[Any]]:
    steps: list[Step[Any]] = []
    # one `zfs snapshot` per pool (and per kind: -r for recursive pairs)
    snap_groups: dict[tuple[str, bool], list[str]] = defaultdict(list)
    for p in pairs:
        if p.snapshot:
            snap_groups[(names.pool_of(p.source.name), p.recursive)].append(
                f"{p.source.name}@{short}"
            )
    for (_, recursive), snaps in sorted(snap_groups.items()):
        steps.append(
            CreateSnapshots(
                CreateSnapshotsArgs(
                    snapshots=tuple(snaps),
                    recursive=recursive,
                    properties={props.SENT: str(now)},
                )
            )
        )
    # the bookmarks of the new snapshots right after them, before the stream: the snapshot
    # step hands its guids on (no reading first), and the stream's end has only what
    # needs the received snapshots after it (an undo destroys them as it would after)
    marks = {m: s for p in pairs for m, s in p.bookmarks.items()}
    if marks:
        steps.append(CreateBookmarks(BookmarksArgs(bookmarks=marks)))
    steps += _holds([h for p in pairs for h in p.hold_before])
    by_host: dict[str, list[Stream]] = defaultdict(list)
    for p in pairs:
        by_host[p.peer.host].append(p.stream)
    for host, streams in sorted(by_host.items()):
        steps.append(
            SendReceiveMany(
                SendReceiveManyArgs(
                    streams=tuple(streams),
                    target=host,
                    parallel=min(parallel, len(streams)),
                )
            )
        )
    steps += _moves([h for p in pairs for h in p.hold_after], [h for p in pairs for h in p.release])
    unmarked = {snap: str(now) for p in pairs for snap in p.mark_sent}
    if unmarked:
        steps.append(SetUserProperty(UserPropertyArgs(prop=props.SENT, values=unmarked)))
    return steps


def _holds(held: list[tuple[str, str]]) -> list[Step[Any]]:
    """One hold step per host over its snapshots."""
    by_host: dict[str, set[str]] = defaultdict(set)
    for host, snap in held:
        by_host[host].add(snap)
    return [
        HoldSnapshots(HoldArgs(host=host, tag=BASE_HOLD, snapshots=tuple(sorted(snaps))))
        for host, snaps in sorted(by_host.items())
    ]


def _moves(to: list[tuple[str, str]], away: list[tuple[str, str]]) -> list[Step[Any]]:
    """One move-hold step per host: the base hold onto the new bases there and off the
    older snapshots there, after the stream (one reading, the two changes at once)."""
    hold: dict[str, set[str]] = defaultdict(set)
    release: dict[str, set[str]] = defaultdict(set)
    for host, snap in to:
        hold[host].add(snap)
    for host, snap in away:
        release[host].add(snap)
    return [
        MoveHold(
            MoveHoldArgs(
                host=host,
                tag=BASE_HOLD,
                hold=tuple(sorted(hold[host])),
                release=tuple(sorted(release[host])),
            )
        )
        for host in sorted({*hold, *release})
    ]


def _description(
    request: SyncRequest, pairs: list[PairPlan], idle: list[str], refused: list[Refused]
) -> str:
    parts = []
    if pairs:
        parts.append(", ".join(f"{p.source.name} -> {p.peer}" for p in pairs))
    if idle:
        parts.append(f"nothing to do: {', '.join(idle)}")
    if refused:
        parts.append("left out: " + "; ".join(f"{r.source} ({r.reason})" for r in refused))
    text = f"{describe(request)}: {'; '.join(parts) or 'no replica'}"
    return limits.cut(text, limits.MAX_DESCRIPTION_CHARS)


class ReplicaSyncKind(RequestKind[SyncRequest]):
    name = "replica-sync"
    action = Action.REPLICATE
    request = SyncRequest
    method = BusMethod("ReplicaSync", positional=("sources",))

    def summary(self, request: SyncRequest) -> str:
        return describe(request)

    def targets(self, request: SyncRequest) -> set[str]:
        return set(request.sources)

    def follow_up(self, params: JsonDict) -> FollowUp:
        """The expiry of the same sources (all: every pair here that is not paused, as
        `sync all` covers), once the sync completed."""
        request = self.parse(params)
        expiry = ExpireRequest(sources=request.sources)
        return FollowUp(EXPIRE.name, expiry.model_dump(mode="json"))

    async def plan_request(self, ctx: PlanContext, request: SyncRequest) -> Plan:
        facts = await read_facts(ctx, request)
        plan = decide(request, facts, ctx.tx_id, int(time.time()))
        # the stored description is the request's (admission); what the plan left out and
        # why goes to the log too
        log.info("%s: %s", ctx.tx_id, plan.description)
        return plan


REPLICA_SYNC_KIND = ReplicaSyncKind()
REPLICA_SYNC = register_kind(REPLICA_SYNC_KIND)


__all__ = [
    "REPLICA_SYNC",
    "REPLICA_SYNC_KIND",
    "PairPlan",
    "Point",
    "Refused",
    "SyncFacts",
    "decide",
    "decide_pair",
]
