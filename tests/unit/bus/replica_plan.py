"""The replica transaction types as REPL-PLAN.md fixes them (kind, request, Manager method,
polkit action), for the tests of what is built on them before every kind module exists:
the XML, the policy, the client's option keys and the daemon double.

`with_planned(TX_KINDS)` is the registered kinds plus a stand-in for each planned one not
registered yet; a stand-in plans nothing and lives only in the tests that ask for it (never
in TX_KINDS). Once a kind is registered, test_replica_declarations.py checks that it
declares what the plan says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import BaseModel

from zfsyncd.api.names import Action
from zfsyncd.ops.replication import requests as rq
from zfsyncd.tx.kinds import BusMethod, Plan, PlanContext, TxKind
from zfsyncd.tx.steps.base import JsonDict


@dataclass(frozen=True)
class PlannedKind:
    """A stand-in with a planned kind's declaration."""

    name: str
    action: str
    request: type[BaseModel]
    method: BusMethod

    def describe(self, params: JsonDict) -> str:
        return f"{self.name} (a stand-in)"

    def datasets(self, params: JsonDict) -> set[str]:
        return set()

    async def plan(self, ctx: PlanContext, params: JsonDict) -> Plan:
        raise AssertionError(f"{self.name} is a stand-in: it plans nothing")


def _kind(name: str, action: str, request: type[BaseModel], method: str, *pos: str) -> PlannedKind:
    return PlannedKind(name, action, request, BusMethod(method, positional=pos))


PLANNED: tuple[PlannedKind, ...] = (
    _kind("replica-init", Action.REPLICATE, rq.InitRequest, "ReplicaInit", "source", "destination"),
    _kind("replica-sync", Action.REPLICATE, rq.SyncRequest, "ReplicaSync", "sources"),
    _kind("replica-sync-to", Action.REPLICATE, rq.SyncToRequest, "ReplicaSyncTo", "snapshot"),
    _kind("replica-expire", Action.REPLICATE, rq.ExpireRequest, "ReplicaExpire", "sources"),
    _kind("replica-pause", Action.REPLICATE, rq.PauseRequest, "ReplicaPause", "source"),
    _kind("replica-resume", Action.REPLICATE, rq.PauseRequest, "ReplicaResume", "source"),
    _kind("replica-clear", Action.REPLICATE, rq.ClearRequest, "ReplicaClear", "source"),
    _kind("replica-failover", Action.MANAGE, rq.FailoverRequest, "ReplicaFailover", "source"),
    _kind("replica-takeover", Action.MANAGE, rq.TakeoverRequest, "ReplicaTakeover", "destination"),
    _kind(
        "replica-reconfigure", Action.MANAGE, rq.ReconfigureRequest, "ReplicaReconfigure",
        "source", "destination",
    ),
)  # fmt: skip


def with_planned(kinds: Mapping[str, TxKind]) -> dict[str, TxKind]:
    """`kinds`, and a stand-in for every planned kind they lack."""
    return {**{k.name: k for k in PLANNED if k.name not in kinds}, **kinds}
