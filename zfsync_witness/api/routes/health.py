"""Health: `live` (the process answers), `ready` (the database answers and its schema is
the migrations' head). No key needed; they say nothing about systems."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from zfsync_witness.api.deps import Session
from zfsync_witness.api.schemas import Health
from zfsync_witness.db import migrate

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live")
async def live() -> Health:
    return Health(status="ok")


@router.get("", response_model=Health)
@router.get("/ready", response_model=Health)
async def ready(db: Session) -> Health | JSONResponse:
    want = migrate.head()
    try:
        have = await db.scalar(text("SELECT version_num FROM alembic_version"))
    except SQLAlchemyError:
        have = None
    status = "ok" if have == want else "unavailable"
    body = Health(
        status=status,
        database="ok" if have else "unreachable or not migrated",
        schema_revision=have,
    )
    if status != "ok":
        return JSONResponse(body.model_dump(), status_code=503)
    return body
