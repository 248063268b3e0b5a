"""Where a recursive zfs command acts on exactly the snapshots a step means (subtrees.py):
tables of examples. `-r` from `p/a@s` reaches `p/a@s` and every `@s` below `p/a`."""

from __future__ import annotations

import pytest

from zfsyncd.tx.steps.subtrees import reached, split_recursive, topmost, topmost_datasets

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
