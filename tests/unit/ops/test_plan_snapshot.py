"""The snapshot plan's decision (`zfsyncd.ops.snapshot.decide`), from tables of examples:
the pools as listed -> the steps, or the refusal."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.ops.listing import TX, listing
from zfsyncd.ops.snapshot import SnapshotFacts, SnapshotRequest, decide
from zfsyncd.tx.errors import PlanError
from zfsyncd.zfs.errors import InvalidNameError

SHORT = f"zfsync_{TX}"
#: a pool `p` with a tree below `p/a`, a volume, and a second pool `q`
POOLS = listing(
    "p", "p/a", "p/a/b", "p/a/b/c", "p/a@old", "p/d", "p/v type=volume", "q", "q/x", "q/x/y"
)  # fmt: skip


def snap(
    *datasets: str, recursive: bool = False, properties: dict[str, str] | None = None
) -> tuple[str, Any]:
    """The expected step: one `zfs snapshot` of these datasets (all in one pool)."""
    snapshots = [f"{d}@{SHORT}" for d in datasets]
    args = {"snapshots": snapshots, "recursive": recursive, "properties": properties or {}}
    return "create-snapshots", args


def hold(*datasets: str, tree: bool = False) -> tuple[str, Any]:
    """The expected hold step; `tree`: of these and the same-named snapshots below them."""
    kind = "hold-tree" if tree else "hold"
    return kind, {"tag": SHORT, "snapshots": [f"{d}@{SHORT}" for d in datasets]}


def plan(facts: dict[str, Any], **request: Any) -> tuple[list[tuple[str, Any]], set[str]]:
    made = decide(SnapshotRequest.model_validate(request), SnapshotFacts(facts), TX)
    return [(s.kind, s.to_json()) for s in made.steps], made.datasets()


STEPS = [
    pytest.param({"datasets": ["p/a"]}, [snap("p/a")], {"p/a"}, id="one dataset"),
    pytest.param({"datasets": ["p/v"]}, [snap("p/v")], {"p/v"}, id="a volume"),
    pytest.param(
        {"datasets": ["p/d", "p/a"]}, [snap("p/d", "p/a")], {"p/a", "p/d"},
        id="one step per pool, in the order named",
    ),
    pytest.param(
        {"datasets": ["q/x", "p/a"]}, [snap("p/a"), snap("q/x")], {"p/a", "q/x"},
        id="pools in sorted order",
    ),
    pytest.param(
        {"datasets": ["p/a"], "recursive": True}, [snap("p/a", recursive=True)],
        {"p/a"}, id="recursive: the lock of the dataset named covers what lies below",
    ),
    pytest.param(
        {"datasets": ["p/a/b", "p/d"], "recursive": True}, [snap("p/a/b", "p/d", recursive=True)],
        {"p/a/b", "p/d"}, id="recursive, two roots",
    ),
    pytest.param(
        {"datasets": ["p/a"], "properties": {"zfsync:role": "daily"}},
        [snap("p/a", properties={"zfsync:role": "daily"})], {"p/a"}, id="user properties",
    ),
    pytest.param(
        {"datasets": ["q/x", "p/d", "p/a"], "hold": True},
        [snap("p/d", "p/a"), snap("q/x"), hold("p/a", "p/d"), hold("q/x")],
        {"p/a", "p/d", "q/x"}, id="holds after the snapshots, one step per pool",
    ),
    pytest.param(
        {"datasets": ["p/a"], "recursive": True, "hold": True},
        [snap("p/a", recursive=True), hold("p/a", tree=True)],
        {"p/a"}, id="a recursive hold holds what -r of the dataset named reaches",
    ),
    pytest.param(
        {"datasets": ["q/x", "p/d", "p/a/b"], "recursive": True, "hold": True},
        [snap("p/d", "p/a/b", recursive=True), snap("q/x", recursive=True),
         hold("p/a/b", "p/d", tree=True), hold("q/x", tree=True)],
        {"p/a/b", "p/d", "q/x"}, id="a recursive hold per pool, its names sorted",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("request_", "steps", "locked"), STEPS)
def test_the_steps(
    request_: dict[str, Any], steps: list[tuple[str, Any]], locked: set[str]
) -> None:
    assert plan(POOLS, **request_) == (steps, locked)


REFUSALS = [
    pytest.param(POOLS, {"datasets": ["p/nope"]}, "dataset p/nope does not exist", id="missing"),
    pytest.param(
        POOLS, {"datasets": ["p/a", "r/x"]}, "dataset r/x does not exist", id="no such pool"
    ),
    pytest.param(
        POOLS, {"datasets": ["p/nope", "r/x"]}, "dataset p/nope does not exist",
        id="the first one named is the one refused",
    ),
    pytest.param(
        listing("p", "p/a type=snapshot"), {"datasets": ["p/a"]},
        "p/a is a snapshot, not a filesystem or volume", id="not a filesystem or volume",
    ),
    pytest.param(
        POOLS, {"datasets": ["p/a", "p/a/b/c"], "recursive": True},
        "p/a/b/c would be snapshotted twice", id="a root below another",
    ),
    pytest.param(
        POOLS, {"datasets": ["p/a/b", "p/a"], "recursive": True},
        "p/a/b would be snapshotted twice", id="a root above another",
    ),
    pytest.param(
        listing("p", "p/a", f"p/a@{SHORT}"), {"datasets": ["p/a"]},
        f"snapshot p/a@{SHORT} already exists", id="the name is taken",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("facts", "request_", "why"), REFUSALS)
def test_refusals(facts: dict[str, Any], request_: dict[str, Any], why: str) -> None:
    with pytest.raises(PlanError) as refused:
        plan(facts, **request_)
    assert str(refused.value) == why


def test_a_name_too_long_for_the_snapshot_is_refused_by_name() -> None:
    long = "p/" + "d" * (255 - len(f"p/@{SHORT}") + 1)
    with pytest.raises(InvalidNameError):
        plan(listing("p", long), datasets=[long])


def test_without_recursion_what_lies_below_is_not_looked_at() -> None:
    # a taken name below a dataset snapshotted alone is no reason to refuse it
    facts = listing("p", "p/a", "p/a/b", f"p/a/b@{SHORT}")
    assert plan(facts, datasets=["p/a"]) == ([snap("p/a")], {"p/a"})


def test_with_recursion_what_lies_below_is_not_looked_at_either() -> None:
    """A name taken (or one too long) below a dataset named is the `zfs snapshot -r`'s to
    refuse, with nothing made (tests/engine/test_plan_reads.py): the plan reads no tree."""
    facts = listing("p", "p/a", "p/a/b", f"p/a/b@{SHORT}")
    request = {"datasets": ["p/a"], "recursive": True}
    assert plan(facts, **request) == ([snap("p/a", recursive=True)], {"p/a"})
