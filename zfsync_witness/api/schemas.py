"""Request and response bodies (pydantic). Every string and list a caller sends is bounded;
unknown fields are refused (a typo must not be silently ignored)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from zfsync_witness.services.reports import SystemStats
from zfsync_witness.strategies import Strategy

Name = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]+$")]
Text = Annotated[str, Field(max_length=1024)]
#: a full snapshot name: pool[/dataset]@snapshot (ZFS: at most 255 bytes in all, so each part
#: fits the database's columns)
SnapshotName = Annotated[str, Field(min_length=3, max_length=255, pattern=r"^[^\x00-\x1f\x7f]+$")]
Guid = Annotated[str, Field(pattern=r"^[0-9]{1,20}$")]
Epoch = Annotated[int, Field(ge=0, le=2**40)]
Bytes = Annotated[int, Field(ge=0, le=2**62)]


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- systems ---------------------------------------------------------------------------


class SystemIn(In):
    name: Name
    hostname: Name
    ssh_user: Annotated[str, Field(max_length=64)] | None = None
    ssh_port: Annotated[int, Field(ge=1, le=65535)] | None = None
    platform: Annotated[str, Field(max_length=64)] | None = None
    description: Text | None = None


class SystemUpdate(In):
    name: Name | None = None
    hostname: Name | None = None
    ssh_user: Annotated[str, Field(max_length=64)] | None = None
    ssh_port: Annotated[int, Field(ge=1, le=65535)] | None = None
    platform: Annotated[str, Field(max_length=64)] | None = None
    description: Text | None = None


class SystemOut(Out):
    id: uuid.UUID
    name: str
    hostname: str
    ssh_user: str | None
    ssh_port: int | None
    platform: str | None
    description: str | None
    created_at: datetime
    updated_at: datetime
    key_created_at: datetime
    last_seen: datetime | None
    last_report: datetime | None
    online: bool = False


class Registered(BaseModel):
    system: SystemOut
    #: shown this once: only a salted hash of it is stored
    api_key: str


class NewKey(BaseModel):
    api_key: str


# --- snapshots -------------------------------------------------------------------------


class SnapshotIn(In):
    name: SnapshotName
    created: Epoch
    guid: Guid | None = None
    txg: Annotated[int, Field(ge=0, le=2**63 - 1)] | None = None
    size: Bytes = 0
    #: whose snapshot this is; when given, it must be the reporting system itself
    system_id: uuid.UUID | None = None


class BatchIn(In):
    snapshots: list[SnapshotIn]
    #: the system's whole inventory: its snapshots not named here are marked removed
    complete: bool = False
    system_id: uuid.UUID | None = None


class ReportOut(BaseModel):
    added: int
    updated: int
    removed: int
    unchanged: int


class SnapshotOut(Out):
    id: int
    system_id: uuid.UUID
    pool: str
    dataset: str
    name: str
    guid: str | None
    created: int
    txg: int | None
    size: int
    reported_at: datetime
    removed_at: datetime | None


class StatisticsOut(BaseModel):
    systems: list[SystemStats]
    snapshots: int
    removed: int


# --- sync groups -----------------------------------------------------------------------


class GroupIn(In):
    name: Name
    description: Text | None = None
    enabled: bool = True
    strategy: Strategy = Strategy.MANUAL
    interval_seconds: Annotated[int, Field(ge=60, le=7 * 86400)] = 3600


class GroupUpdate(In):
    name: Name | None = None
    description: Text | None = None
    enabled: bool | None = None
    strategy: Strategy | None = None
    interval_seconds: Annotated[int, Field(ge=60, le=7 * 86400)] | None = None


class MemberIn(In):
    system_id: uuid.UUID
    #: the pool the system receives the group's datasets into when it has none of them yet
    pool: Name | None = None


class MemberOut(Out):
    system_id: uuid.UUID
    pool: str | None
    added_at: datetime


class GroupOut(Out):
    id: uuid.UUID
    name: str
    description: str | None
    enabled: bool
    strategy: Strategy
    interval_seconds: int
    created_at: datetime
    updated_at: datetime
    members: list[MemberOut] = []


# --- sync ------------------------------------------------------------------------------


class Instruction(BaseModel):
    """Receive `newest` of the dataset from the source system into the target's pool."""

    group_id: uuid.UUID
    group: str
    dataset: str
    source_system_id: uuid.UUID
    source_hostname: str
    source_ssh_user: str | None
    source_ssh_port: int | None
    source_pool: str
    target_system_id: uuid.UUID
    target_pool: str
    #: the incremental base, a snapshot both hold; None: a full send
    base: str | None
    newest: str
    #: roll the target back to `base` first (destroying its snapshots after it), or with
    #: no base replace the target's copy of the dataset: a conflict was resolved this way
    force: bool
    snapshots: int
    source_snapshot: str  # pool/dataset@newest on the source
    target_dataset: str  # pool/dataset on the target


class InstructionsOut(BaseModel):
    system_id: uuid.UUID
    instructions: list[Instruction]


class SyncStateOut(Out):
    id: int
    group_id: uuid.UUID
    system_id: uuid.UUID
    dataset: str
    status: str
    source_system_id: uuid.UUID | None
    base: str | None
    newest: str | None
    force: bool
    last_check: datetime
    last_sync: datetime | None
    error: str | None = None


class OutcomeIn(In):
    """What became of an instruction the system fetched: `ok`, or the reason it failed."""

    group_id: uuid.UUID
    dataset: Annotated[str, Field(max_length=1024)]
    ok: bool
    error: Annotated[str, Field(max_length=4096)] | None = None
    #: the system's own record of the attempt (zfsyncd: the transaction's id)
    transaction_id: Annotated[str, Field(max_length=64)] | None = None


class OutcomeOut(BaseModel):
    status: str


class DatasetCheck(BaseModel):
    dataset: str
    leader: str | None
    conflict: str | None
    transfers: int
    in_sync: int


class CheckOut(BaseModel):
    group_id: uuid.UUID
    datasets: list[DatasetCheck]
    conflicts: int


# --- conflicts -------------------------------------------------------------------------


class ConflictOut(Out):
    id: uuid.UUID
    group_id: uuid.UUID
    dataset: str
    kind: str
    status: str
    problems: list[dict[str, Any]]
    strategy: str | None
    winner_system_id: uuid.UUID | None
    note: str | None
    detected_at: datetime
    updated_at: datetime
    resolved_at: datetime | None


class ResolveIn(In):
    """Name the winner, or a strategy to apply now (`ignore` included)."""

    winner_system_id: uuid.UUID | None = None
    strategy: Strategy | None = None
    note: Text | None = None


class Health(BaseModel):
    status: str
    database: str | None = None
    schema_revision: str | None = None
