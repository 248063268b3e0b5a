"""Readings of ZFS that several step kinds share.

A step reads everything it acts on at once: one `zfs list` (or `zfs holds`) over all its
names, never one per name, so its zfs commands stay the same in number whatever the number
of datasets (tests/engine/test_step_commands.py counts them)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from zfsyncd.tx.steps.subtrees import reached, topmost_datasets
from zfsyncd.zfs import names
from zfsyncd.zfs.backend import ZfsBackend
from zfsyncd.zfs.errors import NotFoundError
from zfsyncd.zfs.models import ReachedSnapshot, ZfsObject


async def guid_of(zfs: ZfsBackend, name: str) -> int | None:
    """The guid of `name`, or None when it does not exist."""
    try:
        return (await zfs.get(name)).guid
    except NotFoundError:
        return None


async def is_same(zfs: ZfsBackend, name: str, guid: int | None) -> bool:
    """Does `name` exist and (when a guid was recorded) is it still the same object?

    A guid guard keeps an undo from destroying something that merely has the name of what
    the step made (someone destroyed ours and made another in its place)."""
    found = await guid_of(zfs, name)
    return found is not None and (guid is None or found == guid)


def same(found: Mapping[str, ZfsObject | ReachedSnapshot], name: str, guid: int | None) -> bool:
    """`is_same` over a reading already made."""
    obj = found.get(name)
    return obj is not None and (guid is None or obj.guid == guid)


async def objects_named(zfs: ZfsBackend, wanted: Iterable[str]) -> dict[str, ZfsObject]:
    """Those of `wanted` that exist, by name: one `zfs list`."""
    return {o.name: o for o in await zfs.list_many(sorted(set(wanted)))}


async def snapshots_below(
    zfs: ZfsBackend,
    snapshots: Collection[str],
    *,
    handed: dict[object, Any] | None = None,
    hand_on: bool = False,
) -> dict[str, ReachedSnapshot]:
    """Every snapshot a recursive command on `snapshots` would reach (they themselves, and
    those of the same name below their datasets), by name: one `list_reached` (a read-only
    channel program on real zfs).

    With `handed` (StepContext.handed): `hand_on`, the reading is left there for the next
    step's `capture` (a `do` reading back after its last change); else a reading of the
    same names left there is used instead of a new one (the same answer, read moments
    before with nothing changed since: only the journal was written in between)."""
    if handed is not None and not hand_on:
        found = take_handed(handed, zfs, snapshots)
        if found is not None:
            return found
    listed, _ = await zfs.list_reached(sorted(set(snapshots)))
    if handed is not None and hand_on:
        hand_on_reading(handed, zfs, snapshots, listed)
    given = set(snapshots)
    return {o.name: o for o in listed if reached(given, o.name)}


def hand_on_reading(
    handed: dict[object, Any],
    zfs: ZfsBackend,
    snapshots: Collection[str],
    listed: Iterable[ReachedSnapshot],
) -> None:
    """Leave a reading of what a recursive command on `snapshots` reaches, as it is after
    the step's last change, for the next step's `capture` (take_handed)."""
    handed[_reached_key(zfs, snapshots)] = list(listed)


def take_handed(
    handed: dict[object, Any], zfs: ZfsBackend, snapshots: Collection[str]
) -> dict[str, ReachedSnapshot] | None:
    """`snapshots_below` from a reading of the same names the step before left, if any."""
    listed = handed.pop(_reached_key(zfs, snapshots), None)
    if listed is None:
        return None
    given = set(snapshots)
    return {o.name: o for o in listed if reached(given, o.name)}


def _reached_key(zfs: ZfsBackend, snapshots: Collection[str]) -> tuple[object, ...]:
    """What a reading of what a recursive command on `snapshots` reaches answers for: each
    short name below the topmost datasets it is given on (other snapshots there are not in
    it; two sets of names with the same key reach the same snapshots)."""
    by_short: dict[str, list[str]] = {}
    for snap in snapshots:
        by_short.setdefault(names.short_name(snap), []).append(snap)
    reach = tuple(sorted((short, tuple(topmost_datasets(s))) for short, s in by_short.items()))
    return ("snapshots reached", id(zfs), reach)


def _made_key(zfs: ZfsBackend, snapshots: Collection[str]) -> tuple[object, ...]:
    return ("made", *_reached_key(zfs, snapshots)[1:])


def hand_on_made(
    handed: dict[object, Any], zfs: ZfsBackend, snapshots: Collection[str], made: Iterable[str]
) -> None:
    """Leave what a snapshot call just made (`snapshot_guids`: in one txg, so with no hold
    yet) for the next step's reading of the same names: right after it, what a recursive
    command on names of that snapshot reaches is exactly what it made."""
    handed[_made_key(zfs, snapshots)] = set(made)


def take_made(
    handed: dict[object, Any], zfs: ZfsBackend, snapshots: Collection[str]
) -> set[str] | None:
    """What a snapshot call of the same names made, as the step before left it, if it did:
    those a recursive command on `snapshots` reaches."""
    made: set[str] | None = handed.pop(_made_key(zfs, snapshots), None)
    if made is None:
        return None
    given = set(snapshots)
    return {name for name in made if reached(given, name)}


def hand_on_guids(handed: dict[object, Any], zfs: ZfsBackend, made: Mapping[str, int]) -> None:
    """Leave the guids of what a snapshot call just made for the next step: a step that
    marks them (bookmarks of the transaction's own names, which nothing else makes) needs
    no reading of them first."""
    handed[("made guids", id(zfs))] = dict(made)


def take_made_guids(
    handed: dict[object, Any], zfs: ZfsBackend, snapshots: Iterable[str]
) -> dict[str, int] | None:
    """The guids the step before left (hand_on_guids), when they cover every one of
    `snapshots`; else None (read them)."""
    made: dict[str, int] | None = handed.pop(("made guids", id(zfs)), None)
    if made is None or any(s not in made for s in snapshots):
        return None
    return made


async def reached_with_tags(
    zfs: ZfsBackend, snapshots: Collection[str]
) -> tuple[dict[str, ReachedSnapshot], dict[str, set[str]]]:
    """`snapshots_below` and `tags_below` in one reading (one `list_reached`)."""
    listed, holds = await zfs.list_reached(sorted(set(snapshots)), holds=True)
    given = set(snapshots)
    tags: dict[str, set[str]] = {}
    for hold in holds:
        tags.setdefault(hold.snapshot, set()).add(hold.tag)
    return {o.name: o for o in listed if reached(given, o.name)}, tags


async def tags_below(zfs: ZfsBackend, snapshots: Collection[str]) -> dict[str, set[str]]:
    """The hold tags on every snapshot a recursive command on `snapshots` would reach, for
    those that have any: one `list_reached` with holds."""
    return (await reached_with_tags(zfs, snapshots))[1]
