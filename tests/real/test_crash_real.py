"""SIGKILL after each step, on real pools; at restart, recovery leaves ZFS consistent and the
transaction in a terminal state that says what happened."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import zfsyncd.ops  # noqa: F401 - registers the snapshot kind
from tests.contract.world import World
from tests.engine.scenario import CompoundKind, prepare_world
from zfsyncd.store import Database, TxState
from zfsyncd.tx.hosts import local_hosts
from zfsyncd.tx.kinds import TX_KINDS
from zfsyncd.tx.manager import TransactionManager
from zfsyncd.zfs.cli import CliBackend

REPO = Path(__file__).resolve().parents[2]


def _killed_after(db: Path, tx_type: str, params: dict[str, object], step: int | str) -> str:
    child = subprocess.run(
        [sys.executable, "-m", "tests.real.crash_child", str(db), tx_type, json.dumps(params),
         str(step)],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    return child.stdout.split()[0]


async def _recover(db_path: Path) -> TransactionManager:
    db = await Database.open(db_path)
    return TransactionManager(
        db, local_hosts(CliBackend()), kinds={**TX_KINDS, "compound": CompoundKind()}
    )


@pytest.mark.parametrize("step", [0, 1])
async def test_snapshot_transaction_killed_after_each_step(
    world: World, tmp_path: Path, step: int
) -> None:
    src = world.src
    await world.zfs.create(f"{src}/a")
    before = await world.state(src)
    db = tmp_path / "zfsyncd.db"
    tx_id = _killed_after(db, "snapshot", {"datasets": [f"{src}/a"], "hold": True}, step)
    manager = await _recover(db)
    try:
        [done] = await manager.recover()
        assert done.id == tx_id
        if step == 1:  # the last step had finished: the work is whole, so it completes
            assert done.state is TxState.COMPLETED
            assert await world.zfs.exists(f"{src}/a@zfsync_{tx_id}")
        else:
            assert done.state is TxState.FAILED
            assert (
                done.error == "interrupted: zfsyncd stopped during between steps; undone at restart"
                or "undone at restart" in (done.error or "")
            )
            assert await world.state(src) == before
    finally:
        await manager.db.close()


@pytest.mark.parametrize("step", range(10))  # after every one of its 10 steps
async def test_compound_transaction_killed_after_a_step(
    world: World, tmp_path: Path, step: int
) -> None:
    src, dst = world.src, world.dst
    await prepare_world(world, src)
    before = await world.state(src, dst)
    db = tmp_path / "zfsyncd.db"
    tx_id = _killed_after(db, "compound", {"src": src, "dst": dst}, step)
    manager = await _recover(db)
    try:
        [done] = await manager.recover()
        assert done.id == tx_id
        if step == 9:
            assert done.state is TxState.COMPLETED
            assert not await world.zfs.exists(f"{src}/base#mark0")  # finalized
        else:
            assert done.state is TxState.FAILED
            assert done.error_kind == "interrupted"
            assert await world.state(src, dst) == before
        assert (await manager.audit.list(tx_id=tx_id))[0].caller == "recovery"
    finally:
        await manager.db.close()
