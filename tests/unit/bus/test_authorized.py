"""Every exported D-Bus method asks polkit before it reads or changes anything.

Each method of the Manager (the generated ones included) and of a Transaction object is
called with an authority that records what polkit was asked and a service that records what
the method did; a call made before polkit answered is a failure. A method whose D-Bus
interface names no polkit action cannot be constructed or exported.
"""

# no `from __future__ import annotations`: dbus-fast reads `-> None` at class creation
from typing import Any, cast

import pytest
from dbus_fast.service import ServiceInterface, dbus_method
from dbus_fast.signature import get_signature_tree

import zfsyncd.ops  # noqa: F401 - registers the kinds whose methods are generated
from tests.unit.bus.fakes import ME, SOMEONE_ELSE, FakeAuthority, FakeService, Log
from tests.unit.bus.fakes import record as _record
from zfsyncd.api.names import Action, ErrorName
from zfsyncd.bus.authorized import Authority, AuthorizedInterface, authorized, require_declared
from zfsyncd.bus.errors import BusCallError
from zfsyncd.bus.kind_methods import build_manager
from zfsyncd.bus.manager_object import ManagerObject
from zfsyncd.bus.transaction_object import TransactionObject
from zfsyncd.tx.kinds import TX_KINDS
from zfsyncd.tx.manager import Caller

#: what each hand-written Manager method asks polkit, in order (the record is a snapshot
#: transaction of uid ME); the generated ones ask for their kind's action
HAND_WRITTEN = {
    "GetStatus": [Action.READ],
    "ListTransactions": [Action.READ],
    "GetTransaction": [Action.READ],
    "ListSnapshots": [Action.READ],
    "ListReplicas": [Action.READ],
    "ListMigrations": [Action.READ],
    "ValidateMigration": [Action.MANAGE],
    "PrunePreview": [Action.READ],
    "Rollback": [Action.ROLLBACK],
    "FinishRollback": [Action.ROLLBACK],
    "Retry": [Action.READ, Action.SNAPSHOT],
    "Cancel": [Action.READ, Action.SNAPSHOT],
    "Cleanup": [Action.MANAGE],
    "ListCleanups": [Action.READ],
    "RunCleanups": [Action.MANAGE],
    "ListJobs": [Action.READ],
    "GetJob": [Action.READ],
    "RunJob": [Action.MANAGE],
    "PauseJob": [Action.MANAGE],
    "ResumeJob": [Action.MANAGE],
    "Reload": [Action.MANAGE],
    "WitnessStatus": [Action.READ],
    "WitnessConflicts": [Action.READ],
}
SAMPLE = {"s": "t_1", "as": ["tank"], "a{sv}": {}, "d": 1.0}


def _methods(iface: ServiceInterface) -> list[Any]:
    return list(ServiceInterface._get_methods(iface))


def _sample_args(method: Any) -> list[Any]:
    return [SAMPLE[t.signature] for t in get_signature_tree(method.in_signature).types]


def _manager(log: Log, authority: FakeAuthority, owner: int = ME) -> ManagerObject:
    return build_manager(cast(Any, FakeService(log, owner)), authority)


def _expected() -> dict[str, list[str]]:
    generated = {k.method.name: [k.action] for k in TX_KINDS.values() if k.method is not None}
    return {**HAND_WRITTEN, **generated}


async def test_every_manager_method_asks_polkit_before_it_touches_the_service() -> None:
    expected = _expected()
    methods = _methods(_manager(Log(), FakeAuthority(Log())))
    assert sorted(m.name for m in methods) == sorted(expected)
    for method in methods:
        log = Log()
        iface = _manager(log, FakeAuthority(log))
        await method.fn(iface, *_sample_args(method))
        assert log.entries[0][0] == "polkit", method.name
        assert log.asked() == expected[method.name], method.name
        assert log.touched(), f"{method.name} did nothing once authorized"


