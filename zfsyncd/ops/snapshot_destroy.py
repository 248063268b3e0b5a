"""The destroy-snapshots transaction: destroy named snapshots, recoverably until it completes.

Only zfsyncd's own snapshots (names beginning `zfsync_`) unless the request says
`any_name`: DESIGN.md promises it never touches other snapshots unless told to. The step
renames each snapshot to a trash name (guid-checked), so a failure or a cancel puts every one
back; the snapshots are destroyed when the transaction completes. What `zfs destroy` would
refuse later (a hold, a clone) is refused at plan time, before anything moved.
"""

from __future__ import annotations

from collections import defaultdict

from pydantic import BaseModel, ConfigDict, Field, field_validator

from zfsyncd.api.names import Action
from zfsyncd.ops.snapshot import PREFIX
from zfsyncd.tx.errors import PlanError
from zfsyncd.tx.hosts import LOCAL
from zfsyncd.tx.kinds import BusMethod, Plan, register_kind
from zfsyncd.tx.steps import StepContext
from zfsyncd.tx.steps.base import JsonDict
from zfsyncd.tx.steps.snapshots import DestroySnapshots, DestroySnapshotsArgs
from zfsyncd.tx.steps.trash import TRASH_PREFIX
from zfsyncd.zfs import names
from zfsyncd.zfs.errors import NotFoundError
from zfsyncd.zfs.models import ObjectType, SnapshotName


class DestroySnapshotsRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    snapshots: tuple[SnapshotName, ...] = Field(min_length=1)
    any_name: bool = False

    @field_validator("snapshots")
    @classmethod
    def _distinct(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("a snapshot is named twice")
        return value


class DestroySnapshotsKind:
    name = "destroy-snapshots"
    action = Action.SNAPSHOT
    request = DestroySnapshotsRequest
    method = BusMethod("DestroySnapshots", positional=("snapshots",))

    def describe(self, params: JsonDict) -> str:
        request = DestroySnapshotsRequest.model_validate(params)
        return f"destroy {', '.join(request.snapshots)}"

    def datasets(self, params: JsonDict) -> set[str]:
        request = DestroySnapshotsRequest.model_validate(params)
        return {names.dataset_of(s) for s in request.snapshots}

    async def plan(self, ctx: StepContext, params: JsonDict) -> Plan:
        request = DestroySnapshotsRequest.model_validate(params)
        zfs = ctx.host(LOCAL).zfs
        guids: dict[str, int | None] = {}
        for snap in request.snapshots:
            short = names.short_name(snap)
            if short.startswith(TRASH_PREFIX):
                raise PlanError(f"{snap} belongs to a transaction that is still running")
            if not request.any_name and not short.startswith(PREFIX):
                raise PlanError(
                    f"{snap} was not made by zfsyncd (its name does not begin with {PREFIX}); "
                    "ask for any_name to destroy it anyway"
                )
            try:
                found = await zfs.get(snap)
            except NotFoundError:
                raise PlanError(f"snapshot {snap} does not exist") from None
            if found.userrefs:
                held = ", ".join(h.tag for h in await zfs.holds(snap))
                raise PlanError(f"snapshot {snap} is held ({held}): release it first")
            guids[snap] = found.guid
        by_pool: dict[str, set[str]] = defaultdict(set)
        for snap in guids:
            by_pool[names.pool_of(snap)].add(snap)
        for pool, snaps in sorted(by_pool.items()):
            for dataset in await zfs.list(pool, types=[ObjectType.FILESYSTEM, ObjectType.VOLUME]):
                if dataset.origin in snaps:
                    raise PlanError(
                        f"snapshot {dataset.origin} has a clone, {dataset.name}: destroy or "
                        "promote the clone first"
                    )
        step = DestroySnapshots(DestroySnapshotsArgs(snapshots=guids))
        return Plan(steps=[step], description=self.describe(params))


DESTROY_SNAPSHOTS = register_kind(DestroySnapshotsKind())
