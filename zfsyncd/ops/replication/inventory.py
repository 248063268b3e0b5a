"""Reading one side of replica pairs: what every replica decision starts from.

A *side* is what one host shows of some datasets: each dataset's `zfsync:*` properties,
`written`, encryption, resume token, and its snapshots and bookmarks (oldest first, by
createtxg) with their holds. Reading a side costs one `zfs list` and at most one
`zfs holds`, whatever the number of datasets (the replica kinds' commands stay constant in
the number of objects; tests/engine/test_replication_*.py count them):

    side = await read_side(zfs, "local", ["tank/a", "tank/b"])   # these (and below them)
    side = await read_side(zfs, "local")                         # every pool of the host
    side.managed()                                               # the roots of replica pairs
    side.get("tank/a")                                           # a DatasetState or None

Everything returned is frozen: a reading is the state at one moment. The decisions over it
are pure functions in choose.py.
"""

from __future__ import annotations

import bisect
import functools
import itertools
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass

from zfsyncd.ops.replication import props
from zfsyncd.ops.replication.props import Role
from zfsyncd.tx.errors import PlanError
from zfsyncd.tx.hosts import Host
from zfsyncd.tx.steps.base import StepContext
from zfsyncd.zfs import names
from zfsyncd.zfs.backend import ZfsBackend
from zfsyncd.zfs.models import ObjectType, ZfsObject

#: the user properties a side is read with: the pair's and the sent marker
READ_PROPERTIES = (*props.DATASET_PROPERTIES, props.SENT)
_DATASET_TYPES = (ObjectType.FILESYSTEM, ObjectType.VOLUME)
#: the hold tags of a snapshot read without them (Listing.held_side): held, by whom unread
#: (a side read so is only asked whether a snapshot is held, never for a tag by name)
SOME_HOLD = "(some hold)"


@dataclass(frozen=True)
class Point:
    """A snapshot or a bookmark of a dataset: a point an incremental can start from."""

    name: str
    guid: int
    createtxg: int
    creation: int
    is_bookmark: bool = False
    #: the hold tags on it (a snapshot's; a bookmark has none)
    holds: frozenset[str] = frozenset()
    #: zfsync:sent on a source snapshot: when it was sent (seconds since the epoch)
    sent: int | None = None
    #: bytes written between the previous snapshot and this one
    written: int | None = None

    @property
    def short(self) -> str:
        """What follows the '@' or '#'."""
        return names.short_name(self.name)

    @property
    def dataset(self) -> str:
        return names.dataset_of(self.name)

    @property
    def userrefs(self) -> int:
        return len(self.holds)


@dataclass(frozen=True)
class DatasetState:
    """One dataset as read: its pair properties and its snapshots and bookmarks."""

    name: str
    type: ObjectType
    guid: int
    #: zfsync:role, None when the dataset is not part of a pair (or says something else)
    role: Role | None
    #: zfsync:peer (`HOST:DATASET`), None when unset
    peer: str | None
    #: zfsync:savecount, None when unset or not a number
    savecount: int | None
    paused: bool
    #: bytes written since the newest snapshot
    written: int
    receive_resume_token: str | None
    #: bytes it references (an empty filesystem: a little metadata)
    referenced: int = 0
    #: encrypted (its streams go raw, `zfs send -w`, so no key is needed to send them)
    encrypted: bool = False
    #: oldest first (createtxg)
    snapshots: tuple[Point, ...] = ()
    #: oldest first (createtxg)
    bookmarks: tuple[Point, ...] = ()
    #: the raw user properties listed (inherited values included, as `zfs list` shows them)
    user_properties: Mapping[str, str] | None = None

    @property
    def newest(self) -> Point | None:
        return self.snapshots[-1] if self.snapshots else None

    def snapshot(self, short: str) -> Point | None:
        return next((s for s in self.snapshots if s.short == short), None)


