"""bench/peers' pure parts: median and spread, the ratios to the bare pipe and to bzfs, issue
11's targets, and the table (the lab runs nothing here)."""

from __future__ import annotations

from typing import Any

import pytest

from bench.peers import stats
from bench.peers.table import by_verb, render


@pytest.mark.parametrize(
    ("values", "median", "low", "high", "relative"),
    [
        ([2.0], 2.0, 2.0, 2.0, 0.0),
        ([3.0, 1.0, 2.0], 2.0, 1.0, 3.0, 1.0),
        ([4.0, 6.0], 5.0, 4.0, 6.0, 0.4),
        ([0.0, 0.0], 0.0, 0.0, 0.0, 0.0),  # nothing measured: no division by zero
    ],
)
def test_spread(
    values: list[float], median: float, low: float, high: float, relative: float
) -> None:
    got = stats.spread(values)
    assert (got.median, got.low, got.high) == (median, low, high)
    assert got.relative == pytest.approx(relative)


def test_spread_of_no_runs_is_an_error() -> None:
    with pytest.raises(ValueError, match="no runs"):
        stats.spread([])


def run(seconds: float, commands: int) -> dict[str, Any]:
    return {"seconds": seconds, "commands": commands, "verbs": {"send": 1}}


def test_summarize_takes_median_and_range_of_time_and_commands() -> None:
    got = stats.summarize([run(3.0, 10), run(1.0, 12), run(2.0, 10)])
    assert got == {
        "runs": 3,
        "median_s": 2.0,
        "min_s": 1.0,
        "max_s": 3.0,
        "spread": 1.0,
        "commands": 10.0,
        "commands_min": 10,
        "commands_max": 12,
    }


def summary(median: float, commands: float = 2.0) -> dict[str, Any]:
    return {
        "runs": 1,
        "median_s": median,
        "min_s": median,
        "max_s": median,
        "spread": 0.0,
        "commands": commands,
        "commands_min": int(commands),
        "commands_max": int(commands),
    }


@pytest.mark.parametrize(
    ("tools", "tool", "vs_bare", "vs_bzfs"),
    [
        # bare / tool: 1.0 is as fast as the bare pipe, 0.5 twice its time
        ({"bare": 10.0, "zfsyncd": 20.0, "bzfs": 40.0}, "zfsyncd", 0.5, 0.5),
        ({"bare": 10.0, "zfsyncd": 20.0, "bzfs": 40.0}, "bare", 1.0, 0.25),
        ({"bare": 10.0, "zfsyncd": 20.0, "bzfs": 40.0}, "bzfs", 0.25, 1.0),
        # case 3: the bare loop checks nothing, so there is no ratio to it
        ({"zfsyncd": 2.0, "bzfs": 8.0}, "zfsyncd", None, 0.25),
        ({"bare": 10.0, "zfsyncd": 20.0}, "zfsyncd", 0.5, None),
    ],
)
def test_ratios(
    tools: dict[str, float], tool: str, vs_bare: float | None, vs_bzfs: float | None
) -> None:
    got = stats.with_ratios({name: summary(median) for name, median in tools.items()})[tool]
    assert got["vs_bare"] == vs_bare
    assert got["vs_bzfs"] == vs_bzfs


def case(**medians: float | tuple[float, float]) -> dict[str, Any]:
    """A case's tools with ratios; a tuple is (seconds, commands)."""
    summaries = {}
    for tool, figure in medians.items():
        seconds, commands = figure if isinstance(figure, tuple) else (figure, 2.0)
        summaries[tool.replace("_", "-")] = summary(seconds, commands)
    return {"tools": stats.with_ratios(summaries)}


