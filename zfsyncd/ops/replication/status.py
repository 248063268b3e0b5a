"""The read side of replication: every replica pair this host takes part in, and how it is.

What `zfsyncctl replica status` and the Manager's ListReplicas show: for each dataset of the
local pools with a `zfsync:role` (the root of a pair; a `-R` pair's children inherit it and
are part of their root's pair), its role and peer, the newest snapshot both sides share (by
guid: the last one sent), its age, how far the destination lags (bytes written on the
source since the last sent snapshot, over the pair's datasets: a `-R` pair's children
too; seconds since the last sent snapshot was taken, 0 when nothing changed since),
whether the pair is paused, each side's savecount, whether the destination holds a partial
receive (a resume token), and the newest FAILED replica transaction naming it.

Reading is constant in the number of pairs: one `zfs list -t filesystem,volume` of every
local pool (the pairs and their properties), then, per host that holds a side of a pair on
the page (the local host, each peer host), one reading of those sides (inventory.py's
`read_side`: one `zfs list -r -t all`, at most one `zfs holds`), and one query of the
store. When a pair's two ends both show in the local listing but one names the other
through another host's label (that host is this machine: the lab's `loop` is 127.0.0.1),
one `zfs list` of those names per such label first compares dataset guids, so the pair is
one row (the source's) and not one per side; no pair of that shape, no command. The newest
common snapshot is choose.py's, as sync decides it. A peer host that
cannot be reached (or is not configured) gives its pairs an `error`, not a failed call: the
local side is still worth showing.

`row` (pure) decides a pair's status from those readings; `list_replicas` only reads.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from pydantic import BaseModel, ConfigDict, Field, field_validator

from zfsyncd.api import limits
from zfsyncd.api.records import ReplicaRow
from zfsyncd.commands.errors import CommandError
from zfsyncd.ops.replication import props
from zfsyncd.ops.replication.choose import newest_common
from zfsyncd.ops.replication.inventory import DatasetState, Side, build_side, read_side
from zfsyncd.ops.replication.props import Peer, Role, parse_peer
from zfsyncd.store import TransactionRecord, TransactionStore, TxState
from zfsyncd.tx.hosts import LOCAL, Host, located
from zfsyncd.zfs import names
from zfsyncd.zfs.errors import ZfsError
from zfsyncd.zfs.models import ObjectType, ZfsObject

#: the transaction types whose failures a pair's `last_error` reports
TYPE_PREFIX = "replica-"
_DATASET_TYPES = (ObjectType.FILESYSTEM, ObjectType.VOLUME)


class ReplicaQuery(BaseModel):
    """Which pairs to list, by local dataset name, one page at a time: at most `limit`
    (0: the most a page may hold, MAX_REPLICA_PAGE); the next page is asked for with
    `after` set to the last row's `cursor` (its dataset)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: only the pair this local dataset is a side of (source or destination)
    dataset: str | None = None
    limit: int = Field(default=limits.MAX_REPLICA_PAGE, ge=0, le=limits.MAX_REPLICA_PAGE)
    after: str | None = None

    @field_validator("dataset", "after")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return None if value is None else names.check_dataset(value)

    @property
    def page(self) -> int:
        return self.limit or limits.MAX_REPLICA_PAGE


# --------------------------------------------------------------------------- what is read


@dataclass(frozen=True)
class Pair:
    """A pair as the local listing shows it: the local dataset, its role, and both sides'
    addresses (None when zfsync:peer is not an address)."""

    local: str
    role: Role
    peer_text: str
    source: Peer | None
    destination: Peer | None
    #: the other side's name on this host when it is a dataset of this host reached through
    #: another host's label (both ends here: the lab's `loop` host is 127.0.0.1); found by
    #: `loopbacks`, so a filter on that name finds this pair
    also_here: str | None = None

    @property
    def remote(self) -> Peer | None:
        """The side that is not the local dataset."""
        return self.destination if self.role is Role.SOURCE else self.source

    def names_here(self) -> set[str]:
        """The datasets of this host that are a side of this pair."""
        found = {s.dataset for s in (self.source, self.destination) if s and s.host == LOCAL}
        return found | {self.local} | ({self.also_here} if self.also_here else set())


