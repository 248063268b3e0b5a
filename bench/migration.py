"""Migration throughput against a bare rsync of the same snapshots (run in the lab).

    bench/in-lab.sh bench/migration.py [--snapshots N] [--files F] [--kib K] [--change P]

Makes a file-backed pool (mounted) and a plain source of N snapshot directories: the first
with F files of K KiB, each later one changing P percent of them (and deleting and adding
one). Then, from a cold page cache each time:
- bare: for each snapshot `rsync -aHAX --delete --numeric-ids` into a plain dataset and a
  `zfs snapshot` (what a shell loop would do);
- migrate: one `migrate` transaction through the engine (temporary dataset, rsync through
  zfsyncd/files/rsync.py, a manifest with sha256 of each new file, the snapshot with its
  properties, the rename into place).
Prints both times, MiB/s, the ratio (issue 12's target: at most 1.2) and the zfs commands
the engine ran.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import zfsyncd.ops  # noqa: F401 - registers the migrate kind
from zfsyncd.commands.runner import CommandRunner
from zfsyncd.store import Database, TxState
from zfsyncd.tx.hosts import local_hosts
from zfsyncd.tx.manager import TransactionManager
from zfsyncd.zfs.cli import CliBackend

POOL = "zbenchm"
RSYNC = ["rsync", "-aHAX", "--numeric-ids", "--delete", "--modify-window=-1"]


def sh(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def make_source(root: Path, snapshots: int, files: int, kib: int, change: int) -> int:
    """The source; its total bytes over all snapshots."""
    rng = random.Random(1)
    first = root / "s1"
    first.mkdir(parents=True)
    for i in range(files):
        (first / f"f{i:05d}").write_bytes(os.urandom(kib << 10))
    for n in range(2, snapshots + 1):
        here = root / f"s{n}"
        sh("cp", "-a", "--reflink=auto", str(root / f"s{n - 1}"), str(here))
        for i in rng.sample(range(files), max(1, files * change // 100)):
            (here / f"f{i:05d}").write_bytes(os.urandom(kib << 10))
        (here / f"added{n}").write_bytes(os.urandom(kib << 10))
        (here / f"f{n:05d}").unlink(missing_ok=True)
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def cold() -> None:
    subprocess.run(["sync"], check=True)
    Path("/proc/sys/vm/drop_caches").write_text("3\n")


def bare(source: Path, snapshots: int) -> float:
    dataset = f"{POOL}/bare"
    sh("zfs", "create", dataset)
    target = sh("zfs", "get", "-H", "-o", "value", "mountpoint", dataset).strip()
    cold()
    start = time.perf_counter()
    for n in range(1, snapshots + 1):
        sh(*RSYNC, f"{source}/s{n}/", f"{target}/")
        sh("zfs", "snapshot", f"{dataset}@s{n}")
    return time.perf_counter() - start


async def migrate(source: Path, db_path: Path) -> tuple[float, int]:
    commands: list[Sequence[str]] = []
    runner = CommandRunner(observers=[commands.append])
    db = await Database.open(db_path)
    manager = TransactionManager(db, local_hosts(CliBackend(runner)))
    cold()
    start = time.perf_counter()
    record = await manager.submit("migrate", {"source": str(source), "dataset": f"{POOL}/m"})
    done = await manager.wait(record.id)
    took = time.perf_counter() - start
    assert done.state is TxState.COMPLETED, done.error
    await db.close()
    return took, sum(1 for c in commands if Path(c[0]).name in ("zfs", "zpool"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--snapshots", type=int, default=5)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--kib", type=int, default=256)
    parser.add_argument("--change", type=int, default=20)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="zfsyncd-bench-", dir="/var/tmp"))
    image = work / "pool.img"
    subprocess.run(["zpool", "destroy", "-f", POOL], capture_output=True, check=False)
    sh("truncate", "-s", "2G", str(image))
    sh(
        "zpool",
        "create",
        "-f",
        "-o",
        "ashift=12",
        "-O",
        f"mountpoint=/mnt/{POOL}",
        POOL,
        str(image),
    )
    try:
        total = make_source(work / "src", args.snapshots, args.files, args.kib, args.change)
        mib = total / (1 << 20)
        bare_s = bare(work / "src", args.snapshots)
        engine_s, commands = asyncio.run(migrate(work / "src", work / "db.sqlite"))
        print(f"source: {args.snapshots} snapshots, {mib:.1f} MiB over all of them")
        print(f"bare rsync + zfs snapshot: {bare_s:.1f} s")
        print(f"migrate transaction:      {engine_s:.1f} s ({commands} zfs commands)")
        print(f"ratio migrate/bare: {engine_s / bare_s:.2f} (target: at most 1.2)")
    finally:
        subprocess.run(["zpool", "destroy", "-f", POOL], capture_output=True, check=False)


if __name__ == "__main__":
    main()
