"""Transaction kinds: the one declaration of each transaction type.

The engine runs steps; what steps make up "a snapshot" or "a replication" is zfsyncd/ops/'s
business. ops/ registers one `TxKind` per transaction type here (layers point down: tx/
cannot import ops/). A kind declares, in one place: its name, its request model, the polkit
action that covers it, how it is started over D-Bus (or that it is not), and how it is
described and planned. The bus methods, the client's option signatures, the test double
and the checks of the introspection XML and the polkit policy all derive from these
declarations.

The plan is built at prepare time, from the parameters stored at create time and the
transaction's id (names the steps make carry it), so a retry can build a fresh plan from
the same parameters. A plan may read the transactions stored so far (`PlanContext`): the
rollback transaction (zfsyncd/tx/rollback.py) is planned from the steps of the one it
undoes. A kind whose transactions relate to earlier ones says what `create` records of that
(the description, the datasets, the `rolls_back` link) with an `admit` hook (`Admitting`);
the engine itself knows no kind by name. A kind whose completion calls for more work
declares it as a follow-up (`Following`): another transaction the engine creates and runs
once this one COMPLETED (a replica sync's expiry), so each stays a transaction of its own
with its own rollback.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Protocol, TypeVar, cast, runtime_checkable

from pydantic import BaseModel

from zfsyncd.store import TransactionStore
from zfsyncd.tx.errors import PlanError
from zfsyncd.tx.steps.base import JsonDict, Step, StepContext


@dataclass
class Plan:
    steps: list[Step[Any]]
    description: str
    #: datasets to lock beyond what the steps name (e.g. descendants of a recursive snapshot)
    extra_datasets: set[str] = field(default_factory=set)

    def datasets(self) -> set[str]:
        found = set(self.extra_datasets)
        for step in self.steps:
            found |= step.datasets()
        return found


@dataclass(kw_only=True)
class PlanContext(StepContext):
    """What a plan may read: what a step may use, and the transactions stored so far. A
    plan only reads; it changes neither ZFS nor the store."""

    transactions: TransactionStore


@dataclass(frozen=True)
class Admission:
    """What `create` records of a request besides its parameters and options."""

    #: one line for a person (shown while CREATED)
    description: str
    #: the datasets the request names
    datasets: set[str]
    #: the completed transaction this one undoes (a rollback transaction)
    rolls_back: str | None = None


@dataclass(frozen=True)
class BusMethod:
    """How a transaction type is started on the bus: the Manager method
    `name(<positional fields>..., options a{sv}) -> o`. The request fields named in
    `positional` are the method's arguments, in that order; every other request field is an
    option key; D-Bus signatures follow from the fields' types."""

    name: str
    positional: tuple[str, ...] = ()


class TxKind(Protocol):
    # read-only members, so that a kind declares them as plain class attributes

    @property
    def name(self) -> str:
        """The transaction type, as stored and shown ("snapshot")."""
        ...

    @property
    def action(self) -> str:
        """The polkit action that covers starting it, retrying it and cancelling one's own."""
        ...

    @property
    def request(self) -> type[BaseModel]:
        """The parameters it takes (a frozen pydantic model that forbids unknown keys)."""
        ...

    @property
    def method(self) -> BusMethod | None:
        """How it is started over D-Bus; None when no Manager method starts it directly."""
        ...

    def describe(self, params: JsonDict) -> str:
        """One line for a person, before the plan exists (shown while CREATED)."""
        ...

    def datasets(self, params: JsonDict) -> set[str]:
        """The datasets the request names (recorded at create time)."""
        ...

    async def plan(self, ctx: PlanContext, params: JsonDict) -> Plan:
        """Check the request against real ZFS state and build its steps; PlanError if it
        cannot be done. Must not change anything."""
        ...


R = TypeVar("R", bound=BaseModel)


