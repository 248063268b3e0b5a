"""The replica-pause and replica-resume transactions: `zfsync:paused=on` on a source, so that
`sync all` skips the pair (seed 003: "pause/skip replication on a fs, for sync all"), and
its removal.

One step, set-properties on the source, whose undo restores the value it found (so a
rollback of a pause resumes, and of a resume pauses again). Only a source is paused: the
destination never starts a sync. Resume removes the property (`zfs inherit`) rather than
setting `off`, so a resumed source reads as one never paused.

Planning reads the source (one `zfs get`, ends.py), then decides with `decide` (tables in
tests/unit/ops/replication).
"""

from __future__ import annotations

from zfsyncd.api.names import Action
from zfsyncd.ops.replication.ends import ON, End, read_end, role_refusal
from zfsyncd.ops.replication.props import PAUSED, Role
from zfsyncd.ops.replication.requests import PauseRequest
from zfsyncd.tx.errors import MissingObjectError, PlanError
from zfsyncd.tx.hosts import LOCAL
from zfsyncd.tx.kinds import BusMethod, Plan, PlanContext, RequestKind, register_kind
from zfsyncd.tx.steps.properties import SetProperties, SetPropertiesArgs


def describe(request: PauseRequest, pause: bool) -> str:
    verb = "pause" if pause else "resume"
    return f"{verb} replication of {request.source}"


def decide(request: PauseRequest, source: End | None, pause: bool) -> Plan:
    """The one step that sets (pause) or removes (resume) PAUSED on the source; PlanError
    when it is not a source, or already is as asked."""
    if source is None:
        raise MissingObjectError(f"dataset {request.source} does not exist")
    problem = role_refusal(source, Role.SOURCE)
    if problem is not None:
        raise PlanError(problem)
    if (source.local.get(PAUSED) == ON) == pause:
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
        source = await read_end(ctx.host(LOCAL).zfs, LOCAL, request.source)
        return decide(request, source, self.pause)


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
