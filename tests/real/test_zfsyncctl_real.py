"""The whole service on real OpenZFS: zfsyncd (backend "cli") on a private system bus with
real polkitd in the lab guest, driven by zfsyncctl: a held recursive snapshot watched with
progress, its rollback, and a refused change; each time `zfs list -t all` (names, guids,
user properties, holds) is read with the zfs command itself and compared."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.real.realzfs import zfs_cli
from tests.system.conftest import nobody, system_bus  # noqa: F401 - the fixtures, shared
from tests.system.daemon import Daemon, start_daemon
from tests.system.harness import SystemBus, User


def _state(root: str) -> list[tuple[str, ...]]:
    """`zfs list -t all` under root, plus every snapshot's holds: what must not change."""
    rows = zfs_cli(
        "zfs", "list", "-H", "-p", "-r", "-t", "all", "-o", "name,guid,userrefs", root
    ).splitlines()
    snapshots = [r.split("\t")[0] for r in rows if "@" in r]
    # `zfs holds` with no snapshot named is a usage error
    holds = zfs_cli("zfs", "holds", "-H", "-r", *snapshots) if snapshots else ""
    return sorted(tuple(r.split("\t")) for r in rows) + sorted(
        tuple(h.split("\t")[:2]) for h in holds.splitlines()
    )


@pytest.fixture
async def daemon(
    system_bus: SystemBus,  # noqa: F811
    tmp_path: Path,
) -> AsyncIterator[Daemon]:
    started = await start_daemon(system_bus, tmp_path, backend="cli", memory_pools=[])
    yield started
    assert started.proc.poll() is None, started.log()
    assert system_bus.stop(started.proc) == 0, started.log()


async def test_zfsyncctl_on_real_pools(
    daemon: Daemon,
    root: str,
    nobody: User,  # noqa: F811
) -> None:
    zfs_cli("zfs", "create", f"{root}/a")
    zfs_cli("zfs", "create", f"{root}/a/b")
    zfs_cli("zfs", "snapshot", f"{root}/a@manual")
    before = _state(root)

    made = daemon.ctl("snapshot", "create", "-r", "--hold", f"{root}/a")
    assert made.returncode == 0, made.stderr
    assert "100%" in made.stderr  # the progress it showed while it waited
    tx = daemon.ctl_json("transaction", "list", "--limit", "1")[0]
    assert tx["state"] == "COMPLETED"
    short = f"zfsync_{tx['id']}"
    for dataset in (f"{root}/a", f"{root}/a/b"):
        assert zfs_cli("zfs", "get", "-H", "-o", "value", "guid", f"{dataset}@{short}")
        assert short in zfs_cli("zfs", "holds", "-H", f"{dataset}@{short}")
    listed = {r["name"] for r in daemon.ctl_json("snapshot", "list", f"{root}/a")}
    assert listed == {f"{root}/a@{short}", f"{root}/a/b@{short}"}

    # nobody: refused, and ZFS is as it was
    during = _state(root)
    refused = daemon.ctl("transaction", "rollback", tx["id"], "--no-ask-password", user=nobody)
    assert refused.returncode == 3, refused.stderr
    assert "may not roll back transactions" in refused.stderr
    assert _state(root) == during

    back = daemon.ctl("transaction", "rollback", tx["id"])
    assert back.returncode == 0, back.stderr
    assert _state(root) == before


async def test_a_missing_dataset_or_snapshot_is_not_found_on_real_pools(
    daemon: Daemon, root: str
) -> None:
    """Exit 4 (NotFound) alike for create, destroy and list, and ZFS as it was."""
    before = _state(root)
    for args in (
        ("snapshot", "create", f"{root}/missing"),
        ("snapshot", "destroy", f"{root}@zfsync_missing"),
        ("snapshot", "list", f"{root}/missing"),
    ):
        done = daemon.ctl(*args)
        assert done.returncode == 4, (args, done.stderr)
        assert "does not exist" in done.stderr, (args, done.stderr)
    assert _state(root) == before