@pytest.mark.parametrize(
    ("cases", "expected"),
    [
        (
            {"1": case(bare=9.7, zfsyncd=10.0, syncoid=11.0, zfs_autobackup=12.0, bzfs=10.5)},
            [("1", "at least 0.97 of the bare pipe", "0.97", True),
             ("1", "ahead of every peer", "fastest peer's time / zfsyncd's 1.05", True)],
        ),
        (
            {"1": case(bare=6.4, zfsyncd=10.0, syncoid=9.0)},
            [("1", "at least 0.97 of the bare pipe", "0.64", False),
             ("1", "ahead of every peer", "fastest peer's time / zfsyncd's 0.90", False)],
        ),
        (
            {"2": case(zfsyncd=(5.0, 11.0), bzfs=10.0), "3": case(zfsyncd=6.0, bzfs=10.0)},
            [("2", "at most 0.5 of bzfs's time", "0.50", True),
             ("2", "about 2 zfs commands per dataset", "2.20", True),
             ("3", "at most 0.5 of bzfs's time", "0.60", False)],
        ),
        (
            {"2": case(zfsyncd=(5.0, 23.0))},  # no bzfs: its ratio is not judged
            [("2", "about 2 zfs commands per dataset", "4.60", False)],
        ),
        ({"2": case(bzfs=5.0)}, []),  # zfsyncd not measured: no target to judge
    ],
)  # fmt: skip
def test_targets(cases: dict[str, Any], expected: list[tuple[str, str, str, bool]]) -> None:
    got = stats.targets(cases, datasets=5)
    assert [(t["case"], t["target"], t["figure"], t["met"]) for t in got] == expected


def test_verbs_count_most_first_then_by_name() -> None:
    got = stats.verbs(["list", "send", "receive", "send", "list", "send", "holds"])
    assert list(got.items()) == [("send", 3), ("list", 2), ("holds", 1), ("receive", 1)]


def test_by_verb_folds_the_rest() -> None:
    counts = {"send": 5, "receive": 5, "list": 3, "a": 1, "b": 1, "c": 1, "d": 2, "e": 1}
    assert by_verb(counts, limit=3) == "send x5, receive x5, list x3, other x6"


def test_render_rows_in_tool_order_and_targets() -> None:
    figures = case(zfsyncd=(2.0, 11.0), bare=1.0, bzfs=4.0)
    figures["runs"] = {tool: [run(1.0, 2)] for tool in figures["tools"]}
    result = {
        "cases": {"2": figures},
        "targets": [{"case": "2", "target": "t", "figure": "0.50", "met": True}],
    }
    lines = render(result).splitlines()
    tools = [line.split("|")[2].strip() for line in lines[2:5]]
    assert tools == ["bare", "zfsyncd", "bzfs"]
    assert lines[3] == "| 2 | zfsyncd | 2.00 s | 11 | 0.50 | 0.50 | send x1 |"
    assert lines[-1] == "| 2 | t | 0.50 | yes |"


def part(
    cases: dict[str, dict[str, list[float]]], complete: bool = True, datasets: int = 5
) -> dict[str, Any]:
    """A lab JSON file: case -> tool -> seconds of each run."""
    sizes = {"mib": 16, "first_mib": 16, "datasets": datasets, "many_mib": 1, "parallel": 4}
    return {
        "sizes": {**sizes, "runs": 1},
        "started": "s",
        "finished": "f",
        "complete": complete,
        "machine": {"kernel": "k"},
        "cases": {
            case: {
                "title": f"t{case}",
                "runs": {t: [run(x, 2) for x in xs] for t, xs in tools.items()},
            }
            for case, tools in cases.items()
        },
    }


def test_merge_puts_parts_cases_and_runs_together() -> None:
    merged = stats.merge([
        part({"1": {"bare": [1.0], "zfsyncd": [2.0]}}),
        part({"2": {"bzfs": [3.0]}, "1": {"zfsyncd": [4.0]}}),
    ])  # fmt: skip
    assert merged["machine"] == {"kernel": "k"}
    assert [p["cases"] for p in merged["parts"]] == [["1"], ["2", "1"]]
    runs = {case: {t: [r["seconds"] for r in rs] for t, rs in figures["runs"].items()}
            for case, figures in merged["cases"].items()}  # fmt: skip
    assert runs == {"1": {"bare": [1.0], "zfsyncd": [2.0, 4.0]}, "2": {"bzfs": [3.0]}}


