"""The real-ZFS tier: runs only inside the OpenZFS lab guest (ZFSYNC_TEST_BACKEND=real).

Its pool is its own (`zreal`), so it cannot meet the contract suite's pools in the same run.
"""

from __future__ import annotations

import itertools
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.real.realzfs import zfs_cli
from zfsyncd.zfs.cli import CliBackend

REAL = os.environ.get("ZFSYNC_TEST_BACKEND") == "real"
if not REAL:
    # on the host there is no zfs: these files are for the lab guest (tests/lab/)
    collect_ignore_glob = ["test_*.py"]

POOL = "zreal"
IMAGES = Path("/var/tmp/zfsyncd-real")
_counter = itertools.count()


@pytest.fixture(scope="session")
def pool() -> Iterator[str]:
    IMAGES.mkdir(parents=True, exist_ok=True)
    image = IMAGES / f"{POOL}.img"
    subprocess.run(["truncate", "-s", "768M", str(image)], check=True)
    zfs_cli("zpool", "create", "-f", "-o", "ashift=12", "-O", f"mountpoint=/mnt/{POOL}",
            POOL, str(image))  # fmt: skip
    yield POOL
    subprocess.run(["zpool", "destroy", "-f", POOL], check=False)
    image.unlink(missing_ok=True)


@pytest.fixture
def root(pool: str) -> Iterator[str]:
    """A fresh dataset per test, destroyed (with everything below it) afterwards."""
    name = f"{pool}/t{next(_counter)}"
    zfs_cli("zfs", "create", name)
    yield name
    subprocess.run(["zfs", "destroy", "-R", name], check=False, capture_output=True)


@pytest.fixture
def zfs() -> CliBackend:
    return CliBackend()
