"""The request of every replica transaction type: what its bus method and zfsyncctl take.

The kind modules declare these as their `request`; the Manager method's arguments and
options, and zfsyncctl's option checks, follow from the fields (zfsyncd/tx/kinds.py).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from zfsyncd.api.limits import MAX_NAMES_PER_CALL
from zfsyncd.ops.replication.props import DEFAULT_SAVECOUNT, MAX_SAVECOUNT, PeerAddress
from zfsyncd.zfs.models import DatasetName, SnapshotName

#: transfers a sync runs at once (`sync all -P N`)
MAX_PARALLEL = 16


class _Request(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class InitRequest(_Request):
    """`replica init SRC [HOST:]DST`: make SRC a source replicated to DST."""

    source: DatasetName
    destination: PeerAddress
    #: -R: the source's descendants too (one `zfs send -R`)
    recursive: bool = False
    #: zfsync:savecount on the source, and on the destination unless given there
    savecount: int = Field(default=DEFAULT_SAVECOUNT, ge=1, le=MAX_SAVECOUNT)
    destination_savecount: int | None = Field(default=None, ge=1, le=MAX_SAVECOUNT)


class SyncRequest(_Request):
    """`replica sync SRC...` or `replica sync all` (no sources: every managed source that
    is not paused)."""

    sources: tuple[DatasetName, ...] = Field(default=(), max_length=MAX_NAMES_PER_CALL)
    #: transfers at once
    parallel: int = Field(default=1, ge=1, le=MAX_PARALLEL)

    @field_validator("sources")
    @classmethod
    def _distinct(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("a source is named twice")
        return value


class SyncToRequest(_Request):
    """`replica sync SRC@SNAP`: roll the destination back to SNAP (a snapshot both sides
    share); SNAP's newer source snapshots are marked not sent."""

    snapshot: SnapshotName


class ExpireRequest(_Request):
    """`replica expire [SRC...]`: keep each side's zfsync:savecount snapshots."""

    sources: tuple[DatasetName, ...] = Field(default=(), max_length=MAX_NAMES_PER_CALL)


class FailoverRequest(_Request):
    """`replica failover SRC [-L]`: SRC becomes the destination, its peer the source."""

    source: DatasetName
    #: -L: change only this side (the peer cannot be reached); no final sync
    local_only: bool = False


class TakeoverRequest(_Request):
    """`replica takeover DST [-L] [--snapshot SNAP]`: DST becomes the source."""

    destination: DatasetName
    local_only: bool = False
    #: roll DST back to this snapshot of its own first (short name, `zfsync_...`)
    snapshot: str | None = None


class PauseRequest(_Request):
    """`replica pause SRC` / `replica resume SRC`."""

    source: DatasetName


class ClearRequest(_Request):
    """`replica clear SRC`: forget the pair (properties and holds on both sides)."""

    source: DatasetName
    #: also destroy the zfsync_ snapshots and bookmarks (both sides)
    destroy_snapshots: bool = False


class ReconfigureRequest(_Request):
    """`replica reconfigure SRC [HOST:]DST`: a new peer for SRC (the new destination must
    already hold a snapshot SRC has, by guid, or be empty)."""

    source: DatasetName
    destination: PeerAddress
