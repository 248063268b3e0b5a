"""Sync groups and their members: changed by an administrator; read by an administrator,
or by a system for the groups it is in."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, HTTPException, Response
from sqlalchemy.ext.asyncio import AsyncSession

from zfsync_witness.api.deps import Admin, Caller, Session
from zfsync_witness.api.schemas import GroupIn, GroupOut, GroupUpdate, MemberIn, MemberOut
from zfsync_witness.db.models import SyncGroup
from zfsync_witness.services import registry

router = APIRouter(prefix="/sync-groups", tags=["sync groups"])


async def out(db: AsyncSession, group: SyncGroup) -> GroupOut:
    body = GroupOut.model_validate(group)
    body.members = [MemberOut.model_validate(m) for m in await registry.members(db, group.id)]
    return body


@router.post("", status_code=201)
async def create(body: GroupIn, db: Session, _: Admin) -> GroupOut:
    return await out(db, await registry.create_group(db, **body.model_dump()))


@router.get("")
async def list_groups(db: Session, who: Caller) -> list[GroupOut]:
    groups = await registry.list_groups(db, None if who.is_admin else who.id)
    return [await out(db, g) for g in groups]


@router.get("/{group_id}")
async def get(group_id: uuid.UUID, db: Session, who: Caller) -> GroupOut:
    group = await registry.get_group(db, group_id)
    if not who.is_admin and not await registry.is_member(db, group_id, who.id):
        raise HTTPException(status_code=404, detail=f"no sync group {group_id}")
    return await out(db, group)


@router.put("/{group_id}")
async def update(group_id: uuid.UUID, body: GroupUpdate, db: Session, _: Admin) -> GroupOut:
    group = await registry.get_group(db, group_id)
    fields = body.model_dump(exclude_unset=True)
    return await out(db, await registry.update_group(db, group, fields))


@router.delete("/{group_id}", status_code=204)
async def delete(group_id: uuid.UUID, db: Session, _: Admin) -> Response:
    await registry.delete_group(db, await registry.get_group(db, group_id))
    return Response(status_code=204)


@router.post("/{group_id}/systems", status_code=201)
async def add_system(group_id: uuid.UUID, body: MemberIn, db: Session, _: Admin) -> GroupOut:
    group = await registry.get_group(db, group_id)
    system = await registry.get_system(db, body.system_id)
    await registry.add_member(db, group, system, body.pool)
    return await out(db, group)


@router.delete("/{group_id}/systems/{system_id}", status_code=204)
async def remove_system(
    group_id: uuid.UUID, system_id: uuid.UUID, db: Session, _: Admin
) -> Response:
    await registry.remove_member(db, await registry.get_group(db, group_id), system_id)
    return Response(status_code=204)
