"""The text table of a result (Markdown: it goes into bench/README.md as printed). Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench.peers.tools import TOOLS

HEADER = (
    "| case | tool | time, median (min-max) | zfs commands | bare / tool | tool / bzfs | "
    "commands by verb (last run) |\n| --- | --- | --- | --- | --- | --- | --- |"
)


def ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def seconds(summary: Mapping[str, Any]) -> str:
    median, low, high = summary["median_s"], summary["min_s"], summary["max_s"]
    if summary["runs"] == 1:
        return f"{median:.2f} s"
    return f"{median:.2f} s ({low:.2f}-{high:.2f})"


def commands(summary: Mapping[str, Any]) -> str:
    low, high = summary["commands_min"], summary["commands_max"]
    return str(low) if low == high else f"{summary['commands']:g} ({low}-{high})"


def by_verb(counts: Mapping[str, int], limit: int = 6) -> str:
    shown = [f"{name} x{n}" for name, n in list(counts.items())[:limit]]
    rest = sum(list(counts.values())[limit:])
    return ", ".join(shown + ([f"other x{rest}"] if rest else []))


def render(result: Mapping[str, Any]) -> str:
    """One row per case and tool (the tools in TOOLS order), then issue 11's targets."""
    rows = [HEADER]
    for case, figures in result["cases"].items():
        tools = figures["tools"]
        for tool in sorted(tools, key=lambda name: TOOLS.index(name)):
            summary = tools[tool]
            last = figures["runs"][tool][-1]["verbs"]
            rows.append(
                f"| {case} | {tool} | {seconds(summary)} | {commands(summary)} | "
                f"{ratio(summary['vs_bare'])} | {ratio(summary['vs_bzfs'])} | {by_verb(last)} |"
            )
    lines = ["\n".join(rows)]
    for part in result.get("parts", []):
        if "cut_short" in part:  # the table never passes such a part off as a whole run's
            cut = part["cut_short"]
            absent = cut.get("not_started")
            lines.append(
                f"\ncases {', '.join(part['cases'])}: cut short, {cut['runs_kept']} whole "
                f"run(s) of {cut['runs_planned']} planned"
                + (f" ({', '.join(absent)}: no whole run from that guest)" if absent else "")
            )
        for tool, why in part.get("left_out", {}).items():
            where = ", ".join(part["cases"])
            lines.append(f"\ncases {where}: {tool}'s runs of that part left out: {why}")
    if result.get("targets"):
        lines.append("\n| case | issue 11's target | figure | met |\n| --- | --- | --- | --- |")
        lines.extend(
            f"| {t['case']} | {t['target']} | {t['figure']} | {'yes' if t['met'] else 'NO'} |"
            for t in result["targets"]
        )
    if result.get("case5"):  # zfsyncd's own benches print their own tables: named here
        lines.append("\ncase 5, zfsyncd alone (their output verbatim: case5 in the JSON):")
        lines.extend(
            f"- {what}: `{' '.join(bench['command'])}`, exit {bench['exit']}, {bench['seconds']} s"
            for what, bench in result["case5"]["benches"].items()
        )
    return "\n".join(lines)
