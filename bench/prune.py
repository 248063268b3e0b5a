"""`zfsyncctl prune --dry-run` on 10,000 snapshots, part by part, against issue 13's goal
(within a second).

    .venv/bin/python -m bench.prune [--snapshots 10000] [--datasets 10] [--runs 5]

The whole command needs a daemon on a system bus with the pools in it; this measures what
the daemon and zfsyncctl do for it, in this process, with the snapshots made on the
in-memory model (one an hour, a few held) and read as the real backend reads them:
- the daemon's reading for PrunePreview: the text `zfs list -Hp` prints for them parsed
  (zfsyncd.zfs.inventory.parse_list) and built into the datasets' states (the zfs
  command's own time is the pool's, not measured here; nor the model's list, whose
  computation of each snapshot's `used` grows with the square of the snapshots);
- the decision for every snapshot (zrepl's grid, sanoid's counts) and the rows
  (`zfsyncd.ops.prune.outcome`, `rows`: what `preview` does after reading; checked to
  give what `preview` gives on the model);
- the rows through the bus's payloads (a{sv}) and zfsyncctl's validation of them;
- zfsyncctl drawing the table plainly (off a terminal) and `--json`.
Not measured here: zfsyncctl's start-up (bench.cli: about 130 ms on an idle host) and the
bus's marshalling of a reply of some 2 MB. The sum is printed against the goal.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from zfsyncctl.prune import prune_table
from zfsyncctl.render import plain_lines
from zfsyncd.api.records import PruneRow
from zfsyncd.bus import payloads
from zfsyncd.ops.prune import RETENTION, PruneFacts, PruneRequest, outcome, preview
from zfsyncd.ops.prune import rows as prune_rows
from zfsyncd.ops.replication.inventory import READ_PROPERTIES, Side, build_side
from zfsyncd.tx.hosts import LOCAL, local_hosts
from zfsyncd.zfs.inventory import parse_list
from zfsyncd.zfs.memory import MemoryBackend
from zfsyncd.zfs.models import ZfsObject

GOAL = 1.0
POLICY = 'grid = "1x1h(keep=all) | 24x1h | 14x1d | 12x30d", daily = 7, weekly = 4, monthly = 6'


async def model(snapshots: int, datasets: int) -> tuple[MemoryBackend, float]:
    """A pool with `datasets` filesystems and `snapshots` zfsync_ snapshots among them, one
    an hour (so the policy's rules all have work), a few held; returns the model and the
    time of the newest."""
    now = [1.8e9 - snapshots * 3600.0]
    zfs = MemoryBackend(pools=("tank",), clock=lambda: now[0])
    for d in range(datasets):
        await zfs.create(f"tank/ds{d}")
    for i in range(snapshots):
        now[0] += 3600
        await zfs.snapshot([f"tank/ds{i % datasets}@zfsync_{i:07d}"])
    await zfs.hold("backup", [f"tank/ds0@zfsync_{i:07d}" for i in range(0, 200, datasets)])
    return zfs, now[0]


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def listing_text(objects: Sequence[ZfsObject], props: Sequence[str]) -> str:
    """The objects as `zfs list -Hp -o <list_columns(props)>` prints them."""
    lines = []
    for o in objects:
        fields = [
            o.name, o.type.value, str(o.guid), str(o.createtxg), str(o.creation), str(o.used),
            str(o.referenced), str(o.userrefs) if o.is_snapshot else "-", o.origin or "-",
            o.receive_resume_token or "-", *(o.user_properties.get(p, "-") for p in props),
        ]  # fmt: skip
        lines.append("\t".join(fields))
    return "\n".join(lines) + "\n"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snapshots", type=int, default=10_000)
    parser.add_argument("--datasets", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    zfs, newest = await model(args.snapshots, args.datasets)
    request = PruneRequest(datasets=("tank",), recursive=True, policy=POLICY, now=newest + 60)
    # what `zfs list -Hp` prints for the reading prune makes (read from the model once,
    # untimed: the model computes each snapshot's `used` over every block, a cost of the
    # model that the real command does not have)
    props = (*READ_PROPERTIES, RETENTION)
    objects = await zfs.list_many(["tank"], recursive=True, user_properties=props)
    text = listing_text(objects, props)
    tags: dict[str, set[str]] = {}
    for hold in await zfs.holds_many([o.name for o in objects if o.userrefs]):
        tags.setdefault(hold.snapshot, set()).add(hold.tag)
    rows: list[PruneRow] = []
    facts: list[PruneFacts] = []

    def reading() -> None:
        facts[:] = [PruneFacts(Side(LOCAL, build_side(parse_list(text, props), tags)))]

    def deciding() -> None:
        rows[:] = prune_rows(outcome(request, facts[0], int(request.now or 0)))

    parts: list[tuple[str, tuple[float, float]]] = []
    parts.append(("daemon: parse `zfs list -Hp`, build", timed(reading, args.runs)))
    parts.append(("daemon: decide every snapshot, rows", timed(deciding, args.runs)))
    same = await preview(local_hosts(zfs), request, [])  # the daemon's own path, on the model
    assert [r.name for r in same] == [r.name for r in rows], "the bench's path is preview's"
    sent: list[dict[str, Any]] = []

    def marshal() -> None:
        sent[:] = [
            {k: v.value for k, v in payloads.as_dict(r).items()} for r in rows
        ]  # as_dict: the daemon's; .value: what arrives

    parts.append(("daemon: rows as a{sv}", timed(marshal, args.runs)))
    parts.append(
        (
            "zfsyncctl: validate rows",
            timed(lambda: [PruneRow.model_validate(r) for r in sent], args.runs),
        )
    )
    parts.append(
        ("zfsyncctl: plain table", timed(lambda: plain_lines(prune_table(rows), 200), args.runs))
    )
    parts.append(
        ("zfsyncctl: --json", timed(lambda: json.dumps([r.model_dump() for r in rows]), args.runs))
    )

    going = sum(1 for r in rows if not r.keep)
    print(
        f"prune --dry-run of {args.snapshots} snapshots on {args.datasets} datasets "
        f"({going} would go, {len(rows) - going} stay), best / median of {args.runs}:"
    )
    for what, (best, median) in parts:
        print(f"  {what:<40} {best * 1000:8.1f} ms  {median * 1000:8.1f} ms")
    table = sum(m for w, (_, m) in parts if "--json" not in w)
    as_json = sum(m for w, (_, m) in parts if "plain table" not in w)
    slowest = max(table, as_json)
    verdict = "met" if slowest + 0.130 <= GOAL else "NOT met"
    print(
        f"  sum (medians): table {table * 1000:.0f} ms, --json {as_json * 1000:.0f} ms; with "
        f"zfsyncctl's start-up (~130 ms, bench.cli) {(slowest + 0.130) * 1000:.0f} ms against "
        f"the goal of {GOAL * 1000:.0f} ms: {verdict}"
    )


if __name__ == "__main__":
    asyncio.run(main())