@dataclass(frozen=True)
class Side:
    """What one host shows of the datasets read, by name (in `zfs list` order)."""

    host: str
    datasets: Mapping[str, DatasetState]

    def get(self, name: str) -> DatasetState | None:
        return self.datasets.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self.datasets

    def __iter__(self) -> Iterator[DatasetState]:
        return iter(self.datasets.values())

    def below(self, name: str) -> list[DatasetState]:
        """`name` and every dataset read below it, in name order. A look-up in the sorted
        names (a dataset's descendants sort right after it), so that deciding for each of
        thousands of pairs does not read the whole side each time."""
        ordered = self._sorted
        found = [self.datasets[name]] if name in self.datasets else []
        start = bisect.bisect_left(ordered, f"{name}/")
        for other in itertools.islice(ordered, start, None):
            if not other.startswith(f"{name}/"):
                break
            found.append(self.datasets[other])
        return found

    @functools.cached_property
    def _sorted(self) -> list[str]:
        return sorted(self.datasets)

    def managed(self) -> list[DatasetState]:
        """The roots of replica pairs: datasets with a role whose parent does not carry the
        same role and peer (a child of a `-R` pair inherits both: it is part of its
        parent's pair, not a pair of its own)."""
        found = []
        for ds in self:
            if ds.role is None:
                continue
            parent = self.datasets.get(names.parent_of(ds.name) or "")
            if parent is not None and (parent.role, parent.peer) == (ds.role, ds.peer):
                continue
            found.append(ds)
        return found


async def read_side(
    zfs: ZfsBackend,
    host: str,
    datasets: Collection[str] | None = None,
    *,
    settle: bool = False,
    properties: Sequence[str] = (),
) -> Side:
    """Read `datasets` and everything below them (or, with None, every pool of the host):
    one `zfs list -r -t all` with the zfsync properties, `written` and `encryption` (with None,
    the same without names: every pool), then one `zfs holds` of the snapshots that
    have any hold (none when no snapshot has). A dataset that does not exist is simply not
    in the Side. `settle`: their pools' pending writes written out first (one `zpool
    sync`), for a caller that decides from `written` (a sync: "nothing written, nothing
    to send"); a status read shows `written` as ZFS counts it now and does not wait.
    `properties`: more user properties to read besides the pair's (a prune's
    zfsync:retention), in DatasetState.user_properties."""
    listing = await list_side(zfs, host, datasets, settle=settle, properties=properties)
    return listing.side(await listing.tags(zfs))


@dataclass(frozen=True)
class Listing:
    """The first half of read_side: the `zfs list` of a side, before its holds are read.
    What a listing tells without the holds (the pairs' roles and peers) lets a plan start
    reading the other side while this one's holds are read (sync.py)."""

    host: str
    objects: Sequence[ZfsObject]

    def side(self, tags: Mapping[str, Collection[str]]) -> Side:
        """The side with the hold tags read (tags of nothing: snapshots without holds)."""
        return Side(self.host, build_side(self.objects, tags))

    def _held(self) -> list[str]:
        """The snapshots the listing counts holds on (`userrefs`)."""
        return [o.name for o in self.objects if o.type is ObjectType.SNAPSHOT and o.userrefs]

    def held_side(self) -> Side:
        """The side with no `zfs holds`: a snapshot the listing counts holds on (`userrefs`,
        the number `zfs holds` would list) has the one tag SOME_HOLD, which stands for
        "held by someone". What a decision that asks only whether a snapshot is held needs
        (expire: never a held one, whoever holds it), read exactly by the listing alone."""
        return self.side({name: (SOME_HOLD,) for name in self._held()})

    async def tags(self, zfs: ZfsBackend) -> dict[str, set[str]]:
        """The tags of the snapshots that have any hold: one `zfs holds`, none when no
        snapshot has."""
        held = self._held()
        tags: dict[str, set[str]] = {}
        if held:
            for hold in await zfs.holds_many(held):
                tags.setdefault(hold.snapshot, set()).add(hold.tag)
        return tags


