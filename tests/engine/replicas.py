"""What the replication engine tests share: a manager over two hosts, each its own model.

`local` has the pools `src` and `dst` (a replica between two pools of one host); `backup`
is another host with the pool `bak` (a replica to another machine: the steps name it, the
manager reaches it by its label). Each host's backend is wrapped twice: `Recorder` counts
every call (reads included) and keeps how many transfers run at once; `FaultyBackend`
breaks chosen changing calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import zfsyncd.ops  # noqa: F401 - registers the transaction kinds
from tests.contract.world import State, World, backend_kind
from tests.engine.conftest import FAST
from tests.faults import FaultyBackend
from zfsyncd.store import Database, TransactionRecord, TxState
from zfsyncd.tx.hosts import Host
from zfsyncd.tx.manager import TransactionManager
from zfsyncd.zfs.errors import StreamInterruptedError
from zfsyncd.zfs.memory import MemoryBackend
from zfsyncd.zfs.models import TransferProgress

KIB = 1 << 10

#: for the modules built on these models: in the lab they would run on the same models
#: (under software emulation, minutes for nothing new); the lab's real pools run the
#: operations in tests/real/test_replication_real.py instead
MODEL_ONLY = pytest.mark.skipif(
    backend_kind() == "real",
    reason="two hosts on the model; the lab runs replication on real pools in "
    "tests/real/test_replication_real.py",
)


class Recorder:
    """Counts every call made to a backend (name by name) and the most transfers that ran
    at once; passes itself through as a send_recv target by unwrapping."""

    def __init__(self, inner: MemoryBackend) -> None:
        self.inner = inner
        self.calls: list[str] = []
        self.running = 0
        self.most_at_once = 0
        self.sends: list[Any] = []
        #: each `hold` and `release`: (call, snapshots named, recursive)
        self.holds: list[tuple[str, list[str], bool]] = []
        #: cut the next transfer once this many bytes moved (a lost connection)
        self.cut_after: int | None = None

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name.startswith("_") or not inspect.iscoroutinefunction(attr):
            return attr

        async def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            if name in ("hold", "release"):
                self.holds.append((name, list(args[1]), bool(kwargs.get("recursive"))))
            if name != "send_recv":
                return await attr(*args, **kwargs)
            spec, target, *rest = args
            self.sends.append(spec)
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            try:
                inner = getattr(target, "inner", target)
                if self.cut_after is not None:
                    return await self._cut(attr, spec, inner, *rest, **kwargs)
                return await attr(spec, inner, *rest, **kwargs)
            finally:
                self.running -= 1

        return call

    async def _cut(self, send_recv: Any, spec: Any, target: Any, *rest: Any, **kwargs: Any) -> Any:
        """Run the transfer and cut it once `cut_after` bytes moved: the receive keeps its
        partial state (-s) and the caller sees the stream end early, as over a lost link."""
        limit, self.cut_after = self.cut_after, None
        moving = asyncio.Event()
        report = kwargs.pop("progress", None)

        def seen(progress: TransferProgress) -> None:
            if report is not None:
                report(progress)
            if progress.bytes_done >= (limit or 0):
                moving.set()

        transfer = asyncio.ensure_future(send_recv(spec, target, *rest, progress=seen, **kwargs))
        waiting = asyncio.ensure_future(moving.wait())
        await asyncio.wait({transfer, waiting}, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        if transfer.done():
            return transfer.result()
        transfer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await transfer
        raise StreamInterruptedError(
            ["zfs", "receive", "-s"],
            1,
            "cannot receive incremental stream: checksum mismatch or incomplete stream.\n"
            "Partially received snapshot is saved.",
        )


@dataclass
class Replicas:
    """The manager and the two hosts' models, wrappers and roots."""

    manager: TransactionManager
    db: Database
    local: MemoryBackend
    backup: MemoryBackend
    recorders: dict[str, Recorder]
    faults: dict[str, FaultyBackend]
    path: Path
    notes: list[str] = field(default_factory=list)

    @classmethod
    async def start(cls, path: Path, *, seed: int = 7) -> Replicas:
        local = MemoryBackend(pools=("src", "dst"), seed=seed)
        backup = MemoryBackend(pools=("bak",), seed=seed + 1)
        recorders = {"local": Recorder(local), "backup": Recorder(backup)}
        faults = {name: FaultyBackend(r) for name, r in recorders.items()}  # type: ignore[arg-type]
        return await cls._open(path, local, backup, recorders, faults)

    @classmethod
    async def _open(
        cls,
        path: Path,
        local: MemoryBackend,
        backup: MemoryBackend,
        recorders: dict[str, Recorder],
        faults: dict[str, FaultyBackend],
    ) -> Replicas:
        db = await Database.open(path)
        try:
            hosts = {name: Host(name, f) for name, f in faults.items()}  # type: ignore[arg-type]
            manager = TransactionManager(db, hosts, do_retry=FAST, undo_retry=FAST, max_parallel=4)
        except BaseException:
            await db.close()  # an open connection's thread would hang the run at exit
            raise
        return cls(manager, db, local, backup, recorders, faults, path)

    async def close(self) -> None:
        if not self.db.closed:
            await self.manager.shutdown()
            await self.db.close()

    def add_loop(self) -> None:
        """A third label, `loop`, for the local host's model: both ends of a pair on this
        machine, one reached through another host's label (the lab's loop host is
        127.0.0.1 over ssh)."""
        self.manager.hosts["loop"] = Host("loop", self.faults["local"])  # type: ignore[arg-type]

    def model(self, host: str) -> MemoryBackend:
        return self.local if host in ("local", "loop") else self.backup

    async def state(self, host: str, *roots: str) -> State:
        """What the fault harness compares: names, guids, properties, holds under `roots`."""
        return await World(self.model(host), "", "").state(*roots)

    async def everything(self) -> dict[str, State]:
        return {
            "local": await self.state("local", "src", "dst"),
            "backup": await self.state("backup", "bak"),
        }

    def calls(self) -> dict[str, list[str]]:
        return {name: list(r.calls) for name, r in self.recorders.items()}

    def forget_calls(self) -> None:
        for r in self.recorders.values():
            r.calls.clear()
            r.sends.clear()
            r.holds.clear()
            r.most_at_once = 0

    async def run(self, kind: str, params: dict[str, Any]) -> TransactionRecord:
        record = await self.manager.submit(kind, params)
        return await self.manager.wait(record.id)

    async def done(self, kind: str, params: dict[str, Any]) -> TransactionRecord:
        record = await self.run(kind, params)
        assert record.state is TxState.COMPLETED, record.error
        return record

    async def prepared_calls(self, kind: str, params: dict[str, Any]) -> dict[str, list[str]]:
        """The calls that preparing (planning) runs, per host; it then runs to its end."""
        record = await self.manager.create(kind, params)
        self.forget_calls()
        await self.manager.prepare(record.id)
        calls = self.calls()
        await self.manager.execute(record.id)
        done = await self.manager.wait(record.id)
        assert done.state is TxState.COMPLETED, done.error
        return calls


@pytest.fixture
async def replicas(tmp_path: Path) -> AsyncIterator[Replicas]:
    r = await Replicas.start(tmp_path / "zfsyncd.db")
    yield r
    await r.close()


async def filesystem(zfs: MemoryBackend, name: str, nbytes: int = 64 * KIB) -> str:
    await zfs.create(name)
    zfs.write(name, nbytes)
    return name


async def guids(zfs: MemoryBackend, dataset: str) -> dict[str, int]:
    """Snapshot guid by short name."""
    from zfsyncd.zfs.models import ObjectType

    return {
        o.short_name: o.guid
        for o in await zfs.list(dataset, types=[ObjectType.SNAPSHOT], recursive=False, depth=1)
    }
