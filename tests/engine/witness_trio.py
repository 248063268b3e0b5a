"""Three zfsyncd hosts and a real witness, for the witness client's tests (issue 14).

The witness is the service's own FastAPI app (zfsync_witness), in this process, on a
SQLite file migrated by Alembic, reached through httpx's ASGI transport behind a switch
that can take it "down" (every request then fails as a refused connection does). Each host
is a zfsyncd engine (TransactionManager on a SQLite file of its own) over its own model
with a pool of its own name (`a`: tank, `b`: backup, `c`: vault); each reaches the other
two as configured hosts (`[hosts.b]` with address `b.lan`, ...), as the witness knows them
by the hostnames they registered with. One clock: the models' creation times (each call a
second later, so "newest" is never a tie) and the clients' backoff.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

import zfsyncd.ops  # noqa: F401 - registers the transaction kinds
from tests.engine.conftest import FAST
from tests.engine.replicas import guids
from zfsync_witness.api.app import create_app
from zfsync_witness.config import WitnessSettings
from zfsync_witness.db import migrate
from zfsync_witness.db.engine import make_engine, sessions
from zfsync_witness.services import registry
from zfsyncd.store import Database, TransactionRecord, TxState
from zfsyncd.tx.hosts import LOCAL, Host
from zfsyncd.tx.manager import TransactionManager
from zfsyncd.witness.client import Intervals, WitnessClient
from zfsyncd.witness.http import ApiKey, WitnessHttp
from zfsyncd.witness.instructions import host_labels
from zfsyncd.zfs.backend import ZfsBackend
from zfsyncd.zfs.memory import MemoryBackend

POOLS = {"a": "tank", "b": "backup", "c": "vault"}
KIB = 1 << 10
REPORT_INTERVAL = 300.0


class Clock:
    """Seconds since the epoch: the models' clock ticks a second per object made."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def tick(self) -> float:
        self.now += 1
        return self.now


class Switch(httpx.AsyncBaseTransport):
    """The witness's transport, or a refused connection while `down` (or, for a request
    whose path holds one of `refused`, that request alone). `paths`: those it passed on."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.down = False
        self.refused: set[str] = set()
        self.requests = 0
        self.paths: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if self.down or any(part in path for part in self.refused):
            raise httpx.ConnectError("connection refused", request=request)
        self.requests += 1
        self.paths.append(path)
        return await self.inner.handle_async_request(request)


@dataclass
class Daemon:
    name: str
    #: this host's ZFS (the model here; real pools in the lab's test_witness_real.py)
    model: ZfsBackend
    db: Database
    manager: TransactionManager
    client: WitnessClient
    system_id: str
    pool: str

    async def snapshots(self, dataset: str) -> dict[str, int]:
        """Short name -> guid of POOL/dataset's snapshots (empty when it does not exist)."""
        full = f"{self.pool}/{dataset}"
        if not any(o.name == full for o in await self.model.list(self.pool, depth=1)):
            return {}
        return await guids(self.model, full)

    async def transactions(self, kind: str) -> list[TransactionRecord]:
        return [r for r in await self.manager.list(limit=None) if r.type == kind]


@dataclass
class Trio:
    witness: httpx.AsyncClient  # the administrator's
    switch: Switch
    clock: Clock
    daemons: dict[str, Daemon]
    group_id: str = ""
    engines: list[Any] = field(default_factory=list)

    def __getitem__(self, name: str) -> Daemon:
        return self.daemons[name]

    async def group(self, strategy: str, *names: str) -> str:
        r = await self.witness.post("/sync-groups", json={"name": "g", "strategy": strategy})
        assert r.status_code == 201, r.text
        self.group_id = r.json()["id"]
        for n in names or tuple(self.daemons):
            d = self.daemons[n]
            body = {"system_id": d.system_id, "pool": d.pool}
            r = await self.witness.post(f"/sync-groups/{self.group_id}/systems", json=body)
            assert r.status_code == 201, r.text
        return self.group_id

    async def set_strategy(self, strategy: str) -> None:
        r = await self.witness.put(f"/sync-groups/{self.group_id}", json={"strategy": strategy})
        assert r.status_code == 200, r.text

    async def settle(self, rounds: int = 10) -> int:
        """Rounds of every client (a, b, c in turn) until two in a row complete no
        instruction (a round's reports can make the next one's instructions: one quiet round
        is not the end). Before each, the clock moves a report interval on: each host
        reports and fetches its instructions then, as it would on its interval (a host
        fetches after its own reports). Returns the rounds it took; fails past `rounds`."""
        quiet = 0
        for n in range(1, rounds + 1):
            self.clock.now += REPORT_INTERVAL
            before = self._succeeded()
            for d in self.daemons.values():
                assert await d.client.cycle(force=True), d.client.error
            quiet = quiet + 1 if self._succeeded() == before else 0
            if quiet == 2 and all([await d.client.outbox.empty() for d in self.daemons.values()]):
                return n
        raise AssertionError(f"still moving after {rounds} rounds")

    async def restart(self, name: str) -> Daemon:
        """Host `name` as after a restart of its daemon: its engine, database connection
        and client made anew from the same database file (nothing kept in memory but
        the HTTP connection to the witness, which holds no state of the client's)."""
        old = self.daemons[name]
        await old.manager.shutdown()
        await old.db.close()
        db = await Database.open(old.db.path)
        manager = TransactionManager(db, old.manager.hosts, do_retry=FAST, undo_retry=FAST)
        c = old.client
        client = WitnessClient(
            manager, c.http, labels=c.labels, pools=c.pools, intervals=c.intervals,
            clock=c.clock, queue_limit=c.outbox.limit, backoff=c.held_back.backoff,
        )  # fmt: skip
        new = Daemon(name, old.model, db, manager, client, old.system_id, old.pool)
        self.daemons[name] = new
        return new

    def _succeeded(self) -> int:
        return sum(d.client.run_count - d.client.failed_count for d in self.daemons.values())

    async def states(self) -> dict[tuple[str, str], tuple[str, str | None]]:
        """(host, dataset) -> (status, error) at the witness."""
        r = await self.witness.get("/sync/states", params={"group_id": self.group_id})
        assert r.status_code == 200, r.text
        names = {d.system_id: d.name for d in self.daemons.values()}
        return {(names[s["system_id"]], s["dataset"]): (s["status"], s["error"]) for s in r.json()}

    async def conflicts(self) -> list[dict[str, Any]]:
        r = await self.witness.get(f"/conflicts/{self.group_id}")
        assert r.status_code == 200, r.text
        out: list[dict[str, Any]] = r.json()
        return out

    async def close(self) -> None:
        for d in self.daemons.values():
            await d.client.http.close()
            await d.manager.shutdown()
            await d.db.close()
        await self.witness.aclose()
        for engine in self.engines:
            await engine.dispose()


