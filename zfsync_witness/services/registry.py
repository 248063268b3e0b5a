"""Systems, administrator keys, sync groups and their members."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from zfsync_witness import keys
from zfsync_witness.db.models import AdminKey, GroupMember, SyncGroup, System, now
from zfsync_witness.services.errors import Invalid, NotFound, Taken
from zfsync_witness.strategies import Strategy


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request's key says it is."""

    kind: keys.KeyKind
    id: uuid.UUID

    @property
    def is_admin(self) -> bool:
        return self.kind is keys.KeyKind.ADMIN


async def authenticate(session: AsyncSession, key: str | None) -> Principal | None:
    """The key's owner, or None for a missing, malformed, unknown or wrong key. Reads only."""
    parsed = keys.parse(key) if key else None
    if parsed is None:
        return None
    model: type[System] | type[AdminKey] = AdminKey if parsed.kind is keys.KeyKind.ADMIN else System
    stored = await session.scalar(select(model.key_hash).where(model.id == parsed.id))
    if stored is None:
        keys.verify_unknown(parsed.secret)  # as long as a wrong key of a known id
        return None
    if not keys.verify(parsed.secret, stored):
        return None
    return Principal(parsed.kind, parsed.id)


async def _commit_unique(session: AsyncSession, what: str) -> None:
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Taken(f"{what} exists already") from None


# --- systems ---------------------------------------------------------------------------


async def register_system(session: AsyncSession, name: str, **fields: Any) -> tuple[System, str]:
    """The new system and its API key (shown this once; only its hash is stored)."""
    system = System(id=uuid.uuid4(), name=name, key_hash="", **fields)
    key, system.key_hash = keys.new_key(keys.KeyKind.SYSTEM, system.id)
    session.add(system)
    await _commit_unique(session, f"a system named {name!r}")
    return system, key


Named = TypeVar("Named", System, SyncGroup)


async def _find(session: AsyncSession, model: type[Named], key: uuid.UUID | str) -> Named:
    """A system or group by id, or by name (a str); NotFound naming what was asked."""
    what = "system" if model is System else "sync group"
    if isinstance(key, uuid.UUID):
        found = await session.get(model, key)
        if found is None:
            raise NotFound(f"no {what} {key}")
        return found
    found = await session.scalar(select(model).where(model.name == key))
    if found is None:
        raise NotFound(f"no {what} named {key!r}")
    return found


async def get_system(session: AsyncSession, system_id: uuid.UUID) -> System:
    return await _find(session, System, system_id)


async def system_by_name(session: AsyncSession, name: str) -> System:
    return await _find(session, System, name)


async def list_systems(session: AsyncSession) -> list[System]:
    return list(await session.scalars(select(System).order_by(System.name)))


async def update_system(session: AsyncSession, system: System, fields: dict[str, Any]) -> System:
    for field, value in fields.items():
        setattr(system, field, value)
    await _commit_unique(session, f"a system named {fields.get('name')!r}")
    return system


async def rotate_system_key(session: AsyncSession, system: System) -> str:
    """A new key for the system; the old one stops working at once."""
    key, system.key_hash = keys.new_key(keys.KeyKind.SYSTEM, system.id)
    system.key_created_at = now()
    await session.commit()
    return key


async def delete_system(session: AsyncSession, system: System) -> None:
    await session.delete(system)  # its snapshots, memberships and states go with it
    await session.commit()


async def heartbeat(session: AsyncSession, system: System) -> System:
    system.last_seen = now()
    await session.commit()
    return system


# --- administrator keys ----------------------------------------------------------------


async def create_admin_key(session: AsyncSession, name: str) -> str:
    admin = AdminKey(id=uuid.uuid4(), name=name, key_hash="")
    key, admin.key_hash = keys.new_key(keys.KeyKind.ADMIN, admin.id)
    session.add(admin)
    await _commit_unique(session, f"an administrator key named {name!r}")
    return key


async def list_admin_keys(session: AsyncSession) -> list[AdminKey]:
    return list(await session.scalars(select(AdminKey).order_by(AdminKey.name)))


async def delete_admin_key(session: AsyncSession, name: str) -> None:
    done = await session.execute(delete(AdminKey).where(AdminKey.name == name))
    if not done.rowcount:  # type: ignore[attr-defined]
        raise NotFound(f"no administrator key named {name!r}")
    await session.commit()


# --- sync groups -----------------------------------------------------------------------


def _strategy(value: str) -> str:
    try:
        return Strategy(value).value
    except ValueError:
        raise Invalid(f"unknown strategy {value!r}") from None


async def create_group(session: AsyncSession, name: str, **fields: Any) -> SyncGroup:
    if "strategy" in fields:
        fields["strategy"] = _strategy(fields["strategy"])
    group = SyncGroup(id=uuid.uuid4(), name=name, **fields)
    session.add(group)
    await _commit_unique(session, f"a sync group named {name!r}")
    return group


async def get_group(session: AsyncSession, group_id: uuid.UUID) -> SyncGroup:
    return await _find(session, SyncGroup, group_id)


async def group_by_name(session: AsyncSession, name: str) -> SyncGroup:
    return await _find(session, SyncGroup, name)


async def list_groups(session: AsyncSession, member: uuid.UUID | None = None) -> list[SyncGroup]:
    query = select(SyncGroup).order_by(SyncGroup.name)
    if member is not None:
        query = query.join(GroupMember).where(GroupMember.system_id == member)
    return list(await session.scalars(query))


async def update_group(
    session: AsyncSession, group: SyncGroup, fields: dict[str, Any]
) -> SyncGroup:
    if "strategy" in fields:
        fields["strategy"] = _strategy(fields["strategy"])
    for field, value in fields.items():
        setattr(group, field, value)
    await _commit_unique(session, f"a sync group named {fields.get('name')!r}")
    return group


async def delete_group(session: AsyncSession, group: SyncGroup) -> None:
    await session.delete(group)
    await session.commit()


async def members(session: AsyncSession, group_id: uuid.UUID) -> list[GroupMember]:
    query = select(GroupMember).where(GroupMember.group_id == group_id)
    return list(await session.scalars(query.order_by(GroupMember.added_at)))


async def is_member(session: AsyncSession, group_id: uuid.UUID, system_id: uuid.UUID) -> bool:
    return await session.get(GroupMember, (group_id, system_id)) is not None


async def add_member(
    session: AsyncSession, group: SyncGroup, system: System, pool: str | None
) -> GroupMember:
    member = GroupMember(group_id=group.id, system_id=system.id, pool=pool)
    session.add(member)
    await _commit_unique(session, f"{system.name!r} in {group.name!r}")
    return member


async def remove_member(session: AsyncSession, group: SyncGroup, system_id: uuid.UUID) -> None:
    member = await session.get(GroupMember, (group.id, system_id))
    if member is None:
        raise NotFound(f"system {system_id} is not in {group.name!r}")
    await session.delete(member)
    await session.commit()
