"""The pair's marks on snapshots, as the admin kinds move them: the base hold
(`zfsync_replica`, on the newest snapshot both sides share) and the sent marker
(`zfsync:sent`, on a source snapshot its destination received).

`move_base` holds the new base before it releases the old one, so the pair is never without
a held base, and each step's undo puts back what it changed. `unmark_sent` is one
set-user-property step (one `zfs inherit` over every marked snapshot)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from zfsyncd.ops.replication.inventory import Point
from zfsyncd.ops.replication.props import BASE_HOLD, SENT
from zfsyncd.tx.hosts import LOCAL
from zfsyncd.tx.steps import Step
from zfsyncd.tx.steps.holds import HoldArgs, HoldSnapshots, ReleaseSnapshots
from zfsyncd.tx.steps.user_properties import SetUserProperty, UserPropertyArgs


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
    """The step that removes the sent marker from those of `snapshots` that carry it (one
    set-user-property step: one `zfs inherit` over them all); none when none does."""
    marked: dict[str, str | None] = {p.name: None for p in snapshots if p.sent is not None}
    if not marked:
        return []
    return [SetUserProperty(UserPropertyArgs(host=host, prop=SENT, values=marked))]
