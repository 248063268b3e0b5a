"""Replication's admin operations on real pools (the lab guest), after the model's
tests/engine/test_replication_admin.py: `sync all -P 4` over 20 pairs, a paused pair that
it skips, status, sync to a named snapshot, expire with a different savecount on each side,
failover, a refused split brain, takeover back, a failover broken on the peer and undone,
clear, reconfigure. Each step reads `zfs list -t all` and the holds (test_replication_real's
`picture`) and compares them with what the step must have made of the reading before it:
the pairs a step does not name are left exactly as they were.

One test function: under TCG every zfs command costs a good part of a second, so the 20
pairs are made once, by hand in one shell (as `replica init` leaves them: properties,
`receive -o`, sent marks and base holds; the admin kinds' model tests make theirs the same
way, tests/engine/replica_pairs.py), and every step works on them in turn.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.faults import InjectedError
from tests.real.realzfs import zfs_cli
from tests.real.test_replication_real import (
    BASE_HOLD,
    COLUMNS,
    Lab,
    _release_all,
    _tree,
    picture,
)
from zfsyncd.api.records import ReplicaRow
from zfsyncd.ops.replication.status import ReplicaQuery, list_replicas
from zfsyncd.store import TxState
from zfsyncd.tx.errors import PlanError

Picture = dict[str, Any]
#: a column of picture()'s rows by name (the row is everything after the name)
COL = {name: i for i, name in enumerate(COLUMNS.split(",")[1:])}
NAMES = [f"d{n:02}" for n in range(20)]
SEED = "zfsync_seed"

#: 20 pairs as `replica init` leaves them, made in one shell (the names are its arguments,
#: never part of the script): SRC/NAME with its properties, one snapshot of them all, each
#: sent in full with `receive -o` giving the destination its own, marked sent, held on both
MAKE_PAIRS = r"""
set -euo pipefail
src=$1 dst=$2; shift 2
# side by side, as the engine's -P does: under TCG each zfs command takes seconds
all() { local pids=() p; for d in "${@:2}"; do "$1" "$d" & pids+=($!); done
        for p in "${pids[@]}"; do wait "$p"; done; }
make() { zfs create -o atime=off -o compression=off -o zfsync:role=source \
           -o "zfsync:peer=backup:$dst/$1" -o zfsync:savecount=5 "$src/$1"
         head -c 65536 /dev/urandom > "/mnt/$src/$1/one"; }
copy() { zfs send "$src/$1@zfsync_seed" | zfs receive -u -o zfsync:role=destination \
           -o "zfsync:peer=local:$src/$1" -o zfsync:savecount=5 -o readonly=on "$dst/$1"; }
all make "$@"
sync
snaps=() copies=()
for d in "$@"; do snaps+=("$src/$d@zfsync_seed"); copies+=("$dst/$d@zfsync_seed"); done
zfs snapshot "${snaps[@]}"
all copy "$@"
zfs set zfsync:sent=1700000000 "${snaps[@]}"
zfs hold zfsync_replica "${snaps[@]}" "${copies[@]}"
"""

#: 64 KiB of new data in each SRC/NAME, then written out
WRITE = r"""
set -euo pipefail
src=$1; shift
for d in "$@"; do head -c 65536 /dev/urandom > "/mnt/$src/$d/f$(date +%s%N)"; done
sync
"""


def bash(script: str, *args: str) -> None:
    subprocess.run(["bash", "-c", script, "bash", *args], check=True)


def part(pic: Picture, dataset: str) -> Picture:
    """The rows of `dataset`, its snapshots and bookmarks, and their holds."""
    mine = {n: r for n, r in pic["listing"].items() if n.split("@")[0].split("#")[0] == dataset}
    return {"listing": mine, "holds": [h for h in pic["holds"] if h[0].split("@")[0] == dataset]}


def others(pic: Picture, *datasets: str) -> Picture:
    """Everything but the parts of `datasets`."""
    drop = set(datasets)
    return {
        "listing": {
            n: r for n, r in pic["listing"].items() if n.split("@")[0].split("#")[0] not in drop
        },
        "holds": [h for h in pic["holds"] if h[0].split("@")[0] not in drop],
    }


def snaps(pic: Picture, dataset: str) -> dict[str, str]:
    """Short name -> guid of `dataset`'s snapshots, oldest first."""
    found = [
        (int(row[COL["createtxg"]]), name.split("@", 1)[1], row[COL["guid"]])
        for name, row in pic["listing"].items()
        if name.startswith(f"{dataset}@")
    ]
    return {short: guid for _, short, guid in sorted(found)}


