"""The witness-receive transaction: this host receives a dataset's snapshots from another
host it is configured for (`[hosts.NAME]`), as a witness instruction says (issue 14, seed
001: "systems execute commands based on instructions"; zfsyncd/witness/ turns each
instruction into one of these).

Unlike a replica pair (init.py, sync.py), nothing marks the two datasets: the witness, not
ZFS properties, knows which systems hold a dataset, so the transaction pulls the stream
(`zfs send` on the source host, `zfs receive` here) and changes nothing on the source.

Planning reads the source dataset on its host and the target here (one `zfs list` each, a
`zfs holds` only where something is held), then `decide` picks one way or refuses:

- no base, no target: the source's whole history up to the newest snapshot, in two
  streams whatever its length: a full send of its oldest snapshot, then one `-I` from it
  to the newest (a new member must not report the older ones "missing"); one full send
  when the newest is the only one;
- no base, a target, `force`: the target is moved aside (renamed to a trash name; undo
  moves it back, finalize destroys it) and replaced by those streams: the witness
  resolved an orphaned copy this way. Without `force` a target that exists is refused;
- a base: it must be a snapshot of both sides with one guid; what the target holds after
  it (newer snapshots, data written) is rolled back by the reversible swap (rewind.py)
  when `force` says the witness decided so, else refused as diverged; then an incremental
  `-I` from the base, so the target gets every snapshot between (a witness compares whole
  histories: a snapshot skipped would be reported "missing").

A target that holds the newest snapshot already (by guid; for a forced request, the
source's whole history from the base to it, nothing written since) is
`AlreadyReceivedError`: the instruction is done, nothing to run. (A full receive's
history is the source's snapshots from its oldest: `zfsync_trash_` snapshots, on their
way out and never reported to the witness, are not sent as the oldest.) Never `receive -F`,
which no undo could take back.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from zfsyncd.api.names import Action
from zfsyncd.ops.replication.inventory import DatasetState, Point, configured_host, read_side
from zfsyncd.ops.replication.rewind import rewind_steps
from zfsyncd.tx.errors import MissingObjectError, PlanError
from zfsyncd.tx.hosts import LOCAL, HostName, located
from zfsyncd.tx.kinds import Plan, PlanContext, RequestKind, register_kind
from zfsyncd.tx.steps import Step
from zfsyncd.tx.steps.datasets import DestroyDataset, DestroyDatasetArgs
from zfsyncd.tx.steps.transfer import SendReceive, SendReceiveArgs
from zfsyncd.tx.steps.trash import TRASH_PREFIX
from zfsyncd.tx.steps.zfs_rollback_refusal import RollbackFacts, read_facts
from zfsyncd.zfs import names
from zfsyncd.zfs.models import DatasetName, RecvSpec, SendSpec, SnapshotName


class ReceiveRequest(BaseModel):
    """Receive `snapshot` (on `source_host`) into `target` (here)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: the configured host the stream comes from ([hosts.NAME]; `local`: another pool here)
    source_host: HostName
    #: the newest snapshot to receive, as the source names it (`pool/dataset@name`)
    snapshot: SnapshotName
    #: the incremental base's short name (a snapshot both hold); None: a full send
    base: str | None = Field(default=None, min_length=1, max_length=255)
    #: the dataset on this host that receives it
    target: DatasetName
    #: the witness decided a conflict for the source: what the target holds after `base`
    #: (or, without a base, the target itself) is given up
    force: bool = False

    @property
    def source(self) -> str:
        return names.dataset_of(self.snapshot)


class AlreadyReceivedError(PlanError):
    """The target holds the snapshot already: the instruction has nothing left to do."""

    kind = "already-received"


def describe(request: ReceiveRequest) -> str:
    base = f" from {request.base}" if request.base else " (full)"
    forced = ", replacing what differs" if request.force else ""
    return f"receive {request.source_host}:{request.snapshot}{base} into {request.target}{forced}"


def _base_on(state: DatasetState, short: str) -> Point:
    point = state.snapshot(short)
    if point is None:
        raise MissingObjectError(f"{state.name} has no snapshot {short!r}: no incremental base")
    return point


def _after(state: DatasetState, point: Point) -> list[Point]:
    return [p for p in state.snapshots if p.createtxg > point.createtxg]


def _history(source: DatasetState, newest: Point) -> list[Point]:
    """The source's snapshots a full receive brings, oldest first: up to `newest`,
    bookmarks and trashed snapshots left out (the newest is always among them)."""
    return [
        p
        for p in source.snapshots
        if not p.is_bookmark
        and p.createtxg <= newest.createtxg
        and (TRASH_PREFIX not in p.short or p.guid == newest.guid)
    ]


