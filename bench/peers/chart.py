"""The chart (PNG): one panel per case, one bar per tool, its median time with the runs'
range as a whisker, the zfs commands written at the bar's end; the bare pipe in grey, zfsyncd
in blue. matplotlib is the `bench` extra (bench/peers/setup.sh), imported only here."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.peers.tools import BARE, TOOLS, ZFSYNCD

COLOURS = {BARE: "#9e9e9e", ZFSYNCD: "#1f77b4"}
PEER_COLOUR = "#ff7f0e"


def draw(result: Mapping[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display: a file only
    import matplotlib.pyplot as plt

    cases = list(result["cases"].items())
    columns = min(3, len(cases))
    rows = -(-len(cases) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(max(5.2 * columns, 9.0), 3.0 * rows + 0.5),
                                squeeze=False)  # fmt: skip
    for ax, (case, figures) in zip(axes.flat, cases, strict=False):
        tools = sorted(figures["tools"], key=lambda name: TOOLS.index(name))
        summaries = [figures["tools"][tool] for tool in tools]
        medians = [s["median_s"] for s in summaries]
        whiskers = [
            [s["median_s"] - s["min_s"] for s in summaries],
            [s["max_s"] - s["median_s"] for s in summaries],
        ]
        colours = [COLOURS.get(tool, PEER_COLOUR) for tool in tools]
        ax.barh(tools, medians, xerr=whiskers, color=colours, capsize=3)
        ax.invert_yaxis()
        for y, s in enumerate(summaries):
            ax.text(s["max_s"], y, f"  {s['commands']:g} cmds", va="center", fontsize=8)
        ax.set_xlim(0, max(s["max_s"] for s in summaries) * 1.35)
        ax.set_title(f"case {case}: {figures['title']}", fontsize=9, wrap=True)
        ax.set_xlabel("seconds (median; whisker: min-max)", fontsize=8)
        ax.tick_params(labelsize=8)
    spare = list(axes.flat)[len(cases) :]
    for ax in spare:
        ax.axis("off")
    if spare and result.get("targets"):  # issue 11's targets, where a panel is free
        lines = [
            f"{'met   ' if t['met'] else 'MISSED'} case {t['case']}: {t['target']}: {t['figure']}"
            for t in result["targets"]
        ]
        text = "issue 11's targets\n\n" + "\n".join(lines)
        spare[0].text(0, 1, text, va="top", fontsize=7.5, family="monospace",
                      transform=spare[0].transAxes)  # fmt: skip
    sizes, machine = result["sizes"], result["machine"]
    smoke = " - SMOKE RUN (small sizes, not the issue's figures)" if result.get("smoke") else ""
    measured = [f"{sizes['mib']} MiB incremental"] if "mib" in sizes else []
    measured += [f"{sizes['datasets']} datasets"] if "datasets" in sizes else []
    figure.suptitle(
        f"zfsyncd vs peers, {result['started'][:10]}: {', '.join(measured)}, "
        f"{sizes['runs']} run(s)\n{machine['openzfs'][0]}, kernel {machine['kernel']}{smoke}",
        fontsize=10,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