class RequestKind(ABC, Generic[R]):
    """The usual way to declare a kind: the class attributes are the declaration, and the
    methods take the validated request (the stored JSON parameters are validated here, once
    per call), so a kind's module speaks only of its own request model."""

    name: ClassVar[str]
    action: ClassVar[str]
    request: type[R]
    method: ClassVar[BusMethod | None] = None

    def parse(self, params: JsonDict) -> R:
        return self.request.model_validate(params)

    def describe(self, params: JsonDict) -> str:
        return self.summary(self.parse(params))

    def datasets(self, params: JsonDict) -> set[str]:
        return self.targets(self.parse(params))

    async def plan(self, ctx: PlanContext, params: JsonDict) -> Plan:
        return await self.plan_request(ctx, self.parse(params))

    @abstractmethod
    def summary(self, request: R) -> str:
        """One line for a person, before the plan exists (shown while CREATED)."""

    @abstractmethod
    def targets(self, request: R) -> set[str]:
        """The datasets the request names (recorded at create time)."""

    @abstractmethod
    async def plan_request(self, ctx: PlanContext, request: R) -> Plan:
        """Read what the decision needs, then decide (see ops/ for the pattern)."""


@runtime_checkable
class Admitting(Protocol):
    """A kind whose `create` records what it reads from earlier transactions (a rollback
    transaction: the description and datasets of the one it undoes, and the link to it).
    Kinds without `admit` are recorded from `describe` and `datasets`."""

    async def admit(self, transactions: TransactionStore, params: JsonDict) -> Admission:
        """What to record for the request; a TxError (or ValidationError) refuses it."""
        ...


@dataclass(frozen=True)
class FollowUp:
    """A transaction the engine starts once one of the declaring kind completed."""

    #: its transaction type
    kind: str
    #: its parameters (taken from the parameters of the one that completed)
    params: JsonDict


@runtime_checkable
class Following(Protocol):
    """A kind whose completed transactions are followed by another one (a replica sync by
    its expiry). The engine creates it once the first has COMPLETED and its locks are
    released, records the link (`FOLLOWS` in its metadata) and runs it under the same
    caller; a failed or refused follow-up is its own transaction's business and leaves the
    completed one as it is."""

    def follow_up(self, params: JsonDict) -> FollowUp | None:
        """What to run after a transaction with these parameters completed, if anything."""
        ...


#: the metadata key of a follow-up that names the transaction it follows
FOLLOWS = "follows"
#: the metadata key of a follow-up run again by recovery: how many times it has been
#: (its `retry_of` names the one a crash interrupted)
RERUN = "rerun"


@functools.cache
def _declares(kind_class: type, protocol: type) -> bool:
    """Whether a kind's class has the methods of `protocol`, worked out once per class:
    isinstance against a runtime-checkable Protocol looks every member up each time
    (about 40 µs, twice a transaction)."""
    return issubclass(kind_class, protocol)


async def admission(kind: TxKind, transactions: TransactionStore, params: JsonDict) -> Admission:
    """What `create` records for a request of `kind`."""
    if _declares(type(kind), Admitting):
        return await cast(Admitting, kind).admit(transactions, params)
    return Admission(kind.describe(params), kind.datasets(params))


def follow_up_of(kind: TxKind | None, params: JsonDict) -> FollowUp | None:
    """The follow-up `kind` declares (kinds.Following) for a completed transaction with
    these parameters, if any (None for a kind unknown now, or one that declares none)."""
    if kind is None or not _declares(type(kind), Following):
        return None
    return cast(Following, kind).follow_up(dict(params))


TX_KINDS: dict[str, TxKind] = {}


def register_kind(kind: TxKind) -> TxKind:
    if kind.name in TX_KINDS:
        raise ValueError(f"transaction kind {kind.name!r} registered twice")
    TX_KINDS[kind.name] = kind
    return kind


def kind_of(name: str, kinds: Mapping[str, TxKind] | None = None) -> TxKind:
    table = TX_KINDS if kinds is None else kinds
    try:
        return table[name]
    except KeyError:
        known = ", ".join(sorted(table)) or "none"
        raise PlanError(f"unknown transaction type {name!r} (known: {known})") from None