@dataclass(frozen=True)
class LastError:
    tx_id: str
    at: float
    text: str


@dataclass
class Readings:
    """Everything `row` decides from: each side read, by host and dataset (a side's
    descendants included: read_side reads below each name); why a host could not be read;
    the newest failure naming each located dataset."""

    sides: dict[tuple[str, str], DatasetState] = field(default_factory=dict)
    host_errors: dict[str, str] = field(default_factory=dict)
    failures: dict[str, LastError] = field(default_factory=dict)
    #: `sides`' keys in order, for `tree` (rebuilt when sides has grown)
    _keys: list[tuple[str, str]] = field(default_factory=list, repr=False, compare=False)

    def tree(self, peer: Peer) -> list[DatasetState]:
        """`peer`'s dataset and every dataset read below it on its host, in name order: a
        look-up in the sorted keys (a dataset's descendants sort right after f"{name}/"),
        so a page of pairs does not scan every dataset read for each pair."""
        if len(self._keys) != len(self.sides):
            self._keys = sorted(self.sides)
        top = self.sides.get((peer.host, peer.dataset))
        found = [] if top is None else [top]
        below = (peer.host, f"{peer.dataset}/")
        for key in itertools.islice(self._keys, bisect.bisect_left(self._keys, below), None):
            if key[0] != peer.host or not key[1].startswith(below[1]):
                break
            found.append(self.sides[key])
        return found


# --------------------------------------------------------------------------- pure parts


def pairs(datasets: Sequence[ZfsObject], loopback: Collection[Peer] = ()) -> list[Pair]:
    """The pairs of a local listing of filesystems and volumes, by dataset name: the roots
    of pairs as inventory.py finds them (a child of a `-R` pair is part of its parent's).
    A destination whose source is a local source naming it back is that source's pair,
    not a second one; so is one whose ends name each other through another host's label
    when `loopback` holds that address (a dataset of this host, as `loopbacks` confirmed)."""
    found: list[Pair] = []
    for ds in Side(LOCAL, build_side(datasets, {})).managed():
        role = Role.SOURCE if ds.role is Role.SOURCE else Role.DESTINATION
        text = ds.peer or ""
        try:
            peer: Peer | None = parse_peer(text)
        except ValueError:
            peer = None
        here = Peer(host=LOCAL, dataset=ds.name)
        if role is Role.SOURCE:
            found.append(Pair(ds.name, role, text, here, peer))
        else:
            found.append(Pair(ds.name, role, text, peer, here))

    def name_here(peer: Peer | None) -> str | None:
        if peer is None or (peer.host != LOCAL and peer not in loopback):
            return None
        return peer.dataset

    # (source, destination) as names of this host, for each source pair whose ends both are
    sources = {
        (p.local, dest): p
        for p in found
        if p.role is Role.SOURCE and (dest := name_here(p.destination)) is not None
    }
    kept: list[Pair] = []
    for p in found:
        source = name_here(p.source)
        if p.role is Role.DESTINATION and source is not None and (source, p.local) in sources:
            continue  # the source's row shows it
        if p.role is Role.SOURCE and p.destination is not None and p.destination.host != LOCAL:
            p = replace(p, also_here=name_here(p.destination))
        kept.append(p)
    return sorted(kept, key=lambda p: p.local)


def loopback_candidates(found: Sequence[Pair]) -> dict[str, set[str]]:
    """Host -> the datasets worth a look there: the remote side of a pair, on another
    host's label, whose name is a local pair's that names this pair's local dataset back
    (from this host or through a label). Only these could be this host's datasets under
    another label; their guids decide (`loopbacks`)."""
    by_local = {p.local: p for p in found}
    wanted: dict[str, set[str]] = {}
    for p in found:
        remote = p.remote
        if remote is None or remote.host == LOCAL:
            continue
        other = by_local.get(remote.dataset)
        if (
            other is not None
            and other.role is not p.role
            and other.remote is not None
            and other.remote.dataset == p.local
        ):
            wanted.setdefault(remote.host, set()).add(remote.dataset)
    return wanted


