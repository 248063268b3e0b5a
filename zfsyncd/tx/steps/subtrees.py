"""Which snapshots one recursive zfs command can act on, and which must be named one by one.

`zfs hold -r`, `zfs release -r`, `zfs rename -r` and `zfs destroy -r` of `fs@s` act on
`fs@s` and on every snapshot named `s` below `fs`: one command and one sync task, atomic
within the pool, where naming each snapshot costs a sync task per name (a txg each, which is
what made a held snapshot of 50 children take minutes). A step means to act on an exact set
of snapshots, so it may use `-r` from a snapshot (a *top*) only when that reaches nothing
outside the set: every existing snapshot of that name below the top is in it. These are
pure functions of names; the steps read what exists first (one `zfs list` or `zfs holds`).

Siblings gain nothing from `-r` of each (libzfs makes one ioctl, one sync task, of each
snapshot it is given, whatever `-r` collects below it): a replica sync's new snapshots of
fifty datasets under one parent, held by name, were fifty sync tasks (20-25 s in the lab
for a hundred). A *common top* is the snapshot of their shared name on the datasets'
nearest common ancestor, which need not exist (zfs then acts on what lies below it): one
sync task for all, when a reading of its whole reach shows nothing else of that name there.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from zfsyncd.zfs import names


def _ancestors(dataset: str) -> Iterable[str]:
    """The datasets above `dataset`, nearest first."""
    parent = names.parent_of(dataset)
    while parent is not None:
        yield parent
        parent = names.parent_of(parent)


def topmost(snapshots: Iterable[str]) -> list[str]:
    """Those of `snapshots` that no other of the same name lies above: what a recursive
    command or reading needs to name to reach them all."""
    given = set(snapshots)
    return sorted(
        s
        for s in given
        if not any(f"{a}@{names.short_name(s)}" in given for a in _ancestors(names.dataset_of(s)))
    )


def topmost_datasets(snapshots: Iterable[str]) -> list[str]:
    """The datasets of `snapshots` that no other of them lies below."""
    datasets = {names.dataset_of(s) for s in snapshots}
    return sorted(d for d in datasets if not any(a in datasets for a in _ancestors(d)))


def reached(snapshots: Collection[str], name: str) -> bool:
    """Would a recursive command on `snapshots` reach the snapshot `name` (the same short
    name, at or below one of their datasets)?"""
    if "@" not in name:
        return False
    dataset, short = names.dataset_of(name), names.short_name(name)
    candidates = (dataset, *_ancestors(dataset))
    return any(f"{d}@{short}" in snapshots for d in candidates)


def common_tops(snapshots: Iterable[str]) -> list[str]:
    """For each name that snapshots of several datasets of one pool share, the snapshot of
    that name on their nearest common ancestor, unless it is one of `snapshots` (a top
    already): what a reading must cover, with them, for split_recursive to use it."""
    groups: dict[tuple[str, str], set[str]] = {}
    for snap in snapshots:
        dataset = names.dataset_of(snap)
        groups.setdefault((names.pool_of(dataset), names.short_name(snap)), set()).add(dataset)
    given = set(snapshots)
    found = []
    for (_, short), datasets in groups.items():
        if len(datasets) < 2:
            continue
        parts = [d.split("/") for d in datasets]
        common = []
        for level in zip(*parts, strict=False):
            if len(set(level)) != 1:
                break
            common.append(level[0])
        top = f"{'/'.join(common)}@{short}"
        if top not in given:
            found.append(top)
    return sorted(found)


def split_recursive(
    wanted: Iterable[str], existing: Iterable[str], read_from: Collection[str] = ()
) -> tuple[list[str], list[str]]:
    """(tops, singles): a recursive command on each top acts on exactly some of `wanted`,
    and the singles (the rest of `wanted`) are to be named one by one.

    `existing` is every snapshot that exists at or below the datasets of `wanted` with one
    of their names (what a recursive command could reach), and below the common tops of
    `read_from` (common_tops) when given: such a top stands for all of `wanted` below it
    when nothing else of its name lies there. A snapshot of `wanted` that does not exist is
    a single: naming it makes zfs say so, as it would without this split."""
    want, there = set(wanted), set(existing)
    # a snapshot that must not be touched spoils -r from every same-named one above it
    spoiled = {
        f"{a}@{names.short_name(e)}"
        for e in there - want
        for a in (names.dataset_of(e), *_ancestors(names.dataset_of(e)))
    }
    able = {w for w in want if w in there and w not in spoiled}
    tops: list[str] = []
    for top in sorted(set(read_from) - spoiled):
        below = {w for w in able if reached([top], w)}
        if len(below) > 1:
            tops.append(top)
            able -= below
            want -= below
    tops += [
        w
        for w in sorted(able)
        if not any(f"{a}@{names.short_name(w)}" in able for a in _ancestors(names.dataset_of(w)))
    ]
    return tops, sorted(want - able)
