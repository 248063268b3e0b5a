"""pause/resume's decision (`zfsyncd.ops.replication.pause.decide`), from tables: the
source's own values of the pair's properties -> the property change, or the refusal."""

from __future__ import annotations

from typing import Any

import pytest

from zfsyncd.ops.replication.ends import End
from zfsyncd.ops.replication.pause import decide
from zfsyncd.ops.replication.requests import PauseRequest
from zfsyncd.tx.errors import MissingObjectError, PlanError

SRC = "p/fs"
SOURCE = {"zfsync:role": "source", "zfsync:peer": "b:q/fs"}
PAUSED = {**SOURCE, "zfsync:paused": "on"}


def end(local: dict[str, str]) -> End:
    return End("local", SRC, local, readonly=False)


def change(local: dict[str, str], pause: bool) -> dict[str, Any]:
    plan = decide(PauseRequest(source=SRC), end(local), pause)
    (step,) = plan.steps
    assert step.kind == "set-properties"
    args = step.to_json()
    assert args["name"] == SRC
    assert "host" not in args  # the source, on this host
    return dict(args["properties"])


CHANGES = [
    pytest.param(SOURCE, True, {"zfsync:paused": "on"}, id="pause"),
    pytest.param(PAUSED, False, {"zfsync:paused": None}, id="resume inherits it away"),
    pytest.param(
        {**SOURCE, "zfsync:paused": "off"}, True, {"zfsync:paused": "on"},
        id="another value is not paused",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("local", "pause", "expected"), CHANGES)
def test_the_change(local: dict[str, str], pause: bool, expected: dict[str, Any]) -> None:
    assert change(local, pause) == expected


REFUSALS = [
    pytest.param(PAUSED, True, "p/fs is already paused", id="paused twice"),
    pytest.param(SOURCE, False, "p/fs is not paused", id="resumed while running"),
    pytest.param(
        {"zfsync:role": "destination", "zfsync:peer": "local:p/src"}, True,
        r"p/fs is the destination of a replica pair \(its source: local:p/src\)",
        id="a destination",
    ),
    pytest.param(
        {"zfsync:role": "source"}, True, "p/fs has zfsync:role=source but no valid zfsync:peer",
        id="no peer",
    ),
    pytest.param({}, True, "p/fs is not part of a replica pair", id="not managed"),
]  # fmt: skip


@pytest.mark.parametrize(("local", "pause", "why"), REFUSALS)
def test_the_refusal(local: dict[str, str], pause: bool, why: str) -> None:
    with pytest.raises(PlanError, match=why):
        decide(PauseRequest(source=SRC), end(local), pause)


def test_a_missing_source_is_not_found() -> None:
    with pytest.raises(MissingObjectError, match="dataset p/fs does not exist"):
        decide(PauseRequest(source=SRC), None, True)
