"""The rollback-dataset transaction: `zfs rollback -r` of one filesystem to one of its
snapshots, done as a swap (zfsyncd/tx/steps/zfs_rollback.py) so that a failure, a cancel or a
crash before it completes leaves the dataset exactly as it was.

Once completed it is final: the newer snapshots and the data written after the target are
destroyed then, and a later manual rollback of the transaction is refused with that reason.
The request is refused before anything changes when the swap could not be undone or would
not end as `zfs rollback -r` does (no such snapshot, not a filesystem, child datasets, a held
newer snapshot, a clone of a newer snapshot, encryption, received properties, a legacy
mountpoint, a partial receive). Planning reads the pool (`read_facts`), then decides from
what it read alone (`decide`, which asks `refusal_of`: zfsyncd/tx/steps/zfs_rollback_refusal.py).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from zfsyncd.api.names import Action
from zfsyncd.tx.errors import PlanError
from zfsyncd.tx.hosts import LOCAL
from zfsyncd.tx.kinds import BusMethod, Plan, PlanContext, RequestKind, register_kind
from zfsyncd.tx.steps.zfs_rollback import RollbackArgs, RollbackDataset
from zfsyncd.tx.steps.zfs_rollback_refusal import RollbackFacts, read_facts, refusal_of
from zfsyncd.zfs import names
from zfsyncd.zfs.models import SnapshotName


class RollbackRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    #: the snapshot to roll back to (`pool/fs@name`); its dataset is the one rolled back
    snapshot: SnapshotName

    @property
    def dataset(self) -> str:
        return names.dataset_of(self.snapshot)


def describe(request: RollbackRequest) -> str:
    return f"roll {request.dataset} back to {request.snapshot}, destroying newer snapshots"


def decide(request: RollbackRequest, facts: RollbackFacts, tx_id: str) -> Plan:
    """The one swap step, or PlanError with the reason it is refused (`refusal_of`)."""
    problem = refusal_of(request.snapshot, facts, tx_id)
    if problem is not None:
        raise PlanError(problem)
    # the step acts only on the dataset seen now, not on one made under its name later
    guid = facts.listing[request.dataset].guid
    step = RollbackDataset(RollbackArgs(snapshot=request.snapshot, guid=guid))
    return Plan(steps=[step], description=describe(request))


class RollbackDatasetKind(RequestKind[RollbackRequest]):
    name = "rollback-dataset"
    action = Action.ROLLBACK
    request = RollbackRequest
    #: `zfsyncctl dataset rollback DATASET@SNAP`
    method = BusMethod("DatasetRollback", positional=("snapshot",))

    def summary(self, request: RollbackRequest) -> str:
        return describe(request)

    def targets(self, request: RollbackRequest) -> set[str]:
        return {request.dataset}

    async def plan_request(self, ctx: PlanContext, request: RollbackRequest) -> Plan:
        facts = await read_facts(ctx.host(LOCAL).zfs, request.snapshot)
        return decide(request, facts, ctx.tx_id)


ROLLBACK_DATASET = register_kind(RollbackDatasetKind())
