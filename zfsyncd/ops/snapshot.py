"""The snapshot transaction: snapshots of one or more datasets, optionally held.

Names follow DESIGN.md: `zfsync_<transaction id>`. The id begins with the UTC time to the
microsecond and ends with random hex, so the names sort by time, are unique, and say which
transaction made them (an undo after a crash relies on that). Snapshots of one pool are
taken by one `zfs snapshot` (atomic, one txg); each pool gets its own step. The hold, when
asked for, has the tag `zfsync_<transaction id>`.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from zfsyncd.api.names import Action
from zfsyncd.tx.errors import PlanError
from zfsyncd.tx.hosts import LOCAL
from zfsyncd.tx.kinds import BusMethod, Plan, register_kind
from zfsyncd.tx.steps import Step, StepContext
from zfsyncd.tx.steps.base import JsonDict
from zfsyncd.tx.steps.holds import HoldArgs, HoldSnapshots
from zfsyncd.tx.steps.snapshots import CreateSnapshots, CreateSnapshotsArgs
from zfsyncd.zfs import names
from zfsyncd.zfs.errors import NotFoundError
from zfsyncd.zfs.models import DatasetName, ObjectType, Properties

PREFIX = "zfsync_"


def snapshot_name(tx_id: str) -> str:
    return f"{PREFIX}{tx_id}"


def hold_tag(tx_id: str) -> str:
    return f"{PREFIX}{tx_id}"


class SnapshotRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    datasets: tuple[DatasetName, ...] = Field(min_length=1)
    recursive: bool = False
    hold: bool = False
    properties: Properties = Field(default_factory=dict)

    @field_validator("datasets")
    @classmethod
    def _distinct(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("a dataset is named twice")
        return value

    @field_validator("properties")
    @classmethod
    def _user_properties(cls, value: dict[str, str]) -> dict[str, str]:
        for prop in value:
            names.check_user_property(prop)  # only user properties can be set on snapshots
        return value


class SnapshotKind:
    name = "snapshot"
    action = Action.SNAPSHOT
    request = SnapshotRequest
    method = BusMethod("Snapshot", positional=("datasets",))

    def describe(self, params: JsonDict) -> str:
        request = SnapshotRequest.model_validate(params)
        recursive = " recursively" if request.recursive else ""
        held = ", held" if request.hold else ""
        return f"snapshot {', '.join(request.datasets)}{recursive}{held}"

    def datasets(self, params: JsonDict) -> set[str]:
        return set(SnapshotRequest.model_validate(params).datasets)

    async def plan(self, ctx: StepContext, params: JsonDict) -> Plan:
        request = SnapshotRequest.model_validate(params)
        zfs = ctx.host(LOCAL).zfs
        short = snapshot_name(ctx.tx_id)
        covered: set[str] = set()  # every dataset that will get the snapshot
        for dataset in request.datasets:
            try:
                found = await zfs.get(dataset)
            except NotFoundError:
                raise PlanError(f"dataset {dataset} does not exist") from None
            if found.type not in (ObjectType.FILESYSTEM, ObjectType.VOLUME):
                raise PlanError(f"{dataset} is a {found.type}, not a filesystem or volume")
            below = [dataset]
            if request.recursive:
                children = await zfs.list(dataset, types=[ObjectType.FILESYSTEM, ObjectType.VOLUME])
                below = [c.name for c in children]
            overlap = covered.intersection(below)
            if overlap:
                raise PlanError(f"{sorted(overlap)[0]} would be snapshotted twice")
            covered.update(below)
        for dataset in sorted(covered):
            names.check_snapshot(f"{dataset}@{short}")  # a long name may leave no room
            if await zfs.exists(f"{dataset}@{short}"):
                raise PlanError(f"snapshot {dataset}@{short} already exists")

        by_pool: dict[str, list[str]] = defaultdict(list)
        for dataset in request.datasets:
            by_pool[names.pool_of(dataset)].append(f"{dataset}@{short}")
        steps: list[Step[Any]] = []
        for pool in sorted(by_pool):
            steps.append(
                CreateSnapshots(
                    CreateSnapshotsArgs(
                        snapshots=tuple(by_pool[pool]),
                        recursive=request.recursive,
                        properties=request.properties,
                    )
                )
            )
        if request.hold:
            held = sorted(f"{d}@{short}" for d in covered)
            for pool in sorted(by_pool):
                in_pool = tuple(s for s in held if names.pool_of(s) == pool)
                steps.append(HoldSnapshots(HoldArgs(tag=hold_tag(ctx.tx_id), snapshots=in_pool)))
        description = self.describe(params)
        return Plan(steps=steps, description=description, extra_datasets=covered)


SNAPSHOT = register_kind(SnapshotKind())
