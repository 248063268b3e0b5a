"""Median and spread of a tool's runs, its ratio to the bare pipe, and issue 11's targets,
from the figures the lab recorded. Pure: tested in tests/unit/peers_bench/."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench.peers.tools import BARE, BZFS, PEERS, ZFSYNCD

#: issue 11's targets (the benchmark reports them; no test asserts a time)
CASE1_OF_BARE = 0.97
OF_BZFS_TIME = 0.5
COMMANDS_PER_DATASET = 2.0
#: "about two": what is still counted as about
ABOUT = 0.25


@dataclass(frozen=True)
class Spread:
    """The median of some runs and how far they strayed from it."""

    median: float
    low: float
    high: float

    @property
    def relative(self) -> float:
        """(high - low) / median: 0 for identical runs (and for a median of 0)."""
        return (self.high - self.low) / self.median if self.median else 0.0


def spread(values: Sequence[float]) -> Spread:
    if not values:
        raise ValueError("no runs")
    return Spread(statistics.median(values), min(values), max(values))


def verbs(commands: Sequence[str]) -> dict[str, int]:
    """How many commands of each verb, most first (ties by name: stable in the JSON)."""
    counts = Counter(commands)
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


#: the sizes each case depends on: parts merged must agree on these for the cases they hold
SIZES_OF_CASE = {
    "1": ("mib", "first_mib"),
    **{case: ("datasets", "many_mib", "parallel") for case in ("2", "3", "4.2", "4.3")},
}


#: the cases the bare loop has no figure in (it checks nothing when there is nothing to do)
NOT_BARE = ("3", "4.3")


def whole_runs(part: Mapping[str, Any], *, started_only: bool = False) -> dict[str, Any]:
    """A part cut short (its guest stopped before the last run) as the runs it finished: the
    first k runs, where k is the fewest runs any tool has of any case it belongs in, every
    later figure dropped (a run some tools finished and others did not would compare them
    across different spells of the host). Marked `cut_short` with the runs planned and kept;
    refused when not one run is whole. A complete part is returned as it is.

    `started_only`: the tools without one whole run in the part (never reached, or stopped
    before their last case of run 1) are left out of it, with any figure they have, named
    in `cut_short` as `not_started`, for another part to measure (a group whose slowest
    peer was measured before the guest stopped, the others again in a guest of their own);
    without it such a part is refused, so no tool drops out unsaid."""
    if part.get("complete"):
        return dict(part)
    tools = part.get("tools") or sorted({t for c in part["cases"].values() for t in c["runs"]})

    def runs_of(tool: str) -> int:
        return min(
            (
                len(figures["runs"].get(tool, []))
                for case, figures in part["cases"].items()
                if not (tool == BARE and case in NOT_BARE)
            ),
            default=0,
        )

    not_started = [t for t in tools if runs_of(t) == 0] if started_only else []
    tools = [t for t in tools if t not in not_started]
    kept = min((runs_of(t) for t in tools), default=0)
    if kept == 0:
        raise ValueError("a part cut short before its first whole run: nothing to report")
    cases = {
        case: {
            **figures,
            "runs": {t: runs[:kept] for t, runs in figures["runs"].items() if t not in not_started},
        }
        for case, figures in part["cases"].items()
    }
    planned = part["sizes"]["runs"]
    cut_short: dict[str, Any] = {"runs_planned": planned, "runs_kept": kept}
    if not_started:
        cut_short["not_started"] = not_started
    return {
        **part,
        "complete": True,
        "cut_short": cut_short,
        "sizes": {**part["sizes"], "runs": kept},
        "cases": cases,
        **({"tools": tools} if "tools" in part else {}),
    }


def leave_out(part: Mapping[str, Any], tool: str, why: str) -> dict[str, Any]:
    """The part without `tool`'s runs (in every case, and from its tools), the reason kept
    in `left_out` for the table to say: a tool measured again in a later part on newer
    code, whose earlier runs would otherwise be one median with the new ones. Refused when
    the part has no run of that tool (a misspelt tool or file would leave out nothing)."""
    if not any(tool in figures["runs"] for figures in part["cases"].values()):
        raise ValueError(f"no run of {tool} in the part to leave out")
    cases = {
        case: {**figures, "runs": {t: r for t, r in figures["runs"].items() if t != tool}}
        for case, figures in part["cases"].items()
    }
    out = {**part, "cases": cases, "left_out": {**part.get("left_out", {}), tool: why}}
    if "tools" in part:
        out["tools"] = [t for t in part["tools"] if t != tool]
    return out


def merge(parts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One result of the lab's JSON files (each guest measures a group of cases: run.sh boots
    one per group): what the first says of the machine, each part's cases and dates, the
    sizes the cases depend on, the cases of all, the runs of a case measured in two parts
    put together, every part's kept setups (merged_setups). Refused: a part that was cut
    short ("complete": false: its figures would pass for a whole run's), parts whose cases
    were measured at different sizes."""
    if not parts:
        raise ValueError("no results")
    cut = [i for i, part in enumerate(parts) if not part.get("complete")]
    if cut:
        raise ValueError(f"part(s) {cut} cut short: their figures are not a whole run's")
    first = parts[0]
    out: dict[str, Any] = {
        key: value for key, value in first.items() if key not in ("cases", "setup")
    }
    setups = merged_setups(parts)
    if setups is not None:
        out["setup"] = setups
    out["parts"] = [
        {
            "cases": list(part["cases"]),
            "started": part["started"],
            "finished": part["finished"],
            **({"cut_short": part["cut_short"]} if "cut_short" in part else {}),
            **({"left_out": part["left_out"]} if "left_out" in part else {}),
        }
        for part in parts
    ]
    out["finished"] = parts[-1]["finished"]
    sizes: dict[str, Any] = {}
    for part in parts:
        for key in {key for case in part["cases"] for key in SIZES_OF_CASE.get(case, ())}:
            value = part["sizes"][key]
            if sizes.setdefault(key, value) != value:
                raise ValueError(f"parts measured with {key} {sizes[key]} and {value}")
    sizes["runs"] = max(part["sizes"]["runs"] for part in parts)
    out["sizes"] = sizes
    cases: dict[str, Any] = {}
    for part in parts:
        for case, figures in part["cases"].items():
            into = cases.setdefault(case, {"title": figures["title"], "runs": {}})
            for tool, runs in figures["runs"].items():
                into["runs"].setdefault(tool, []).extend(runs)
    out["cases"] = cases
    return out


