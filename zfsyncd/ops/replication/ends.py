"""One end of a pair (a dataset) as the admin kinds decide about it: where it is, the pair's
properties set on it, and whether it is read-only; and the checks they share.

Read with one `zfs get` per dataset (the pair's properties and `readonly`): the *source* of
each value matters here, which `zfs list -o` does not show (a child of a source would list
the parent's `zfsync:role` as its own). The snapshots of a side come from the inventory
(inventory.py), which the kinds that need them read besides.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from zfsyncd.ops.replication.inventory import DatasetState, Side, host_of, read_side
from zfsyncd.ops.replication.props import DATASET_PROPERTIES, PEER, ROLE, Peer, Role, parse_peer
from zfsyncd.tx.errors import MissingObjectError, PlanError
from zfsyncd.tx.hosts import LOCAL
from zfsyncd.tx.steps import StepContext
from zfsyncd.zfs.backend import ZfsBackend
from zfsyncd.zfs.errors import NotFoundError
from zfsyncd.zfs.models import PropertySource

READONLY = "readonly"
ON = "on"


@dataclass(frozen=True)
class End:
    """A dataset of a pair, on a host."""

    host: str
    dataset: str
    #: the pair's properties (props.DATASET_PROPERTIES) set on the dataset itself
    local: Mapping[str, str]
    #: `readonly` as in effect (set here or inherited)
    readonly: bool

    @property
    def address(self) -> Peer:
        return Peer(host=self.host, dataset=self.dataset)

    @property
    def role(self) -> str | None:
        return self.local.get(ROLE)

    @property
    def peer(self) -> Peer | None:
        """The other dataset, as its PEER names it; None when unset or not an address."""
        value = self.local.get(PEER)
        if value is None:
            return None
        try:
            return parse_peer(value)
        except ValueError:
            return None


async def read_end(zfs: ZfsBackend, host: str, dataset: str) -> End | None:
    """`dataset` on `host` (one `zfs get`); None when it does not exist."""
    try:
        values = await zfs.get_properties(dataset, [*DATASET_PROPERTIES, READONLY])
    except NotFoundError:
        return None
    local = {
        prop: value.value
        for prop, value in values.items()
        if prop in DATASET_PROPERTIES
        and value.source is PropertySource.LOCAL
        and value.value is not None
    }
    return End(host, dataset, local, values[READONLY].value == ON)


def role_refusal(end: End, role: Role) -> str | None:
    """Why `end` is not the `role` of a pair with a peer named; None when it is."""
    where = end.dataset if end.host == LOCAL else str(end.address)
    if end.role == role and end.peer is not None:
        return None
    if end.role in (Role.SOURCE, Role.DESTINATION) and end.role != role:
        other = "its source" if end.role == Role.DESTINATION else "its destination"
        return f"{where} is the {end.role} of a replica pair ({other}: {end.local.get(PEER)})"
    if end.role == role:
        return f"{where} has {ROLE}={role} but no valid {PEER}"
    return f"{where} is not part of a replica pair (no {ROLE} set on it)"


def partner_refusal(end: End, other: End | None, peer: Peer) -> str | None:
    """Why `other` (read where `end`'s PEER points: `peer`) is not `end`'s partner: it is
    missing, has not the opposite role, or names another dataset as its peer."""
    if other is None:
        return f"{peer} (the peer of {end.dataset}) does not exist"
    wanted = Role.DESTINATION if end.role == Role.SOURCE else Role.SOURCE
    if other.role != wanted:
        return (
            f"{peer} is not the {wanted} of {end.dataset}: its {ROLE} is {other.role or 'not set'}"
        )
    if other.peer != end.address:
        return f"{peer} is paired with {other.local.get(PEER)}, not with {end.address}"
    return None


@dataclass(frozen=True)
class PairReading:
    """Both ends of a pair as read at plan time: the one named (`here`) and the one its
    PEER names (`there`, None when not read: -L, or no peer); each with its inventory
    state (snapshots, bookmarks, holds, written)."""

    here: End
    here_state: DatasetState
    there: End | None = None
    there_state: DatasetState | None = None
    #: the inventory readings the states come from (the datasets below them too), when read
    here_read: Side | None = None
    there_read: Side | None = None
    #: why the peer's host could not be used (not configured), when it could not
    unreachable: str | None = None

    def here_side(self) -> Side:
        """What was read on this end's host (its state alone, when built by hand)."""
        found = self.here_read
        return found or Side(self.here.host, {self.here_state.name: self.here_state})

    def there_side(self) -> Side | None:
        if self.there is None or self.there_state is None:
            return None
        found = self.there_read
        return found or Side(self.there.host, {self.there_state.name: self.there_state})


async def read_pair(
    ctx: StepContext, host: str, dataset: str, *, peer: bool = True, settle: bool = False
) -> PairReading:
    """`dataset` on `host` and, when `peer`, the dataset its PEER names on that host: per
    end one `zfs get` (ends.py) and one inventory reading (one `zfs list`, at most one
    `zfs holds`). MissingObjectError when `dataset` does not exist; a peer host that is not
    configured, or a missing peer dataset, reads as no `there`. `settle`: each end's pool
    written out first (read_side), for a plan that decides from `written`."""
    zfs = host_of(ctx, host).zfs
    here = await read_end(zfs, host, dataset)
    side = await read_side(zfs, host, [dataset], settle=settle) if here else None
    state = side.get(dataset) if side else None
    if here is None or state is None:
        raise MissingObjectError(f"dataset {dataset} does not exist")
    address = here.peer
    if not peer or address is None:
        return PairReading(here, state, here_read=side)
    try:
        other_zfs = host_of(ctx, address.host).zfs
    except PlanError as exc:
        return PairReading(here, state, here_read=side, unreachable=str(exc))
    there = await read_end(other_zfs, address.host, address.dataset)
    if there is None:
        return PairReading(here, state, here_read=side)
    other_side = await read_side(other_zfs, address.host, [address.dataset], settle=settle)
    other = other_side.get(address.dataset)
    return PairReading(here, state, there, other, side, other_side)


def partner_of(pair: PairReading) -> tuple[End, DatasetState]:
    """The end `pair.here`'s PEER names, checked to be its partner (partner_refusal);
    PlanError when it is not."""
    peer = pair.here.peer
    if peer is None:
        raise PlanError(f"{pair.here.dataset} has no valid {PEER}")
    if pair.unreachable is not None:
        raise PlanError(f"the peer of {pair.here.dataset}, {peer}: {pair.unreachable}")
    problem = partner_refusal(pair.here, pair.there, peer)
    if problem is not None:
        raise PlanError(problem)
    if pair.there is None or pair.there_state is None:
        raise PlanError(f"{peer} (the peer of {pair.here.dataset}) does not exist")
    return pair.there, pair.there_state
