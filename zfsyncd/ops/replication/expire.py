"""The replica-expire transaction: each side of each pair keeps its own `zfsync:savecount`
newest zfsync_ snapshots (seed 003's expire: "pay attention to REMOTE value for
zrep:savecount. it may be different!"), sent and unsent alike ("they take up same amount of
disk space"), never the newest snapshot both sides share ("we MUST NOT delete the last sent
snapshot!!"), never a held one, whoever holds it, and never one with a clone (zfs could
not destroy it: origins.py). The selection is choose.expire's.

`replica expire SRC...` expires the sources named and their destinations; with no source,
every pair whose source is on this host and not paused (a paused pair is left as it is,
as `sync all` leaves it). A pair that cannot be decided (its destination missing, or no
snapshot shared by guid) refuses the request when named, and is left out and named in the
description when not.

What goes is moved to trash names by one destroy-snapshots step per host and pool, and
destroyed only when the transaction completes, so a failure or cancel puts every snapshot
back. Planning reads this host's side once (one `zfs list`, which tells the held
snapshots too) and each destination host's side once, whatever the number of pairs, with
the datasets of each pool touched beside it for their origins (none where the listing
already holds every pool); the steps then read once per pool: the reads stay constant in
the number of snapshots and pairs.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from zfsyncd.api.names import Action
from zfsyncd.ops.replication import origins
from zfsyncd.ops.replication.choose import expire, newest_common
from zfsyncd.ops.replication.inventory import DatasetState, Side, host_of, list_side
from zfsyncd.ops.replication.props import DEFAULT_SAVECOUNT, Peer, Role, parse_peer
from zfsyncd.ops.replication.requests import ExpireRequest
from zfsyncd.tx.errors import MissingObjectError, PlanError
from zfsyncd.tx.hosts import LOCAL
from zfsyncd.tx.kinds import BusMethod, Plan, PlanContext, RequestKind, register_kind
from zfsyncd.tx.steps import Step, StepContext
from zfsyncd.tx.steps.snapshots import DestroySnapshots, DestroySnapshotsArgs
from zfsyncd.zfs import names
from zfsyncd.zfs.backend import ZfsBackend


@dataclass(frozen=True)
class ExpireFacts:
    """This host's side (the sources) and each destination host's side, by host label."""

    here: Side
    there: Mapping[str, Side] = field(default_factory=dict)
    #: host -> why it could not be read (not configured)
    unreachable: Mapping[str, str] = field(default_factory=dict)
    #: host -> the snapshots that have clones there (origins.py): never destroyed
    cloned: Mapping[str, frozenset[str]] = field(default_factory=dict)


def sources_of(request: ExpireRequest, here: Side) -> tuple[list[DatasetState], list[str]]:
    """(the pairs' sources to expire, the sources left out and why). Named sources must be
    sources of pairs here (PlanError, MissingObjectError); with none named, every managed
    source that is not paused."""
    if not request.sources:
        managed = [d for d in here.managed() if d.role is Role.SOURCE]
        paused = [f"{d.name} (paused)" for d in managed if d.paused]
        return [d for d in managed if not d.paused], paused
    roots = {d.name for d in here.managed()}
    found = []
    for name in request.sources:
        state = here.get(name)
        if state is None:
            raise MissingObjectError(f"dataset {name} does not exist")
        if state.role is not Role.SOURCE or name not in roots:
            raise PlanError(f"{name} is not the source of a replica pair")
        found.append(state)
    return found, []


def parse_peer_or_none(value: str) -> Peer | None:
    try:
        return parse_peer(value)
    except ValueError:
        return None


def peer_of(source: DatasetState) -> Peer | None:
    return None if source.peer is None else parse_peer_or_none(source.peer)


def select(
    source: DatasetState, facts: ExpireFacts, peer: Peer
) -> list[tuple[str, str, int]] | str:
    """What one pair expires, as (host, snapshot, guid), oldest first per dataset; or why it
    cannot be decided. The datasets below a pair's ends (`init -R`) lose the snapshots of
    the same names as theirs, unless held."""
    if peer.host in facts.unreachable:
        return f"{source.name}: {facts.unreachable[peer.host]}"
    there = facts.there.get(peer.host)
    destination = None if there is None else there.get(peer.dataset)
    if there is None or destination is None:
        return f"{source.name}: its destination {peer} does not exist"
    back = None if destination.peer is None else parse_peer_or_none(destination.peer)
    if destination.role is not Role.DESTINATION or back != Peer(host=LOCAL, dataset=source.name):
        return f"{source.name}: {peer} is not its destination (zfsync:role, zfsync:peer)"
    common = newest_common(source, destination)
    if common is None:
        return f"{source.name}: shares no snapshot with {peer} (by guid)"
    keep = {common.guid}
    found: list[tuple[str, str, int]] = []
    for host, side, state in ((LOCAL, facts.here, source), (peer.host, there, destination)):
        count = state.savecount or DEFAULT_SAVECOUNT
        below = [d for d in side.below(state.name) if d.name != state.name]
        clones = facts.cloned.get(host, frozenset())
        for point in expire(state.snapshots, count, keep=keep, our_holds=()):
            if point.name in clones:
                continue
            found.append((host, point.name, point.guid))
            for child in below:
                same = child.snapshot(point.short)
                if same is not None and not same.holds and same.name not in clones:
                    found.append((host, same.name, same.guid))
    return found


def decide(request: ExpireRequest, facts: ExpireFacts) -> Plan:
    """One destroy-snapshots step per host and pool over everything the pairs expire
    (none when nothing does); PlanError for a named pair that cannot be decided."""
    sources, left_out = sources_of(request, facts.here)
    by_place: dict[tuple[str, str], dict[str, int | None]] = defaultdict(dict)
    for source in sources:
        peer = peer_of(source)
        if peer is None:
            problem: str = f"{source.name}: no valid peer"
        else:
            picked = select(source, facts, peer)
            if not isinstance(picked, str):
                for host, name, guid in picked:
                    by_place[(host, names.pool_of(name))][name] = guid
                continue
            problem = picked
        if request.sources:
            raise PlanError(problem)
        left_out.append(problem)
    steps: list[Step[Any]] = [
        DestroySnapshots(DestroySnapshotsArgs(host=host, snapshots=doomed))
        for (host, _), doomed in sorted(by_place.items())
    ]
    count = sum(len(doomed) for doomed in by_place.values())
    text = f"{describe(request)}: {count} snapshots"
    if left_out:
        text += f" (left out: {'; '.join(left_out)})"
    return Plan(steps=steps, description=text)


def describe(request: ExpireRequest) -> str:
    what = ", ".join(request.sources) if request.sources else "every replica here"
    return f"expire {what}"


async def read_facts(ctx: StepContext, request: ExpireRequest) -> ExpireFacts:
    """This host's side (the sources named, or every pool), then each destination host's
    side over its pairs' destinations: one reading per host. A host that is not configured
    is named in `unreachable` (its pairs are left out, or refused when named). Each side's
    listing tells which snapshots are held (its `userrefs`: expire asks only whether, never
    by whom, so no `zfs holds`). Once this host's `zfs list` named the peers, the rest is
    read at once: the other hosts' sides and each host's clones (origins.cloned: the
    datasets of the pools touched, one reading a host; none where this host's listing
    already holds every pool)."""
    local = host_of(ctx, LOCAL).zfs
    # expiry does not decide from `written`: not asked for
    listing = await list_side(local, LOCAL, request.sources or None, written=False)
    # roles, peers and paused need no holds: the listing alone (refusals of named ones too)
    sources = sources_of(request, listing.side({}))[0]
    wanted: dict[str, set[str]] = defaultdict(set)
    for source in sources:
        peer = peer_of(source)
        if peer is not None:
            wanted[peer.host].add(peer.dataset)
    backends: dict[str, ZfsBackend] = {}
    unreachable: dict[str, str] = {}
    for host in sorted(wanted):
        try:
            backends[host] = host_of(ctx, host).zfs
        except PlanError as exc:
            unreachable[host] = str(exc)
    # every pool of this host was read (no source named): the local destinations are in it
    apart = [h for h in backends if h != LOCAL or request.sources]
    pools: dict[str, set[str]] = defaultdict(set)
    if request.sources:
        pools[LOCAL].update(names.pool_of(source.name) for source in sources)
    for host in apart:
        pools[host].update(names.pool_of(dataset) for dataset in wanted[host])
    zfs_of = {**backends, LOCAL: local}
    found, clone_sets = await asyncio.gather(
        asyncio.gather(
            *(list_side(backends[h], h, sorted(wanted[h]), written=False) for h in apart)
        ),
        asyncio.gather(*(origins.cloned(zfs_of[h], pools[h]) for h in sorted(pools))),
    )
    cloned = dict(zip(sorted(pools), clone_sets, strict=True))
    if not request.sources:
        cloned[LOCAL] = cloned.get(LOCAL, frozenset()) | origins.of_listing(listing.objects)
    here = listing.held_side()
    there = {host: side.held_side() for host, side in zip(apart, found, strict=True)}
    there.update({h: here for h in wanted if h not in apart and h not in unreachable})
    return ExpireFacts(here, there, unreachable, cloned)


class ExpireKind(RequestKind[ExpireRequest]):
    name = "replica-expire"
    action = Action.REPLICATE
    request = ExpireRequest
    method = BusMethod("ReplicaExpire", positional=("sources",))

    def summary(self, request: ExpireRequest) -> str:
        return describe(request)

    def targets(self, request: ExpireRequest) -> set[str]:
        return set(request.sources)

    async def plan_request(self, ctx: PlanContext, request: ExpireRequest) -> Plan:
        return decide(request, await read_facts(ctx, request))


EXPIRE = register_kind(ExpireKind())
