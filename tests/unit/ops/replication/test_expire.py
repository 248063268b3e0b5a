"""expire's decision (zfsyncd.ops.replication.expire.decide), from tables: this host's side
and the destination hosts' sides (snapshots written as in test_choose: `s5` a zfsync_
snapshot of guid 5, `r5` held by the base hold, `h5` held by someone else, `x5` another
tool's) -> one destroy step per host and pool, or the refusal."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from tests.unit.ops.replication.test_choose import side
from zfsyncd.ops.replication.expire import ExpireFacts, decide
from zfsyncd.ops.replication.inventory import DatasetState, Side
from zfsyncd.ops.replication.props import Role
from zfsyncd.ops.replication.requests import ExpireRequest
from zfsyncd.tx.errors import MissingObjectError, PlanError


def source(name: str, text: str, peer: str, savecount: int | None, **kw: Any) -> DatasetState:
    state = side(name, text)
    return replace(state, role=Role.SOURCE, peer=peer, savecount=savecount, **kw)


def dest(name: str, text: str, savecount: int | None, of: str | None = None) -> DatasetState:
    """A destination `name` of the source `of` (by default p/ + its last name)."""
    state = side(name, text)
    back = f"local:{of or 'p/' + name.rsplit('/', 1)[1]}"
    return replace(state, role=Role.DESTINATION, peer=back, savecount=savecount)


def facts(
    here: list[DatasetState],
    there: dict[str, list[DatasetState]],
    unreachable: dict[str, str] | None = None,
    cloned: dict[str, frozenset[str]] | None = None,
) -> ExpireFacts:
    return ExpireFacts(
        Side("local", {d.name: d for d in here}),
        {h: Side(h, {d.name: d for d in ds}) for h, ds in there.items()},
        unreachable or {},
        cloned or {},
    )


def plan(request: dict[str, Any], found: ExpireFacts) -> list[tuple[str | None, list[str]]]:
    made = decide(ExpireRequest.model_validate(request), found)
    return [(s.to_json().get("host"), sorted(s.to_json()["snapshots"])) for s in made.steps]


def snaps(dataset: str, *guids: int) -> list[str]:
    return [f"{dataset}@zfsync_{g:04d}" for g in guids]


ONE_PAIR = [
    pytest.param(
        "s1 s2 s3 r4", 2, "s1 s2 s3 r4", 3,
        [("b", snaps("q/a", 1)), (None, snaps("p/a", 1, 2))],
        id="each side its own savecount",
    ),
    pytest.param(
        "s1 s2 s3 s4 s5", 2, "s1 r2", 5, [(None, snaps("p/a", 1, 3))],
        id="never the newest common snapshot, unsent ones count alike",
    ),
    pytest.param(
        "h1 s2 s3 r4", 1, "s1 s2 s3 r4", 1,
        [("b", snaps("q/a", 1, 2, 3)), (None, snaps("p/a", 2, 3))],
        id="never a held snapshot",
    ),
    pytest.param(
        "x1 s2 r3", 1, "x1 s2 r3", 1, [("b", snaps("q/a", 2)), (None, snaps("p/a", 2))],
        id="only zfsync_ snapshots",
    ),
    pytest.param("s1 r2", 5, "s1 r2", None, [], id="nothing to expire: no step"),
    pytest.param(
        "s1 s2 s3 s4 s5 s6 r7", None, "s1 s2 s3 s4 s5 s6 r7", None,
        [("b", snaps("q/a", 1, 2)), (None, snaps("p/a", 1, 2))],
        id="no savecount: the default (5)",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("src", "count", "dst", "dst_count", "expected"), ONE_PAIR)
def test_one_pair(
    src: str, count: int | None, dst: str, dst_count: int | None, expected: list[Any]
) -> None:
    found = facts([source("p/a", src, "b:q/a", count)], {"b": [dest("q/a", dst, dst_count)]})
    assert plan({"sources": ["p/a"]}, found) == expected
    assert plan({}, found) == expected  # `all` finds the same pair


def test_all_leaves_out_paused_and_broken_pairs_and_says_so() -> None:
    found = facts(
        [
            source("p/a", "s1 s2 r3", "b:q/a", 1),
            source("p/paused", "s1 s2 r3", "b:q/paused", 1, paused=True),
            source("p/lost", "s1 s2 r3", "b:q/lost", 1),
            source("p/apart", "s1 s2 r3", "b:q/apart", 1),
            source("p/moved", "s1 s2 r3", "b:q/moved", 1),
            source("p/far", "s1 s2 r3", "c:q/far", 1),
            dest("p/incoming", "s1 s2 s3", 1),  # a destination here: not expired from here
        ],
        {
            "b": [
                dest("q/a", "s1 s2 r3", 1),
                dest("q/apart", "s7", 1),
                dest("q/moved", "s1 s2 r3", 1, of="p/other"),
            ]
        },
        {"c": "host 'c' is not configured"},
    )
    made = decide(ExpireRequest(), found)
    assert [(s.to_json().get("host"), sorted(s.to_json()["snapshots"])) for s in made.steps] == [
        ("b", snaps("q/a", 1, 2)),
        (None, snaps("p/a", 1, 2)),
    ]
    assert made.description == (
        "expire every replica here: 4 snapshots (left out: p/paused (paused); "
        "p/lost: its destination b:q/lost does not exist; "
        "p/apart: shares no snapshot with b:q/apart (by guid); "
        "p/moved: b:q/moved is not its destination (zfsync:role, zfsync:peer); "
        "p/far: host 'c' is not configured)"
    )


def test_one_step_per_host_and_pool_however_many_pairs() -> None:
    here = [source(f"p/a{i}", "s1 s2 r3", f"b:q/a{i}", 1) for i in range(5)]
    there = {"b": [dest(f"q/a{i}", "s1 s2 r3", 1) for i in range(5)]}
    steps = plan({}, facts(here, there))
    assert [(host, len(doomed)) for host, doomed in steps] == [("b", 10), (None, 10)]


def test_the_datasets_below_a_recursive_pair_lose_the_same_snapshots_unless_held() -> None:
    found = facts(
        [source("p/a", "s1 s2 r3", "b:q/a", 1), side("p/a/c", "s1 h2 s3")],
        {"b": [dest("q/a", "s1 s2 r3", 1), side("q/a/c", "s1 s2 s3")]},
    )
    assert plan({"sources": ["p/a"]}, found) == [
        ("b", sorted([*snaps("q/a", 1, 2), *snaps("q/a/c", 1, 2)])),
        (None, sorted([*snaps("p/a", 1, 2), *snaps("p/a/c", 1)])),
    ]


def test_a_snapshot_with_a_clone_stays() -> None:
    cloned = {"b": frozenset({"q/a@zfsync_0001"}), "local": frozenset({"p/a@zfsync_0002"})}
    found = facts(
        [source("p/a", "s1 s2 s3 r4", "b:q/a", 1)],
        {"b": [dest("q/a", "s1 s2 s3 r4", 1)]},
        cloned=cloned,
    )
    assert plan({}, found) == [("b", snaps("q/a", 2, 3)), (None, snaps("p/a", 1, 3))]


REFUSALS = [
    pytest.param({"sources": ["p/lost"]}, PlanError, "its destination b:q/lost does not exist",
                 id="named, destination missing"),
    pytest.param({"sources": ["p/in"]}, PlanError, "p/in is not the source of a replica pair",
                 id="named, a destination"),
    pytest.param({"sources": ["p/none"]}, MissingObjectError, "dataset p/none does not exist",
                 id="named, missing"),
]  # fmt: skip


@pytest.mark.parametrize(("request_", "error", "why"), REFUSALS)
def test_the_refusal(request_: dict[str, Any], error: type[Exception], why: str) -> None:
    found = facts([source("p/lost", "s1 r2", "b:q/lost", 1), dest("p/in", "s1", 1)], {"b": []})
    with pytest.raises(error, match=why):
        decide(ExpireRequest.model_validate(request_), found)
