"""The pair's marks on snapshots, as the admin kinds move them: the base hold
(`zfsync_replica`, on the newest snapshot both sides share) and the sent marker
(`zfsync:sent`, on a source snapshot its destination received).

`move_base` holds the new base before it releases the old one, so the pair is never without
a held base, and each step's undo puts back what it changed. `unmark_sent` is one
set-properties step per snapshot: `zfs inherit` takes one name in the backend protocol, so
its commands grow with the number of marked snapshots (at most a savecount's worth in a
pair that expires)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from zfsyncd.ops.replication.inventory import Point
from zfsyncd.ops.replication.props import BASE_HOLD, SENT
from zfsyncd.tx.hosts import LOCAL
from zfsyncd.tx.steps import Step
from zfsyncd.tx.steps.holds import HoldArgs, HoldSnapshots, ReleaseSnapshots
from zfsyncd.tx.steps.properties import SetProperties, SetPropertiesArgs


def move_base(host: str, snapshots: Iterable[Point], onto: Point | None) -> list[Step[Any]]:
    """The steps that leave the base hold on `onto` alone among `snapshots` (a dataset's):
    hold it there (unless it is, or `onto` is None or a bookmark), then release it from
    every other snapshot that has it."""
    steps: list[Step[Any]] = []
    if onto is not None and not onto.is_bookmark and BASE_HOLD not in onto.holds:
        steps.append(HoldSnapshots(HoldArgs(host=host, tag=BASE_HOLD, snapshots=(onto.name,))))
    others = tuple(
        p.name for p in snapshots if BASE_HOLD in p.holds and (onto is None or p.name != onto.name)
    )
    if others:
        steps.append(ReleaseSnapshots(HoldArgs(host=host, tag=BASE_HOLD, snapshots=others)))
    return steps


def unmark_sent(snapshots: Iterable[Point], host: str = LOCAL) -> list[Step[Any]]:
    """The steps that remove the sent marker from those of `snapshots` that carry it."""
    unmark: dict[str, str | None] = {SENT: None}
    return [
        SetProperties(SetPropertiesArgs(host=host, name=p.name, properties=unmark))
        for p in snapshots
        if p.sent is not None
    ]
