"""The prune transaction: destroy what a retention policy does not keep (zfsyncd.retention),
and its dry run (`preview`, a read).

Which datasets, with which policy:

- `policy` given (its one-line text, `RetentionPolicy.text()`; a job passes its own policy
  object through `PruneRequest.of`): the datasets named, below them too with `recursive`;
- none given: each dataset's `zfsync:retention` user property (the same one-line text; set
  on a parent, ZFS passes it down). With no dataset named, every dataset of this host's
  pools that has one. A named dataset without one is refused; a bad value refuses a named
  dataset and leaves out (named in the description) one found by looking.

Protected, whatever the policy (retention/decide.py): held snapshots, cloned ones (ZFS
would refuse), those a running transaction uses (its own `zfsync_<id>`, any snapshot its
request or steps name, anything in a trash), the newest snapshot each replica pair's side
shares with the other side (choose.newest_common over both sides' readings, as sync and
expire decide it), and the newest the policy applies to. A pair whose other side cannot be
read is left out (its base is unknown: nothing of it is destroyed).

polkit: `org.zfsync.snapshot`, as destroy-snapshots: a prune destroys zfsyncd's snapshots
exactly as that kind does, reversibly until it completes (only what a policy names instead
of what the caller lists); `manage` would make the scheduled form of a destroy stricter
than the destroy itself, and `replicate` covers pairs, not a dataset's own snapshots. The
dry run is a read (`org.zfsync.read`), open to all as the other reads are.

Which host: this one, or `host`, one `[hosts.NAME]` of the configuration (a job's
replication target keeps its own retention on its host); everything below reads and acts
on that host, the pairs' other sides are read where they are (this host too). An unknown
host is refused when planned or previewed, before anything is read.

Reads, constant in the number of snapshots and datasets: one `zfs list` (with no dataset
named, a `zfs list -d 0` of the pools first) and at most one `zfs holds` of the pruned
host, one `zfs list -r` of its pools' datasets for clones, and one reading (list, holds) of
each other host of a pair. Changes: one DestroyThroughHold step per pool, on the pruned host
(tx/steps/held_destroy.py).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from zfsyncd.api.limits import MAX_NAMES_PER_CALL
from zfsyncd.api.names import Action
from zfsyncd.api.records import PruneRow
from zfsyncd.ops.replication import origins
from zfsyncd.ops.replication.choose import newest_common
from zfsyncd.ops.replication.inventory import (
    DatasetState,
    Side,
    configured_host,
    read_side,
)
from zfsyncd.ops.replication.props import Role, parse_peer
from zfsyncd.ops.snapshot import PREFIX
from zfsyncd.retention import (
    Candidate,
    Decision,
    PolicyError,
    RetentionPolicy,
    Verdict,
    decide_retention,
    parse_policy_text,
)
from zfsyncd.retention.policy import MAX_POLICY_CHARS
from zfsyncd.store.records import TransactionRecord
from zfsyncd.tx.errors import MissingObjectError, PlanError
from zfsyncd.tx.hosts import LOCAL, Host, HostName, located
from zfsyncd.tx.kinds import BusMethod, Plan, PlanContext, RequestKind, register_kind
from zfsyncd.tx.steps import Step
from zfsyncd.tx.steps.held_destroy import DestroyThroughHold, HeldDestroyArgs
from zfsyncd.tx.steps.trash import TRASH_PREFIX
from zfsyncd.zfs import names
from zfsyncd.zfs.backend import ZfsBackend
from zfsyncd.zfs.models import DatasetName, ObjectType

#: the user property a dataset's policy is read from (inherited like any user property)
RETENTION = "zfsync:retention"
#: the hold tag a prune places on what it destroys, until it completes
HOLD_TAG = "zfsync_prune_"
_DATASET_TYPES = (ObjectType.FILESYSTEM, ObjectType.VOLUME)


class PruneRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    #: the datasets to prune (none: every dataset with a zfsync:retention property)
    datasets: tuple[DatasetName, ...] = Field(default=(), max_length=MAX_NAMES_PER_CALL)
    #: the datasets below those named too
    recursive: bool = False
    #: the policy's one-line text (RetentionPolicy.text()); None: each dataset's
    #: zfsync:retention
    policy: str | None = Field(default=None, max_length=MAX_POLICY_CHARS)
    #: decide as at this time (seconds since the epoch); None: the clock when it is planned
    #: (a job decides as at its scheduled time; tests with a clock of their own)
    now: float | None = Field(default=None, allow_inf_nan=False, ge=0)
    #: the host whose datasets are pruned, a `[hosts.NAME]` of the configuration (a job's
    #: replication target keeps its own retention there); checked against the hosts when
    #: planned or previewed (configured_host)
    host: HostName = LOCAL

    @field_validator("policy")
    @classmethod
    def _policy(cls, value: str | None) -> str | None:
        if value is not None:
            parse_policy_text(value)  # PolicyError is a ValueError: pydantic names it
        return value

    @field_validator("datasets")
    @classmethod
    def _distinct(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("a dataset is named twice")
        return value

    @model_validator(mode="after")
    def _policy_needs_datasets(self) -> Self:
        if self.policy is not None and not self.datasets:
            raise ValueError("a policy given applies to the datasets named: name them")
        return self

    @classmethod
    def of(
        cls,
        datasets: Iterable[str],
        policy: RetentionPolicy | None = None,
        *,
        recursive: bool = False,
        now: float | None = None,
        host: str = LOCAL,
    ) -> Self:
        """A request from a policy object (a job's)."""
        text = None if policy is None else policy.text()
        return cls(datasets=tuple(datasets), recursive=recursive, policy=text, now=now, host=host)

    def retention(self) -> RetentionPolicy | None:
        return None if self.policy is None else parse_policy_text(self.policy)


@dataclass(frozen=True)
class PruneFacts:
    """What the decision starts from, read once."""

    #: the pruned host's datasets (named, below them, or every pool), with their snapshots
    here: Side
    #: other sides of the replica pairs among them, by host (LOCAL too for a pair on two
    #: pools of this host)
    there: Mapping[str, Side] = field(default_factory=dict)
    #: host -> why it could not be read
    unreachable: Mapping[str, str] = field(default_factory=dict)
    #: snapshots with a clone (zfs destroy refuses them)
    cloned: frozenset[str] = frozenset()
    #: the transactions not finished (but the prune itself)
    active: Sequence[TransactionRecord] = ()


@dataclass(frozen=True)
class Outcome:
    """The decision over every dataset, and the datasets left out with why."""

    decision: Decision
    left_out: tuple[str, ...]
    pruned: tuple[str, ...]


# --------------------------------------------------------------------------- deciding


def _named_in(value: Any, found: set[str]) -> None:
    """Every string in a stored request or step that names a snapshot."""
    if isinstance(value, str):
        if "@" in value:
            found.add(value.split(" ", 1)[0])
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _named_in(key, found)
            _named_in(item, found)
    elif isinstance(value, list | tuple):
        for item in value:
            _named_in(item, found)


def in_use(active: Iterable[TransactionRecord]) -> tuple[set[str], set[str]]:
    """(the snapshot names the running transactions use, their own snapshots' short names)."""
    named: set[str] = set()
    own: set[str] = set()
    for record in active:
        own.add(f"{PREFIX}{record.id}")
        _named_in(record.params, named)
        for step in record.steps:
            _named_in(step.args, named)
    return named, own


def _policy_of(request: PruneRequest, state: DatasetState) -> RetentionPolicy | str | None:
    """The dataset's policy, None when it has none, or why its property cannot be read."""
    given = request.retention()
    if given is not None:
        return given
    text = (state.user_properties or {}).get(RETENTION)
    if not text or text == "-":
        return None
    try:
        return parse_policy_text(text, where=f"{state.name} {RETENTION}")
    except PolicyError as exc:
        return str(exc)


def _selected(request: PruneRequest, here: Side) -> list[DatasetState]:
    """The datasets to prune, or MissingObjectError for a named one that is not there."""
    if not request.datasets:
        return list(here)
    chosen: dict[str, DatasetState] = {}
    for name in request.datasets:
        state = here.get(name)
        if state is None:
            raise MissingObjectError(f"dataset {name} does not exist")
        for below in here.below(name) if request.recursive else [state]:
            chosen[below.name] = below
    return [chosen[n] for n in sorted(chosen)]


def _replica_base(state: DatasetState, facts: PruneFacts) -> int | str | None:
    """The guid of the newest snapshot `state` shares with its pair's other side; None when
    it is not part of a pair; why, when that side cannot be read or shares nothing."""
    if state.role is None or state.peer is None:
        return None
    try:
        peer = parse_peer(state.peer)
    except ValueError:
        return f"{state.name}: {state.peer!r} is not a replica peer ({RETENTION} left alone)"
    if peer.host in facts.unreachable:
        return f"{state.name}: its peer {state.peer} cannot be read: {facts.unreachable[peer.host]}"
    other = facts.there.get(peer.host, Side(peer.host, {})).get(peer.dataset)
    if other is None:
        return f"{state.name}: its peer {state.peer} does not exist"
    pair = (state, other) if state.role is Role.SOURCE else (other, state)
    common = newest_common(*pair)
    if common is None:
        return f"{state.name}: shares no snapshot with its peer {state.peer} (by guid)"
    return common.guid


def candidates(
    state: DatasetState, facts: PruneFacts, base: int | None, used: tuple[set[str], set[str]]
) -> list[Candidate]:
    named, own = used
    found = []
    for point in state.snapshots:
        short = point.name.partition("@")[2]
        found.append(
            Candidate(
                name=point.name,
                creation=point.creation,
                guid=point.guid,
                createtxg=point.createtxg,
                held=bool(point.holds),
                cloned=point.name in facts.cloned,
                in_use=point.name in named or short in own or short.startswith(TRASH_PREFIX),
                replica_base=point.guid == base,
            )
        )
    return found


def _settled(
    request: PruneRequest, state: DatasetState, facts: PruneFacts, named: bool
) -> tuple[RetentionPolicy, int | None] | str | None:
    """A dataset's policy and replica base; why it cannot be pruned; or None when it is not
    the prune's (no policy, not named)."""
    policy = _policy_of(request, state)
    if policy is None:
        if not named:
            return None  # every dataset below or every pool was read: only those with one
        return f"{state.name} has no retention policy ({RETENTION}, or --policy)"
    if isinstance(policy, str):
        return policy
    base = _replica_base(state, facts)
    if isinstance(base, str):
        return base
    return policy, base


def outcome(request: PruneRequest, facts: PruneFacts, now: int) -> Outcome:
    """What the prune keeps and destroys on every dataset it covers, and what it leaves out;
    PlanError for a named dataset it cannot decide."""
    used = in_use(facts.active)
    groups: dict[RetentionPolicy, list[Candidate]] = defaultdict(list)
    left_out: list[str] = []
    pruned: list[str] = []
    for state in _selected(request, facts.here):
        named = state.name in request.datasets
        found = _settled(request, state, facts, named)
        if found is None:
            continue
        if isinstance(found, str):
            if named:
                raise PlanError(found)
            left_out.append(found)
            continue
        policy, base = found
        groups[policy].extend(candidates(state, facts, base, used))
        pruned.append(state.name)
    kept: list[Verdict] = []
    destroyed: list[Verdict] = []
    for policy, snapshots in groups.items():
        decision = decide_retention(snapshots, policy, now)
        kept += decision.kept
        destroyed += decision.destroyed
    if len(groups) > 1:  # one decision is in order already: by dataset, then age
        kept.sort(key=_by_dataset_and_age)
        destroyed.sort(key=_by_dataset_and_age)
    return Outcome(Decision(tuple(kept), tuple(destroyed)), tuple(left_out), tuple(pruned))


def _by_dataset_and_age(verdict: Verdict) -> tuple[str, int, int, str]:
    snap = verdict.snapshot
    return (snap.dataset, snap.creation, snap.createtxg, snap.name)


def decide(request: PruneRequest, facts: PruneFacts, now: int, tx_id: str) -> Plan:
    """One DestroyThroughHold step per pool over what the policies do not keep (none when
    they keep everything)."""
    result = outcome(request, facts, now)
    by_pool: dict[str, dict[str, int]] = defaultdict(dict)
    for verdict in result.decision.destroyed:
        by_pool[names.pool_of(verdict.snapshot.name)][verdict.snapshot.name] = verdict.snapshot.guid
    steps: list[Step[Any]] = [
        DestroyThroughHold(
            HeldDestroyArgs(
                host=request.host,
                tag=f"{HOLD_TAG}{tx_id}",
                snapshots=tuple(doomed),
                guids=doomed,
            )
        )
        for _, doomed in sorted(by_pool.items())
    ]
    text = (
        f"{describe(request)}: {len(result.decision.destroyed)} of "
        f"{len(result.decision.destroyed) + len(result.decision.kept)} snapshots on "
        f"{len(result.pruned)} datasets"
    )
    if result.left_out:
        text += f" (left out: {'; '.join(result.left_out)})"
    return Plan(steps=steps, description=text)


def describe(request: PruneRequest) -> str:
    what = ", ".join(request.datasets) if request.datasets else f"every dataset with {RETENTION}"
    below = " and below" if request.recursive and request.datasets else ""
    where = "" if request.host == LOCAL else f" on {request.host}"
    return f"prune {what}{below}{where}"


def rows(result: Outcome) -> list[PruneRow]:
    """The dry run's answer: every snapshot decided, kept or not, with why; by dataset, then
    age."""
    verdicts = sorted((*result.decision.kept, *result.decision.destroyed), key=_by_dataset_and_age)
    return [
        _row(
            {
                "name": v.snapshot.name,
                "dataset": v.snapshot.dataset,
                "snapshot": v.snapshot.short_name,
                "guid": v.snapshot.guid,
                "created": float(v.snapshot.creation),
                "keep": v.keep,
                "why": v.why.value,
                "reason": v.reason[:MAX_REASON],
            }
        )
        for v in verdicts
    ]


_ROW_FIELDS = frozenset(PruneRow.model_fields)


def _row(values: dict[str, Any]) -> PruneRow:
    """A PruneRow from values already of the declared types, without the per-row work of
    validation or model_construct (10,000 rows took 140 ms that way; inventory.py's
    _trusted does the same for `zfs list` rows)."""
    row: PruneRow = object.__new__(PruneRow)
    object.__setattr__(row, "__dict__", values)
    object.__setattr__(row, "__pydantic_fields_set__", _ROW_FIELDS)
    object.__setattr__(row, "__pydantic_extra__", {})
    object.__setattr__(row, "__pydantic_private__", None)
    return row


#: characters of a row's reason (a reply of many rows stays far below the bus's bound)
MAX_REASON = 256


# --------------------------------------------------------------------------- reading


async def read_here(zfs: ZfsBackend, datasets: Sequence[str], host: str = LOCAL) -> Side:
    """The pruned host's datasets named and below them (or every pool): replication's
    reading of a side (one `zfs list`, one `zfs holds` at most; with none named, a `zfs
    list -d 0` of the pools first), with zfsync:retention besides the pairs' properties."""
    return await read_side(zfs, host, datasets or None, properties=(RETENTION,))


async def read_facts(
    hosts: Mapping[str, Host], request: PruneRequest, active: Sequence[TransactionRecord]
) -> PruneFacts:
    """Everything read on `request.host` (its datasets, clones), and each pair's other side
    through `hosts` (this host too, for a pair whose other side is here)."""
    zfs = configured_host(hosts, request.host).zfs
    here = await read_here(zfs, request.datasets, request.host)
    wanted: dict[str, set[str]] = defaultdict(set)
    for state in here:
        if state.role is not None and state.peer is not None:
            try:
                peer = parse_peer(state.peer)
            except ValueError:
                continue
            wanted[peer.host].add(peer.dataset)
    there: dict[str, Side] = {}
    unreachable: dict[str, str] = {}
    for host, datasets in sorted(wanted.items()):
        if host == request.host and all(d in here for d in datasets):
            there[host] = here
            continue
        if host not in hosts:
            unreachable[host] = f"host {host!r} is not configured ([hosts.{host}])"
            continue
        try:
            there[host] = await read_side(hosts[host].zfs, host, sorted(datasets))
        except Exception as exc:  # a host that cannot be reached: its pairs are left out
            if host in (LOCAL, request.host):
                raise
            unreachable[host] = str(exc) or type(exc).__name__
    pools = {names.pool_of(d.name) for d in here}
    cloned = await origins.cloned(zfs, pools)
    return PruneFacts(here, there, unreachable, cloned, tuple(active))


async def preview(
    hosts: Mapping[str, Host],
    request: PruneRequest,
    active: Sequence[TransactionRecord],
    now: float | None = None,
) -> list[PruneRow]:
    """The dry run: what `request` would destroy and keep now, each with why."""
    facts = await read_facts(hosts, request, active)
    moment = request.now if request.now is not None else (now if now is not None else time.time())
    return rows(outcome(request, facts, int(moment)))


class PruneKind(RequestKind[PruneRequest]):
    name = "prune"
    action = Action.SNAPSHOT
    request = PruneRequest
    method = BusMethod("Prune", positional=("datasets",))

    def summary(self, request: PruneRequest) -> str:
        return describe(request)

    def targets(self, request: PruneRequest) -> set[str]:
        return {located(request.host, d) for d in request.datasets}

    async def plan_request(self, ctx: PlanContext, request: PruneRequest) -> Plan:
        active = [t for t in await ctx.transactions.list_active() if t.id != ctx.tx_id]
        facts = await read_facts(ctx.hosts, request, active)
        moment = request.now if request.now is not None else time.time()
        return decide(request, facts, int(moment), ctx.tx_id)


PRUNE = register_kind(PruneKind())