def test_merge_takes_the_sizes_each_case_depends_on() -> None:
    # case 1 does not depend on the datasets: a part of case 1 run with another count merges
    merged = stats.merge([part({"1": {"bare": [1.0]}}, datasets=5),
                          part({"2": {"bare": [1.0]}}, datasets=3)])  # fmt: skip
    assert merged["sizes"] == {"mib": 16, "first_mib": 16, "datasets": 3, "many_mib": 1,
                               "parallel": 4, "runs": 1}  # fmt: skip
    with pytest.raises(ValueError, match="datasets 5 and 3"):
        stats.merge([part({"2": {"bare": [1.0]}}, datasets=5),
                     part({"3": {"bare": [1.0]}}, datasets=3)])  # fmt: skip


def test_merge_refuses_a_part_cut_short() -> None:
    with pytest.raises(ValueError, match=r"part\(s\) \[1\] cut short"):
        stats.merge([part({"1": {"bare": [1.0]}}), part({"2": {}}, complete=False)])
    with pytest.raises(ValueError, match="no results"):
        stats.merge([])


def test_render_names_case_5s_benches() -> None:
    bench = {"command": ["-m", "bench.cli"], "exit": 0, "seconds": 12.5, "output": ["x"]}
    result = {"cases": {}, "case5": {"benches": {"list": bench}}}
    assert render(result).splitlines()[-1] == "- list: `-m bench.cli`, exit 0, 12.5 s"


def test_whole_runs_keeps_the_runs_every_tool_finished() -> None:
    # cut in its third run: zfsyncd measured case 2 a third time, bare and case 3 did not
    cut = part({"2": {"bare": [1.0, 1.1], "zfsyncd": [2.0, 2.1, 2.2]},
                "3": {"zfsyncd": [3.0, 3.1]}}, complete=False)  # fmt: skip
    cut["tools"], cut["sizes"]["runs"] = ["bare", "zfsyncd"], 3
    whole = stats.whole_runs(cut)
    assert whole["complete"]
    assert whole["cut_short"] == {"runs_planned": 3, "runs_kept": 2}
    assert whole["sizes"]["runs"] == 2
    assert [r["seconds"] for r in whole["cases"]["2"]["runs"]["zfsyncd"]] == [2.0, 2.1]
    merged = stats.merge([whole])
    assert merged["parts"][0]["cut_short"] == {"runs_planned": 3, "runs_kept": 2}
    assert merged["sizes"]["runs"] == 2
    # a complete part is left as it is
    assert stats.whole_runs(part({"1": {"bare": [1.0]}})) == part({"1": {"bare": [1.0]}})


def test_whole_runs_refuses_a_part_with_no_whole_run() -> None:
    # the bare loop has no case 3 figure by design; a peer with no run at all leaves none
    cut = part({"2": {"bare": [1.0], "zfsyncd": [2.0]}, "3": {"zfsyncd": [3.0]}},
               complete=False)  # fmt: skip
    cut["tools"] = ["bare", "zfsyncd", "bzfs"]
    with pytest.raises(ValueError, match="before its first whole run"):
        stats.whole_runs(cut)


