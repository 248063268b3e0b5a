"""tests/lab/shard.py: which lab guest runs which test."""

from __future__ import annotations

import pytest

from tests.lab.shard import expected_seconds, junit_key, mine, parse_shard, split


@pytest.mark.parametrize(
    ("spec", "parsed"), [("1/2", (1, 2)), ("2/2", (2, 2)), (" 3/10\n", (3, 10)), ("1/1", (1, 1))]
)
def test_a_shard_is_i_of_n(spec: str, parsed: tuple[int, int]) -> None:
    assert parse_shard(spec) == parsed


@pytest.mark.parametrize("spec", ["", "0/2", "3/2", "1/0", "1", "1/2/3", "-1/2", "a/b", "1 /2"])
def test_anything_else_is_refused(spec: str) -> None:
    with pytest.raises(ValueError, match="i/N"):
        parse_shard(spec)


@pytest.mark.parametrize(
    ("nodeid", "key"),
    [
        ("tests/engine/test_x.py::test_a[lab-1]", "tests.engine.test_x::test_a[lab-1]"),
        ("tests/real/test_y.py::TestC::test_b", "tests.real.test_y.TestC::test_b"),
        ("tests/a/test_z.py::test_c[a::b]", "tests.a.test_z::test_c[a::b]"),
    ],
)
def test_the_key_is_the_junit_name(nodeid: str, key: str) -> None:
    assert junit_key(nodeid) == key


def test_an_unknown_test_weighs_its_modules_mean_else_the_default() -> None:
    known = {"m::a": 10.0, "m::b": 30.0, "n::c": 4.0}
    assert expected_seconds(["m::a", "m::new", "n::new", "o::new"], known) == [
        10.0, 20.0, 4.0, 10.0,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("weights", "shards", "expected"),
    [
        # longest first, each to the least loaded shard (lowest number on a tie)
        ([5, 4, 3, 3, 1], 2, [1, 2, 2, 1, 2]),
        ([1, 1, 1, 1], 2, [1, 2, 1, 2]),
        ([9, 1, 1, 1], 2, [1, 2, 2, 2]),
        ([2, 2, 2], 3, [1, 2, 3]),
        ([7], 2, [1]),
        ([3, 3], 1, [1, 1]),
    ],
)
def test_the_split_balances_the_seconds(
    weights: list[float], shards: int, expected: list[int]
) -> None:
    keys = [f"m::t{i}" for i in range(len(weights))]
    assert split(keys, weights, shards) == expected


def test_the_shards_together_run_every_test_once_whatever_the_order() -> None:
    nodeids = [f"tests/engine/test_{m}.py::test_{t}" for m in "abc" for t in range(7)]
    known = {junit_key(n): float(i % 5) for i, n in enumerate(nodeids[:15])}
    runs = [mine(nodeids, f"{i}/3", known) for i in (1, 2, 3)]
    assert [sum(col) for col in zip(*runs, strict=True)] == [1] * len(nodeids)
    # every guest computes the same split from its own (same) collection
    reordered = list(reversed(nodeids))
    again = mine(reordered, "2/3", known)
    assert [n for n, k in zip(reordered, again, strict=True) if k] == list(
        reversed([n for n, k in zip(nodeids, runs[1], strict=True) if k])
    )


def test_a_test_marked_skipped_weighs_nothing() -> None:
    nodeids = [f"tests/engine/test_m.py::test_{t}" for t in "abcd"]
    known = {junit_key(n): 10.0 for n in nodeids}
    # a and b apart (10 s each); c and d skipped: 0 s, each to the first of the equal shards
    assert mine(nodeids, "1/2", known, [False, False, True, True]) == [True, False, True, True]
    assert mine(nodeids, "1/2", known) == [True, False, True, False]
