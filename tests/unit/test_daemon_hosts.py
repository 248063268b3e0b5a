"""The daemon builds its hosts from the configuration: local always, each [hosts.NAME] over
ssh, and nothing is started by building them."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import pytest

from zfsyncd import config
from zfsyncd.config import load
from zfsyncd.daemon import build_hosts
from zfsyncd.tx.hosts import LOCAL
from zfsyncd.zfs.cli import CliBackend
from zfsyncd.zfs.memory import MemoryBackend

CONFIG = """
zfs_command = "/usr/sbin/zfs"

[hosts.backup]
address = "backup.example.org"
user = "zfsync"
zfs_command = "/sbin/zfs"
"""


@pytest.fixture(autouse=True)
def _nothing_starts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(config, "DEFAULT_PATH", tmp_path / "absent.toml")

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"building the hosts started {args}")

    monkeypatch.setattr(asyncio, "create_subprocess_exec", refuse)
    monkeypatch.setattr(subprocess, "Popen", refuse)


def _config(tmp_path: Path, text: str) -> config.DaemonConfig:
    path = tmp_path / "zfsyncd.toml"
    path.write_text(text)
    return load(path)


def test_the_cli_backend_reaches_each_host_through_its_transport(tmp_path: Path) -> None:
    hosts = build_hosts(_config(tmp_path, CONFIG))
    assert sorted(hosts) == ["backup", LOCAL]
    local, backup = hosts[LOCAL], hosts["backup"]
    assert (local.name, backup.name) == (LOCAL, "backup")
    assert isinstance(local.zfs, CliBackend)
    assert isinstance(backup.zfs, CliBackend)
    assert (local.zfs.zfs, backup.zfs.zfs) == ("/usr/sbin/zfs", "/sbin/zfs")
    assert local.commands.command(["rsync", "-a"]) == ["rsync", "-a"]
    remote = ["ssh", "-o", "BatchMode=yes", "--", "zfsync@backup.example.org", "rsync -a"]
    assert backup.commands.command(["rsync", "-a"]) == remote
    # zfs commands and the host's other commands go the same way
    assert backup.zfs.runner is backup.commands


async def test_the_memory_backend_gives_each_host_its_own_model(tmp_path: Path) -> None:
    text = f'backend = "memory"\nmemory_pools = ["tank"]\n{CONFIG}'
    hosts = build_hosts(_config(tmp_path, text))
    local, backup = hosts[LOCAL].zfs, hosts["backup"].zfs
    assert isinstance(local, MemoryBackend)
    assert isinstance(backup, MemoryBackend)
    assert local is not backup
    assert [p.name for p in await local.list(depth=0)] == ["tank"]
    assert await backup.list(depth=0) == []


def test_without_hosts_only_the_local_one(tmp_path: Path) -> None:
    assert list(build_hosts(load())) == [LOCAL]
