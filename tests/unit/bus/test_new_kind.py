"""The measurement of issue 8: a new transaction type is its declaration, its XML and its
policy, and nothing else.

A made-up kind registered here (its own request model, polkit action and bus method) gets a
working Manager method on a real bus, with its options checked key by key, and the client
double's option keys; the XML check names the one method the XML lacks. No other file
knows of it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, cast

import pytest
from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus
from pydantic import BaseModel, ConfigDict, Field

import zfsyncd.ops  # noqa: F401 - registers the real kinds
from tests.unit.bus.api_checks import policy_disagreements, xml_disagreements
from tests.unit.bus.fakes import ME, FakeAuthority, FakeService, Log
from tests.unit.cli.daemon_double import all_option_keys
from zfsyncd.api.names import MANAGER_IFACE, MANAGER_PATH, Action, ErrorName, transaction_path
from zfsyncd.bus.kind_methods import build_manager
from zfsyncd.bus.options import TxOptions
from zfsyncd.tx.kinds import TX_KINDS, BusMethod, Plan, TxKind
from zfsyncd.tx.manager import Caller
from zfsyncd.tx.steps.base import JsonDict, StepContext


class WidgetRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    pool: str
    sizes: tuple[str, ...] = ()
    count: int = 1
    dry_run: bool = False
    interval: float | None = None
    labels: dict[str, str] = Field(default_factory=dict)


class WidgetKind:
    name = "widget"
    action = Action.MANAGE
    request = WidgetRequest
    method = BusMethod("MakeWidgets", positional=("pool", "sizes"))

    def describe(self, params: JsonDict) -> str:
        return f"make widgets on {WidgetRequest.model_validate(params).pool}"

    def datasets(self, params: JsonDict) -> set[str]:
        return {WidgetRequest.model_validate(params).pool}

    async def plan(self, ctx: StepContext, params: JsonDict) -> Plan:
        return Plan([], self.describe(params))


@dataclass
class Daemon:
    address: str
    bus: MessageBus
    service: FakeService


@pytest.fixture
def widget(monkeypatch: pytest.MonkeyPatch) -> TxKind:
    kind = WidgetKind()
    monkeypatch.setitem(TX_KINDS, kind.name, kind)
    return kind


@pytest.fixture
async def daemon(private_bus: str, widget: TxKind) -> AsyncIterator[Daemon]:
    """The Manager as the daemon builds it, on a bus (polkit and the engine stood in for)."""
    log = Log()
    service = FakeService(log)
    bus = await MessageBus(bus_address=private_bus).connect()
    bus.export(MANAGER_PATH, build_manager(cast(Any, service), FakeAuthority(log)))
    yield Daemon(private_bus, bus, service)
    bus.disconnect()


async def _make_widgets(daemon: Daemon, body: list[Any]) -> Message:
    bus = await MessageBus(bus_address=daemon.address).connect()
    try:
        reply = await bus.call(
            Message(
                destination=daemon.bus.unique_name,
                path=MANAGER_PATH,
                interface=MANAGER_IFACE,
                member="MakeWidgets",
                signature="sasa{sv}",
                body=body,
            )
        )
    finally:
        bus.disconnect()
    assert reply is not None
    return reply


async def test_a_new_kind_gets_a_working_bus_method(daemon: Daemon) -> None:
    options = {
        "count": Variant("u", 3),
        "labels": Variant("a{ss}", {"colour": "blue"}),
        "interval": Variant("i", 5),
        "priority": Variant("i", 7),
        "wait_for_locks": Variant("b", False),
    }
    reply = await _make_widgets(daemon, ["tank", ["S", "M"], options])
    assert reply.message_type is MessageType.METHOD_RETURN, reply.body
    assert reply.body == [transaction_path("t_1")]
    ((name, (type, params, opts, caller)),) = daemon.service.calls
    assert (name, type) == ("start_transaction", "widget")
    # every field of the request, as the transaction's parameters are stored
    assert params == {
        "pool": "tank", "sizes": ["S", "M"], "count": 3, "dry_run": False, "interval": 5,
        "labels": {"colour": "blue"},
    }  # fmt: skip
    assert opts == TxOptions(priority=7, wait_for_locks=False)
    assert caller == Caller(uid=ME, name=":1.5")

    refused = await _make_widgets(daemon, ["tank", [], {"count": Variant("s", "3")}])
    assert refused.message_type is MessageType.ERROR
    assert refused.error_name == ErrorName.INVALID_ARGUMENT
    assert refused.body == [
        "MakeWidgets: option 'count' must be of D-Bus type i or u or x or t or n or q or y, not s"
    ]


def test_a_new_kind_gets_its_double_keys_and_is_missing_only_from_the_xml(
    widget: TxKind,
) -> None:
    keys = all_option_keys(TX_KINDS)["MakeWidgets"]
    assert sorted(keys) == sorted(
        ["count", "dry_run", "interval", "labels", "priority", "tags", "timeout", "wait_for_locks"]
    )
    assert keys["labels"] == ("a{ss}",)
    assert xml_disagreements() == ["MakeWidgets: not in org.zfsync.Daemon1.xml"]
    assert policy_disagreements(TX_KINDS) == []
