"""The engine under test: a TransactionManager on a real SQLite file, over the world's
backend (the model, or real pools in the lab) wrapped for fault injection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import zfsyncd.ops  # noqa: F401 - registers the transaction kinds (snapshot)
from tests.contract.world import World, backend_kind
from tests.engine.scenario import CompoundKind
from tests.faults import FaultyBackend
from tests.leaks import no_leaked_connections  # noqa: F401 - autouse: no open SQLite left
from zfsyncd.store import Database
from zfsyncd.tx.hosts import local_hosts
from zfsyncd.tx.kinds import TX_KINDS, TxKind
from zfsyncd.tx.manager import TransactionManager
from zfsyncd.tx.retry import RetryPolicy
from zfsyncd.tx.steps import fill

#: no waiting between attempts in tests; the attempts themselves are what is tested
FAST = RetryPolicy(attempts=3, first_delay=0.0)


@dataclass
class Engine:
    world: World
    zfs: FaultyBackend
    path: Path
    db: Database
    manager: TransactionManager
    kinds: dict[str, TxKind] = field(default_factory=dict)

    @classmethod
    async def start(cls, world: World, path: Path, zfs: FaultyBackend | None = None) -> Engine:
        zfs = zfs or FaultyBackend(world.zfs)
        kinds: dict[str, TxKind] = {**TX_KINDS, "compound": CompoundKind()}
        db = await Database.open(path)
        try:
            manager = TransactionManager(
                db, local_hosts(zfs), do_retry=FAST, undo_retry=FAST, kinds=kinds, max_parallel=4
            )
        except BaseException:
            await db.close()  # an open connection's thread would hang the run at exit
            raise
        return cls(world, zfs, path, db, manager, kinds)

    async def restart(self) -> Engine:
        """What a daemon restart sees: the same database file and the same ZFS, a new
        manager with nothing in memory (the old one is dropped, as a killed process is)."""
        await self.db.close()
        self.zfs.heal()
        self.zfs.crash_after(-1)
        return await Engine.start(self.world, self.path, self.zfs)

    async def close(self) -> None:
        if not self.db.closed:
            await self.manager.shutdown()
            await self.db.close()


@pytest.fixture(autouse=True)
def _fill_mounts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On the model, a dataset "mounted" at its fill mountpoint has no mount: the fill step's
    rsync writes into a directory of the test's instead of /run/zfsync/fill (real ZFS
    mounts the dataset there, and creates the directory)."""
    if backend_kind() == "memory":
        monkeypatch.setattr(fill, "FILL_ROOT", str(tmp_path / "fill"))
        (tmp_path / "fill").mkdir(exist_ok=True)


@pytest.fixture
async def engine(world: World, tmp_path: Path) -> AsyncIterator[Engine]:
    eng = await Engine.start(world, tmp_path / "zfsyncd.db")
    yield eng
    await eng.close()