#: how host `viewer` reaches host `other` (its Host labelled `other`)
Reach = Callable[[str, str], Host]


async def start(
    tmp: Path,
    *,
    configured: dict[str, set[str]] | None = None,
    backends: dict[str, ZfsBackend] | None = None,
    reach: Reach | None = None,
    pools: dict[str, str] = POOLS,
) -> Trio:
    """The witness and three hosts; `configured`: host -> the other hosts it has a
    [hosts.NAME] for (default: both). `backends`: each host's ZFS (default: a model each,
    with its pool, on the shared clock), `reach`: how one reaches another (default: that
    one's backend directly); `pools`: each host's pool, the only one it reports."""
    url = f"sqlite+aiosqlite:///{tmp / 'witness.db'}"
    await asyncio.to_thread(migrate.upgrade, url)
    engine = make_engine(url)
    async with sessions(engine)() as s:
        admin_key = await registry.create_admin_key(s, "tests")
    app = create_app(WitnessSettings(database_url=url), engine)
    switch = Switch(httpx.ASGITransport(app=app))
    admin = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://witness/api/v1",
        headers={"X-API-Key": admin_key},
    )
    clock = Clock()
    models: dict[str, ZfsBackend] = backends or {
        n: cast(ZfsBackend, MemoryBackend(pools=(pool,), seed=i, clock=clock.tick))
        for i, (n, pool) in enumerate(pools.items())
    }
    reach = reach or (lambda _viewer, other: Host(other, models[other]))
    daemons = {}
    for n, model in models.items():
        r = await admin.post("/systems/register", json={"name": n, "hostname": f"{n}.lan"})
        assert r.status_code == 201, r.text
        system_id, key = r.json()["system"]["id"], r.json()["api_key"]
        others = (configured or {}).get(n, set(models) - {n})
        hosts = {LOCAL: Host(LOCAL, model)} | {o: reach(n, o) for o in others}
        db = await Database.open(tmp / f"{n}.db")
        manager = TransactionManager(db, hosts, do_retry=FAST, undo_retry=FAST)
        http = WitnessHttp("http://witness", ApiKey(key), uuid.UUID(system_id), transport=switch)
        client = WitnessClient(
            manager,
            http,
            labels=host_labels({o: f"{o}.lan" for o in others}),
            pools=[pools[n]],
            intervals=Intervals(report=REPORT_INTERVAL, heartbeat=60),
            clock=clock,
        )
        daemons[n] = Daemon(n, model, db, manager, client, system_id, pools[n])
    return Trio(admin, switch, clock, daemons, engines=[engine])


@pytest.fixture
async def trio(tmp_path: Path) -> AsyncIterator[Trio]:
    t = await start(tmp_path)
    yield t
    await t.close()


async def snapshot(d: Daemon, dataset: str, short: str, nbytes: int = 64 * KIB) -> None:
    """New data in POOL/dataset (made when missing), then the snapshot @short: made on the
    model directly, as another tool or an administrator would (the tests say which
    snapshots the daemon's own transactions make)."""
    full = f"{d.pool}/{dataset}"
    if not await d.snapshots(dataset) and not any(
        o.name == full for o in await d.model.list(d.pool, depth=1)
    ):
        await d.model.create(full)
    cast(MemoryBackend, d.model).write(full, nbytes)
    await d.model.snapshot([f"{full}@{short}"])


def write(d: Daemon, dataset: str, nbytes: int = 64 * KIB) -> None:
    """New data in `dataset` on d's model."""
    cast(MemoryBackend, d.model).write(dataset, nbytes)


async def completed(d: Daemon, kind: str) -> list[TransactionRecord]:
    found = sorted(await d.transactions(kind), key=lambda r: r.created_at)
    assert all(r.state is TxState.COMPLETED for r in found), [(r.id, r.error) for r in found]
    return found