def value(pic: Picture, name: str, column: str) -> str:
    return str(pic["listing"][name][COL[column]])


def based(pic: Picture, dataset: str) -> list[str]:
    """The short names of `dataset`'s snapshots holding the base hold."""
    return sorted(s.split("@", 1)[1] for s, tag in pic["holds"] if tag == BASE_HOLD and
                  s.split("@")[0] == dataset)  # fmt: skip


def differences(left: Picture, right: Picture) -> list[Any]:
    """What differs between two pictures (for an assertion's message)."""
    names = sorted(set(left["listing"]) | set(right["listing"]))
    rows = [(n, left["listing"].get(n), right["listing"].get(n)) for n in names]
    return [r for r in rows if r[1] != r[2]] + sorted(set(left["holds"]) ^ set(right["holds"]))


def with_values(pic: Picture, changes: dict[str, dict[str, str]]) -> Picture:
    """`pic` with the columns of some rows changed."""
    listing = dict(pic["listing"])
    for name, columns in changes.items():
        row = list(listing[name])
        for column, new in columns.items():
            row[COL[column]] = new
        listing[name] = tuple(row)
    return {"listing": listing, "holds": pic["holds"]}


async def status(lab: Lab, dataset: str) -> ReplicaRow:
    rows = await list_replicas(
        lab.manager.hosts, lab.manager.store, ReplicaQuery(dataset=dataset), time.time()
    )
    [row] = [r for r in rows if r.dataset == dataset]
    return row


class Phases:
    """How long each phase of a test took, printed (`-rA` shows it): the lab's figures."""

    def __init__(self) -> None:
        self.start = self.last = time.monotonic()

    def __call__(self, name: str) -> None:
        now = time.monotonic()
        print(f"{name}: {now - self.last:.1f} s (at {now - self.start:.1f} s)")
        self.last = now


# more than the tier's 300 s under a loaded TCG guest: 20 pairs are ~100 zfs commands
@pytest.mark.timeout(900)
async def test_sync_all_over_twenty_pairs_skips_a_paused_one(root: str, tmp_path: Path) -> None:
    phase = Phases()
    src, dst = _tree(root)
    bash(MAKE_PAIRS, src, dst, *NAMES)
    a, last = f"{src}/d00", f"{src}/d19"
    da, dlast = f"{dst}/d00", f"{dst}/d19"
    phase("20 pairs made by hand")
    lab = await Lab.open(tmp_path / "zfsyncd.db")
    try:
        await lab.done("replica-pause", {"source": last})
        assert (await status(lab, last)).paused
        bash(WRITE, src, *NAMES)
        before = picture(root)
        phase("pause, status, write")
        s1 = await lab.done("replica-sync", {"sources": [], "parallel": 4})
        phase("sync all -P 4")
        after = picture(root)
        for d in NAMES[:-1]:
            assert list(snaps(after, f"{src}/{d}")) == [SEED, s1], d
            assert snaps(after, f"{dst}/{d}") == snaps(after, f"{src}/{d}"), d
            assert based(after, f"{src}/{d}") == based(after, f"{dst}/{d}") == [s1], d
            assert value(after, f"{src}/{d}@{s1}", "zfsync:sent") != "-", d
        assert part(after, last) == part(before, last)
        assert part(after, dlast) == part(before, dlast)
        row = await status(lab, a)
        assert (row.role, row.peer, row.last_sent) == ("source", f"backup:{da}", f"{a}@{s1}")
        assert (row.lag_bytes, row.lag_seconds, row.unsent, row.paused) == (0, 0.0, 0, False)
        assert (row.source_savecount, row.destination_savecount) == (5, 5)
        assert (row.resume_token, row.error, row.last_error) == (False, "", "")
        await lab.done("replica-resume", {"source": last})
        assert not (await status(lab, last)).paused
        assert value(picture(last), last, "zfsync:paused") == "-"
        phase("status, resume")
    finally:
        await lab.close()
        _release_all(root)


