"""The witness's tables (SQLAlchemy 2 ORM). The schema is made by the Alembic migrations in
zfsync_witness/migrations, never by create_all outside tests; tests/witness/test_migrations.py
checks that `upgrade head` gives exactly these models.

Portable between SQLite and PostgreSQL: UUID ids (native on PostgreSQL), integer ids for
snapshots (SQLite needs INTEGER for its rowid alias, PostgreSQL gets BIGINT), times with a
time zone (SQLite stores them naive: UTCDateTime gives them back in UTC), guids as text (a
ZFS guid is an unsigned 64-bit number: it does not fit PostgreSQL's signed BIGINT).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

#: 64-bit ids where the database has them, SQLite's INTEGER rowid alias there
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """A time zone-aware time, in UTC whatever the database gives back."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime: times are stored in UTC")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if not isinstance(value, datetime):
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class System(Base):
    __tablename__ = "systems"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    hostname: Mapped[str] = mapped_column(String(255))
    ssh_user: Mapped[str | None] = mapped_column(String(64))
    ssh_port: Mapped[int | None] = mapped_column(Integer)
    platform: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(String(1024))
    #: scrypt of the API key's secret, with its salt and cost (keys.py); never the key
    key_hash: Mapped[str] = mapped_column(String(255))
    key_created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now, onupdate=now)
    last_seen: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_report: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AdminKey(Base):
    """A credential for the administration endpoints (made with `zfsync-witness admin-key
    create`, which prints it once)."""

    __tablename__ = "admin_keys"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    key_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)


class Snapshot(Base):
    """One snapshot a system reported. A snapshot that a later complete report no longer
    names is kept with `removed_at` set: the history endpoint shows it; comparison does not."""

    __tablename__ = "snapshots"
    __table_args__ = (
        # what a sync check reads: the live snapshots of the group's members
        Index("ix_snapshots_system_live", "system_id", "removed_at"),
        # history and queries of one logical dataset across systems
        Index("ix_snapshots_dataset_created", "dataset", "created"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    system_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("systems.id", ondelete="CASCADE"))
    pool: Mapped[str] = mapped_column(String(255))
    dataset: Mapped[str] = mapped_column(String(1024))
    name: Mapped[str] = mapped_column(String(255))
    guid: Mapped[str | None] = mapped_column(String(20))
    created: Mapped[int] = mapped_column(BigInteger)  # epoch seconds, ZFS's `creation`
    txg: Mapped[int | None] = mapped_column(BigInteger)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SyncGroup(Base):
    __tablename__ = "sync_groups"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str | None] = mapped_column(String(1024))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    strategy: Mapped[str] = mapped_column(String(32), default="manual")
    interval_seconds: Mapped[int] = mapped_column(Integer, default=3600)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now, onupdate=now)


class GroupMember(Base):
    __tablename__ = "sync_group_systems"

    group_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("sync_groups.id", ondelete="CASCADE"), primary_key=True
    )
    system_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("systems.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    #: where the system receives a dataset of the group that it does not have yet
    pool: Mapped[str | None] = mapped_column(String(255))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)


class SyncState(Base):
    """Where one member stands on one logical dataset, as of the last check."""

    __tablename__ = "sync_states"
    __table_args__ = (UniqueConstraint("group_id", "system_id", "dataset"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    group_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sync_groups.id", ondelete="CASCADE"))
    system_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("systems.id", ondelete="CASCADE"), index=True
    )
    dataset: Mapped[str] = mapped_column(String(1024))
    #: in_sync, out_of_sync, syncing (its instruction was fetched), error (its member reported
    #: failing at it), conflict, ignored, no_pool
    status: Mapped[str] = mapped_column(String(16))
    #: the instruction, while out_of_sync or syncing
    source_system_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("systems.id", ondelete="CASCADE")
    )
    base: Mapped[str | None] = mapped_column(String(255))
    newest: Mapped[str | None] = mapped_column(String(255))
    force: Mapped[bool] = mapped_column(Boolean, default=False)
    last_check: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    last_sync: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: why the member's last attempt at its instruction failed, as it reported (None once
    #: it reported success, or the member is in sync again)
    error: Mapped[str | None] = mapped_column(String(4096))


class Conflict(Base):
    """A logical dataset of a group whose histories disagree. At most one per group and
    dataset is active (open, resolved or ignored); when the histories agree again it is
    `cleared` and stays as a record."""

    __tablename__ = "conflicts"
    __table_args__ = (Index("ix_conflicts_group_status", "group_id", "status"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    group_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sync_groups.id", ondelete="CASCADE"))
    dataset: Mapped[str] = mapped_column(String(1024))
    kind: Mapped[str] = mapped_column(String(16))  # the worst: orphaned, diverged, missing
    status: Mapped[str] = mapped_column(String(16))  # open, resolved, ignored, cleared
    #: [{system_id, kind, snapshots}], as of the last check
    problems: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    strategy: Mapped[str | None] = mapped_column(String(32))  # what resolved it
    winner_system_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("systems.id", ondelete="SET NULL")
    )
    note: Mapped[str | None] = mapped_column(Text)
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now, onupdate=now)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
