"""Snapshots: a system reports its own (one, or a batch); queries, history and statistics.
A system sees its own snapshots; an administrator sees all."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request

from zfsync_witness.api.deps import Caller, Session, owned_row, self_or_admin
from zfsync_witness.api.schemas import (
    BatchIn,
    ReportOut,
    SnapshotIn,
    SnapshotOut,
    StatisticsOut,
)
from zfsync_witness.db.models import Snapshot
from zfsync_witness.services import registry, reports
from zfsync_witness.services.registry import Principal

router = APIRouter(prefix="/snapshots", tags=["snapshots"])


def reporter(who: Principal, *named: uuid.UUID | None) -> uuid.UUID:
    """Only a system reports, and only for itself."""
    if who.is_admin:
        raise HTTPException(status_code=403, detail="snapshots are reported by their system")
    for system_id in named:
        self_or_admin(who, system_id or who.id)
    return who.id


def scope(who: Principal, system_id: uuid.UUID | None) -> uuid.UUID | None:
    """Which system's snapshots the caller may read: its own, or any for an admin."""
    if who.is_admin:
        return system_id
    self_or_admin(who, system_id or who.id)
    return who.id


def _reported(item: SnapshotIn) -> reports.Reported:
    return reports.Reported(item.name, item.created, item.guid, item.txg, item.size)


@router.post("", status_code=201)
async def report_one(body: SnapshotIn, db: Session, who: Caller) -> ReportOut:
    system = await registry.get_system(db, reporter(who, body.system_id))
    result = await reports.report(db, system, [_reported(body)], complete=False)
    return ReportOut(**vars_of(result))


def vars_of(result: reports.ReportResult) -> dict[str, int]:
    return {f: getattr(result, f) for f in ("added", "updated", "removed", "unchanged")}


@router.post("/batch", status_code=201)
async def report_batch(body: BatchIn, db: Session, who: Caller, request: Request) -> ReportOut:
    system_id = reporter(who, body.system_id, *(s.system_id for s in body.snapshots))
    limit = request.app.state.settings.max_batch
    if len(body.snapshots) > limit:
        raise HTTPException(status_code=413, detail=f"more than {limit} snapshots in a batch")
    system = await registry.get_system(db, system_id)
    items = [_reported(s) for s in body.snapshots]
    return ReportOut(**vars_of(await reports.report(db, system, items, body.complete)))


@router.get("")
async def query(
    db: Session,
    who: Caller,
    system_id: uuid.UUID | None = None,
    pool: str | None = None,
    dataset: str | None = None,
    name: str | None = None,
    include_removed: bool = False,
    limit: Annotated[int, Query(ge=1, le=10000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[SnapshotOut]:
    rows = await reports.query(
        db,
        system_id=scope(who, system_id),
        pool=pool,
        dataset=dataset,
        name=name,
        include_removed=include_removed,
        limit=limit,
        offset=offset,
    )
    return [SnapshotOut.model_validate(r) for r in rows]


@router.get("/history")
async def history(
    db: Session,
    who: Caller,
    dataset: str,
    system_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
) -> list[SnapshotOut]:
    """A logical dataset's snapshots across systems, removed ones included, newest first."""
    rows = await reports.history(db, dataset, scope(who, system_id), limit)
    return [SnapshotOut.model_validate(r) for r in rows]


@router.get("/statistics")
async def statistics(db: Session, who: Caller, system_id: uuid.UUID | None = None) -> StatisticsOut:
    stats, removed = await reports.statistics(db, scope(who, system_id))
    return StatisticsOut(systems=stats, snapshots=sum(s.snapshots for s in stats), removed=removed)


@router.get("/{snapshot_id}")
async def get(snapshot_id: int, db: Session, who: Caller) -> SnapshotOut:
    return SnapshotOut.model_validate(await owned_row(db, who, Snapshot, snapshot_id))