def loopbacks(local: Sequence[ZfsObject], remote: Mapping[str, Sequence[ZfsObject]]) -> set[Peer]:
    """The addresses on other hosts' labels that are datasets of this host: the same
    dataset guid (64 random bits ZFS gives each dataset: two machines do not share one; a
    received copy has a guid of its own)."""
    here = {(ds.name, ds.guid) for ds in local}
    return {
        Peer(host=host, dataset=ds.name)
        for host, listing in remote.items()
        for ds in listing
        if (ds.name, ds.guid) in here
    }


def select(found: Sequence[Pair], query: ReplicaQuery) -> list[Pair]:
    """The page of pairs `query` asks for (`found` sorted by local dataset)."""
    chosen = [
        p
        for p in found
        if (query.after is None or p.local > query.after)
        and (query.dataset is None or query.dataset in p.names_here())
    ]
    return chosen[: query.page]


def written_since(tree: Sequence[DatasetState], after_txg: int) -> int:
    """Bytes written on the datasets of `tree` since the pool's txg `after_txg` (the last
    sent snapshot's; -1: everything): each one's `written` since its newest snapshot, and
    the `written` of each of its snapshots taken after that txg (not sent yet). A dataset
    made after it counts whole (its first snapshot's `written`, or its own, is all it
    holds)."""
    return sum(
        ds.written + sum(s.written or 0 for s in ds.snapshots if s.createtxg > after_txg)
        for ds in tree
    )


def pair_tree(pair: Pair, readings: Readings) -> list[DatasetState]:
    """The source datasets a pair replicates: the source, and its descendants when the
    pair is recursive (`-R`: the destination has datasets below it, as sync decides). When
    the destination was not read, the source alone."""
    if pair.source is None:
        return []
    tree = readings.tree(pair.source)
    recursive = pair.destination is not None and len(readings.tree(pair.destination)) > 1
    return tree if recursive else tree[:1]


def row(pair: Pair, readings: Readings, now: float) -> ReplicaRow:
    """One pair's status from the readings of its two sides."""
    source = _side(pair.source, readings)
    destination = _side(pair.destination, readings)
    error = _why_unread(pair, readings, source, destination)
    common = None
    unsent = 0
    if source is not None and destination is not None:
        shared = newest_common(source, destination)
        common = None if shared is None else shared.source
        after = -1 if common is None else common.createtxg
        unsent = sum(1 for s in source.snapshots if s.createtxg > after)
    written = written_since(pair_tree(pair, readings), -1 if common is None else common.createtxg)
    if common is None:
        lag = -1.0  # nothing shared yet: behind by everything
    elif written == 0 and unsent == 0:
        lag = 0.0  # nothing changed since the last sent snapshot
    else:
        lag = max(0.0, now - common.creation)
    failure = _failure(pair, readings)
    return ReplicaRow(
        dataset=pair.local,
        role=pair.role.value,
        peer=limits.cut(pair.peer_text, limits.MAX_DESCRIPTION_CHARS),
        source="" if pair.source is None else str(pair.source),
        destination="" if pair.destination is None else str(pair.destination),
        last_sent="" if common is None else common.name,
        last_sent_guid=0 if common is None else common.guid,
        last_sent_created=0.0 if common is None else float(common.creation),
        age=-1.0 if common is None else max(0.0, now - common.creation),
        lag_bytes=written,
        lag_seconds=lag,
        unsent=unsent,
        paused=source is not None and source.paused,
        source_savecount=0 if source is None else source.savecount or 0,
        destination_savecount=0 if destination is None else destination.savecount or 0,
        resume_token=destination is not None and bool(destination.receive_resume_token),
        last_error=""
        if failure is None
        else limits.cut(failure.text, limits.MAX_DESCRIPTION_CHARS),
        last_error_transaction="" if failure is None else failure.tx_id,
        last_error_at=0.0 if failure is None else failure.at,
        error=limits.cut(error, limits.MAX_DESCRIPTION_CHARS),
        cursor=pair.local,
    )


def _side(peer: Peer | None, readings: Readings) -> DatasetState | None:
    return None if peer is None else readings.sides.get((peer.host, peer.dataset))


