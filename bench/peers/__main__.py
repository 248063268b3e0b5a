"""The command line of bench/peers (bench/peers/run.sh drives it; see bench/README.md):

python -m bench.peers lab --out FILE [--case ...] [--tools ...] [--runs N] [--mib M]
                          [--datasets D] [--parallel P]     # in the lab guest, as root
python -m bench.peers alone --out FILE [--small]            # case 5, on the host, as root
python -m bench.peers report LAB.json [ALONE.json] --out-dir DIR [--smoke] [--whole-runs
                          [--started-only]]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from bench.peers import stats
from bench.peers.table import render
from bench.peers.tools import TOOLS

LAB_CASES = ("1", "2", "3", "4")


def lab(args: argparse.Namespace) -> None:
    from bench.peers import lab as lab_run  # imports zfsyncd: only where it runs

    if os.geteuid() != 0:
        raise SystemExit("run as root, in the lab: bench/peers/run.sh")
    sizes = lab_run.Sizes(mib=args.mib, datasets=args.datasets, parallel=args.parallel)
    with tempfile.TemporaryDirectory(dir="/var/tmp") as name:
        lab_run.run(
            Path(name), args.case, args.tools, args.runs, sizes, Path(args.out), args.commit
        )


def alone(args: argparse.Namespace) -> None:
    from bench.peers import alone as alone_run

    if os.geteuid() != 0:
        raise SystemExit("case 5 needs root (a private system bus and polkitd)")
    repo = Path(__file__).resolve().parents[2]
    write_json(Path(args.out), alone_run.run(repo, args.small))


def summarized(raw: dict[str, Any], case5: dict[str, Any] | None, smoke: bool) -> dict[str, Any]:
    """The lab's raw runs with each tool's summary and ratios, issue 11's targets and case 5."""
    result = {**raw, "smoke": smoke, "cases": {}}
    for case, figures in raw["cases"].items():
        summaries = {tool: stats.summarize(runs) for tool, runs in figures["runs"].items()}
        result["cases"][case] = {**figures, "tools": stats.with_ratios(summaries)}
    datasets = raw.get("sizes", {}).get("datasets", 0)
    result["targets"] = stats.targets(result["cases"], datasets)
    if case5 is not None:
        result["case5"] = case5
    return result


def report(args: argparse.Namespace) -> None:
    parts = [json.loads(Path(name).read_text()) for name in args.lab]
    try:
        for tool, name, why in args.leave_out:
            if name not in args.lab:
                raise ValueError(f"--leave-out names {name}, which is not one of the parts")
            i = args.lab.index(name)
            parts[i] = stats.leave_out(parts[i], tool, why)
        if args.whole_runs:
            parts = [stats.whole_runs(part, started_only=args.started_only) for part in parts]
        raw = stats.merge(parts) if parts else {"cases": {}}
    except ValueError as err:
        raise SystemExit(f"report: {err}") from None
    case5 = json.loads(Path(args.alone).read_text()) if args.alone else None
    result = summarized(raw, case5, args.smoke)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "peers.json", result)
    table = render(result)
    (out / "peers.md").write_text(table + "\n")
    print(table)
    if result["cases"]:
        from bench.peers.chart import draw

        draw(result, out / "peers.png")
    print(f"\nwritten: {out}/peers.json, peers.md" + (", peers.png" if result["cases"] else ""))


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=1) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.peers", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("lab", help="cases 1-4 in the lab guest")
    p.add_argument("--out", required=True)
    p.add_argument("--case", nargs="+", choices=LAB_CASES, default=list(LAB_CASES))
    p.add_argument("--tools", nargs="+", choices=TOOLS, default=list(TOOLS))
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--mib", type=int, default=512, help="case 1's incremental")
    p.add_argument("--datasets", type=int, default=51, help="cases 2-4")
    p.add_argument("--parallel", type=int, default=4, help="zfsyncd's sync all -P")
    p.add_argument("--commit", default="?", help="zfsyncd's commit (the guest has no git)")
    p.set_defaults(func=lab)
    p = sub.add_parser("alone", help="case 5 on the host")
    p.add_argument("--out", required=True)
    p.add_argument("--small", action="store_true", help="a smoke run's sizes")
    p.set_defaults(func=alone)
    p = sub.add_parser("report", help="the summary JSON, the table and the chart")
    p.add_argument("lab", nargs="*", help="the lab's JSON files (one per guest)")
    p.add_argument("--alone", help="case 5's JSON")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--smoke", action="store_true", help="label it a smoke run (small sizes)")
    p.add_argument(
        "--whole-runs",
        action="store_true",
        help="take a part cut short (run.sh's partial-*.json) as the runs every tool finished",
    )
    p.add_argument(
        "--started-only",
        action="store_true",
        help="with --whole-runs: leave out of a part cut short the tools without a whole run in it "
        "(named in its cut_short), for another part to measure",
    )
    p.add_argument(
        "--leave-out",
        nargs=3,
        action="append",
        default=[],
        metavar=("TOOL", "PART", "WHY"),
        help="leave TOOL's runs out of the part in file PART (the table says WHY): a tool "
        "measured again, on newer code, in another part",
    )
    p.set_defaults(func=report)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