def merged_setups(parts: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The kept setups of cases 2-4 of several parts (each guest makes its own, once per tool):
    group -> tool -> the list of them, one per part that made it, with the first part's
    word of how they are made (None: no part kept one, e.g. case 1 alone or older JSON)."""
    with_setup = [part["setup"] for part in parts if "setup" in part]
    if not with_setup:
        return None
    tools: dict[str, dict[str, list[Any]]] = {}
    for setup in with_setup:
        for group, by_tool in setup["tools"].items():
            for tool, made in by_tool.items():
                tools.setdefault(group, {}).setdefault(tool, []).append(made)
    return {"how": with_setup[0]["how"], "tools": tools}


def summarize(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One tool's runs of one case ({"seconds", "commands", ...} each) in figures."""
    time = spread([run["seconds"] for run in runs])
    counts = spread([float(run["commands"]) for run in runs])
    return {
        "runs": len(runs),
        "median_s": time.median,
        "min_s": time.low,
        "max_s": time.high,
        "spread": time.relative,
        "commands": counts.median,
        "commands_min": int(counts.low),
        "commands_max": int(counts.high),
    }


def with_ratios(summaries: Mapping[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each tool's summary with `vs_bare`, the bare pipe's median time over the tool's (1.0:
    as fast as the bare pipe, 0.5: twice its time), and `vs_bzfs`, the tool's median time
    over bzfs's; None where that tool was not measured in the case (or took no time)."""
    bare = summaries.get(BARE, {}).get("median_s")
    bzfs = summaries.get(BZFS, {}).get("median_s")
    out = {}
    for tool, summary in summaries.items():
        own = summary["median_s"]
        out[tool] = {
            **summary,
            "vs_bare": bare / own if bare and own else None,
            "vs_bzfs": own / bzfs if bzfs and own else None,
        }
    return out


def targets(cases: Mapping[str, Mapping[str, Any]], datasets: int) -> list[dict[str, Any]]:
    """Issue 11's targets against the figures of `cases` (case -> {"tools": {tool: summary
    with ratios}}); a target whose figures were not measured is left out."""
    out: list[dict[str, Any]] = []

    def tool(case: str, name: str) -> Mapping[str, Any] | None:
        found: Mapping[str, Any] | None = cases.get(case, {}).get("tools", {}).get(name)
        return found

    def add(case: str, target: str, figure: str, met: bool) -> None:
        out.append({"case": case, "target": target, "figure": figure, "met": met})

    zfsyncd = tool("1", ZFSYNCD)
    if zfsyncd is not None and zfsyncd["vs_bare"] is not None:
        ratio = zfsyncd["vs_bare"]
        add("1", f"at least {CASE1_OF_BARE} of the bare pipe", f"{ratio:.2f}",
            ratio >= CASE1_OF_BARE)  # fmt: skip
        peers = {p: s["median_s"] for p in PEERS if (s := tool("1", p)) is not None}
        if peers:
            lead = min(peers.values()) / zfsyncd["median_s"]
            add("1", "ahead of every peer",
                f"fastest peer's time / zfsyncd's {lead:.2f}",
                all(zfsyncd["median_s"] < t for t in peers.values()))  # fmt: skip
    for case in ("2", "3"):
        zfsyncd = tool(case, ZFSYNCD)
        if zfsyncd is None:
            continue
        if zfsyncd["vs_bzfs"] is not None:
            ratio = zfsyncd["vs_bzfs"]
            add(case, f"at most {OF_BZFS_TIME} of bzfs's time", f"{ratio:.2f}",
                ratio <= OF_BZFS_TIME)  # fmt: skip
        if case == "2" and datasets:
            per = zfsyncd["commands"] / datasets
            add(case, f"about {COMMANDS_PER_DATASET:g} zfs commands per dataset",
                f"{per:.2f}", per <= COMMANDS_PER_DATASET + ABOUT)  # fmt: skip
    return out
