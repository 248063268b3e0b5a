"""Helpers for the real-ZFS tier: run zfs directly, outside the code under test."""

from __future__ import annotations

import subprocess


def zfs_cli(*args: str) -> str:
    """Run zfs/zpool directly, outside the code under test (for setting up and checking)."""
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def write_file(dataset: str, name: str, mib: int) -> None:
    """Write `mib` MiB of random data into a mounted dataset."""
    mountpoint = zfs_cli("zfs", "get", "-H", "-o", "value", "mountpoint", dataset).strip()
    write_random(mountpoint, name, mib)


def write_random(directory: str, name: str, mib: int) -> None:
    """`mib` MiB of random (incompressible) data in a new file of `directory`, on disk (also
    the benches' data: bench/lab_zfs.py)."""
    subprocess.run(
        ["dd", "if=/dev/urandom", f"of={directory}/{name}", "bs=1M", f"count={mib}",
         "status=none"],
        check=True,
    )  # fmt: skip
    subprocess.run(["sync"], check=True)