def _holds(
    request: ReceiveRequest, source: DatasetState, newest: Point, target: DatasetState
) -> bool:
    """Whether the target has what the request would give it: the newest snapshot (by
    guid) and, for a forced one, the source's history from the base to it, with nothing
    of its own written since (a forced instruction repairs what is missing between)."""
    if not any(p.guid == newest.guid for p in target.snapshots):
        return False
    if not request.force:
        return True
    if target.written:
        return False
    if request.base is None:  # a full receive brings the whole history up to the newest
        return [p.guid for p in target.snapshots] == [p.guid for p in _history(source, newest)]
    base, copy = source.snapshot(request.base), target.snapshot(request.base)
    if base is None or copy is None:
        return False
    upto = [p.guid for p in _after(source, base) if p.createtxg <= newest.createtxg]
    return [p.guid for p in _after(target, copy)] == upto


def decide(
    request: ReceiveRequest,
    source: DatasetState | None,
    target: DatasetState | None,
    facts: RollbackFacts | None,
    tx_id: str,
) -> Plan:
    """The steps (see the module's docstring). `facts`: the target's pool as the rollback
    swap's refusals read it (None when no rollback is needed: `needs_rewind` said so)."""
    if source is None:
        raise MissingObjectError(f"{request.source} does not exist on {request.source_host}")
    newest = source.snapshot(names.short_name(request.snapshot))
    if newest is None:
        raise MissingObjectError(f"{request.snapshot} does not exist on {request.source_host}")
    if target is not None and _holds(request, source, newest, target):
        raise AlreadyReceivedError(f"{request.target} holds {newest.short} already")
    steps: list[Step[Any]] = []
    send = SendSpec(snapshot=request.snapshot, raw=source.encrypted)
    recv = RecvSpec(target=request.target)
    if request.base is None:
        if target is not None:
            if not request.force:
                raise PlanError(
                    f"{request.target} exists: a full receive would replace it, which only a "
                    "resolved conflict (force) asks for"
                )
            steps.append(
                DestroyDataset(DestroyDatasetArgs(host=LOCAL, name=target.name, guid=target.guid))
            )
        oldest = _history(source, newest)[0]
        if oldest.guid != newest.guid:  # the oldest whole, then the rest below
            full = SendSpec(snapshot=oldest.name, raw=source.encrypted)
            steps.append(
                SendReceive(
                    SendReceiveArgs(send=full, recv=recv, source=request.source_host, target=LOCAL)
                )
            )
            send = SendSpec(snapshot=request.snapshot, base=oldest.name, raw=source.encrypted)
    else:
        if target is None:
            raise MissingObjectError(f"{request.target} does not exist: no incremental base")
        base = _base_on(source, request.base)
        copy = _base_on(target, request.base)
        if copy.guid != base.guid:
            raise PlanError(
                f"{copy.name} is not {base.name} (another guid): the histories diverged "
                "before the base the witness named"
            )
        if _after(target, copy) or target.written:
            if not request.force:
                raise PlanError(
                    f"{request.target} has snapshots or data after {copy.short}: diverged "
                    "(the witness hands a forced instruction once a conflict is resolved)"
                )
            if facts is None:
                raise PlanError(f"rolling {request.target} back to {copy.short} needs its facts")
            steps += rewind_steps(LOCAL, target, copy, facts, tx_id)
        send = SendSpec(snapshot=request.snapshot, base=base.name, raw=source.encrypted)
    steps.append(
        SendReceive(SendReceiveArgs(send=send, recv=recv, source=request.source_host, target=LOCAL))
    )
    return Plan(steps=steps, description=describe(request))


def needs_rewind(request: ReceiveRequest, target: DatasetState | None) -> str | None:
    """The target's snapshot a forced incremental rolls back to, when there is something
    after it (then planning reads the swap's facts for it); None otherwise."""
    if not request.force or request.base is None or target is None:
        return None
    copy = target.snapshot(request.base)
    if copy is None or not (_after(target, copy) or target.written):
        return None
    return copy.name


class ReceiveKind(RequestKind[ReceiveRequest]):
    name = "witness-receive"
    action = Action.REPLICATE
    request = ReceiveRequest
    #: started by the witness client inside the daemon, never by a bus caller
    method = None

    def summary(self, request: ReceiveRequest) -> str:
        return describe(request)

    def targets(self, request: ReceiveRequest) -> set[str]:
        return {request.target, located(request.source_host, request.source)}

    async def plan_request(self, ctx: PlanContext, request: ReceiveRequest) -> Plan:
        source_host = configured_host(ctx.hosts, request.source_host)
        here = ctx.host(LOCAL).zfs
        source = (await read_side(source_host.zfs, request.source_host, [request.source])).get(
            request.source
        )
        target = (await read_side(here, LOCAL, [request.target])).get(request.target)
        rewind_to = needs_rewind(request, target)
        facts = await read_facts(here, rewind_to) if rewind_to else None
        return decide(request, source, target, facts, ctx.tx_id)


RECEIVE = register_kind(ReceiveKind())