def _why_unread(
    pair: Pair, readings: Readings, source: DatasetState | None, destination: DatasetState | None
) -> str:
    remote = pair.remote
    if remote is None:
        return f"{props.PEER} is {pair.peer_text!r}, not HOST:DATASET"
    if remote.host in readings.host_errors:
        return f"host {remote.host}: {readings.host_errors[remote.host]}"
    if (source if pair.role is Role.DESTINATION else destination) is None:
        return f"{remote} does not exist"
    return ""


def _failure(pair: Pair, readings: Readings) -> LastError | None:
    found = [
        readings.failures[located(side.host, side.dataset)]
        for side in (pair.source, pair.destination)
        if side is not None and located(side.host, side.dataset) in readings.failures
    ]
    return max(found, key=lambda f: f.tx_id, default=None)


def newest_failures(records: Iterable[TransactionRecord]) -> dict[str, LastError]:
    """Located dataset -> the newest FAILED replica transaction naming it."""
    found: dict[str, LastError] = {}
    for record in sorted(records, key=lambda r: r.id, reverse=True):
        if record.state is not TxState.FAILED or not record.type.startswith(TYPE_PREFIX):
            continue
        for name in record.datasets:
            found.setdefault(
                name,
                LastError(record.id, record.finished_at or record.updated_at, record.error or ""),
            )
    return found


# --------------------------------------------------------------------------- reading


async def list_replicas(
    hosts: Mapping[str, Host],
    transactions: TransactionStore,
    query: ReplicaQuery,
    now: float,
) -> list[ReplicaRow]:
    """The pairs of the local pools `query` selects, each with its status."""
    page, readings = await read_replicas(hosts, transactions, query)
    return [row(pair, readings, now) for pair in page]


async def read_replicas(
    hosts: Mapping[str, Host], transactions: TransactionStore, query: ReplicaQuery
) -> tuple[list[Pair], Readings]:
    """The page of pairs `query` selects and the readings their rows are decided from
    (the metrics read each side's snapshots there too)."""
    local = hosts[LOCAL].zfs
    listing = await local.list(types=_DATASET_TYPES, user_properties=props.DATASET_PROPERTIES)
    found = pairs(listing)
    if wanted_loop := loopback_candidates(found):
        found = pairs(listing, await _read_loopbacks(hosts, listing, wanted_loop))
    page = select(found, query)
    readings = Readings()
    if not page:
        return [], readings
    wanted: dict[str, set[str]] = {}
    for pair in page:
        for peer in (pair.source, pair.destination):
            if peer is not None:
                wanted.setdefault(peer.host, set()).add(peer.dataset)
    for host, datasets in sorted(wanted.items()):
        if host not in hosts:
            readings.host_errors[host] = "not configured in zfsyncd's [hosts]"
            continue
        try:
            side = await read_side(hosts[host].zfs, host, datasets)
        except (ZfsError, CommandError, OSError) as e:
            if host == LOCAL:
                raise  # the local pools were just listed: a failure here is the call's
            readings.host_errors[host] = str(e) or type(e).__name__
            continue
        readings.sides.update(((host, ds.name), ds) for ds in side)
    located_names = {located(h, d) for h, ds in wanted.items() for d in ds}
    failed = await transactions.transactions_touching(located_names, states=[TxState.FAILED])
    readings.failures = newest_failures(failed)
    return page, readings


async def _read_loopbacks(
    hosts: Mapping[str, Host], listing: Sequence[ZfsObject], wanted: Mapping[str, set[str]]
) -> set[Peer]:
    """Which of `wanted` are datasets of this host: one `zfs list` of those names per host
    (only when a pair's ends name each other through a label: none otherwise). A host that
    cannot be read confirms nothing: its pairs stay a row per side, the row saying why."""
    remote: dict[str, list[ZfsObject]] = {}
    for host, datasets in sorted(wanted.items()):
        if host not in hosts:
            continue
        try:
            remote[host] = await hosts[host].zfs.list_many(sorted(datasets), types=_DATASET_TYPES)
        except (ZfsError, CommandError, OSError):
            continue
    return loopbacks(listing, remote)
