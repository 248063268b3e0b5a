"""Where a migration copy's rsync time goes beyond a bare rsync (run in the lab):

    bench/in-lab.sh bench/migration_rsync.py SNAPSHOTS FILES

The same history as bench/migration.py makes (FILES files of 256 KiB, a fifth changed in
each later snapshot), copied snapshot after snapshot into a fresh dataset four ways, twice
in turn: a bare rsync; zfsyncd's own argv (its exclusions, `--info=progress2`,
`--checksum-choice=xxh128 --out-format=%i %C %n`) with the output thrown away; zfsyncd's
run_rsync (its Python reads that output and keeps rsync's checksums, the manifest's
hashes of the files it sent); run_rsync, then the written files read back and hashed one
by one (what the manifest would cost without rsync's checksums). The differences between
lines are what each layer adds (bench/results/migration-2026-12-01/rsync-layers.txt:
before the manifest took rsync's checksums, with a fifth way, the sha256 of each written
file made while rsync copied the next).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.migration import RSYNC, make_pool, make_source, sh
from zfsyncd.files.rsync import RsyncJob, rsync_argv, run_rsync
from zfsyncd.ops.migration import manifest as mf
from zfsyncd.ops.migration.exclusions import rsync_excludes

POOL = "zbenchr"


def zfsyncd_job(src: Path, dst: Path, n: int) -> RsyncJob:
    """Snapshot `n` into `dst`, as a migration's copy asks rsync for it (copy_step.py)."""
    return RsyncJob(src / f"s{n}", dst, excludes=rsync_excludes(), itemize=True)


def variant_bare(src: Path, dst: Path, n: int) -> None:
    sh(*RSYNC, f"{src}/s{n}/", f"{dst}/")


def variant_argv(src: Path, dst: Path, n: int) -> None:
    job = zfsyncd_job(src, dst, n)
    subprocess.run(rsync_argv(job), check=True, stdout=subprocess.DEVNULL)


def variant_python(src: Path, dst: Path, n: int) -> None:
    job = zfsyncd_job(src, dst, n)
    asyncio.run(run_rsync(job, lambda _b: None))


def variant_hash_after(src: Path, dst: Path, n: int) -> None:
    job = zfsyncd_job(src, dst, n)
    result = asyncio.run(run_rsync(job, lambda _b: None))
    mf.hash_files([os.path.join(dst, rel) for rel in result.written])


VARIANTS = {
    "bare rsync": variant_bare,
    "zfsyncd's argv, output to /dev/null": variant_argv,
    "run_rsync (Python reads the output)": variant_python,
    "run_rsync, then the written read back": variant_hash_after,
}


def main() -> None:
    snapshots, files = int(sys.argv[1]), int(sys.argv[2])
    work = Path("/var/tmp/zfsyncd-bench-rsync")
    work.mkdir(parents=True, exist_ok=True)
    make_pool(POOL, work / "pool.img", "3G")
    make_source(work / "src", snapshots, files, 256, 20)
    totals: dict[str, list[float]] = {k: [] for k in VARIANTS}
    for rnd in range(2):
        for name, fn in VARIANTS.items():
            ds = f"{POOL}/v{rnd}{list(VARIANTS).index(name)}"
            sh("zfs", "create", ds)
            dst = Path(f"/mnt/{ds}")
            subprocess.run(["sync"], check=True)
            start = time.perf_counter()
            later = 0.0
            for n in range(1, snapshots + 1):
                t = time.perf_counter()
                fn(work / "src", dst, n)
                if n > 1:
                    later += time.perf_counter() - t
            total = time.perf_counter() - start
            totals[name].append(total)
            print(
                f"round {rnd}: {name:<40} {total:6.2f} s, after the first {later:6.2f} s",
                flush=True,
            )
            sh("zfs", "destroy", "-r", ds)
    for name, ts in totals.items():
        print(f"{name:<40} " + " ".join(f"{t:6.2f}" for t in ts))
    subprocess.run(["zpool", "destroy", "-f", POOL], capture_output=True, check=False)


if __name__ == "__main__":
    main()
