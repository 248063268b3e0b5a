"""reconfigure's decision (zfsyncd.ops.replication.reconfigure.decide), from tables: the
source and the new destination as read (snapshots written as in test_choose) -> the steps,
or the refusal."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from tests.unit.ops.replication.test_choose import side
from zfsyncd.ops.replication.ends import End, PairReading
from zfsyncd.ops.replication.reconfigure import decide
from zfsyncd.ops.replication.requests import ReconfigureRequest
from zfsyncd.tx.errors import PlanError

SRC = {"zfsync:role": "source", "zfsync:peer": "b:q/old", "zfsync:savecount": "3"}


def plan(
    src: str = "s1 s2 r3",
    new: str | None = "s1 s2",
    *,
    new_local: dict[str, str] | None = None,
    new_written: int = 0,
    destination: str = "c:r/new",
    sent: tuple[int, ...] = (1, 2, 3),
) -> list[tuple[str, Any]]:
    state = side("p/a", src)
    marked = tuple(replace(p, sent=1 if p.guid in sent else None) for p in state.snapshots)
    reading = PairReading(
        End("local", "p/a", SRC, readonly=False), replace(state, snapshots=marked)
    )
    end = None if new is None else End("c", "r/new", new_local or {}, readonly=False)
    new_state = None if new is None else side("r/new", new, written=new_written)
    request = ReconfigureRequest(source="p/a", destination=destination)
    return [(s.kind, s.to_json()) for s in decide(request, reading, end, new_state).steps]


def test_the_new_destination_is_marked_the_base_moves_and_the_source_points_to_it() -> None:
    assert plan() == [
        (
            "set-properties",
            {
                "host": "c",
                "name": "r/new",
                "properties": {
                    "readonly": "on",
                    "zfsync:role": "destination",
                    "zfsync:peer": "local:p/a",
                    "zfsync:savecount": "3",
                },
            },
        ),
        ("hold", {"host": "c", "tag": "zfsync_replica", "snapshots": ["r/new@zfsync_0002"]}),
        ("hold", {"tag": "zfsync_replica", "snapshots": ["p/a@zfsync_0002"]}),
        ("release", {"tag": "zfsync_replica", "snapshots": ["p/a@zfsync_0003"]}),
        ("set-user-property", {"prop": "zfsync:sent", "values": {"p/a@zfsync_0003": None}}),
        ("set-properties", {"name": "p/a", "properties": {"zfsync:peer": "c:r/new"}}),
    ]


def test_a_destination_with_its_own_savecount_keeps_it() -> None:
    first = plan(new_local={"zfsync:savecount": "9"})[0][1]["properties"]
    assert "zfsync:savecount" not in first


def test_a_replica_already_at_the_newest_snapshot_moves_no_hold_on_the_source() -> None:
    steps = plan(new="s1 s2 s3")
    assert [kind for kind, _ in steps] == ["set-properties", "hold", "set-properties"]


REFUSALS = [
    pytest.param({"new": None}, r"c:r/new does not exist: a new destination is made by "
                 r"`replica init` \(forget the pair with `replica clear p/a` first\)",
                 id="no such dataset"),
    pytest.param({"new": "s7"}, "c:r/new shares no snapshot with p/a", id="not a replica"),
    pytest.param({"new": ""}, "c:r/new shares no snapshot with p/a", id="empty"),
    pytest.param({"new": "s1 s2 s9"}, "destination r/new has diverged", id="diverged"),
    pytest.param({"new_written": 5}, "5 bytes written since", id="written to"),
    pytest.param({"destination": "b:q/old"}, "b:q/old is the destination of p/a already",
                 id="the same peer"),
    pytest.param(
        {"new_local": {"zfsync:role": "source", "zfsync:peer": "local:x/y"}},
        r"c:r/new is the source of another replica pair \(its peer: local:x/y\)",
        id="in another pair",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("kw", "why"), REFUSALS)
def test_the_refusal(kw: dict[str, Any], why: str) -> None:
    with pytest.raises(PlanError, match=why):
        plan(**kw)
