"""The initial schema: systems, admin keys, snapshots, sync groups and members, sync states,
conflicts (zfsync_witness/db/models.py says what each holds).

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "admin_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("key_hash", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "sync_groups",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.String(length=1024), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("strategy", sa.String(length=32), nullable=False),
        sa.Column("interval_seconds", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "systems",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("ssh_user", sa.String(length=64), nullable=True),
        sa.Column("ssh_port", sa.Integer(), nullable=True),
        sa.Column("platform", sa.String(length=64), nullable=True),
        sa.Column("description", sa.String(length=1024), nullable=True),
        sa.Column("key_hash", sa.String(length=255), nullable=False),
        sa.Column("key_created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_report", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "conflicts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("group_id", sa.Uuid(), nullable=False),
        sa.Column("dataset", sa.String(length=1024), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.Column("strategy", sa.String(length=32), nullable=True),
        sa.Column("winner_system_id", sa.Uuid(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["group_id"], ["sync_groups.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["winner_system_id"], ["systems.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_conflicts_group_status", "conflicts", ["group_id", "status"], unique=False)
    op.create_table(
        "snapshots",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("system_id", sa.Uuid(), nullable=False),
        sa.Column("pool", sa.String(length=255), nullable=False),
        sa.Column("dataset", sa.String(length=1024), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("guid", sa.String(length=20), nullable=True),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("txg", sa.BigInteger(), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["system_id"], ["systems.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_snapshots_dataset_created", "snapshots", ["dataset", "created"], unique=False
    )
    op.create_index(
        "ix_snapshots_system_live", "snapshots", ["system_id", "removed_at"], unique=False
    )
    op.create_table(
        "sync_group_systems",
        sa.Column("group_id", sa.Uuid(), nullable=False),
        sa.Column("system_id", sa.Uuid(), nullable=False),
        sa.Column("pool", sa.String(length=255), nullable=True),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["sync_groups.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["system_id"], ["systems.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("group_id", "system_id"),
    )
    op.create_index(
        op.f("ix_sync_group_systems_system_id"), "sync_group_systems", ["system_id"], unique=False
    )
    op.create_table(
        "sync_states",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("group_id", sa.Uuid(), nullable=False),
        sa.Column("system_id", sa.Uuid(), nullable=False),
        sa.Column("dataset", sa.String(length=1024), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source_system_id", sa.Uuid(), nullable=True),
        sa.Column("base", sa.String(length=255), nullable=True),
        sa.Column("newest", sa.String(length=255), nullable=True),
        sa.Column("force", sa.Boolean(), nullable=False),
        sa.Column("last_check", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_sync", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["group_id"], ["sync_groups.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["source_system_id"], ["systems.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["system_id"], ["systems.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("group_id", "system_id", "dataset"),
    )
    op.create_index(op.f("ix_sync_states_system_id"), "sync_states", ["system_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_sync_states_system_id"), "sync_states")
    op.drop_table("sync_states")
    op.drop_index(op.f("ix_sync_group_systems_system_id"), "sync_group_systems")
    op.drop_table("sync_group_systems")
    op.drop_index("ix_snapshots_system_live", "snapshots")
    op.drop_index("ix_snapshots_dataset_created", "snapshots")
    op.drop_table("snapshots")
    op.drop_index("ix_conflicts_group_status", "conflicts")
    op.drop_table("conflicts")
    op.drop_table("systems")
    op.drop_table("sync_groups")
    op.drop_table("admin_keys")
