"""The witness at scale: a full report batch and a sync check, on SQLite and PostgreSQL.

    .venv/bin/python -m bench.witness [--systems 50] [--datasets 200] [--snapshots 100]
                                       [--db sqlite postgresql] [--json FILE]

S systems in one sync group each report D datasets x N snapshots (issue 14's figure:
50 x 200 x 100 = 1M reported snapshots), every system under a pool name of its own, the same
snapshots (guids) everywhere except that system 0 is one snapshot ahead on every dataset
(so the check plans (S-1) x D transfers). Measured, per database:

- report: each system's complete batch through the service (services/reports.py: the
  upsert of D x N rows); the first system's also through the HTTP API (ASGI, JSON parsing and
  validation included), as a second, unchanged batch: what a system's periodic report costs;
- check: `check_group` over all S x D x N rows, split into loading the rows (SQL), comparing
  (compare.py, pure) and storing states and conflicts, a first time (every state inserted)
  and a second (states updated in place);
- the query plan of the load query (SQLite: EXPLAIN QUERY PLAN; PostgreSQL: EXPLAIN
  ANALYZE) and of the report's read of one system's live rows.

PostgreSQL runs in a throwaway cluster (tests/witness/postgres.py), fsync off: the figures
are about queries and Python, not the disk. Absolute numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.witness.postgres import cluster
from zfsync_witness.api.app import create_app
from zfsync_witness.compare import histories, plan_dataset
from zfsync_witness.config import WitnessSettings
from zfsync_witness.db import migrate
from zfsync_witness.db.engine import make_engine, sessions
from zfsync_witness.db.models import Snapshot, SyncGroup
from zfsync_witness.services import coordination, registry, reports

T0 = 1_790_000_000


def inventory(system: int, datasets: int, snapshots: int) -> list[reports.Reported]:
    extra = 1 if system == 0 else 0  # system 0 is one snapshot ahead everywhere
    pool = f"pool{system}"
    return [
        reports.Reported(
            name=f"{pool}/data/ds{d:04d}@auto-{i:05d}",
            created=T0 + i * 3600,
            guid=str((d << 20) + i + 1),
            txg=1000 + i,
            size=4096 * (i + 1),
        )
        for d in range(datasets)
        for i in range(snapshots + extra)
    ]


async def explain(engine: AsyncEngine, sql: str, params: dict[str, Any]) -> list[str]:
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN ANALYZE "
    async with engine.connect() as conn:
        rows = (await conn.execute(text(prefix + sql), params)).all()
    return [" | ".join(str(c) for c in row) for row in rows]


async def run(url: str, systems: int, datasets: int, snapshots: int) -> dict[str, Any]:
    await asyncio.to_thread(migrate.upgrade, url)
    engine = make_engine(url)
    maker = sessions(engine)
    out: dict[str, Any] = {}
    try:
        async with maker() as s:
            group = await registry.create_group(s, "bench", strategy="manual")
            members = []
            for i in range(systems):
                system, key = await registry.register_system(s, f"sys{i}", hostname=f"h{i}")
                await registry.add_member(s, group, system, f"pool{i}")
                members.append((system, key))
        times = []
        for i, (system, _) in enumerate(members):
            items = inventory(i, datasets, snapshots)
            async with maker() as s:
                system = await registry.get_system(s, system.id)
                t = time.perf_counter()
                result = await reports.report(s, system, items, complete=True)
                times.append(time.perf_counter() - t)
            assert result.added == len(items), result
        out["report_batch_s"] = {
            "rows": datasets * snapshots,
            "median": statistics.median(times),
            "max": max(times),
            "all_systems_total": sum(times),
        }
        # the first system's batch again, through HTTP: unchanged rows, the periodic case
        body = {
            "complete": True,
            "snapshots": [
                {"name": r.name, "created": r.created, "guid": r.guid, "txg": r.txg, "size": r.size}
                for r in inventory(0, datasets, snapshots)
            ],
        }
        app = create_app(WitnessSettings(database_url=url, max_body_bytes=256 << 20), engine)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://w/api/v1", timeout=600
        ) as client:
            payload = json.dumps(body).encode()
            t = time.perf_counter()
            r = await client.post(
                "/snapshots/batch",
                content=payload,
                headers={"X-API-Key": members[0][1], "Content-Type": "application/json"},
            )
            out["report_batch_http_unchanged_s"] = time.perf_counter() - t
            out["report_batch_http_bytes"] = len(payload)
            assert r.status_code == 201, r.text
        # the sync check, split into its parts, twice
        for round_ in ("first", "second"):
            async with maker() as s:
                g = await s.get(SyncGroup, group.id)
                assert g is not None
                t = time.perf_counter()
                inp = await coordination.load_input(s, g)
                t_load = time.perf_counter() - t
                t = time.perf_counter()
                hist = histories(inp)
                plans = [plan_dataset(d, h, inp) for d, h in sorted(hist.items())]
                t_compare = time.perf_counter() - t
                t = time.perf_counter()
                result = await coordination.check_group(s, g)
                t_check = time.perf_counter() - t
            transfers = sum(len(p.transfers) for p in plans)
            assert transfers == (systems - 1) * datasets, transfers
            assert len(result.plans) == datasets
            out[f"check_{round_}_s"] = {
                "rows": len(inp.snaps),
                "load": t_load,
                "compare": t_compare,
                "whole_check": t_check,
                "store_estimate": max(0.0, t_check - t_load - t_compare),
                "transfers": transfers,
            }
        if engine.dialect.name == "postgresql":  # the planner's statistics, as autovacuum would
            async with engine.begin() as conn:
                await conn.execute(text("ANALYZE"))
        ids = [m[0].id for m in members]
        bind = (
            {f"id{i}": str(x).replace("-", "") for i, x in enumerate(ids)}
            if engine.dialect.name == "sqlite"
            else {f"id{i}": x for i, x in enumerate(ids)}
        )
        marks = ", ".join(f":id{i}" for i in range(len(ids)))  # placeholders, bound below
        out["plan_load"] = await explain(
            engine,
            "SELECT system_id, pool, dataset, name, created, guid, txg, size FROM snapshots "  # noqa: S608
            f"WHERE system_id IN ({marks}) AND removed_at IS NULL",
            bind,
        )
        out["plan_report_read"] = await explain(
            engine,
            "SELECT id, pool, dataset, name, guid, created, txg, size FROM snapshots "
            "WHERE system_id = :id0 AND removed_at IS NULL",
            {"id0": bind["id0"]},
        )
        async with engine.connect() as conn:
            out["snapshot_rows"] = await conn.scalar(
                select(Snapshot.id).order_by(Snapshot.id.desc()).limit(1)
            )
    finally:
        await engine.dispose()
    return out


async def pg_database(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE DATABASE bench")
    finally:
        await conn.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--systems", type=int, default=50)
    ap.add_argument("--datasets", type=int, default=200)
    ap.add_argument("--snapshots", type=int, default=100)
    ap.add_argument("--db", nargs="+", default=["sqlite", "postgresql"])
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    results: dict[str, Any] = {
        "scale": {"systems": a.systems, "datasets": a.datasets, "snapshots": a.snapshots},
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "id": str(uuid.uuid4()),
    }
    with ExitStack() as stack:
        for db in a.db:
            if db == "sqlite":
                tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
                url = f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
            else:
                pg = stack.enter_context(cluster())
                asyncio.run(pg_database(pg.dsn("postgres")))
                url = pg.url("bench")
            t = time.perf_counter()
            results[db] = asyncio.run(run(url, a.systems, a.datasets, a.snapshots))
            results[db]["wall_s"] = time.perf_counter() - t
            print(json.dumps({db: results[db]}, indent=1, default=str), flush=True)
    if a.json:
        a.json.write_text(json.dumps(results, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
