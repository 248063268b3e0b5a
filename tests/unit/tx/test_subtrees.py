"""Where a recursive zfs command acts on exactly the snapshots a step means (subtrees.py):
tables of examples. `-r` from `p/a@s` reaches `p/a@s` and every `@s` below `p/a`."""

from __future__ import annotations

import pytest

from zfsyncd.tx.steps.subtrees import (
    common_tops,
    reached,
    split_recursive,
    topmost,
    topmost_datasets,
)

TREE = ["p/a@s", "p/a/b@s", "p/a/b/c@s", "p/a/d@s", "p/e@s"]


@pytest.mark.parametrize(
    ("wanted", "existing", "tops", "singles"),
    [
        # all of a subtree: one top
        (TREE[:4], TREE, ["p/a@s"], []),
        # two subtrees: one top each
        (TREE, TREE, ["p/a@s", "p/e@s"], []),
        # p/a/d@s must stay: p/a@s is named alone, p/a/b@s reaches only wanted ones
        (TREE[:3], TREE, ["p/a/b@s"], ["p/a@s"]),
        # the deepest one left out: p/a and p/a/b would reach it, so they are named;
        # p/a/d@s reaches only itself
        (["p/a@s", "p/a/b@s", "p/a/d@s"], TREE, ["p/a/d@s"], ["p/a/b@s", "p/a@s"]),
        # one that does not exist is named, so that zfs says so
        (["p/a@s", "p/x@s"], ["p/a@s"], ["p/a@s"], ["p/x@s"]),
        # other names below do not matter
        (["p/a@s"], ["p/a@s", "p/a/b@t"], ["p/a@s"], []),
        # nothing wanted
        ([], TREE, [], []),
    ],
)
def test_split_recursive(
    wanted: list[str], existing: list[str], tops: list[str], singles: list[str]
) -> None:
    assert split_recursive(wanted, existing) == (tops, singles)


def test_what_a_recursive_command_reaches() -> None:
    assert topmost(["p/a/b@s", "p/a@s", "p/a/b@t", "p/e@s"]) == ["p/a/b@t", "p/a@s", "p/e@s"]
    assert topmost_datasets(["p/a/b@s", "p/a@t", "p/ab@s"]) == ["p/a", "p/ab"]
    given = {"p/a@s"}
    assert reached(given, "p/a/b/c@s")
    assert reached(given, "p/a@s")
    assert not reached(given, "p/ab@s")  # a sibling whose name begins the same
    assert not reached(given, "p/a/b@t")
    assert not reached(given, "p/a")


#: a replica sync's pairs: siblings under one parent that has no snapshot of their name,
#: and one more elsewhere in the pool, in a second pool too
PAIRS = ["p/many/d1@n", "p/many/d2@n", "p/many/d3@n", "p/data@n", "q/bak/d1@n"]


@pytest.mark.parametrize(
    ("snapshots", "tops"),
    [
        # siblings: their parent's snapshot of that name (which need not exist)
        (PAIRS[:3], ["p/many@n"]),
        # and one more elsewhere in the pool: the pool's; a pool of one: none
        (PAIRS, ["p@n"]),
        # each name apart
        (["p/a@s", "p/b@s", "p/a@t", "p/b@t"], ["p@s", "p@t"]),
        # the ancestor's own snapshot given: a top already, no common one
        (["p/a@s", "p/a/b@s", "p/a/c@s"], []),
        # one dataset: nothing in common to gain
        (["p/a@s"], []),
        ([], []),
    ],
)
def test_common_tops(snapshots: list[str], tops: list[str]) -> None:
    assert common_tops(snapshots) == tops


@pytest.mark.parametrize(
    ("wanted", "existing", "read_from", "tops", "singles"),
    [
        # every @n of the parent's tree wanted: one command from the parent, none each
        (PAIRS[:3], PAIRS[:3], ["p/many@n"], ["p/many@n"], []),
        # not read from it: each its own top, as before
        (PAIRS[:3], PAIRS[:3], [], PAIRS[:3][::1], []),
        # another @n below the parent must stay: each its own top
        (PAIRS[:2], PAIRS[:3], ["p/many@n"], ["p/many/d1@n", "p/many/d2@n"], []),
        # the parent's own @n exists and is not wanted: it spoils the common top
        (PAIRS[:3], [*PAIRS[:3], "p/many@n"], ["p/many@n"], PAIRS[:3], []),
        # the pool's top, with a second pool's alone
        (PAIRS, PAIRS, ["p@n"], ["p@n", "q/bak/d1@n"], []),
        # one of them does not exist: named, so that zfs says so; the rest from the top
        (
            [*PAIRS[:3], "p/many/d9@n"],
            PAIRS[:3],
            ["p/many@n"],
            ["p/many@n"],
            ["p/many/d9@n"],
        ),
    ],
)
def test_split_recursive_from_common_tops(
    wanted: list[str],
    existing: list[str],
    read_from: list[str],
    tops: list[str],
    singles: list[str],
) -> None:
    assert split_recursive(wanted, existing, read_from) == (tops, singles)
