"""`zfsync-witness`: serve the API, migrate the database, administer systems, groups and
keys. Administration works on the database directly (the machine's administrator needs no
key for it); the first administrator key for the HTTP API is made here.

    zfsync-witness migrate
    zfsync-witness admin-key create ops          # prints the key once
    zfsync-witness system register nas1 --hostname nas1.example.org
    zfsync-witness group create home --strategy use_newest
    zfsync-witness group add home nas1 --pool tank
    zfsync-witness serve
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy.ext.asyncio import AsyncSession

from zfsync_witness.config import ConfigError, WitnessSettings, load
from zfsync_witness.db import migrate
from zfsync_witness.db.engine import make_engine, sessions
from zfsync_witness.services import registry
from zfsync_witness.services.errors import ServiceError
from zfsync_witness.strategies import Strategy

T = TypeVar("T")


def _settings(ctx: click.Context) -> WitnessSettings:
    settings: WitnessSettings = ctx.obj
    return settings


def _run(ctx: click.Context, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def go() -> T:
        engine = make_engine(_settings(ctx).database_url)
        try:
            async with sessions(engine)() as session:
                return await work(session)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(go())
    except ServiceError as exc:
        raise click.ClickException(str(exc)) from None


def _show(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        click.echo(json.dumps(row, default=str))


@click.group()
@click.option("--config", type=click.Path(path_type=Path), help="default /etc/zfsync/witness.toml")
@click.option("--database-url", help="overrides the configuration's database_url")
@click.pass_context
def cli(ctx: click.Context, config: Path | None, database_url: str | None) -> None:
    """The zfsync witness: coordinates snapshot synchronization between zfsyncd hosts."""
    try:
        overrides = {"database_url": database_url} if database_url else {}
        ctx.obj = load(config, **overrides)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@cli.command()
@click.option("--host", help="default: the configuration's host")
@click.option("--port", type=int, help="default: the configuration's port")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Serve the HTTP API (the database must be migrated: `zfsync-witness migrate`)."""
    import uvicorn

    from zfsync_witness.api.app import create_app

    settings = _settings(ctx)
    uvicorn.run(
        create_app(settings),
        host=host or settings.host,
        port=port or settings.port,
        log_level=settings.log_level,
        proxy_headers=False,
    )


@cli.command("migrate")
@click.option("--revision", default="head", show_default=True)
@click.pass_context
def migrate_cmd(ctx: click.Context, revision: str) -> None:
    """Bring the database schema to the revision (Alembic)."""
    url = _settings(ctx).database_url
    if url.startswith("sqlite+aiosqlite:///"):
        Path(url.removeprefix("sqlite+aiosqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(url, revision)
    click.echo(f"database at revision {revision}")


# --- administrator keys ----------------------------------------------------------------


@cli.group("admin-key")
def admin_key() -> None:
    """Keys for the administration endpoints of the HTTP API."""


@admin_key.command("create")
@click.argument("name")
@click.pass_context
def admin_create(ctx: click.Context, name: str) -> None:
    """Make a key; it is printed this once (only its hash is stored)."""
    click.echo(_run(ctx, lambda s: registry.create_admin_key(s, name)))


@admin_key.command("list")
@click.pass_context
def admin_list(ctx: click.Context) -> None:
    keys = _run(ctx, registry.list_admin_keys)
    _show([{"name": k.name, "created_at": k.created_at} for k in keys])


@admin_key.command("delete")
@click.argument("name")
@click.pass_context
def admin_delete(ctx: click.Context, name: str) -> None:
    _run(ctx, lambda s: registry.delete_admin_key(s, name))


# --- systems ---------------------------------------------------------------------------


@cli.group()
def system() -> None:
    """Registered systems."""


@system.command("register")
@click.argument("name")
@click.option("--hostname", required=True, help="what the other systems reach it by (ssh)")
@click.option("--ssh-user")
@click.option("--ssh-port", type=click.IntRange(1, 65535))
@click.pass_context
def system_register(
    ctx: click.Context, name: str, hostname: str, ssh_user: str | None, ssh_port: int | None
) -> None:
    """Register a system; its API key is printed this once."""

    async def work(s: AsyncSession) -> str:
        _, key = await registry.register_system(
            s, name, hostname=hostname, ssh_user=ssh_user, ssh_port=ssh_port
        )
        return key

    click.echo(_run(ctx, work))


@system.command("list")
@click.pass_context
def system_list(ctx: click.Context) -> None:
    systems = _run(ctx, registry.list_systems)
    _show(
        [
            {"id": s.id, "name": s.name, "hostname": s.hostname, "last_seen": s.last_seen}
            for s in systems
        ]
    )


@system.command("rotate-key")
@click.argument("name")
@click.pass_context
def system_rotate(ctx: click.Context, name: str) -> None:
    """A new key for the system, printed once; the old one stops working at once."""

    async def work(s: AsyncSession) -> str:
        return await registry.rotate_system_key(s, await registry.system_by_name(s, name))

    click.echo(_run(ctx, work))


@system.command("delete")
@click.argument("name")
@click.pass_context
def system_delete(ctx: click.Context, name: str) -> None:
    async def work(s: AsyncSession) -> None:
        await registry.delete_system(s, await registry.system_by_name(s, name))

    _run(ctx, work)


# --- groups ----------------------------------------------------------------------------


@cli.group()
def group() -> None:
    """Sync groups and their members."""


@group.command("create")
@click.argument("name")
@click.option("--strategy", type=click.Choice([s.value for s in Strategy]), default="manual")
@click.pass_context
def group_create(ctx: click.Context, name: str, strategy: str) -> None:
    g = _run(ctx, lambda s: registry.create_group(s, name, strategy=strategy))
    _show([{"id": g.id, "name": g.name, "strategy": g.strategy}])


@group.command("list")
@click.pass_context
def group_list(ctx: click.Context) -> None:
    async def work(s: AsyncSession) -> list[dict[str, Any]]:
        out = []
        for g in await registry.list_groups(s):
            names = [str(m.system_id) for m in await registry.members(s, g.id)]
            out.append({"id": g.id, "name": g.name, "strategy": g.strategy, "members": names})
        return out

    _show(_run(ctx, work))


@group.command("add")
@click.argument("group_name")
@click.argument("system_name")
@click.option("--pool", help="where the system receives datasets it does not have yet")
@click.pass_context
def group_add(ctx: click.Context, group_name: str, system_name: str, pool: str | None) -> None:
    async def work(s: AsyncSession) -> None:
        g = await registry.group_by_name(s, group_name)
        await registry.add_member(s, g, await registry.system_by_name(s, system_name), pool)

    _run(ctx, work)


@group.command("remove")
@click.argument("group_name")
@click.argument("system_name")
@click.pass_context
def group_remove(ctx: click.Context, group_name: str, system_name: str) -> None:
    async def work(s: AsyncSession) -> None:
        g = await registry.group_by_name(s, group_name)
        await registry.remove_member(s, g, (await registry.system_by_name(s, system_name)).id)

    _run(ctx, work)


@group.command("delete")
@click.argument("name")
@click.pass_context
def group_delete(ctx: click.Context, name: str) -> None:
    async def work(s: AsyncSession) -> None:
        await registry.delete_group(s, await registry.group_by_name(s, name))

    _run(ctx, work)
