"""sync-to's decision (zfsyncd.ops.replication.sync_to.decide), from tables: both ends as
read (snapshots written as in test_choose; `sent` lists the source snapshots marked sent)
and the destination's pool -> the steps, or the refusal."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from tests.unit.ops.listing import listing
from tests.unit.ops.replication.test_choose import side
from zfsyncd.ops.replication.ends import End, PairReading
from zfsyncd.ops.replication.requests import SyncToRequest
from zfsyncd.ops.replication.sync_to import decide
from zfsyncd.tx.errors import MissingObjectError, PlanError
from zfsyncd.tx.steps.zfs_rollback_refusal import RollbackFacts

SOURCE = End("local", "p/a", {"zfsync:role": "source", "zfsync:peer": "b:q/a"}, readonly=False)
DESTINATION = End(
    "b", "q/a", {"zfsync:role": "destination", "zfsync:peer": "local:p/a"}, readonly=True
)
POOL = listing("q", "q/a", "q/a@zfsync_0001", "q/a@zfsync_0002", "q/a@zfsync_0003 held=1")


def plan(
    short: str,
    src: str = "s1 s2 r3",
    dst: str = "s1 s2 r3",
    *,
    sent: tuple[int, ...] = (1, 2, 3),
    dst_written: int = 0,
    pool: Any = POOL,
) -> list[tuple[str, Any]]:
    state = side("p/a", src)
    marked = tuple(replace(p, sent=1700 if p.guid in sent else None) for p in state.snapshots)
    reading = PairReading(
        SOURCE,
        replace(state, snapshots=marked),
        DESTINATION,
        side("q/a", dst, written=dst_written),
    )
    made = decide(SyncToRequest(snapshot=f"p/a@{short}"), reading, RollbackFacts(pool), "T1")
    return [(s.kind, s.to_json()) for s in made.steps]


def hold(kind: str, name: str, host: str | None = None) -> tuple[str, Any]:
    args: dict[str, Any] = {"tag": "zfsync_replica", "snapshots": [name]}
    return kind, ({"host": host, **args} if host else args)


def unmark(*snapshots: str) -> tuple[str, Any]:
    return "set-user-property", {"prop": "zfsync:sent", "values": dict.fromkeys(snapshots)}


def test_the_destination_rolls_back_the_base_moves_and_newer_snapshots_are_unsent() -> None:
    assert plan("zfsync_0001") == [
        hold("hold", "q/a@zfsync_0001", "b"),
        hold("release", "q/a@zfsync_0003", "b"),
        ("rollback-dataset", {"host": "b", "snapshot": "q/a@zfsync_0001", "guid": 1}),
        hold("hold", "p/a@zfsync_0001"),
        hold("release", "p/a@zfsync_0003"),
        unmark("p/a@zfsync_0002", "p/a@zfsync_0003"),
    ]


def test_only_sent_snapshots_lose_their_mark() -> None:
    steps = plan("zfsync_0002", src="s1 s2 r3 s4", sent=(1, 2, 3))
    assert [s for s in steps if s[0] == "set-user-property"] == [unmark("p/a@zfsync_0003")]


def test_the_newest_common_snapshot_with_data_written_after_it_is_a_rollback_alone() -> None:
    assert plan("zfsync_0003", dst_written=4096) == [
        ("rollback-dataset", {"host": "b", "snapshot": "q/a@zfsync_0003", "guid": 1})
    ]


def test_the_copy_is_found_by_guid_whatever_its_name() -> None:
    renamed = listing("q", "q/a", "q/a@other_1", "q/a@zfsync_0002", "q/a@zfsync_0003 held=1")
    steps = plan("zfsync_0001", dst="x1 s2 r3", pool=renamed)
    assert steps[2] == ("rollback-dataset", {"host": "b", "snapshot": "q/a@other_1", "guid": 1})


REFUSALS = [
    pytest.param(
        {"short": "zfsync_0001", "dst": "s2 r3"},
        "q/a has no snapshot with the guid of p/a@zfsync_0001", id="never received there",
    ),
    pytest.param(
        {"short": "zfsync_0003"}, "q/a is at zfsync_0003 already, with nothing written since",
        id="nothing to do",
    ),
    pytest.param(
        {"short": "zfsync_0001", "pool": listing("q", "q/a", "q/a@zfsync_0001", "q/a/c")},
        "q/a has child datasets", id="the swap refuses",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("kw", "why"), REFUSALS)
def test_the_refusal(kw: dict[str, Any], why: str) -> None:
    with pytest.raises(PlanError, match=why):
        plan(**kw)


def test_a_missing_snapshot_is_not_found() -> None:
    with pytest.raises(MissingObjectError, match="snapshot p/a@zfsync_0009 does not exist"):
        plan("zfsync_0009")
