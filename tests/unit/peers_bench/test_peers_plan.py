"""bench/peers: which pool setups a choice of cases needs, and the order of the tools in each
run (pure parts of bench/peers/lab.py)."""

from __future__ import annotations

import pytest

from bench.peers.lab import groups_for, rotated


@pytest.mark.parametrize(
    ("cases", "groups"),
    [
        (["1", "2", "3", "4"], ["1", "many", "many-own"]),
        (["1"], ["1"]),
        (["3"], ["many"]),  # case 3 is measured after case 2, on the same pools
        (["2", "3"], ["many"]),
        (["4"], ["many-own"]),
        (["4.3"], ["many-own"]),
        (["4", "1"], ["1", "many-own"]),
    ],
)
def test_groups_for(cases: list[str], groups: list[str]) -> None:
    assert groups_for(cases) == groups


def test_each_run_starts_with_the_next_tool() -> None:
    tools = ["bare", "zfsyncd", "syncoid"]
    assert [rotated(tools, run) for run in range(4)] == [
        ["bare", "zfsyncd", "syncoid"],
        ["zfsyncd", "syncoid", "bare"],
        ["syncoid", "bare", "zfsyncd"],
        ["bare", "zfsyncd", "syncoid"],
    ]
