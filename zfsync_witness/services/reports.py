"""Snapshot reports, and what they can be asked: query, history, statistics.

A report names snapshots by their full name (`pool/dataset@name`); the pool and the logical
dataset are split here, once (compare.split_name). A *complete* report is the system's
whole inventory: its snapshots that it no longer names are marked removed (kept for the
history, left out of comparison). A report that is not complete adds and updates only.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from zfsync_witness.compare import NameError_, split_name
from zfsync_witness.db.models import Snapshot, System, now
from zfsync_witness.services.errors import Invalid

#: rows per statement when marking many removed (SQLite binds at most 32766 parameters)
_CHUNK = 1000
#: a report at most this long is matched by its names; a longer one loads the system's rows
_BY_NAME = 100


@dataclass(frozen=True, slots=True)
class Reported:
    name: str  # pool/dataset@snapshot
    created: int
    guid: str | None = None
    txg: int | None = None
    size: int = 0


@dataclass(frozen=True, slots=True)
class ReportResult:
    added: int
    updated: int
    removed: int
    unchanged: int


_FIELDS = ("guid", "created", "txg", "size")


async def report(
    session: AsyncSession, system: System, items: Sequence[Reported], complete: bool
) -> ReportResult:
    """Store a system's report, in one transaction."""
    wanted: dict[tuple[str, str, str], Reported] = {}
    for item in items:
        try:
            key = split_name(item.name)
        except NameError_ as exc:
            raise Invalid(str(exc)) from None
        if key in wanted:
            raise Invalid(f"{item.name!r} is named twice in one report")
        wanted[key] = item
    live = select(
        Snapshot.id,
        Snapshot.pool,
        Snapshot.dataset,
        Snapshot.name,
        *(getattr(Snapshot, f) for f in _FIELDS),
    ).where(Snapshot.system_id == system.id, Snapshot.removed_at.is_(None))
    if not complete and len(wanted) <= _BY_NAME:
        live = live.where(
            or_(
                *(
                    and_(Snapshot.pool == p, Snapshot.dataset == d, Snapshot.name == n)
                    for p, d, n in wanted
                )
            )
        )
    stored = {(r.pool, r.dataset, r.name): r for r in (await session.execute(live)).all()}
    when = now()
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for key, item in wanted.items():
        row = stored.get(key)
        values = {"guid": item.guid, "created": item.created, "txg": item.txg, "size": item.size}
        if row is None:
            pool, dataset, name = key
            inserts.append(
                {
                    "system_id": system.id,
                    "pool": pool,
                    "dataset": dataset,
                    "name": name,
                    "reported_at": when,
                    **values,
                }
            )
        elif any(getattr(row, f) != values[f] for f in _FIELDS):
            updates.append({"id": row.id, "reported_at": when, **values})
    gone = [row.id for key, row in stored.items() if key not in wanted] if complete else []
    if inserts:
        await session.execute(insert(Snapshot), inserts)
    if updates:
        await session.execute(update(Snapshot), updates)
    for start in range(0, len(gone), _CHUNK):
        chunk = gone[start : start + _CHUNK]
        await session.execute(
            update(Snapshot).where(Snapshot.id.in_(chunk)).values(removed_at=when)
        )
    system.last_report = system.last_seen = when
    await session.commit()
    unchanged = len(wanted) - len(inserts) - len(updates)
    return ReportResult(len(inserts), len(updates), len(gone), unchanged)


async def query(
    session: AsyncSession,
    *,
    system_id: uuid.UUID | None = None,
    pool: str | None = None,
    dataset: str | None = None,
    name: str | None = None,
    include_removed: bool = False,
    limit: int = 100,
    offset: int = 0,
) -> list[Snapshot]:
    q = select(Snapshot)
    for column, value in (
        (Snapshot.system_id, system_id),
        (Snapshot.pool, pool),
        (Snapshot.dataset, dataset),
        (Snapshot.name, name),
    ):
        if value is not None:
            q = q.where(column == value)
    if not include_removed:
        q = q.where(Snapshot.removed_at.is_(None))
    q = q.order_by(Snapshot.created, Snapshot.id).limit(limit).offset(offset)
    return list(await session.scalars(q))


async def history(
    session: AsyncSession,
    dataset: str,
    system_id: uuid.UUID | None = None,
    limit: int = 1000,
) -> list[Snapshot]:
    """A logical dataset's snapshots on every system (or one), removed ones too, newest
    first."""
    q = select(Snapshot).where(Snapshot.dataset == dataset)
    if system_id is not None:
        q = q.where(Snapshot.system_id == system_id)
    q = q.order_by(Snapshot.created.desc(), Snapshot.id.desc()).limit(limit)
    return list(await session.scalars(q))


@dataclass(frozen=True, slots=True)
class SystemStats:
    system_id: uuid.UUID
    snapshots: int
    datasets: int
    bytes: int
    oldest: int | None
    newest: int | None


async def statistics(
    session: AsyncSession, system_id: uuid.UUID | None = None
) -> tuple[list[SystemStats], int]:
    """Per system: live snapshots, logical datasets, bytes, oldest and newest creation; and
    the number of removed snapshots kept for the history."""
    live = Snapshot.removed_at.is_(None)
    q = select(
        Snapshot.system_id,
        func.count(),
        func.count(func.distinct(Snapshot.dataset)),
        func.coalesce(func.sum(Snapshot.size), 0),
        func.min(Snapshot.created),
        func.max(Snapshot.created),
    ).where(live)
    removed = select(func.count()).select_from(Snapshot).where(~live)
    if system_id is not None:
        q = q.where(Snapshot.system_id == system_id)
        removed = removed.where(Snapshot.system_id == system_id)
    rows = (await session.execute(q.group_by(Snapshot.system_id))).all()
    stats = [SystemStats(r[0], r[1], r[2], int(r[3]), r[4], r[5]) for r in rows]
    return sorted(stats, key=lambda s: str(s.system_id)), int(await session.scalar(removed) or 0)
