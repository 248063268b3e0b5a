"""bench/peers: which pool setups a choice of cases needs, the order of the tools in each run,
and when each tool's setup of many datasets is made (pure parts of bench/peers/lab.py)."""

from __future__ import annotations

import pytest

from bench.peers.lab import Step, groups_for, plan, rotated


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


def test_plan_makes_each_tools_setup_once_in_run_1_and_none_for_case_1() -> None:
    steps = plan(["1", "2", "3"], ["bare", "zfsyncd"], runs=2)
    assert steps == [
        Step(0, "1", "bare", set_up=False),
        Step(0, "1", "zfsyncd", set_up=False),
        Step(0, "many", "bare", set_up=True),
        Step(0, "many", "zfsyncd", set_up=True),
        # run 2: the next tool first; every setup restored, none made again
        Step(1, "1", "zfsyncd", set_up=False),
        Step(1, "1", "bare", set_up=False),
        Step(1, "many", "zfsyncd", set_up=False),
        Step(1, "many", "bare", set_up=False),
    ]


@pytest.mark.parametrize("runs", [1, 3, 5])
def test_plan_sets_up_once_per_tool_and_group_and_measures_each_in_every_run(runs: int) -> None:
    tools = ["bare", "zfsyncd", "syncoid", "zfs-autobackup", "bzfs"]
    steps = plan(["2", "3", "4"], tools, runs)
    made = [(s.group, s.tool) for s in steps if s.set_up]
    assert sorted(made) == sorted((g, t) for g in ("many", "many-own") for t in tools)
    assert all(s.run == 0 for s in steps if s.set_up)
    assert len(steps) == 2 * len(tools) * runs
