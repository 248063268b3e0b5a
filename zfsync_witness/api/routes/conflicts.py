"""Conflicts: listed per group (the group is checked first), resolved by an administrator."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, HTTPException
from sqlalchemy import select

from zfsync_witness.api.deps import Admin, Caller, Session
from zfsync_witness.api.schemas import ConflictOut, ResolveIn
from zfsync_witness.db.models import Conflict
from zfsync_witness.services import coordination, registry

router = APIRouter(prefix="/conflicts", tags=["conflicts"])


@router.get("/{group_id}")
async def list_conflicts(
    group_id: uuid.UUID, db: Session, who: Caller, include_cleared: bool = False
) -> list[ConflictOut]:
    group = await registry.get_group(db, group_id)
    if not who.is_admin and not await registry.is_member(db, group_id, who.id):
        raise HTTPException(status_code=404, detail=f"no sync group {group_id}")
    result = await coordination.check_group(db, group)
    if not include_cleared:
        return [ConflictOut.model_validate(c) for c in result.conflicts]
    q = select(Conflict).where(Conflict.group_id == group_id).order_by(Conflict.detected_at)
    return [ConflictOut.model_validate(c) for c in await db.scalars(q)]


@router.post("/{conflict_id}/resolve")
async def resolve(conflict_id: uuid.UUID, body: ResolveIn, db: Session, _: Admin) -> ConflictOut:
    """Name the winner (its history becomes everyone's), or apply a strategy now; `ignore`
    plans nothing for the dataset until its histories agree again."""
    conflict = await db.get(Conflict, conflict_id)
    if conflict is None:
        raise HTTPException(status_code=404, detail=f"no conflict {conflict_id}")
    done = await coordination.resolve(db, conflict, body.strategy, body.winner_system_id, body.note)
    return ConflictOut.model_validate(done)
