"""The comparison rules (zfsync_witness/compare.py and strategies.py), as tables."""

from __future__ import annotations

import pytest

from tests.witness.histories import DATASET, snap, snaps
from zfsync_witness.compare import (
    IGNORE,
    ConflictKind,
    GroupInput,
    NameError_,
    Transfer,
    histories,
    plan_group,
    split_name,
)
from zfsync_witness.strategies import Strategy, choose_winner

Problems = list[tuple[ConflictKind, tuple[str, ...]]] | None
M, D, ORPH = ConflictKind.MISSING, ConflictKind.DIVERGED, ConflictKind.ORPHANED


@pytest.mark.parametrize(
    ("full", "parts"),
    [
        ("tank/data@s1", ("tank", "data", "s1")),
        ("hqs10p1/L1S4DAT1@2025-11-26-000000", ("hqs10p1", "L1S4DAT1", "2025-11-26-000000")),
        ("tank/a/b/c@x", ("tank", "a/b/c", "x")),
        ("tank@root", ("tank", "", "root")),
    ],
)
def test_split_name(full: str, parts: tuple[str, str, str]) -> None:
    assert split_name(full) == parts


@pytest.mark.parametrize("bad", ["tank/data", "@s", "tank@", "tank/a@b@c", "/tank@s", "t//a@s"])
def test_split_name_refuses(bad: str) -> None:
    with pytest.raises(NameError_):
        split_name(bad)


def group(a: str, b: str, c: str | None = None) -> GroupInput:
    members = ["A", "B"] + (["C"] if c is not None else [])
    rows = snaps("A", "tank", a) + snaps("B", "backup", b)
    if c is not None:
        rows += snaps("C", "vault", c)
    return GroupInput(members, rows, {"A": "tank", "B": "backup", "C": "vault"})


# (A's history, B's history) -> B's problems, or None when B can follow A
@pytest.mark.parametrize(
    ("a", "b", "problems"),
    [
        ("s1 s2 s3", "s1 s2 s3", None),  # same
        ("s1 s2 s3 s4", "s1 s2", None),  # behind
        ("s1 s2 s3 s4", "s3 s4", None),  # pruned on B before what they share: no matter
        ("s1 s2 s3", "~s1 ~s2 ~s3", None),  # no guids: matched by name and time
        ("s1 s2 s3", "s1 s2 x3", [(D, ("x3",))]),  # split after s2
        ("s1 s2", "s1 s2'", [(D, ("s2",))]),  # one name, two snapshots
        ("s1 s2", "x1 x2", [(ORPH, ())]),  # nothing shared
        ("s1 s2 s3", "s1 s3", [(M, ("s2",))]),  # a hole in B
        ("s1 s3 s4", "s1 s2 s3", [(M, ("s2",))]),  # a hole in the leader
    ],
)
def test_pair_of_histories(a: str, b: str, problems: Problems) -> None:
    [plan] = plan_group(group(a, b))
    assert plan.leader == "A"
    got = [(p.kind, p.snapshots) for p in plan.problems if p.system == "B"]
    if problems is None:
        assert got == []
        assert "B" in plan.in_sync or [t.target for t in plan.transfers] == ["B"]
    else:
        assert got == problems
        assert plan.transfers == ()
        assert plan.kind == max(k for k, _ in problems)


def test_behind_gets_an_incremental_transfer_between_pools() -> None:
    [plan] = plan_group(group("s1 s2 s3 s4", "s1 s2"))
    assert plan.transfers == (Transfer(DATASET, "A", "tank", "B", "backup", "s2", "s4", False, 2),)
    assert plan.in_sync == ("A",)


def test_a_member_without_the_dataset_gets_a_full_transfer_into_its_pool() -> None:
    inp = GroupInput(["A", "B", "C"], snaps("A", "tank", "s1 s2"), {"B": "backup"})
    [plan] = plan_group(inp)
    assert plan.transfers == (Transfer(DATASET, "A", "tank", "B", "backup", None, "s2", False, 2),)
    assert plan.no_pool == ("C",)


def test_the_leader_is_the_newest_and_the_others_follow_it() -> None:
    [plan] = plan_group(group("s1 s2", "s1 s2 s3 s4", "s1"))
    assert plan.leader == "B"
    assert {(t.target, t.base, t.newest) for t in plan.transfers} == {
        ("A", "s2", "s4"),
        ("C", "s1", "s4"),
    }


def test_a_guid_overrides_name_and_time() -> None:
    # same name and time, different guids: two snapshots, not one
    inp = GroupInput(["A", "B"], [snap("A", "p", "s1"), snap("B", "q", "s1'")])
    [plan] = plan_group(inp)
    assert [(p.kind, p.snapshots) for p in plan.problems] == [(ORPH, ())]


def test_a_guidless_report_takes_the_guid_of_its_twin() -> None:
    inp = GroupInput(
        ["A", "B", "C"], [snap("A", "p", "s1"), snap("B", "q", "~s1"), snap("C", "r", "s1")]
    )
    [plan] = plan_group(inp)
    assert sorted(plan.in_sync) == ["A", "B", "C"]


