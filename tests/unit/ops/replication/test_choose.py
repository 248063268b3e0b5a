"""The replica decisions (zfsyncd.ops.replication.choose), from tables of examples.

A side is written as a string of points, oldest first: `s5` is a snapshot of guid 5,
`b5` a bookmark of guid 5, `x5` a snapshot of guid 5 named as another tool names it (not
zfsync_), `h5` a zfsync_ snapshot held by someone else, `r5` one held by the base hold.
createtxg is the guid (so guids also give the order), unless a side is written out of order
(`s9 s3`: then the position gives the order).
"""

from __future__ import annotations

import pytest

from zfsyncd.ops.replication.choose import (
    Common,
    divergence,
    expire,
    is_empty,
    newest_common,
    unsent,
    what_to_send,
)
from zfsyncd.ops.replication.inventory import DatasetState, Point
from zfsyncd.ops.replication.props import BASE_HOLD
from zfsyncd.zfs.models import ObjectType


def points(dataset: str, text: str) -> tuple[list[Point], list[Point]]:
    snaps, marks = [], []
    for position, word in enumerate(text.split(), 1):
        kind, guid = word[0], int(word[1:])
        short = f"other_{guid}" if kind == "x" else f"zfsync_{guid:04d}"
        holds = {"h": frozenset({"someone"}), "r": frozenset({BASE_HOLD})}.get(kind, frozenset())
        point = Point(
            name=f"{dataset}{'#' if kind == 'b' else '@'}{short}",
            guid=guid,
            createtxg=position * 10,
            creation=position,
            is_bookmark=kind == "b",
            holds=holds,
        )
        (marks if kind == "b" else snaps).append(point)
    return snaps, marks


def side(dataset: str, text: str, *, written: int = 0, referenced: int = 98_304) -> DatasetState:
    snaps, marks = points(dataset, text)
    return DatasetState(
        name=dataset,
        type=ObjectType.FILESYSTEM,
        guid=1,
        role=None,
        peer=None,
        savecount=None,
        paused=False,
        written=written,
        receive_resume_token=None,
        referenced=referenced,
        snapshots=tuple(snaps),
        bookmarks=tuple(marks),
    )


def common_of(src: str, dst: str) -> str | None:
    found = newest_common(side("p/a", src), side("q/a", dst))
    if found is None:
        return None
    assert found.source.guid == found.destination.guid
    return found.source.name.removeprefix("p/a")


COMMON = [
    # source, destination -> the source's point
    ("s1 s2 s3", "s1 s2", "@zfsync_0002"),
    ("s1 s2 s3", "s1 s2 s3", "@zfsync_0003"),
    ("s1 s2 s3", "", None),
    ("s1 s2", "s7 s8", None),  # same names would not matter: guids only
    ("b1 b2 s3", "s1 s2", "#zfsync_0002"),  # the snapshot is gone: its bookmark serves
    ("b2 s2 s3", "s2", "@zfsync_0002"),  # a snapshot and its bookmark: the snapshot
    ("s2 b2 s3", "s2", "@zfsync_0002"),
    ("s1 x2 s3", "s1 x2", "@other_2"),  # another tool's snapshot is a base like any other
    ("s1 s2 s3", "s1 s9", "@zfsync_0001"),  # the destination's own snapshot: not shared
]


@pytest.mark.parametrize(("src", "dst", "expected"), COMMON)
def test_newest_common_by_guid(src: str, dst: str, expected: str | None) -> None:
    assert common_of(src, dst) == expected


DIVERGENCE = [
    # source, destination, destination's written -> (newer snapshots, written) or None
    ("s1 s2", "s1", 0, None),
    ("s1 s2", "s1 s2", 0, None),
    ("s1 s2", "", 0, None),  # empty: init's business, not divergence
    ("s1 s2", "s1 s5", 0, (("q/a@zfsync_0005",), 0)),
    ("s1 s2", "s1", 4096, ((), 4096)),
    ("s1 s2", "s1 s5 s6", 10, (("q/a@zfsync_0005", "q/a@zfsync_0006"), 10)),
    ("s1", "s7", 0, (("q/a@zfsync_0007",), 0)),  # nothing shared: all of it differs
    ("", "", 98_304, None),  # no snapshot: written is all it holds (init: is_empty)
]