@pytest.mark.timeout(900)
async def test_admin_operations_on_real_pairs(root: str, tmp_path: Path) -> None:
    phase = Phases()
    src, dst = _tree(root)
    bash(MAKE_PAIRS, src, dst, "d00", "d01", "d02")
    a, b, c = (f"{src}/{d}" for d in ("d00", "d01", "d02"))
    da, db, dc = (f"{dst}/{d}" for d in ("d00", "d01", "d02"))
    phase("3 pairs made by hand")
    lab = await Lab.open(tmp_path / "zfsyncd.db")
    try:
        # -- status of a pair that is behind: written to, a snapshot not sent
        bash(WRITE, src, "d00")
        zfs_cli("zfs", "snapshot", f"{a}@zfsync_h1")  # someone else's, carried by -I
        bash(WRITE, src, "d00", "d02")
        row = await status(lab, a)
        assert (row.role, row.peer, row.last_sent) == ("source", f"backup:{da}", f"{a}@{SEED}")
        assert row.unsent == 1
        assert row.lag_bytes > 0
        s2 = await lab.done("replica-sync", {"sources": [a, c]})
        pair = picture(root)
        assert list(snaps(pair, a)) == [SEED, "zfsync_h1", s2]
        assert snaps(pair, da) == snaps(pair, a)
        assert list(snaps(pair, dc)) == [SEED, s2]
        assert snaps(pair, dc) == snaps(pair, c)
        row = await status(lab, a)
        assert (row.last_sent, row.lag_bytes, row.lag_seconds, row.unsent) == (
            f"{a}@{s2}", 0, 0.0, 0,
        )  # fmt: skip
        phase("status, sync")

        # -- sync to a named snapshot: the destination rolled back to it, the source's newer
        # snapshots stay, marked not sent; the base on it on both sides
        before = picture(root)
        await lab.done("replica-sync-to", {"snapshot": f"{a}@zfsync_h1"})
        after = picture(root)
        assert others(after, a, da) == others(before, a, da)
        assert list(snaps(after, da)) == [SEED, "zfsync_h1"]
        assert snaps(after, a) == snaps(before, a)
        assert value(after, f"{a}@zfsync_h1", "zfsync:sent") != "-"
        assert value(after, f"{a}@{s2}", "zfsync:sent") == "-"
        assert based(after, a) == based(after, da) == ["zfsync_h1"]
        phase("sync-to")

        # -- expire with a different savecount on each side (each reads its own): never the
        # newest common snapshot, never one someone else holds
        zfs_cli("zfs", "snapshot", f"{a}@zfsync_u1")  # not sent
        zfs_cli("zfs", "snapshot", f"{a}@zfsync_u2")
        zfs_cli("zfs", "hold", "mine", f"{a}@{SEED}")
        zfs_cli("zfs", "set", "zfsync:savecount=2", a)
        zfs_cli("zfs", "set", "zfsync:savecount=1", da)
        before = picture(root)
        await lab.done("replica-expire", {"sources": [a]})
        after = picture(root)
        assert await lab.manager.cleanups.pending() == []
        assert others(after, a, da) == others(before, a, da)
        # the source keeps u1, u2; the newest common h1; seed, which someone holds
        assert list(snaps(after, a)) == [SEED, "zfsync_h1", "zfsync_u1", "zfsync_u2"]
        assert list(snaps(after, da)) == ["zfsync_h1"]
        for name in (
            *(f"{a}@{s}" for s in snaps(after, a)),
            *(f"{da}@{s}" for s in snaps(after, da)),
        ):
            assert after["listing"][name] == before["listing"][name], name
        row = await status(lab, a)
        assert (row.last_sent, row.unsent) == (f"{a}@zfsync_h1", 2)
        assert (row.source_savecount, row.destination_savecount) == (2, 1)
        phase("expire, status")

        # -- failover: the roles and the read-only flags swap, nothing else
        before = picture(root)
        await lab.done("replica-failover", {"source": b})
        # zfsync:role as each row shows it: its snapshots inherit the dataset's
        swapped = with_values(
            before,
            {
                **{n: {"zfsync:role": "destination"} for n in part(before, b)["listing"]},
                **{n: {"zfsync:role": "source"} for n in part(before, db)["listing"]},
                b: {"zfsync:role": "destination", "readonly": "on"},
                db: {"zfsync:role": "source", "readonly": "off"},
            },
        )
        after = picture(root)
        assert after == swapped, differences(after, swapped)
        # both writable could split the brain: takeover is refused, nothing changes
        zfs_cli("zfs", "set", "readonly=off", b)
        during = picture(root)
        await refused(lab, "replica-takeover", {"destination": b}, "are writable")
        after = picture(root)
        assert after == during, differences(after, during)
        zfs_cli("zfs", "set", "readonly=on", b)
        # takeover of the old source: back as before the failover
        await lab.done("replica-takeover", {"destination": b})
        after = picture(root)
        assert after == before, differences(after, before)
        phase("failover, refused takeover, takeover")

        # -- a failover whose change on the peer fails is undone: both as they were
        broken: list[str] = []

        def breaking(index: int, label: str) -> None:
            if label.startswith("set_properties") and not broken:
                broken.append(label)
                raise InjectedError(["zfs", "set"], 1, f"injected failure of {label}")

        lab.backup.on_call = breaking
        before = picture(root)
        record = await lab.run("replica-failover", {"source": c})
        lab.backup.on_call = None
        assert broken == [f"set_properties {dc}"]
        assert record.state is TxState.FAILED
        assert (record.rollback_outcome or "").startswith("complete"), record.rollback_outcome
        after = picture(root)
        assert after == before, differences(after, before)
        phase("failover broken and undone")

        # -- clear: the properties and base holds go on both sides, the snapshots stay
        await lab.done("replica-clear", {"source": b})
        after = picture(root)
        assert others(after, b, db) == others(before, b, db)
        for dataset in (b, db):
            assert snaps(after, dataset) == snaps(before, dataset)
            assert based(after, dataset) == []
            for name in part(after, dataset)["listing"]:
                for column in ("zfsync:role", "zfsync:peer", "zfsync:savecount", "zfsync:sent"):
                    assert value(after, name, column) == "-", (name, column)
        phase("clear")

        # -- reconfigure: a replica made by hand from the first snapshot is the new
        # destination; the base moves to what they share; the next sync goes there
        other = f"{dst}/other02"
        bash('zfs send "$1" | zfs receive -u "$2"', f"{c}@{SEED}", other)
        before = picture(root)
        await lab.done("replica-reconfigure", {"source": c, "destination": f"backup:{other}"})
        after = picture(root)
        assert others(after, c, other) == others(before, c, other)
        assert value(after, c, "zfsync:peer") == f"backup:{other}"
        assert [value(after, other, k) for k in ("zfsync:role", "zfsync:peer", "readonly")] == [
            "destination", f"local:{c}", "on",
        ]  # fmt: skip
        assert based(after, c) == based(after, other) == [SEED]
        assert value(after, f"{c}@{s2}", "zfsync:sent") == "-"
        bash(WRITE, src, "d02")
        s4 = await lab.done("replica-sync", {"sources": [c]})
        pair = picture(c, other)
        assert list(snaps(pair, other)) == [SEED, s2, s4]
        assert snaps(pair, other) == snaps(pair, c)
        phase("reconfigure, sync")
    finally:
        await lab.close()
        subprocess.run(["zfs", "release", "mine", f"{a}@{SEED}"], check=False, capture_output=True)
        _release_all(root)


async def refused(lab: Lab, kind: str, params: dict[str, Any], words: str) -> None:
    """Refused at plan time with `words` in the reason."""
    with pytest.raises(PlanError, match=words):
        await lab.manager.submit(kind, params)
