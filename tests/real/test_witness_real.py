"""Issue 14's "done when" on real pools: three zfsyncd engines with pools of different names
(`wtank`, `wbackup`, `wvault`, file-backed in the guest) in one sync group of a real
witness (the service's app in-process, SQLite; tests/engine/witness_trio.py). Each engine
reaches the other two as configured hosts over the guest's sshd on 127.0.0.1 (as
tests/real/test_replica_daemon_ssh_real.py's daemon does), so every instruction is a
witness-receive transaction whose `zfs send` runs over ssh and whose `zfs receive` runs
here. A snapshot made by a transaction on `a` reaches `b` and `c` with its guid; then a
divergence (a2 on a, b2 on b a second later) is resolved by use_newest: a's copy is rolled
back by the swap and receives b2, c receives b2; every pool ends with the same guids.
The model runs every conflict kind and strategy (tests/engine/test_witness_client.py);
this is what only real ZFS and real ssh can show.

One test: each ssh login and zfs command is seconds under TCG.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engine.witness_trio import Trio, completed, start
from tests.real.conftest import _file_pool
from tests.real.realzfs import write_file, zfs_cli
from zfsyncd.commands.runner import CommandRunner
from zfsyncd.config import HostConfig
from zfsyncd.store import TxState
from zfsyncd.tx.hosts import Host
from zfsyncd.zfs.backend import ZfsBackend
from zfsyncd.zfs.cli import CliBackend

POOLS = {"a": "wtank", "b": "wbackup", "c": "wvault"}
RECEIVE = "witness-receive"


@pytest.fixture
def pools() -> Iterator[dict[str, str]]:
    with contextlib.ExitStack() as stack:
        for pool in POOLS.values():
            stack.enter_context(contextlib.contextmanager(_file_pool)(pool, "256M"))
        yield POOLS


def _over_ssh(config: HostConfig, label: str) -> Host:
    """Another host as the daemon builds it (zfsyncd.daemon._host): its zfs through ssh."""
    runner = CommandRunner(transport=config.transport())
    return Host(label, CliBackend(runner, zfs=config.zfs_command), runner)


def _guids(dataset: str) -> list[tuple[str, str]]:
    out = zfs_cli("zfs", "list", "-H", "-p", "-t", "snapshot", "-o", "name,guid", "-s",
                  "createtxg", "-d", "1", dataset)  # fmt: skip
    return [(line.split("\t")[0].split("@")[1], line.split("\t")[1]) for line in out.splitlines()]


@pytest.mark.timeout(900)
async def test_three_hosts_with_different_pools_follow_the_witness_over_ssh(
    pools: dict[str, str], loop_host_config: HostConfig, tmp_path: Path
) -> None:
    local: dict[str, ZfsBackend] = {n: CliBackend() for n in pools}
    t: Trio = await start(
        tmp_path,
        backends=local,
        reach=lambda _viewer, other: _over_ssh(loop_host_config, other),
        pools=pools,
    )
    try:
        await t.group("use_newest")
        a = t["a"]
        zfs_cli("zfs", "create", "wtank/data")
        write_file("wtank/data", "one", 2)
        made = await a.manager.submit("snapshot", {"datasets": ["wtank/data"]})
        assert (await a.manager.wait(made.id)).state is TxState.COMPLETED
        await t.settle()
        first = _guids("wtank/data")
        assert len(first) == 1
        assert _guids("wbackup/data") == first == _guids("wvault/data")
        assert [len(await completed(t[n], RECEIVE)) for n in "bc"] == [1, 1]
        # the divergence: a2 on a (new data), b2 on b a second later; use_newest: b's wins
        write_file("wtank/data", "two", 1)
        zfs_cli("zfs", "snapshot", "wtank/data@a2")
        await asyncio.sleep(1.1)  # creation times are whole seconds: b2 must be later than a2
        zfs_cli("zfs", "snapshot", "wbackup/data@b2")
        await t.settle()
        history = _guids("wbackup/data")
        assert [short for short, _ in history] == [first[0][0], "b2"]
        assert _guids("wtank/data") == history == _guids("wvault/data")
        forced = (await completed(a, RECEIVE))[-1]
        assert (forced.params["base"], forced.params["force"]) == (first[0][0], True)
        assert not [line for line in zfs_cli("zfs", "list", "-H", "-o", "name", "-r", "wtank")
                    .splitlines() if "trash" in line]  # fmt: skip
        assert await t.conflicts() == []
    finally:
        await t.close()