def test_whole_runs_started_only_leaves_out_the_tools_never_reached_and_names_them() -> None:
    # the guest stopped in zfs-autobackup's setup: bzfs and it never ran, the others did
    cut = part({"2": {"bare": [1.0], "zfsyncd": [2.0], "syncoid": [8.0]},
                "3": {"zfsyncd": [3.0], "syncoid": [5.0]}}, complete=False)  # fmt: skip
    cut["tools"] = ["bare", "zfsyncd", "syncoid", "zfs-autobackup", "bzfs"]
    whole = stats.whole_runs(cut, started_only=True)
    assert whole["cut_short"] == {"runs_planned": 1, "runs_kept": 1,
                                  "not_started": ["zfs-autobackup", "bzfs"]}  # fmt: skip
    assert whole["tools"] == ["bare", "zfsyncd", "syncoid"]
    # another part measures the two: merged, every tool is there
    rest = part({"2": {"bare": [1.2], "bzfs": [4.0], "zfs-autobackup": [6.0]},
                 "3": {"bzfs": [2.0], "zfs-autobackup": [3.0]}})  # fmt: skip
    merged = stats.merge([whole, rest])
    assert sorted(merged["cases"]["2"]["runs"]) == ["bare", "bzfs", "syncoid", "zfs-autobackup",
                                                    "zfsyncd"]  # fmt: skip
    assert [r["seconds"] for r in merged["cases"]["2"]["runs"]["bare"]] == [1.0, 1.2]
    shown = render({"cases": {}, "parts": merged["parts"]})
    wanted = "cut short, 1 whole run(s) of 1 planned (zfs-autobackup, bzfs: no whole run from"
    assert wanted in shown
    # a tool stopped in its first run (case 2 measured, not case 3) goes with its figure
    cut["cases"]["3"]["runs"]["syncoid"] = []
    whole = stats.whole_runs(cut, started_only=True)
    assert whole["cut_short"]["not_started"] == ["syncoid", "zfs-autobackup", "bzfs"]
    assert sorted(whole["cases"]["2"]["runs"]) == ["bare", "zfsyncd"]
    # without started_only, no tool is left out: refused
    with pytest.raises(ValueError, match="before its first whole run"):
        stats.whole_runs(cut)


def test_merge_lists_each_parts_kept_setups() -> None:
    def made(seconds: float) -> dict[str, Any]:
        return {"seconds": seconds, "bytes": 1 << 20, "restores": [1.0]}

    with_many = part({"2": {"bare": [1.0]}})
    with_many["setup"] = {"how": "once", "tools": {"many": {"bare": made(10.0)}}}
    again = part({"2": {"bare": [1.5]}})
    again["setup"] = {"how": "once", "tools": {"many": {"bare": made(11.0), "bzfs": made(12.0)}}}
    own = part({"4.2": {"bare": [2.0]}})
    own["setup"] = {"how": "once", "tools": {"many-own": {"bare": made(13.0)}}}
    merged = stats.merge([part({"1": {"bare": [1.0]}}), with_many, again, own])
    assert merged["setup"]["how"] == "once"
    seconds = {group: {tool: [m["seconds"] for m in setups] for tool, setups in by_tool.items()}
               for group, by_tool in merged["setup"]["tools"].items()}  # fmt: skip
    assert seconds == {"many": {"bare": [10.0, 11.0], "bzfs": [12.0]}, "many-own": {"bare": [13.0]}}
    # parts without a kept setup (case 1 alone, JSON from before it) merge without one
    assert "setup" not in stats.merge([part({"1": {"bare": [1.0]}})])


def test_leave_out_takes_a_tool_out_of_a_part_and_says_why() -> None:
    old = {**part({"2": {"bare": [1.0], "zfsyncd": [2.0]}, "3": {"zfsyncd": [0.5]}}),
           "tools": ["bare", "zfsyncd"]}  # fmt: skip
    left = stats.leave_out(old, "zfsyncd", "newer code in part 2")
    assert left["cases"]["2"]["runs"] == {"bare": old["cases"]["2"]["runs"]["bare"]}
    assert left["cases"]["3"]["runs"] == {}
    assert left["tools"] == ["bare"]
    assert left["left_out"] == {"zfsyncd": "newer code in part 2"}
    merged = stats.merge([left, part({"2": {"zfsyncd": [3.0]}})])
    assert [r["seconds"] for r in merged["cases"]["2"]["runs"]["zfsyncd"]] == [3.0]
    assert merged["parts"][0]["left_out"] == {"zfsyncd": "newer code in part 2"}
    shown = render({"cases": {}, "parts": merged["parts"]})
    assert "cases 2, 3: zfsyncd's runs of that part left out: newer code in part 2" in shown
    with pytest.raises(ValueError, match="no run of syncoid"):
        stats.leave_out(old, "syncoid", "x")
