"""Issue 14's "done when" on real pools: three zfsyncd engines with pools of different names
(`wtank`, `wbackup`, `wvault`, file-backed in the guest) in one sync group of a real
witness (the service's app in-process, SQLite; tests/engine/witness_trio.py). Each engine
reaches the other two as configured hosts over the guest's sshd on 127.0.0.1 (as
tests/real/test_replica_daemon_ssh_real.py's daemon does), so every instruction is a
witness-receive transaction whose `zfs send` runs over ssh and whose `zfs receive` runs
here. A snapshot made by a transaction on `a` reaches `b` and `c` with its guid; then a
divergence (a2 on a, b2 on b a second later) is resolved by use_newest: a's copy is rolled
back by the swap and receives b2, c receives b2; every pool ends with the same guids.
Then, as tests/engine/test_witness_client.py's orphaned-and-missing test makes them, the
other two conflict kinds under `manual`: `other` created independently on a and b (no
common snapshot: orphaned) and b2 destroyed on c between two shared snapshots (missing).
Both are detected; while unresolved nothing runs and no pool changes; `resolve` naming b
replaces a's copy (moved to the trash, received whole from b, the trash gone once the
transaction completed) and gives c its first copy; use_majority then gives c b2 back
(rolled back to the base and received again). Every check reads the pools with plain zfs.
The model runs every conflict kind and strategy; this is what only real ZFS and real ssh
can show.

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


def _listing(pool: str) -> list[tuple[str, str]]:
    """(name below the pool, guid) of everything in `pool` (`zfs list -t all`), the pool's
    own name cut off so that pools of different names compare."""
    out = zfs_cli("zfs", "list", "-H", "-p", "-t", "all", "-o", "name,guid", "-r", pool)
    return [(name.removeprefix(pool), guid) for name, guid in (line.split("\t")
            for line in out.splitlines())]  # fmt: skip


def _snapshots(pool: str) -> dict[str, str]:
    """Name below the pool -> guid of `pool`'s snapshots (their guids are the same on
    every copy; a dataset's own guid is not)."""
    return {name: guid for name, guid in _listing(pool) if "@" in name}


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
        await _orphaned_and_missing_under_manual(t)
    finally:
        await t.close()


async def _orphaned_and_missing_under_manual(t: Trio) -> None:
    await t.set_strategy("manual")
    # s3 on a (no conflict: it reaches b and c); `other` made on a and on b on their own
    zfs_cli("zfs", "snapshot", "wtank/data@s3")
    for pool, short in (("wtank", "o1"), ("wbackup", "o1b")):
        zfs_cli("zfs", "create", f"{pool}/other")
        write_file(f"{pool}/other", short, 1)
        zfs_cli("zfs", "snapshot", f"{pool}/other@{short}")
    await t.settle()
    assert _snapshots("wtank")["/data@s3"] == _snapshots("wvault")["/data@s3"]
    assert not [name for name, _ in _listing("wvault") if name.startswith("/other")]
    zfs_cli("zfs", "destroy", "wvault/data@b2")  # between `first` and s3: missing on c
    listings = {p: _listing(p) for p in POOLS.values()}
    runs = [len(await t[n].manager.list(limit=None)) for n in "abc"]
    await t.settle()
    conflicts = {c["dataset"]: c for c in await t.conflicts()}
    assert {d: (c["kind"], c["status"]) for d, c in conflicts.items()} == {
        "data": ("missing", "open"),
        "other": ("orphaned", "open"),
    }
    assert {(row.dataset, row.kind) for row in await t["a"].client.conflicts()} == {
        ("data", "missing"),
        ("other", "orphaned"),
    }
    # unresolved under manual: no transaction ran, no pool changed
    assert [len(await t[n].manager.list(limit=None)) for n in "abc"] == runs
    assert {p: _listing(p) for p in POOLS.values()} == listings
    # resolve the orphaned one naming b: a's copy goes to the trash, b's comes whole
    [old] = [guid for name, guid in listings["wtank"] if name == "/other"]
    body = {"winner_system_id": t["b"].system_id}
    r = await t.witness.post(f"/conflicts/{conflicts['other']['id']}/resolve", json=body)
    assert r.status_code == 200, r.text
    await t.settle()
    other = {n: g for n, g in _snapshots("wbackup").items() if n.startswith("/other@")}
    assert list(other) == ["/other@o1b"]
    for pool in ("wtank", "wvault"):
        assert {n: g for n, g in _snapshots(pool).items() if n.startswith("/other")} == other
    [replaced] = [r for r in await completed(t["a"], RECEIVE) if "other" in r.params["target"]]
    assert (replaced.params["base"], replaced.params["force"]) == (None, True)
    moved = replaced.steps[0]  # the old copy to the trash first, then the full receive
    assert (moved.kind, moved.args["name"], moved.args["guid"]) == (
        "destroy-dataset",
        "wtank/other",
        int(old),
    )
    after = _listing("wtank")
    assert [g for n, g in after if n == "/other"] != [old]  # a new dataset, received
    assert not [n for n, _ in after if "trash" in n]
    assert [c["dataset"] for c in await t.conflicts()] == ["data"]  # missing: still open
    assert "/data@b2" not in _snapshots("wvault")
    # missing: use_majority (a and b hold b2) rolls c back to `first` and sends b2 and s3
    await t.set_strategy("use_majority")
    await t.settle()
    assert _snapshots("wtank") == _snapshots("wbackup") == _snapshots("wvault")
    rewound = (await completed(t["c"], RECEIVE))[-1]
    assert rewound.params["force"] is True
    assert rewound.params["base"] == _guids("wvault/data")[0][0]
    assert [short for short, _ in _guids("wvault/data")][1:] == ["b2", "s3"]
    assert not [n for p in POOLS.values() for n, _ in _listing(p) if "trash" in n]
    assert await t.conflicts() == []
