"""Transaction kinds: how a transaction of each type is planned and validated.

The engine runs steps; what steps make up "a snapshot" or "a replication" is zfsyncd/ops/'s
business. ops/ registers one `TxKind` per transaction type here (layers point down: tx/
cannot import ops/). The plan is built at prepare time, from the parameters stored at
create time and the transaction's id (names the steps make carry it), so a retry can build
a fresh plan from the same parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

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


class TxKind(Protocol):
    name: str

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
