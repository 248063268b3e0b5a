"""The replica-pause and replica-resume transactions: `zfsync:paused=on` on a source, so that
`sync all` skips the pair (seed 003: "pause/skip replication on a fs, for sync all"), and
its removal.

One step, set-properties on the source, whose undo restores the value it found (so a
rollback of a pause resumes, and of a resume pauses again). Only a source is paused: the
destination never starts a sync. Resume removes the property (`zfs inherit`) rather than
setting `off`, so a resumed source reads as one never paused.

Planning reads the source's own values of the pair's properties (one `zfs get`: the
source of each value matters, since `zfs list -o` would also show a value a parent's
property passes down), then decides with `decide` (tables in tests/unit/ops/replication).
"""

from __future__ import annotations

from collections.abc import Mapping

from zfsyncd.api.names import Action
from zfsyncd.ops.replication.props import DATASET_PROPERTIES, PAUSED, PEER, ROLE, Role
from zfsyncd.ops.replication.requests import PauseRequest
from zfsyncd.tx.errors import MissingObjectError, PlanError
from zfsyncd.tx.hosts import LOCAL
from zfsyncd.tx.kinds import BusMethod, Plan, PlanContext, RequestKind, register_kind
from zfsyncd.tx.steps.properties import SetProperties, SetPropertiesArgs
from zfsyncd.zfs.backend import ZfsBackend
from zfsyncd.zfs.errors import NotFoundError
from zfsyncd.zfs.models import PropertySource

#: the value of PAUSED on a paused source
ON = "on"


async def read_local(zfs: ZfsBackend, dataset: str) -> dict[str, str] | None:
    """The pair's properties set on `dataset` itself (one `zfs get`); None when it does not
    exist."""
    try:
        values = await zfs.get_properties(dataset, list(DATASET_PROPERTIES))
    except NotFoundError:
        return None
    return {
        prop: value.value
        for prop, value in values.items()
        if value.source is PropertySource.LOCAL and value.value is not None
    }


def source_refusal(dataset: str, local: Mapping[str, str]) -> str | None:
    """Why `dataset` (with these values of its own) is not the source of a replica pair;
    None when it is."""
    role = local.get(ROLE)
    if role == Role.DESTINATION:
        return (
            f"{dataset} is the destination of a replica pair (its source: "
            f"{local.get(PEER, 'unknown')}): name the source"
        )
    if role != Role.SOURCE:
        return f"{dataset} is not the source of a replica pair (no {ROLE}=source set on it)"
    return None


def describe(request: PauseRequest, pause: bool) -> str:
    verb = "pause" if pause else "resume"
    return f"{verb} replication of {request.source}"


def decide(request: PauseRequest, local: Mapping[str, str] | None, pause: bool) -> Plan:
    """The one step that sets (pause) or removes (resume) PAUSED on the source; PlanError
    when it is not a source, or already is as asked."""
    if local is None:
        raise MissingObjectError(f"dataset {request.source} does not exist")
    problem = source_refusal(request.source, local)
    if problem is not None:
        raise PlanError(problem)
    paused = local.get(PAUSED) == ON
    if paused == pause:
        raise PlanError(f"{request.source} is {'already' if pause else 'not'} paused")
    change: dict[str, str | None] = {PAUSED: ON if pause else None}
    step = SetProperties(SetPropertiesArgs(name=request.source, properties=change))
    return Plan(steps=[step], description=describe(request, pause))


class _PauseOrResume(RequestKind[PauseRequest]):
    action = Action.REPLICATE
    request = PauseRequest
    pause: bool

    def summary(self, request: PauseRequest) -> str:
        return describe(request, self.pause)

    def targets(self, request: PauseRequest) -> set[str]:
        return {request.source}

    async def plan_request(self, ctx: PlanContext, request: PauseRequest) -> Plan:
        local = await read_local(ctx.host(LOCAL).zfs, request.source)
        return decide(request, local, self.pause)


class PauseKind(_PauseOrResume):
    name = "replica-pause"
    method = BusMethod("ReplicaPause", positional=("source",))
    pause = True


class ResumeKind(_PauseOrResume):
    name = "replica-resume"
    method = BusMethod("ReplicaResume", positional=("source",))
    pause = False


PAUSE = register_kind(PauseKind())
RESUME = register_kind(ResumeKind())
