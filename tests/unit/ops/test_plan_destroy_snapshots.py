"""The destroy-snapshots plan's decision (`zfsyncd.ops.snapshot_destroy.decide`), from tables
of examples: the pools as listed (and the hold tags read) -> the step, or the refusal."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from tests.unit.ops.listing import guid, listing
from zfsyncd.ops.snapshot_destroy import DestroyFacts, DestroySnapshotsRequest, decide
from zfsyncd.tx.errors import PlanError

POOLS = listing(
    "p", "p/a", "p/a@zfsync_1", "p/a@zfsync_2", "p/a@mine", "p/b", "p/b@zfsync_1",
    "q", "q/x", "q/x@zfsync_1",
)  # fmt: skip
#: a pool where one snapshot is held and another cloned
BUSY = listing(
    "p", "p/a", "p/a@zfsync_1", "p/a@zfsync_2 held=2", "p/a@zfsync_3", "p/c origin=p/a@zfsync_3"
)
BUSY_HOLDS = {"p/a@zfsync_2": ("zfsync_T0", "backup")}


def plan(
    facts: Mapping[str, Any],
    holds: Mapping[str, tuple[str, ...]] | None = None,
    **request: Any,
) -> list[tuple[str, Any]]:
    made = decide(DestroySnapshotsRequest.model_validate(request), DestroyFacts(facts, holds or {}))
    return [(s.kind, s.to_json()) for s in made.steps]


def destroy(*snapshots: str) -> tuple[str, Any]:
    """The expected step: every snapshot named, with the guid it must still have."""
    return "destroy-snapshots", {"snapshots": {s: guid(s) for s in snapshots}}


STEPS = [
    pytest.param({"snapshots": ["p/a@zfsync_1"]}, [destroy("p/a@zfsync_1")], id="one"),
    pytest.param(
        {"snapshots": ["q/x@zfsync_1", "p/a@zfsync_2", "p/b@zfsync_1"]},
        [destroy("q/x@zfsync_1", "p/a@zfsync_2", "p/b@zfsync_1")],
        id="one step for every pool, in the order named",
    ),
    pytest.param(
        {"snapshots": ["p/a@mine"], "any_name": True}, [destroy("p/a@mine")],
        id="another name, when asked for",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("request_", "steps"), STEPS)
def test_the_step(request_: dict[str, Any], steps: list[tuple[str, Any]]) -> None:
    assert plan(POOLS, **request_) == steps


def test_what_is_neither_held_nor_cloned_in_a_busy_pool_is_destroyed() -> None:
    assert plan(BUSY, BUSY_HOLDS, snapshots=["p/a@zfsync_1"]) == [destroy("p/a@zfsync_1")]


REFUSALS = [
    pytest.param(
        POOLS, {"snapshots": ["p/a@zfsync_trash_T0_zfsync_1"]},
        "p/a@zfsync_trash_T0_zfsync_1 belongs to a transaction that is still running",
        id="in a trash",
    ),
    pytest.param(
        POOLS, {"snapshots": ["p/a@zfsync_trash_T0_mine"], "any_name": True},
        "p/a@zfsync_trash_T0_mine belongs to a transaction that is still running",
        id="in a trash, whatever any_name says",
    ),
    pytest.param(
        POOLS, {"snapshots": ["p/a@mine"]},
        "p/a@mine was not made by zfsyncd (its name does not begin with zfsync_); "
        "ask for any_name (zfsyncctl: --any-name) to destroy it anyway",
        id="not zfsyncd's",
    ),
    pytest.param(
        POOLS, {"snapshots": ["p/a@zfsync_1", "p/a@zfsync_9"]},
        "snapshot p/a@zfsync_9 does not exist", id="missing",
    ),
    pytest.param(
        POOLS, {"snapshots": ["r/x@zfsync_1"]}, "snapshot r/x@zfsync_1 does not exist",
        id="no such pool",
    ),
    pytest.param(
        BUSY, {"snapshots": ["p/a@zfsync_1", "p/a@zfsync_2"]},
        "snapshot p/a@zfsync_2 is held (zfsync_T0, backup): release it first", id="held",
    ),
    pytest.param(
        BUSY, {"snapshots": ["p/a@zfsync_1", "p/a@zfsync_3"]},
        "snapshot p/a@zfsync_3 has a clone, p/c: destroy or promote the clone first",
        id="cloned",
    ),
    pytest.param(
        BUSY, {"snapshots": ["p/a@zfsync_3", "p/a@zfsync_2"]},
        "snapshot p/a@zfsync_2 is held (zfsync_T0, backup): release it first",
        id="a hold is found before a clone",
    ),
    pytest.param(
        BUSY, {"snapshots": ["p/a@zfsync_9", "p/a@zfsync_2"]},
        "snapshot p/a@zfsync_9 does not exist", id="the first one named is the one refused",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("facts", "request_", "why"), REFUSALS)
def test_refusals(facts: dict[str, Any], request_: dict[str, Any], why: str) -> None:
    with pytest.raises(PlanError) as refused:
        plan(facts, BUSY_HOLDS, **request_)
    assert str(refused.value) == why
