"""A tool's setup for cases 2-4 (pools, datasets, data, its first replication), made once per
guest and kept: the files that hold it (both pool images, zfsyncd's database), where their
copies are kept, copying them there and back (sparse), and whether the copies fit in the
guest's memory. Paths, copy plans and the room are pure (tested in
tests/unit/peers_bench/test_peers_kept.py); bench/peers/lab.py decides when to keep and
when to restore.

The copies live beside the pools, in the guest's /var/tmp: a RAM-backed tmpfs, so every
kept byte is a byte of the guest's memory, which the ARC and the pools in use share.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from bench.lab_zfs import ARC_MAX, DST_POOL, SRC_POOL, pool_image

#: what the guest keeps free beside the kept copies: the ARC may still grow to its cap (the
#: kernel does not count it as available), plus the measured steps' writes to the pools in
#: use and the peers' processes
RESERVE = ARC_MAX + (256 << 20)

#: (file in use, its kept copy)
Pair = tuple[Path, Path]


def setup_dir(tmp: Path, group: str, tool: str) -> Path:
    """Where one tool's setup of one group of cases is kept: a directory of its own, below
    `tmp` and not in it (an import scanning `tmp` never meets a copy)."""
    return tmp / "setup" / f"{group}-{tool}"


def engine_db(tmp: Path, group: str) -> Path:
    """zfsyncd's database for one group of cases: one name for every run (each restores it)."""
    return tmp / f"zfsyncd-{group}.db"


def sqlite_files(db: Path) -> list[Path]:
    """The files of a SQLite database in WAL mode: after a clean close only the first is
    left, but a copy must carry the other two when they are there."""
    return [db, db.with_name(f"{db.name}-wal"), db.with_name(f"{db.name}-shm")]


def kept_files(tmp: Path, group: str, tool: str, beside: Sequence[Path] = ()) -> list[Pair]:
    """Each file of a tool's setup and its kept copy: both pools' images, then `beside`
    (what the tool keeps outside the pools: zfsyncd's database files)."""
    where = setup_dir(tmp, group, tool)
    images = [(pool_image(tmp, pool), where / pool_image(tmp, pool).name)
              for pool in (SRC_POOL, DST_POOL)]  # fmt: skip
    return [*images, *((path, where / path.name) for path in beside)]


def copies(pairs: Sequence[Pair], keeping: bool) -> list[Pair]:
    """(from, to) of each file: to the kept copies (`keeping`), or back from them."""
    return [(work, kept) if keeping else (kept, work) for work, kept in pairs]


def copy_argv(source: Path, target: Path) -> list[str]:
    """A copy as sparse as the image it copies: only the blocks ZFS wrote take memory."""
    return ["cp", "--sparse=always", str(source), str(target)]


def mem_available(meminfo: str) -> int:
    """MemAvailable of /proc/meminfo's text, in bytes."""
    for line in meminfo.splitlines():
        name, _, value = line.partition(":")
        if name == "MemAvailable":
            return int(value.split()[0]) << 10
    raise ValueError("no MemAvailable in /proc/meminfo")


def room_short(setup_bytes: int, setups: int, available: int, reserve: int = RESERVE) -> str | None:
    """Why `setups` more kept setups of `setup_bytes` each (the largest seen so far) would
    not fit in `available` bytes with `reserve` left over; None when they would."""
    need = setup_bytes * setups + reserve
    if need <= available:
        return None
    mib = 1 << 20
    return (
        f"{setups} kept setup(s) of {setup_bytes / mib:.0f} MiB and {reserve / mib:.0f} MiB "
        f"to spare need {need / mib:.0f} MiB; the guest has {available / mib:.0f} MiB"
    )


def allocated(paths: Sequence[Path]) -> int:
    """Bytes the files take (their blocks, not their sparse length)."""
    return sum(path.stat().st_blocks * 512 for path in paths if path.exists())


def available(directory: Path) -> int:
    """What the guest can still hold in `directory` (a tmpfs: memory, and its own cap)."""
    vfs = os.statvfs(directory)
    return min(mem_available(Path("/proc/meminfo").read_text()), vfs.f_bavail * vfs.f_frsize)


def copy(pairs: Sequence[Pair], keeping: bool) -> None:
    """Copy a setup's files to their kept copies or back; a file absent at the source (a
    database's WAL after a clean close) is removed at the target, so no stale one stays."""
    for source, target in copies(pairs, keeping):
        if source.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(copy_argv(source, target), check=True)
        else:
            target.unlink(missing_ok=True)
