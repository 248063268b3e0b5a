"""The replica decisions, as pure functions over readings of both sides (inventory.py).

Nothing here reads ZFS: the kinds read each side once and pass the readings in, and
tests/unit/ops/replication/test_choose.py checks each function with tables of examples.

- `newest_common`: the newest snapshot both sides share, by guid (never by name); on the
  source a bookmark counts too (it keeps its snapshot's guid), on the destination only
  snapshots do (what a receive can apply an incremental on).
- `divergence`: what makes a destination refuse the next incremental (snapshots newer than
  the common one, data written after its newest snapshot), as a report for a person.
- `what_to_send`: the base and the flag of the next `zfs send` (-I from a snapshot, -i from
  a bookmark, a full stream when nothing is shared).
- `is_empty`: a destination that init may move aside and replace (nothing in it).
- `expire`: the snapshots one side may destroy to keep its savecount.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from zfsyncd.ops.replication.inventory import DatasetState, Point
from zfsyncd.ops.replication.props import BASE_HOLD
from zfsyncd.ops.snapshot import PREFIX
from zfsyncd.tx.steps.trash import TRASH_PREFIX

#: what an empty filesystem references on an ashift=12 pool (real, OpenZFS 2.3); a file
#: with data adds at least a block, so anything more is not empty (other layouts reference
#: less when empty, and a larger one is refused: the safe side)
EMPTY_REFERENCED = 98_304


@dataclass(frozen=True)
class Common:
    """The newest point both sides share: on the source a snapshot (preferred) or a
    bookmark, on the destination the snapshot of the same guid."""

    source: Point
    destination: Point

    @property
    def guid(self) -> int:
        return self.source.guid


def newest_common(source: DatasetState, destination: DatasetState) -> Common | None:
    """The newest source snapshot or bookmark whose guid the destination has as a snapshot;
    of a snapshot and its bookmark (same guid), the snapshot. None when nothing is shared."""
    on_destination = {p.guid: p for p in destination.snapshots}
    on_source: dict[int, Point] = {}
    for point in (*source.bookmarks, *source.snapshots):  # a snapshot replaces its bookmark
        if point.guid in on_destination:
            on_source[point.guid] = point
    if not on_source:
        return None
    # the destination's order: a bookmark keeps its snapshot's guid, not always its txg
    guid = max(on_source, key=lambda g: on_destination[g].createtxg)
    return Common(source=on_source[guid], destination=on_destination[guid])


@dataclass(frozen=True)
class Divergence:
    """Why a destination cannot take the next incremental without losing something."""

    destination: str
    #: its snapshots newer than the common one (all of them when nothing is shared)
    newer: tuple[str, ...]
    #: bytes written after its newest snapshot
    written: int
    #: the common snapshot's name on the destination, None when nothing is shared
    common: str | None

    def report(self) -> str:
        parts = []
        if self.common is None:
            parts.append(f"{self.destination} shares no snapshot with its source (by guid)")
        if self.newer:
            after = f" after {self.common}" if self.common else ""
            parts.append(f"snapshots the source does not have{after}: {', '.join(self.newer)}")
        if self.written:
            parts.append(f"{self.written} bytes written since its newest snapshot")
        return f"destination {self.destination} has diverged: " + "; ".join(parts)


def divergence(
    destination: DatasetState, common: Common | None, *, extra_written: int = 0
) -> Divergence | None:
    """What differs on `destination` beyond the common snapshot; None when an incremental
    from it would apply. A destination with no snapshot at all is not diverged: its
    `written` is all it references, and init decides what to do with it (is_empty).
    `extra_written` lets a caller count the datasets below it."""
    if common is None:
        newer = tuple(p.name for p in destination.snapshots)
    else:
        newer = tuple(
            p.name for p in destination.snapshots if p.createtxg > common.destination.createtxg
        )
    written = destination.written + extra_written
    if common is None and not newer:
        return None
    if not newer and not written:
        return None
    return Divergence(
        destination=destination.name,
        newer=newer,
        written=written,
        common=None if common is None else common.destination.name,
    )


@dataclass(frozen=True)
class Transfer:
    """The next `zfs send`: to `snapshot` (a source snapshot), from `base` when set."""

    snapshot: str
    base: str | None
    #: -I (every snapshot between) from a snapshot base; -i from a bookmark
    intermediates: bool

    @property
    def full(self) -> bool:
        return self.base is None


def what_to_send(common: Common | None, snapshot: str) -> Transfer:
    """The send to `snapshot` (the newest source snapshot the destination must get): a full
    stream when nothing is shared; -I from a snapshot base (the snapshots between arrive
    too); -i from a bookmark base (zfs send -I takes no bookmark)."""
    if common is None:
        return Transfer(snapshot=snapshot, base=None, intermediates=False)
    base = common.source
    return Transfer(snapshot=snapshot, base=base.name, intermediates=not base.is_bookmark)


def unsent(source: DatasetState, common: Common | None) -> list[Point]:
    """The source snapshots newer than the common point (what the next send carries)."""
    after = -1 if common is None else common.source.createtxg
    return [p for p in source.snapshots if p.createtxg > after]


def is_empty(destination: DatasetState, children: int) -> bool:
    """A destination init may move aside and replace: no snapshot, no dataset below it
    (`children`), no partial receive, and no more data than an empty filesystem
    references."""
    return (
        not destination.snapshots
        and children == 0
        and destination.receive_resume_token is None
        and destination.referenced <= EMPTY_REFERENCED
    )


def is_ours(point: Point) -> bool:
    """A zfsync_ snapshot (one a replica or snapshot transaction made), not one in a trash."""
    return point.short.startswith(PREFIX) and not point.short.startswith(TRASH_PREFIX)


def expire(
    snapshots: Sequence[Point],
    savecount: int,
    *,
    keep: Collection[int] = (),
    arriving: int = 0,
    our_holds: Collection[str] = (BASE_HOLD,),
) -> list[Point]:
    """The snapshots of one side to destroy so that it keeps its `savecount` newest zfsync_
    snapshots, oldest first. Sent and unsent count alike (they take the same space). Never
    one whose guid is in `keep` (the newest common snapshot), never one held by a tag not
    in `our_holds` (someone else needs it), never one that is not zfsync_'s.
    `arriving` zfsync_ snapshots are about to be added (a sync's new snapshot): they are
    the newest, so they take their places in the count first."""
    ours = [p for p in snapshots if is_ours(p)]
    kept = max(savecount - arriving, 0)
    candidates = ours[: max(len(ours) - kept, 0)]
    return [p for p in candidates if p.guid not in keep and not (p.holds - frozenset(our_holds))]
