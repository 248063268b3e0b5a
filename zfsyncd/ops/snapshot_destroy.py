"""The destroy-snapshots transaction: destroy named snapshots, recoverably until it completes.

Only zfsyncd's own snapshots (names beginning `zfsync_`) unless the request says
`any_name`: DESIGN.md promises it never touches other snapshots unless told to. The step
renames each snapshot to a trash name (guid-checked), so a failure or a cancel puts every one
back; the snapshots are destroyed when the transaction completes. What `zfs destroy` would
refuse later (a hold, a clone) is refused at plan time, before anything moved.

Planning reads, then decides: `read_facts` lists the pools named (one `zfs list -r` each),
`decide` builds the step from that listing alone (a pure function, tested with tables of
examples in tests/unit/ops/).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field, field_validator

from zfsyncd.api.limits import MAX_NAMES_PER_CALL
from zfsyncd.api.names import Action
from zfsyncd.ops.snapshot import PREFIX
from zfsyncd.tx.errors import MissingObjectError, PlanError
from zfsyncd.tx.hosts import LOCAL
from zfsyncd.tx.kinds import BusMethod, Plan, PlanContext, RequestKind, register_kind
from zfsyncd.tx.steps.pools import Listing, clones_of, read_pools
from zfsyncd.tx.steps.snapshots import DestroySnapshots, DestroySnapshotsArgs
from zfsyncd.tx.steps.trash import TRASH_PREFIX
from zfsyncd.zfs import names
from zfsyncd.zfs.backend import ZfsBackend
from zfsyncd.zfs.models import SnapshotName


class DestroySnapshotsRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    snapshots: tuple[SnapshotName, ...] = Field(min_length=1, max_length=MAX_NAMES_PER_CALL)
    any_name: bool = False

    @field_validator("snapshots")
    @classmethod
    def _distinct(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("a snapshot is named twice")
        return value


@dataclass(frozen=True)
class DestroyFacts:
    """What the plan decides from: the pools of the snapshots named, as they are."""

    #: their filesystems, volumes and snapshots (a snapshot's guid and holds count, each
    #: dataset's origin)
    listing: Listing
    #: the hold tags of the first snapshot named that is held: the refusal names them
    holds: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


async def read_facts(zfs: ZfsBackend, request: DestroySnapshotsRequest) -> DestroyFacts:
    """One `zfs list -r` per pool named, and a `zfs holds` of one snapshot when one named
    is held (the plan is refused then, at the first held one: the others are not needed)."""
    listing = await read_pools(zfs, (names.pool_of(s) for s in request.snapshots))
    for snap in request.snapshots:
        found = listing.get(snap)
        if found is not None and found.userrefs:
            return DestroyFacts(listing, {snap: tuple(h.tag for h in await zfs.holds(snap))})
    return DestroyFacts(listing)


def describe(request: DestroySnapshotsRequest) -> str:
    return f"destroy {', '.join(request.snapshots)}"


def decide(request: DestroySnapshotsRequest, facts: DestroyFacts) -> Plan:
    """The one step that moves every snapshot named to the trash, guid-checked; PlanError
    for a snapshot that is not zfsyncd's (unless any_name), missing, held or cloned."""
    guids: dict[str, int | None] = {}
    for snap in request.snapshots:
        short = names.short_name(snap)
        if short.startswith(TRASH_PREFIX):
            raise PlanError(f"{snap} belongs to a transaction that is still running")
        if not request.any_name and not short.startswith(PREFIX):
            raise PlanError(
                f"{snap} was not made by zfsyncd (its name does not begin with {PREFIX}); "
                "ask for any_name (zfsyncctl: --any-name) to destroy it anyway"
            )
        found = facts.listing.get(snap)
        if found is None:
            raise MissingObjectError(f"snapshot {snap} does not exist")
        if found.userrefs:
            held = ", ".join(facts.holds.get(snap, ()))
            raise PlanError(f"snapshot {snap} is held ({held}): release it first")
        guids[snap] = found.guid
    clones = clones_of(facts.listing, guids)
    if clones:
        raise PlanError(
            f"snapshot {clones[0].origin} has a clone, {clones[0].name}: destroy or promote "
            "the clone first"
        )
    step = DestroySnapshots(DestroySnapshotsArgs(snapshots=guids))
    return Plan(steps=[step], description=describe(request))


class DestroySnapshotsKind(RequestKind[DestroySnapshotsRequest]):
    name = "destroy-snapshots"
    action = Action.SNAPSHOT
    request = DestroySnapshotsRequest
    method = BusMethod("DestroySnapshots", positional=("snapshots",))

    def summary(self, request: DestroySnapshotsRequest) -> str:
        return describe(request)

    def targets(self, request: DestroySnapshotsRequest) -> set[str]:
        return {names.dataset_of(s) for s in request.snapshots}

    async def plan_request(self, ctx: PlanContext, request: DestroySnapshotsRequest) -> Plan:
        return decide(request, await read_facts(ctx.host(LOCAL).zfs, request))


DESTROY_SNAPSHOTS = register_kind(DestroySnapshotsKind())
