"""What every endpoint gets: a database session, and who is asking.

Keys come in the `X-API-Key` header: a system's key (`zfsw_s_...`) or an administrator's
(`zfsw_a_...`, made with `zfsync-witness admin-key create`). A missing or wrong key is
answered 401 before the endpoint runs, so nothing is written. A system may act only for
itself (403 otherwise); the administration endpoints want an administrator's key.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, TypeVar

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from zfsync_witness.db.models import Snapshot, SyncState
from zfsync_witness.services import registry
from zfsync_witness.services.registry import Principal

_header = APIKeyHeader(name="X-API-Key", auto_error=False)


async def session(request: Request) -> AsyncIterator[AsyncSession]:
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessions
    async with maker() as s:
        yield s


Session = Annotated[AsyncSession, Depends(session)]


async def principal(db: Session, key: Annotated[str | None, Depends(_header)]) -> Principal:
    found = await registry.authenticate(db, key)
    if found is None:
        raise HTTPException(
            status_code=401,
            detail="a valid X-API-Key is needed",
            headers={"WWW-Authenticate": "ApiKey"},
        )
    return found


Caller = Annotated[Principal, Depends(principal)]


async def admin(who: Caller) -> Principal:
    if not who.is_admin:
        raise HTTPException(status_code=403, detail="an administrator's key is needed")
    return who


Admin = Annotated[Principal, Depends(admin)]


#: rows that belong to one system
Owned = TypeVar("Owned", Snapshot, SyncState)


async def owned_row(db: AsyncSession, who: Principal, model: type[Owned], id_: int) -> Owned:
    """A system's row by id; for another system's, the same 404 as for none at all."""
    row = await db.get(model, id_)
    if row is None or (not who.is_admin and row.system_id != who.id):
        raise HTTPException(status_code=404, detail=f"no {model.__tablename__} row {id_}")
    return row


def self_or_admin(who: Principal, system_id: uuid.UUID) -> None:
    if not who.is_admin and who.id != system_id:
        raise HTTPException(status_code=403, detail="a system may act only for itself")
