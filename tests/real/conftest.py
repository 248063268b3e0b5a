"""The real-ZFS tier: runs only inside the OpenZFS lab guest (ZFSYNC_TEST_BACKEND=real).

Its pools are its own (`zreal`, and `zloop` on the far side of the guest's sshd), so they
cannot meet the contract suite's pools in the same run.
"""

from __future__ import annotations

import itertools
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.real.realzfs import zfs_cli
from tests.real.ssh import HOST, loop_config
from zfsyncd.config import DaemonConfig, HostConfig
from zfsyncd.daemon import build_hosts
from zfsyncd.tx.hosts import Host
from zfsyncd.zfs.cli import CliBackend

REAL = os.environ.get("ZFSYNC_TEST_BACKEND") == "real"
if not REAL:
    # on the host there is no zfs: these files are for the lab guest (tests/lab/)
    collect_ignore_glob = ["test_*.py"]

POOL = "zreal"
#: the second pool, which the ssh transport tests reach through sshd on 127.0.0.1
LOOP_POOL = "zloop"
IMAGES = Path("/var/tmp/zfsyncd-real")
_counter = itertools.count()


def _file_pool(name: str, size: str) -> Iterator[str]:
    IMAGES.mkdir(parents=True, exist_ok=True)
    image = IMAGES / f"{name}.img"
    subprocess.run(["truncate", "-s", size, str(image)], check=True)
    zfs_cli("zpool", "create", "-f", "-o", "ashift=12", "-O", f"mountpoint=/mnt/{name}",
            name, str(image))  # fmt: skip
    yield name
    subprocess.run(["zpool", "destroy", "-f", name], check=False)
    image.unlink(missing_ok=True)


def _fresh_dataset(pool: str) -> Iterator[str]:
    name = f"{pool}/t{next(_counter)}"
    zfs_cli("zfs", "create", name)
    yield name
    subprocess.run(["zfs", "destroy", "-R", name], check=False, capture_output=True)


@pytest.fixture(scope="session")
def pool() -> Iterator[str]:
    yield from _file_pool(POOL, "768M")


@pytest.fixture
def root(pool: str) -> Iterator[str]:
    """A fresh dataset per test, destroyed (with everything below it) afterwards."""
    yield from _fresh_dataset(pool)


@pytest.fixture(scope="session")
def loop_pool() -> Iterator[str]:
    yield from _file_pool(LOOP_POOL, "512M")


@pytest.fixture
def loop_root(loop_pool: str) -> Iterator[str]:
    """A fresh dataset per test on the pool the ssh tests reach through sshd (made and
    destroyed directly: the same machine, outside the code under test)."""
    yield from _fresh_dataset(loop_pool)


@pytest.fixture(scope="session")
def ssh_config(tmp_path_factory: pytest.TempPathFactory) -> DaemonConfig:
    """The daemon's configuration with `[hosts.loop]`: ssh to the guest's own sshd."""
    return loop_config(tmp_path_factory.mktemp("ssh"))


@pytest.fixture(scope="session")
def loop_host_config(ssh_config: DaemonConfig) -> HostConfig:
    """`[hosts.loop]`: address 127.0.0.1, its port, user and ssh options."""
    return ssh_config.hosts[HOST]


@pytest.fixture
def ssh_hosts(ssh_config: DaemonConfig) -> dict[str, Host]:
    """`local` and `loop`, as the daemon builds them (fresh runners per test): what a
    TransactionManager takes to replicate to `loop:DATASET`."""
    return build_hosts(ssh_config)


@pytest.fixture
def loop_host(ssh_hosts: dict[str, Host]) -> Host:
    return ssh_hosts[HOST]


@pytest.fixture
def zfs() -> CliBackend:
    return CliBackend()