async def list_side(
    zfs: ZfsBackend,
    host: str,
    datasets: Collection[str] | None = None,
    *,
    settle: bool = False,
    every_pool: bool = False,
    properties: Sequence[str] = (),
    written: bool = True,
) -> Listing:
    """read_side without the holds: the `zpool sync` (with `settle`: of the pools read, or
    with `every_pool` of all the host's) and the `zfs list`. Without `written` (a reading
    that does not decide from it: expire's, of whole pools), the column is not asked for
    (ZFS works it out for every object listed) and reads 0."""
    user_properties = (*READ_PROPERTIES, *properties)
    if settle and (every_pool or datasets is None):
        await zfs.settle_every_pool()
        settle = False
    if datasets is None:
        # every pool: `zpool sync` and `zfs list -r` without names, no `zfs list -d 0` of
        # the pools' names first (a command less each)
        objects = await zfs.list_every_pool(
            user_properties=user_properties, written=written, encryption=True
        )
        return Listing(host, objects)
    wanted = sorted(set(datasets))
    if not wanted:
        return Listing(host, ())
    if settle:
        await zfs.settle(sorted({names.pool_of(n) for n in wanted}))
    objects = await zfs.list_many(
        wanted, recursive=True, user_properties=user_properties, written=written, encryption=True
    )
    return Listing(host, objects)


def build_side(
    objects: Collection[ZfsObject], tags: Mapping[str, Collection[str]]
) -> dict[str, DatasetState]:
    """The datasets of a listing with their snapshots, bookmarks and hold tags: the pure
    half of read_side (tests build sides from tables with it)."""
    points: dict[str, list[Point]] = {}
    marks: dict[str, list[Point]] = {}
    for obj in objects:
        if obj.type is ObjectType.SNAPSHOT:
            points.setdefault(obj.dataset, []).append(_point(obj, tags.get(obj.name, ())))
        elif obj.type is ObjectType.BOOKMARK:
            marks.setdefault(obj.dataset, []).append(_point(obj, ()))
    found: dict[str, DatasetState] = {}
    for obj in objects:
        if obj.type not in _DATASET_TYPES:
            continue
        user = obj.user_properties
        found[obj.name] = DatasetState(
            name=obj.name,
            type=obj.type,
            guid=obj.guid,
            role=_role(user.get(props.ROLE)),
            peer=user.get(props.PEER),
            savecount=_count(user.get(props.SAVECOUNT)),
            paused=user.get(props.PAUSED) == "on",
            written=obj.written or 0,
            receive_resume_token=obj.receive_resume_token,
            referenced=obj.referenced,
            encrypted=obj.encryption not in (None, "off"),
            snapshots=tuple(sorted(points.get(obj.name, ()), key=lambda p: p.createtxg)),
            bookmarks=tuple(sorted(marks.get(obj.name, ()), key=lambda p: p.createtxg)),
            user_properties=user,
        )
    return found


def _point(obj: ZfsObject, tags: Collection[str]) -> Point:
    return Point(
        name=obj.name,
        guid=obj.guid,
        createtxg=obj.createtxg,
        creation=obj.creation,
        is_bookmark=obj.type is ObjectType.BOOKMARK,
        holds=frozenset(tags),
        sent=_count(obj.user_properties.get(props.SENT)),
        written=obj.written,
    )


def _role(value: str | None) -> Role | None:
    try:
        return None if value is None else Role(value)
    except ValueError:
        return None  # someone else's value: not a pair zfsyncd can act on


def _count(value: str | None) -> int | None:
    if value is None or not value.isdigit():
        return None
    return int(value)


def configured_host(hosts: Mapping[str, Host], name: str) -> Host:
    """The host a request or peer address names, or a PlanError naming it and the hosts
    there are."""
    found = hosts.get(name)
    if found is None:
        known = ", ".join(sorted(hosts))
        raise PlanError(f"host {name!r} is not configured ([hosts.{name}]; known: {known})")
    return found


def host_of(ctx: StepContext, name: str) -> Host:
    """The host a peer address names (configured_host over the step's hosts)."""
    return configured_host(ctx.hosts, name)
