"""replica-init's decision (zfsyncd.ops.replication.init.decide), from tables of examples:
the destination as read -> the steps (a new replica, an adopted one, an empty destination
moved aside) or the refusal. Sides are written as in test_choose.py."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from tests.unit.ops.replication.test_choose import side
from zfsyncd.ops.replication.init import decide
from zfsyncd.ops.replication.inventory import DatasetState, Side
from zfsyncd.ops.replication.props import Role
from zfsyncd.ops.replication.requests import InitRequest
from zfsyncd.tx.errors import PlanError

TX = "20261130T120000_000000Z_0123abcd"
SNAP = f"zfsync_{TX}"


def plan(
    dst: DatasetState | None, *, source: str = "s1", encrypted: bool = False, **request: Any
) -> list[tuple[str, dict[str, Any]]]:
    src = replace(side("p/a", source), encrypted=encrypted)
    destination = {} if dst is None else {dst.name: dst}
    made = decide(
        InitRequest(source="p/a", destination="backup:q/a", **request),
        Side("local", {"p/a": src}),
        Side("backup", destination),
        True,
        TX,
        1700000000,
    )
    return [(s.kind, s.to_json()) for s in made.steps]


def kinds(steps: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [k for k, _ in steps]


def test_a_new_replica() -> None:
    steps = plan(None)
    assert kinds(steps) == [
        "set-properties", "create-snapshots", "hold", "send-receive-many", "hold", "bookmarks",
    ]  # fmt: skip
    [stream] = steps[3][1]["streams"]
    assert stream["send"]["base"] is None
    assert stream["recv"]["properties"] == {
        "zfsync:role": "destination",
        "zfsync:peer": "local:p/a",
        "zfsync:savecount": "5",
        "readonly": "on",
    }
    assert steps[3][1]["target"] == "backup"
    assert steps[1][1]["properties"] == {"zfsync:sent": "1700000000"}
    assert steps[4][1] == {"host": "backup", "tag": "zfsync_replica", "snapshots": [f"q/a@{SNAP}"]}


def test_an_encrypted_source_goes_raw() -> None:
    [stream] = plan(None, encrypted=True)[3][1]["streams"]
    assert stream["send"]["raw"] is True


def test_an_empty_destination_is_moved_aside() -> None:
    steps = plan(side("q/a", ""))
    assert kinds(steps)[:2] == ["set-properties", "destroy-dataset"]
    assert steps[1][1]["host"] == "backup"


def test_a_replica_made_by_another_tool_is_adopted() -> None:
    steps = plan(side("q/a", "x1 x2"), source="x1 x2")
    assert "destroy-dataset" not in kinds(steps)
    send = next(args for kind, args in steps if kind == "send-receive-many")["streams"][0]
    assert (send["send"]["base"], send["send"]["intermediates"]) == ("p/a@other_2", True)
    assert send["recv"]["properties"] == {}  # incremental: set afterwards
    assert ("set-properties", "backup") in [(k, a.get("host")) for k, a in steps]


REFUSED = [
    (side("q/a", "s1 s9"), "cannot adopt: destination q/a has diverged"),
    (side("q/a", "s7"), "exists and is not empty .*none shared"),
    (side("q/a", "", referenced=1 << 20), "exists and is not empty .*bytes of data"),
    (replace(side("q/a", "s1"), role=Role.DESTINATION), "already part of a replica"),
]


@pytest.mark.parametrize(("dst", "words"), REFUSED)
def test_refusals(dst: DatasetState, words: str) -> None:
    with pytest.raises(PlanError, match=words):
        plan(dst)


def test_a_source_already_in_a_pair_is_refused() -> None:
    src = replace(side("p/a", "s1"), role=Role.SOURCE, peer="backup:q/a")
    with pytest.raises(PlanError, match="already part of a replica"):
        decide(
            InitRequest(source="p/a", destination="backup:q/b"),
            Side("local", {"p/a": src}),
            Side("backup", {}),
            True,
            TX,
            0,
        )
