"""clear's decision (zfsyncd.ops.replication.clear.decide), from tables: both ends as read
(snapshots written as in test_choose) -> the steps per end, or the refusal."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from tests.unit.ops.replication.test_choose import side
from zfsyncd.ops.replication.clear import decide
from zfsyncd.ops.replication.ends import End, PairReading
from zfsyncd.ops.replication.requests import ClearRequest
from zfsyncd.tx.errors import PlanError

SRC = {"zfsync:role": "source", "zfsync:peer": "b:q/a", "zfsync:savecount": "3"}
DST = {"zfsync:role": "destination", "zfsync:peer": "local:p/a"}


def plan(
    src: str = "s1 r2",
    dst: str | None = "s1 r2",
    *,
    dst_local: dict[str, str] = DST,
    destroy: bool = False,
) -> tuple[list[tuple[str, Any]], str]:
    """The source p/a here, its destination q/a on host b (None: gone)."""
    there = (None, None) if dst is None else (End("b", "q/a", dst_local, True), side("q/a", dst))
    reading = PairReading(End("local", "p/a", SRC, readonly=False), side("p/a", src), *there)
    made = decide(ClearRequest(source="p/a", destroy_snapshots=destroy), reading)
    return [(s.kind, s.to_json()) for s in made.steps], made.description


def release(name: str, host: str | None = None) -> tuple[str, Any]:
    args: dict[str, Any] = {"tag": "zfsync_replica", "snapshots": [name]}
    return "release", ({"host": host, **args} if host else args)


def forget(name: str, *props: str, host: str | None = None) -> tuple[str, Any]:
    args: dict[str, Any] = {"name": name, "properties": dict.fromkeys(props)}
    return "set-properties", ({"host": host, **args} if host else args)


SRC_PROPS = ("zfsync:role", "zfsync:peer", "zfsync:savecount")
DST_PROPS = ("zfsync:role", "zfsync:peer")


def test_both_ends_lose_the_base_hold_and_the_properties() -> None:
    steps, description = plan()
    assert steps == [
        release("p/a@zfsync_0002"),
        forget("p/a", *SRC_PROPS),
        release("q/a@zfsync_0002", "b"),
        forget("q/a", *DST_PROPS, host="b"),
    ]
    assert description == "forget the replica pair of p/a"


def test_destroying_snapshots_leaves_other_tools_and_other_holders_theirs() -> None:
    steps, description = plan("x1 s2 h3 r4", "s2 r4", destroy=True)
    assert steps[:3] == [
        release("p/a@zfsync_0004"),
        ("destroy-snapshots", {"snapshots": {"p/a@zfsync_0002": 2, "p/a@zfsync_0004": 4}}),
        forget("p/a", *SRC_PROPS),
    ]
    assert steps[4] == (
        "destroy-snapshots",
        {"host": "b", "snapshots": {"q/a@zfsync_0002": 2, "q/a@zfsync_0004": 4}},
    )
    assert description.endswith("(kept, held by others or cloned: p/a@zfsync_0003)")


@pytest.mark.parametrize(
    ("dst", "dst_local"),
    [
        pytest.param(None, DST, id="the peer is gone"),
        pytest.param("s1 r2", {**DST, "zfsync:peer": "local:p/other"}, id="paired elsewhere"),
        pytest.param("s1 r2", {}, id="cleared already"),
    ],
)
def test_only_this_end_when_the_other_is_not_its_partner(
    dst: str | None, dst_local: dict[str, str]
) -> None:
    steps, description = plan(dst=dst, dst_local=dst_local)
    assert steps == [release("p/a@zfsync_0002"), forget("p/a", *SRC_PROPS)]
    assert "(this end only: its peer b:q/a is gone or not paired with it)" in description


def test_a_destination_may_be_named() -> None:
    # here the destination q/a; its source p/a on host b
    reading = PairReading(
        End("local", "q/a", {**DST, "zfsync:peer": "b:p/a"}, readonly=True),
        side("q/a", "s1 r2"),
        End("b", "p/a", {**SRC, "zfsync:peer": "local:q/a"}, readonly=False),
        side("p/a", "s1 r2"),
    )
    steps = [(s.kind, s.to_json()) for s in decide(ClearRequest(source="q/a"), reading).steps]
    assert steps == [
        release("q/a@zfsync_0002"),
        forget("q/a", *DST_PROPS),
        release("p/a@zfsync_0002", "b"),
        forget("p/a", *SRC_PROPS, host="b"),
    ]


def test_a_dataset_outside_any_pair_is_refused() -> None:
    reading = PairReading(End("local", "p/x", {}, readonly=False), side("p/x", "s1"))
    with pytest.raises(PlanError, match="p/x is not part of a replica pair"):
        decide(ClearRequest(source="p/x"), reading)


def test_the_sent_marks_of_the_snapshots_that_stay_go_in_one_step() -> None:
    state = side("p/a", "x1 s2 h3 r4")
    marked = replace(state, snapshots=tuple(replace(p, sent=1700) for p in state.snapshots))
    reading = PairReading(End("local", "p/a", SRC, readonly=False), marked)
    request = ClearRequest(source="p/a", destroy_snapshots=True)
    steps = [(s.kind, s.to_json()) for s in decide(request, reading).steps]
    # zfsync_0002 and zfsync_0004 go to the trash with theirs; the others stay, unmarked
    assert steps[2] == (
        "set-user-property",
        {"prop": "zfsync:sent", "values": {"p/a@other_1": None, "p/a@zfsync_0003": None}},
    )


def test_a_snapshot_with_a_clone_is_not_destroyed() -> None:
    reading = PairReading(End("local", "p/a", SRC, readonly=False), side("p/a", "s1 s2 r3"))
    request = ClearRequest(source="p/a", destroy_snapshots=True)
    made = decide(request, reading, {"local": frozenset({"p/a@zfsync_0001"})})
    destroyed = [s.to_json()["snapshots"] for s in made.steps if s.kind == "destroy-snapshots"]
    assert destroyed == [{"p/a@zfsync_0002": 2, "p/a@zfsync_0003": 3}]
    assert made.description.endswith("(kept, held by others or cloned: p/a@zfsync_0001)")
