"""Failures only real ZFS produces: permissions, busy mounts, full pools, modified targets."""

from __future__ import annotations

import subprocess

import pytest

from tests.real.realzfs import write_file, zfs_cli
from zfsyncd.commands.runner import CommandRunner, Transport
from zfsyncd.zfs import errors
from zfsyncd.zfs.cli import CliBackend
from zfsyncd.zfs.models import RecvSpec, SendSpec


def _state(dataset: str) -> str:
    return zfs_cli("zfs", "list", "-Hp", "-t", "all", "-r", "-o", "name,guid,userrefs", dataset)


async def test_an_unprivileged_caller_is_refused_and_nothing_changes(root: str) -> None:
    nobody = Transport(prefix=("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"))
    zfs = CliBackend(CommandRunner(transport=nobody))
    before = _state(root)
    with pytest.raises(errors.PermissionDeniedError, match="must be run as root"):
        await zfs.snapshot([f"{root}@nope"])
    assert _state(root) == before


async def test_a_filesystem_in_use_cannot_be_destroyed(zfs: CliBackend, root: str) -> None:
    busy = f"{root}/busy"
    await zfs.create(busy)
    mountpoint = zfs_cli("zfs", "get", "-H", "-o", "value", "mountpoint", busy).strip()
    holder = subprocess.Popen(["sleep", "60"], cwd=mountpoint)
    try:
        with pytest.raises(errors.MountedBusyError) as info:
            await zfs.destroy(busy)
        assert info.value.transient
    finally:
        holder.kill()
        holder.wait()
    await zfs.destroy(busy)


async def test_a_modified_target_refuses_an_incremental(zfs: CliBackend, root: str) -> None:
    src, dst = f"{root}/src", f"{root}/dst"
    await zfs.create(src)
    await zfs.snapshot([f"{src}@a"])
    await zfs.send_recv(SendSpec(snapshot=f"{src}@a"), zfs, RecvSpec(target=dst, mount=True))
    write_file(src, "more", 1)
    await zfs.snapshot([f"{src}@b"])
    write_file(dst, "local-change", 1)
    before = _state(dst)
    with pytest.raises(errors.DestinationModifiedError):
        await zfs.send_recv(
            SendSpec(snapshot=f"{src}@b", base=f"{src}@a"), zfs, RecvSpec(target=dst)
        )
    assert _state(dst) == before


async def test_a_full_quota_is_pool_full(zfs: CliBackend, root: str) -> None:
    src, small = f"{root}/src", f"{root}/small"
    await zfs.create(src)
    write_file(src, "blob", 8)
    await zfs.snapshot([f"{src}@a"])
    await zfs.create(small, properties={"quota": str(2 * 1024 * 1024)})
    with pytest.raises(errors.PoolFullError):
        await zfs.send_recv(
            SendSpec(snapshot=f"{src}@a"), zfs, RecvSpec(target=f"{small}/copy", resumable=False)
        )
    assert not await zfs.exists(f"{small}/copy")