async def test_a_refused_caller_reaches_nothing() -> None:
    for method in _methods(_manager(Log(), FakeAuthority(Log()))):
        log = Log()
        iface = _manager(log, FakeAuthority(log, allow=set()))
        with pytest.raises(BusCallError) as refused:
            await method.fn(iface, *_sample_args(method))
        assert refused.value.type == ErrorName.NOT_AUTHORIZED
        assert log.entries == [], method.name


async def test_a_refused_change_reads_at_most_the_record() -> None:
    """polkit lets the caller read, not change: a method that changes reads the record (to
    resolve its action) at most."""
    expected = _expected()
    for method in _methods(_manager(Log(), FakeAuthority(Log()))):
        if expected[method.name] == [Action.READ]:
            continue
        log = Log()
        iface = _manager(log, FakeAuthority(log, allow={Action.READ}))
        with pytest.raises(BusCallError) as refused:
            await method.fn(iface, *_sample_args(method))
        assert refused.value.type == ErrorName.NOT_AUTHORIZED
        assert set(log.touched()) <= {"record"}, method.name


async def test_cancelling_another_users_transaction_needs_more() -> None:
    for owner, action in ((ME, Action.SNAPSHOT), (SOMEONE_ELSE, Action.CANCEL_OTHER_USER)):
        log = Log()
        iface = _manager(log, FakeAuthority(log), owner=owner)
        (cancel,) = [m for m in _methods(iface) if m.name == "Cancel"]
        await cancel.fn(iface, "t_1")
        assert log.asked() == [Action.READ, action]
        assert log.touched() == ["record", "cancel"]


@pytest.mark.parametrize(
    ("owner", "action"), [(ME, Action.SNAPSHOT), (SOMEONE_ELSE, Action.CANCEL_OTHER_USER)]
)
async def test_the_transaction_objects_cancel_asks_polkit_first(owner: int, action: str) -> None:
    log = Log()
    cancelled: list[tuple[str, Caller]] = []

    async def cancel(tx_id: str, caller: Caller) -> None:
        assert log.asked(), "cancelled before polkit answered"
        cancelled.append((tx_id, caller))

    obj = TransactionObject(
        _record(owner), signal_rate=4.0, cancel=cancel, authority=FakeAuthority(log)
    )
    (method,) = _methods(obj)
    await method.fn(obj)
    assert log.asked() == [Action.READ, action]
    assert cancelled == [("t_1", Caller(uid=ME, name=":1.5"))]
    refused = TransactionObject(
        _record(owner), signal_rate=4.0, cancel=cancel,
        authority=FakeAuthority(Log(), allow={Action.READ}),
    )  # fmt: skip
    with pytest.raises(BusCallError):
        await method.fn(refused)
    assert len(cancelled) == 1


class Careless(AuthorizedInterface):
    def __init__(self, authority: Authority) -> None:
        super().__init__("org.zfsync.Test", authority)

    @dbus_method()
    @authorized(Action.READ)
    async def Declared(self) -> None:
        pass

    @dbus_method()
    async def Forgot(self) -> None:
        pass


class CarelessManager(ManagerObject):
    @dbus_method()
    async def Forgot(self) -> None:
        pass


class PlainInterface(ServiceInterface):
    @dbus_method()
    async def Forgot(self) -> None:
        pass


def test_a_method_that_names_no_action_fails_at_start_up() -> None:
    authority = FakeAuthority(Log())
    with pytest.raises(TypeError, match=r"org\.zfsync\.Test\.Forgot names no polkit action"):
        Careless(authority)
    with pytest.raises(TypeError, match=r"Manager\.Forgot names no polkit action"):
        CarelessManager(cast(Any, FakeService(Log())), authority)
    with pytest.raises(TypeError, match=r"org\.zfsync\.Plain\.Forgot names no polkit action"):
        require_declared(PlainInterface("org.zfsync.Plain"))  # what the service exports