def test_datasets_are_compared_apart() -> None:
    rows = snaps("A", "tank", "s1 s2", "one") + snaps("B", "bak", "s1", "one")
    rows += snaps("A", "tank", "s1", "two") + snaps("B", "bak", "x1", "two")
    plans = plan_group(GroupInput(["A", "B"], rows))
    assert [(p.dataset, p.kind, len(p.transfers)) for p in plans] == [
        ("one", None, 1),
        ("two", ORPH, 0),
    ]


def test_snapshots_of_non_members_are_not_compared() -> None:
    rows = snaps("A", "tank", "s1 s2") + snaps("Z", "zz", "x1")
    [plan] = plan_group(GroupInput(["A"], rows))
    assert plan.problems == ()
    assert plan.in_sync == ("A",)


def test_one_dataset_in_two_pools_of_a_system_is_compared_on_its_member_pool() -> None:
    rows = snaps("A", "tank", "s1 s2") + snaps("B", "old", "x1") + snaps("B", "new", "s1")
    hist = histories(GroupInput(["A", "B"], rows, {"B": "new"}))
    assert [e.snap.pool for e in hist[DATASET]["B"]] == ["new"]
    hist = histories(GroupInput(["A", "B"], rows))
    assert [e.snap.pool for e in hist[DATASET]["B"]] == ["new"]  # first by name


# a decided winner: every other system is brought to its history
@pytest.mark.parametrize(
    ("a", "b", "winner", "transfer"),
    [
        # diverged: B wins; A rolls back to s2 (destroying s3) and receives x3
        ("s1 s2 s3", "s1 s2 x3", "B", ("B", "A", "s2", "x3", True, 1)),
        ("s1 s2 s3", "s1 s2 x3", "A", ("A", "B", "s2", "s3", True, 1)),
        # orphaned: the loser's copy is replaced by a full send
        ("s1 s2", "x1 x2", "B", ("B", "A", None, "x2", True, 2)),
        # missing: refilled from the last snapshot before the hole
        ("s1 s2 s3", "s1 s3", "A", ("A", "B", "s1", "s3", True, 2)),
        # the winner lacks s2: B loses it (rolled back to s1, receives s3)
        ("s1 s3", "s1 s2 s3 s4", "A", ("A", "B", "s1", "s3", True, 1)),
    ],
)
def test_a_winner_decides(a: str, b: str, winner: str, transfer: tuple[object, ...]) -> None:
    [free] = plan_group(group(a, b))
    assert free.problems  # a conflict to decide
    [plan] = plan_group(group(a, b), {DATASET: winner})
    assert plan.leader == winner
    assert plan.problems == free.problems  # kept: they say why the transfers are forced
    got = [(t.source, t.target, t.base, t.newest, t.force, t.snapshots) for t in plan.transfers]
    assert got == [transfer]


def test_ignore_plans_nothing_and_a_winner_without_the_dataset_decides_nothing() -> None:
    [plan] = plan_group(group("s1 s2 s3", "s1 s2 x3"), {DATASET: IGNORE})
    assert plan.transfers == ()
    assert plan.kind == D
    [plan] = plan_group(group("s1 s2 s3", "s1 s2 x3"), {DATASET: "C"})
    assert plan.transfers == ()
    assert plan.kind == D


def test_a_decision_on_a_dataset_without_conflict_changes_nothing() -> None:
    [plan] = plan_group(group("s1 s2 s3", "s1"), {DATASET: "B"})
    assert plan.leader == "A"
    assert plan.transfers[0].force is False


# strategy, (A, B, C histories, newest snapshot sizes) -> winner
@pytest.mark.parametrize(
    ("strategy", "a", "b", "c", "winner"),
    [
        (Strategy.USE_NEWEST, "s1 s3", "s1 x2", None, "A"),
        (Strategy.USE_NEWEST, "s1 x4", "s1 s3", None, "A"),
        (Strategy.USE_NEWEST, "s1 s3", "s1 s3'", None, None),  # same time, other snapshot
        (Strategy.USE_LARGEST, "s1 s3:10", "s1 x2:99", None, "B"),
        (Strategy.USE_LARGEST, "s1 s3:10", "s1 x2:10", None, None),  # a tie
        (Strategy.USE_MAJORITY, "s1 s2 s3", "s1 x2", "s1 s2", "A"),  # C follows A
        (Strategy.USE_MAJORITY, "s1 s2", "s1 x2", "s1 x2 x3", "C"),  # B follows C
        (Strategy.USE_MAJORITY, "s1 s2", "s1 x2", None, None),  # 1 against 1
        (Strategy.USE_MAJORITY, "s1 s2", "s1 x2", "s1 y3", None),  # no one has more than half
        (Strategy.MANUAL, "s1 s3", "s1 x2", None, None),
        (Strategy.IGNORE, "s1 s3", "s1 x2", None, None),
    ],
)
def test_strategies(strategy: Strategy, a: str, b: str, c: str | None, winner: str | None) -> None:
    rows = []
    for system, tokens in (("A", a), ("B", b), ("C", c)):
        for t in (tokens or "").split():
            name, _, size = t.partition(":")
            rows.append(snap(system, "p", name, size=int(size or 0)))
    members = ["A", "B"] + (["C"] if c else [])
    hist = histories(GroupInput(members, rows))[DATASET]
    assert choose_winner(strategy, hist) == winner