@pytest.mark.parametrize(("src", "dst", "written", "expected"), DIVERGENCE)
def test_divergence(
    src: str, dst: str, written: int, expected: tuple[tuple[str, ...], int] | None
) -> None:
    destination = side("q/a", dst, written=written)
    found = divergence(destination, newest_common(side("p/a", src), destination))
    if expected is None:
        assert found is None
        return
    assert found is not None
    assert (found.newer, found.written) == expected
    report = found.report()
    assert report.startswith("destination q/a has diverged")
    for name in found.newer:
        assert name in report


def test_divergence_report_names_the_common_snapshot_and_the_bytes() -> None:
    destination = side("q/a", "s1 s5", written=7)
    found = divergence(destination, newest_common(side("p/a", "s1 s2"), destination))
    assert found is not None
    assert found.report() == (
        "destination q/a has diverged: snapshots the source does not have after "
        "q/a@zfsync_0001: q/a@zfsync_0005; 7 bytes written since its newest snapshot"
    )


SENDS = [
    # source, destination -> (base, intermediates) of the send to p/a@new
    ("s1 s2", "", (None, False)),
    ("s1 s2", "s1", ("p/a@zfsync_0001", True)),
    ("b1 s2", "s1", ("p/a#zfsync_0001", False)),  # zfs send -I takes no bookmark
    ("s1 b1 s2", "s1", ("p/a@zfsync_0001", True)),
]


@pytest.mark.parametrize(("src", "dst", "expected"), SENDS)
def test_what_to_send(src: str, dst: str, expected: tuple[str | None, bool]) -> None:
    common = newest_common(side("p/a", src), side("q/a", dst))
    transfer = what_to_send(common, "p/a@new")
    assert (transfer.base, transfer.intermediates) == expected
    assert transfer.snapshot == "p/a@new"
    assert transfer.full == (expected[0] is None)


UNSENT = [
    ("s1 s2 s3", "s1", ["@zfsync_0002", "@zfsync_0003"]),
    ("s1 s2 s3", "s1 s2 s3", []),
    ("s1 s2", "", ["@zfsync_0001", "@zfsync_0002"]),
    ("b1 s2", "s1", ["@zfsync_0002"]),
]


@pytest.mark.parametrize(("src", "dst", "expected"), UNSENT)
def test_unsent(src: str, dst: str, expected: list[str]) -> None:
    source = side("p/a", src)
    common = newest_common(source, side("q/a", dst))
    assert [p.name.removeprefix("p/a") for p in unsent(source, common)] == expected


EMPTY = [
    # snapshots, referenced, children -> empty?
    ("", 98_304, 0, True),
    ("", 24_576, 0, True),
    ("", 98_304 + 4096, 0, False),  # one small file
    ("s1", 98_304, 0, False),
    ("", 98_304, 1, False),
]


@pytest.mark.parametrize(("snaps", "referenced", "children", "expected"), EMPTY)
def test_is_empty(snaps: str, referenced: int, children: int, expected: bool) -> None:
    assert is_empty(side("q/a", snaps, referenced=referenced), children) is expected


EXPIRE = [
    # snapshots, savecount, guids kept (common), arriving -> guids destroyed
    ("s1 s2 s3 s4", 2, (), 0, [1, 2]),
    ("s1 s2 s3 s4", 4, (), 0, []),
    ("s1 s2 s3 s4", 9, (), 0, []),
    ("s1 s2 s3 s4", 2, (), 1, [1, 2, 3]),  # the new snapshot takes a place
    ("s1 s2 s3 s4", 2, (1,), 0, [2]),  # never the common one
    ("s1 h2 s3 s4", 2, (), 0, [1]),  # never one someone else holds
    ("s1 r2 s3 s4", 2, (), 0, [1, 2]),  # the base hold is ours: moved by the sync
    ("x1 s2 s3 x4 s5", 2, (), 0, [2]),  # another tool's snapshots neither count nor go
    ("s1 s2", 1, (), 3, [1, 2]),  # more arriving than kept: every old one
    ("", 3, (), 1, []),
]


@pytest.mark.parametrize(("snaps", "savecount", "keep", "arriving", "expected"), EXPIRE)
def test_expire(
    snaps: str, savecount: int, keep: tuple[int, ...], arriving: int, expected: list[int]
) -> None:
    found = expire(side("p/a", snaps).snapshots, savecount, keep=keep, arriving=arriving)
    assert [p.guid for p in found] == expected


def test_expire_never_touches_a_trash_copy() -> None:
    trash = Point(name="p/a@zfsync_trash_tx_zfsync_1", guid=1, createtxg=1, creation=1)
    assert expire([trash], 0) == []


def test_common_guid() -> None:
    snaps, _ = points("p/a", "s4")
    assert Common(snaps[0], snaps[0]).guid == 4
