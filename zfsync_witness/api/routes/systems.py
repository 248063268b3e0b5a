"""Systems: registration (administrator), details and updates (itself or an administrator),
heartbeat (itself), key rotation (itself or an administrator), deletion (administrator)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi import APIRouter, HTTPException, Request, Response

from zfsync_witness.api.deps import Admin, Caller, Session, self_or_admin
from zfsync_witness.api.schemas import NewKey, Registered, SystemIn, SystemOut, SystemUpdate
from zfsync_witness.db.models import System, now
from zfsync_witness.services import registry

router = APIRouter(prefix="/systems", tags=["systems"])


def out(request: Request, system: System) -> SystemOut:
    timeout = timedelta(seconds=request.app.state.settings.heartbeat_timeout)
    body = SystemOut.model_validate(system)
    body.online = system.last_seen is not None and now() - system.last_seen < timeout
    return body


@router.post("/register", status_code=201)
async def register(body: SystemIn, db: Session, _: Admin, request: Request) -> Registered:
    system, key = await registry.register_system(db, **body.model_dump())
    return Registered(system=out(request, system), api_key=key)


@router.get("")
async def list_systems(db: Session, who: Caller, request: Request) -> list[SystemOut]:
    if who.is_admin:
        return [out(request, s) for s in await registry.list_systems(db)]
    return [out(request, await registry.get_system(db, who.id))]


@router.get("/{system_id}")
async def get(system_id: uuid.UUID, db: Session, who: Caller, request: Request) -> SystemOut:
    self_or_admin(who, system_id)
    return out(request, await registry.get_system(db, system_id))


@router.put("/{system_id}")
async def update(
    system_id: uuid.UUID, body: SystemUpdate, db: Session, who: Caller, request: Request
) -> SystemOut:
    self_or_admin(who, system_id)
    system = await registry.get_system(db, system_id)
    fields = body.model_dump(exclude_unset=True)
    if "name" in fields and not who.is_admin:
        fields.pop("name")  # a system's name is the administrator's to change
    return out(request, await registry.update_system(db, system, fields))


@router.delete("/{system_id}", status_code=204)
async def delete(system_id: uuid.UUID, db: Session, _: Admin) -> Response:
    await registry.delete_system(db, await registry.get_system(db, system_id))
    return Response(status_code=204)


@router.post("/{system_id}/heartbeat")
async def heartbeat(system_id: uuid.UUID, db: Session, who: Caller, request: Request) -> SystemOut:
    if who.is_admin or who.id != system_id:
        raise HTTPException(status_code=403, detail="only the system itself sends its heartbeat")
    system = await registry.heartbeat(db, await registry.get_system(db, system_id))
    return out(request, system)


@router.post("/{system_id}/rotate-key")
async def rotate_key(system_id: uuid.UUID, db: Session, who: Caller) -> NewKey:
    """A new key, shown once; the old one stops working at once."""
    self_or_admin(who, system_id)
    system = await registry.get_system(db, system_id)
    return NewKey(api_key=await registry.rotate_system_key(db, system))
