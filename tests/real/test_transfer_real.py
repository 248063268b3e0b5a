"""The send|recv pipe on real pools: exact byte counts, remote transports, lost connections."""

from __future__ import annotations

import asyncio
import subprocess

import pytest

from tests.real.realzfs import write_file, zfs_cli
from zfsyncd.commands.runner import CommandRunner, Transport
from zfsyncd.zfs import errors
from zfsyncd.zfs.cli import CliBackend
from zfsyncd.zfs.models import RecvSpec, SendSpec, TransferProgress

# What sshd does with the command ssh sends: hand it, as one string, to a shell.
REMOTE_SHELL = Transport(prefix=("sh", "-c"), remote_shell=True, label="shell")


def _wc(*send_args: str) -> int:
    out = subprocess.run(
        ["sh", "-c", 'zfs send "$@" | wc -c', "sh", *send_args],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return int(out.stdout)


async def test_bytes_counted_are_the_stream_bytes(zfs: CliBackend, root: str) -> None:
    src = f"{root}/src"
    await zfs.create(src)
    write_file(src, "blob", 24)
    await zfs.snapshot([f"{src}@a"])
    seen: list[TransferProgress] = []
    result = await zfs.send_recv(
        SendSpec(snapshot=f"{src}@a"), zfs, RecvSpec(target=f"{root}/dst"), progress=seen.append
    )
    assert result.bytes_done == _wc("-c", "-L", "-e", f"{src}@a")
    # the size the send's own -vP reported before its first byte: what -nvP predicts, in
    # every progress report
    assert result.bytes_estimated == await zfs.send_estimate(SendSpec(snapshot=f"{src}@a"))
    assert {p.bytes_total for p in seen} == {result.bytes_estimated}
    # -nvP is an estimate: close to the stream, not equal
    assert abs(result.bytes_done - (result.bytes_estimated or 0)) < result.bytes_done * 0.05
    assert seen[-1].bytes_done == result.bytes_done
    assert [p.bytes_done for p in seen] == sorted(p.bytes_done for p in seen)
    assert (await zfs.get(f"{root}/dst@a")).guid == (await zfs.get(f"{src}@a")).guid


async def test_a_remote_shell_transport_carries_names_exactly(zfs: CliBackend, root: str) -> None:
    remote = CliBackend(CommandRunner(transport=REMOTE_SHELL))
    src = f"{root}/with space"  # valid in ZFS, and a classic way to break a remote command
    await remote.create(src, properties={"zfsync:note": "it's $(not) `run`"})
    await remote.snapshot([f"{src}@s 1"])
    await zfs.send_recv(
        SendSpec(snapshot=f"{src}@s 1", properties=True), remote, RecvSpec(target=f"{root}/cp y")
    )
    copied = await remote.get(f"{root}/cp y@s 1", user_properties=["zfsync:note"])
    assert copied.guid == (await zfs.get(f"{src}@s 1")).guid
    props = await zfs.get_properties(f"{root}/cp y", ["zfsync:note"])
    assert props["zfsync:note"].value == "it's $(not) `run`"


async def test_a_lost_connection_leaves_a_resumable_receive(zfs: CliBackend, root: str) -> None:
    src, dst = f"{root}/src", f"{root}/dst"
    await zfs.create(src)
    write_file(src, "blob", 16)
    await zfs.snapshot([f"{src}@a"])
    # a "connection" that carries 3 MB of a receive's stream, then drops, as ssh reports it
    drop = 'head -c 3000000 | "$0" "$@"; echo "Connection to peer closed." >&2; exit 255'
    flaky = Transport(
        prefix=("sh", "-c", f'if [ "$1" = receive ]; then {drop}; else exec "$0" "$@"; fi'),
        label="flaky",
    )
    target = CliBackend(CommandRunner(transport=flaky))
    with pytest.raises(errors.ConnectionLostError) as info:
        await zfs.send_recv(SendSpec(snapshot=f"{src}@a"), target, RecvSpec(target=dst))
    assert info.value.transient
    assert info.value.transfer is not None
    token = (await zfs.get(dst)).receive_resume_token
    assert token, "recv -s kept no partial state"
    await zfs.send_recv(SendSpec(resume_token=token), zfs, RecvSpec(target=dst))
    assert (await zfs.get(f"{dst}@a")).guid == (await zfs.get(f"{src}@a")).guid
    assert (await zfs.get(dst)).receive_resume_token is None


async def test_cancel_mid_stream_keeps_the_partial_receive(zfs: CliBackend, root: str) -> None:
    src, dst = f"{root}/src", f"{root}/dst"
    await zfs.create(src)
    write_file(src, "blob", 48)
    await zfs.snapshot([f"{src}@a"])
    moving = asyncio.Event()

    def progress(p: TransferProgress) -> None:
        if p.bytes_done > 4_000_000:  # a cut before any data arrived leaves no state
            moving.set()

    task = asyncio.create_task(
        zfs.send_recv(SendSpec(snapshot=f"{src}@a"), zfs, RecvSpec(target=dst), progress=progress)
    )
    await asyncio.wait_for(moving.wait(), 120)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (await zfs.get(dst)).receive_resume_token
    await zfs.recv_abort(dst)
    assert not await zfs.exists(dst)  # aborting a full receive removes what it made


async def test_send_side_failures_name_the_send_side(zfs: CliBackend, root: str) -> None:
    await zfs.create(f"{root}/src")
    await zfs.snapshot([f"{root}/src@a"])
    token_of_nothing = "1-" + "0" * 8 + "-" + "0" * 4 + "-789c"
    with pytest.raises(errors.StaleResumeTokenError):
        await zfs.send_recv(
            SendSpec(resume_token=token_of_nothing), zfs, RecvSpec(target=f"{root}/d")
        )
    assert not await zfs.exists(f"{root}/d")


async def test_the_real_version_has_every_feature(zfs: CliBackend) -> None:
    from zfsyncd.zfs.capabilities import Feature

    caps = await zfs.capabilities()
    assert caps.version >= (2, 3, 0)
    assert all(caps.has(f) for f in Feature)
    assert zfs_cli("zfs", "version").startswith("zfs-2.3")
