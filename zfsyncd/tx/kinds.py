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
the same parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel

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

    async def plan(self, ctx: StepContext, params: JsonDict) -> Plan:
        """Check the request against real ZFS state and build its steps; PlanError if it
        cannot be done. Must not change anything."""
        ...


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
