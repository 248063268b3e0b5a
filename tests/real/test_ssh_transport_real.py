"""The CliBackend over real ssh: `[hosts.loop]`, the guest's own sshd on 127.0.0.1.

What issue 10 asks of the transport before any replication runs on it: reading, changing
and receiving on another host through the configured ssh command, with names carried
exactly, and a connection that drops mid-stream leaving a receive that `zfs send -t`
finishes. Each test is many ssh logins under TCG, so the checks are grouped into two.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.real.realzfs import write_file, zfs_cli
from zfsyncd.tx.hosts import Host
from zfsyncd.zfs import errors
from zfsyncd.zfs.cli import CliBackend
from zfsyncd.zfs.models import ObjectType, RecvSpec, SendSpec, TransferProgress

TAG = "zfsync_test"


def _remote(host: Host) -> tuple[CliBackend, list[Sequence[str]]]:
    """The host's backend and the argv of every command it starts from now on."""
    assert isinstance(host.zfs, CliBackend)
    ran: list[Sequence[str]] = []
    host.zfs.runner.observers.append(ran.append)
    return host.zfs, ran


async def _snapshot_guids(zfs: CliBackend, dataset: str) -> list[tuple[str, int]]:
    found = await zfs.list(dataset, types=[ObjectType.SNAPSHOT])
    return [(o.name.split("@", 1)[1], o.guid) for o in found]


async def test_list_snapshot_holds_and_send_recv_through_ssh(
    zfs: CliBackend, root: str, loop_host: Host, loop_root: str
) -> None:
    remote, ran = _remote(loop_host)
    # reading: the far pool as zfs itself lists it there
    assert [o.name for o in await remote.list(loop_root)] == [loop_root]

    # changing, with a name and a value that a remote shell would split or run
    made = f"{loop_root}/with space"
    note = "it's $(not) `run`; & neither | this"
    await remote.create(made, properties={"zfsync:note": note})
    await remote.snapshot([f"{made}@s 1", f"{loop_root}@s 1"])
    await remote.hold(TAG, [f"{made}@s 1", f"{loop_root}@s 1"])
    held = await remote.holds_many([f"{loop_root}@s 1"], recursive=True)
    assert [(h.snapshot, h.tag) for h in held] == [
        (f"{loop_root}/with space@s 1", TAG),
        (f"{loop_root}@s 1", TAG),
    ]
    # the ground truth, read without ssh (it is the same machine)
    assert zfs_cli("zfs", "holds", "-H", f"{made}@s 1").split("\t")[1] == TAG
    assert (await remote.get_properties(made, ["zfsync:note"]))["zfsync:note"].value == note
    await remote.release(TAG, [f"{made}@s 1", f"{loop_root}@s 1"])
    assert await remote.holds_many([f"{made}@s 1", f"{loop_root}@s 1"]) == []

    # send_recv: a full stream, then -I with an intermediate snapshot, into the far pool
    src, dst = f"{root}/src", f"{loop_root}/dst"
    await zfs.create(src)
    write_file(src, "blob", 8)
    await zfs.snapshot([f"{src}@a"])
    full = await zfs.send_recv(SendSpec(snapshot=f"{src}@a"), remote, RecvSpec(target=dst))
    for name in ("b", "c"):
        write_file(src, name, 1)
        await zfs.snapshot([f"{src}@{name}"])
    await zfs.send_recv(
        SendSpec(snapshot=f"{src}@c", base=f"{src}@a"), remote, RecvSpec(target=dst)
    )
    assert full.bytes_done > 8 << 20
    mine = await _snapshot_guids(zfs, src)
    assert [name for name, _ in mine] == ["a", "b", "c"]
    assert await _snapshot_guids(remote, dst) == mine

    # every command of the far side went through ssh to the configured host, as one
    # quoted string for its shell
    assert all(argv[0] == "ssh" and argv[-2] == "zfsync@127.0.0.1" for argv in ran), ran
    verbs = {argv[-1].split()[1] for argv in ran}
    assert verbs >= {"list", "create", "snapshot", "hold", "holds", "get", "release", "receive"}


def _command_of(pid: int) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []


def _parent(pid: int) -> tuple[int, str]:
    """(parent pid, parent's comm) from /proc; (0, "") once the chain ends or vanishes."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        return parent, Path(f"/proc/{parent}/comm").read_text().strip()
    except (OSError, ValueError, IndexError):
        return 0, ""


def _receive_and_its_sshd(target: str) -> tuple[int, int]:
    """The pid of the far side's `zfs receive ... TARGET` and of the sshd process serving
    it (its nearest sshd ancestor: the connection's session process)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        argv = _command_of(int(entry.name))
        if len(argv) > 2 and os.path.basename(argv[0]) == b"zfs" and argv[1] == b"receive":
            if target.encode() not in argv:
                continue
            pid = int(entry.name)
            parent, comm = _parent(pid)
            while parent > 1 and comm != "sshd":
                parent, comm = _parent(parent)
            if comm == "sshd":
                return pid, parent
    raise AssertionError(f"no zfs receive of {target} under an sshd")


async def _exited(pid: int) -> None:
    """Until `pid` has exited (the orphaned receive still saves its state when the stream
    ends; the token is only there once it has). A pidfd turns readable at the exit."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    exited = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_reader(pidfd, exited.set)
    try:
        await exited.wait()
    finally:
        loop.remove_reader(pidfd)
        os.close(pidfd)


async def test_a_cut_ssh_connection_leaves_a_token_that_send_t_completes(
    zfs: CliBackend, root: str, loop_host: Host, loop_root: str
) -> None:
    remote, _ = _remote(loop_host)
    src, dst = f"{root}/src", f"{loop_root}/dst"
    await zfs.create(src)
    write_file(src, "blob", 64)
    await zfs.snapshot([f"{src}@a"])
    moving = asyncio.Event()

    def progress(p: TransferProgress) -> None:
        if p.bytes_done > 4 << 20:  # a cut before any data arrived leaves no state
            moving.set()

    first = SendSpec(snapshot=f"{src}@a")
    transfer = asyncio.create_task(
        zfs.send_recv(first, remote, RecvSpec(target=dst), progress=progress)
    )
    await asyncio.wait_for(moving.wait(), 300)
    receive, sshd = _receive_and_its_sshd(dst)
    # the connection dies on the far side, as when the network or the peer goes away: the
    # client only sees it closed
    os.kill(sshd, signal.SIGKILL)
    with pytest.raises(errors.ConnectionLostError) as info:
        await transfer
    assert info.value.transient
    assert info.value.transfer is not None
    await asyncio.wait_for(_exited(receive), 120)

    token = (await remote.get(dst)).receive_resume_token
    assert token, "the cut receive kept no resumable state"
    assert not await remote.exists(f"{dst}@a")
    rest = await zfs.send_recv(SendSpec(resume_token=token), remote, RecvSpec(target=dst))
    whole = await zfs.send_estimate(first)
    assert 0 < rest.bytes_done < whole  # only what the cut one had not delivered
    assert (await remote.get(f"{dst}@a")).guid == (await zfs.get(f"{src}@a")).guid
    assert (await remote.get(dst)).receive_resume_token is None
