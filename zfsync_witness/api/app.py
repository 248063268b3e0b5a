"""The application: routes under /api/v1, the body bound, CORS when configured, errors as
`{"detail": ..., "status_code": ...}`, OpenAPI at /docs and /openapi.json."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.exceptions import HTTPException as StarletteHTTPException

from zfsync_witness.api.limits import BodyLimit
from zfsync_witness.api.routes import conflicts, health, snapshots, sync, sync_groups, systems
from zfsync_witness.config import WitnessSettings
from zfsync_witness.db.engine import make_engine, sessions
from zfsync_witness.services.errors import ServiceError

PREFIX = "/api/v1"


def create_app(settings: WitnessSettings, engine: AsyncEngine | None = None) -> FastAPI:
    """The app; with `engine` given (tests), the caller owns and disposes of it."""
    owned = engine is None
    engine = engine or make_engine(settings.database_url)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if owned:
            await engine.dispose()

    app = FastAPI(
        title="zfsync witness",
        version="1",
        description="Coordinates ZFS snapshot synchronization between zfsyncd hosts.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = sessions(engine)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_req: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            {"detail": exc.detail, "status_code": exc.status_code},
            status_code=exc.status_code,
            headers=exc.headers,
        )

    @app.exception_handler(ServiceError)
    async def _service(_req: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "status_code": exc.status}, exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_req: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()[:20]
        ]
        return JSONResponse({"detail": errors, "status_code": 422}, 422)

    for module in (health, systems, snapshots, sync_groups, sync, conflicts):
        app.include_router(module.router, prefix=PREFIX)
    if settings.cors_origins:  # off unless configured: no CORS headers at all
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["X-API-Key", "Content-Type"],
        )
    # outermost: a body over the bound never reaches anything else
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    return app
