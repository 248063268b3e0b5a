"""Sync: a system's instructions (what it is to receive, from whom), sync states, and a
check on demand."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from sqlalchemy import select

from zfsync_witness.api.deps import Caller, Session, owned_row, self_or_admin
from zfsync_witness.api.schemas import (
    CheckOut,
    DatasetCheck,
    Instruction,
    InstructionsOut,
    OutcomeIn,
    OutcomeOut,
    SyncStateOut,
)
from zfsync_witness.db.models import SyncState, System
from zfsync_witness.services import coordination, registry

router = APIRouter(prefix="/sync", tags=["sync"])


def _path(pool: str, dataset: str) -> str:
    return f"{pool}/{dataset}" if dataset else pool


@router.get("/instructions/{system_id}")
async def instructions(system_id: uuid.UUID, db: Session, who: Caller) -> InstructionsOut:
    """The transfers this system is to receive, grouped by dataset; fetching them marks
    their sync states `syncing`. The system runs each (it pulls from the source over ssh)."""
    if who.is_admin or who.id != system_id:
        raise HTTPException(status_code=403, detail="a system fetches its own instructions")
    found = await coordination.instructions(db, system_id)
    sources = {
        s.id: s
        for s in await db.scalars(
            select(System).where(System.id.in_({uuid.UUID(t.source) for _, t in found}))
        )
    }
    out = []
    for group, t in sorted(found, key=lambda gt: (gt[1].dataset, gt[0].name)):
        src = sources[uuid.UUID(t.source)]
        out.append(
            Instruction(
                group_id=group.id,
                group=group.name,
                dataset=t.dataset,
                source_system_id=src.id,
                source_hostname=src.hostname,
                source_ssh_user=src.ssh_user,
                source_ssh_port=src.ssh_port,
                source_pool=t.source_pool,
                target_system_id=system_id,
                target_pool=t.target_pool,
                base=t.base,
                newest=t.newest,
                force=t.force,
                snapshots=t.snapshots,
                source_snapshot=f"{_path(t.source_pool, t.dataset)}@{t.newest}",
                target_dataset=_path(t.target_pool, t.dataset),
            )
        )
    return InstructionsOut(system_id=system_id, instructions=out)


@router.post("/outcomes/{system_id}")
async def outcome(system_id: uuid.UUID, body: OutcomeIn, db: Session, who: Caller) -> OutcomeOut:
    """A system reports what became of an instruction it fetched. A failure is kept on the
    sync state (`error`, status `error`) for the administrator to see; the instruction is
    handed out again at the next check. Success only clears the error: the system's next
    inventory report is what makes the state `in_sync`."""
    if who.is_admin or who.id != system_id:
        raise HTTPException(status_code=403, detail="a system reports its own outcomes")
    state = await db.scalar(
        select(SyncState).where(
            SyncState.group_id == body.group_id,
            SyncState.system_id == system_id,
            SyncState.dataset == body.dataset,
        )
    )
    if state is None:
        raise HTTPException(status_code=404, detail=f"no sync state for {body.dataset!r}")
    if body.ok:
        state.error = None
    else:
        state.status, state.error = "error", body.error or "failed (no reason given)"
    await db.commit()
    return OutcomeOut(status=state.status)


@router.get("/states")
async def states(
    db: Session,
    who: Caller,
    group_id: uuid.UUID | None = None,
    system_id: uuid.UUID | None = None,
    status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[SyncStateOut]:
    if not who.is_admin:
        self_or_admin(who, system_id or who.id)
        system_id = who.id
    q = select(SyncState)
    if group_id is not None:
        q = q.where(SyncState.group_id == group_id)
    if system_id is not None:
        q = q.where(SyncState.system_id == system_id)
    if status is not None:
        q = q.where(SyncState.status == status)
    q = q.order_by(SyncState.dataset, SyncState.id).limit(limit).offset(offset)
    return [SyncStateOut.model_validate(s) for s in await db.scalars(q)]


@router.get("/states/{state_id}")
async def state(state_id: int, db: Session, who: Caller) -> SyncStateOut:
    return SyncStateOut.model_validate(await owned_row(db, who, SyncState, state_id))


@router.post("/{group_id}/check")
async def check(group_id: uuid.UUID, db: Session, who: Caller) -> CheckOut:
    """Compare the group now (an administrator, or a member)."""
    group = await registry.get_group(db, group_id)
    if not who.is_admin and not await registry.is_member(db, group_id, who.id):
        raise HTTPException(status_code=404, detail=f"no sync group {group_id}")
    result = await coordination.check_group(db, group)
    datasets = [
        DatasetCheck(
            dataset=p.dataset,
            leader=p.leader,
            conflict=p.kind.value if p.kind else None,
            transfers=len(p.transfers),
            in_sync=len(p.in_sync),
        )
        for p in result.plans
    ]
    return CheckOut(group_id=group_id, datasets=datasets, conflicts=len(result.conflicts))
