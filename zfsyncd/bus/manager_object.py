"""The Manager on the bus: /org/zfsync/Daemon1, org.zfsync.Daemon1.Manager.

Each method asks polkit first (the action in dbus/org.zfsync.Daemon1.xml), checks its
options, and hands over to the service (service.py), which speaks to the engine. Errors come
back as org.zfsync.Error.* with the engine's own words.
"""

# no `from __future__ import annotations`: dbus-fast reads the annotations at class
# creation, and a postponed `-> None` would reach it as the string "None"
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from dbus_fast import Variant
from dbus_fast.annotations import (
    DBusDict,
    DBusDouble,
    DBusObjectPath,
    DBusSignature,
    DBusStr,
    DBusUInt32,
)
from dbus_fast.constants import PropertyAccess
from dbus_fast.service import ServiceInterface, dbus_method, dbus_property, dbus_signal

from zfsyncd.bus.errors import as_bus_error
from zfsyncd.bus.names import MANAGER_IFACE, Action
from zfsyncd.bus.options import (
    DestroySnapshotsOptions,
    ListSnapshotsOptions,
    SnapshotOptions,
    TransactionFilter,
    WaitOptions,
    parse,
)

if TYPE_CHECKING:
    from zfsyncd.bus.service import BusService

T = TypeVar("T")
StrList = Annotated[list[str], DBusSignature("as")]
DictList = Annotated[list[dict[str, Variant]], DBusSignature("aa{sv}")]
PathList = Annotated[list[str], DBusSignature("ao")]


async def _reply(work: Awaitable[T]) -> T:
    try:
        return await work
    except Exception as exc:
        raise as_bus_error(exc) from exc


class ManagerObject(ServiceInterface):
    def __init__(self, service: "BusService") -> None:
        super().__init__(MANAGER_IFACE)
        self._service = service

    # ------------------------------------------------------------------ reading

    @dbus_method()
    async def GetStatus(self) -> DBusDict:  # D-Bus member names are CamelCase
        return await _reply(self._read(self._service.status))

    @dbus_method()
    async def ListTransactions(self, filter: DBusDict) -> DictList:
        async def work() -> list[dict[str, Variant]]:
            await self._service.authorize(Action.READ)
            return await self._service.list_transactions(
                parse(TransactionFilter, filter, "ListTransactions")
            )

        return await _reply(work())

    @dbus_method()
    async def GetTransaction(self, id: DBusStr) -> DBusDict:
        async def work() -> dict[str, Variant]:
            await self._service.authorize(Action.READ)
            return await self._service.transaction_details(id)

        return await _reply(work())

    @dbus_method()
    async def ListSnapshots(self, datasets: StrList, options: DBusDict) -> DictList:
        async def work() -> list[dict[str, Variant]]:
            await self._service.authorize(Action.READ)
            opts = parse(ListSnapshotsOptions, options, "ListSnapshots")
            return await self._service.list_snapshots(datasets, opts)

        return await _reply(work())

    async def _read(self, fn: Callable[[], Awaitable[T]]) -> T:
        await self._service.authorize(Action.READ)
        return await fn()

    # ------------------------------------------------------------------ changing

    @dbus_method()
    async def Snapshot(self, datasets: StrList, options: DBusDict) -> DBusObjectPath:
        async def work() -> str:
            caller = await self._service.authorize(Action.SNAPSHOT)
            opts = parse(SnapshotOptions, options, "Snapshot")
            params: dict[str, Any] = {
                "datasets": datasets,
                "recursive": opts.recursive,
                "hold": opts.hold,
                "properties": opts.properties,
            }
            return await self._service.start_transaction("snapshot", params, opts, caller)

        return await _reply(work())

    @dbus_method()
    async def DestroySnapshots(self, snapshots: StrList, options: DBusDict) -> DBusObjectPath:
        async def work() -> str:
            caller = await self._service.authorize(Action.SNAPSHOT)
            opts = parse(DestroySnapshotsOptions, options, "DestroySnapshots")
            params = {"snapshots": snapshots, "any_name": opts.any_name}
            return await self._service.start_transaction("destroy-snapshots", params, opts, caller)

        return await _reply(work())

    @dbus_method()
    async def Rollback(self, id: DBusStr, options: DBusDict) -> DBusObjectPath:
        async def work() -> str:
            caller = await self._service.authorize(Action.ROLLBACK)
            return await self._service.rollback(id, parse(WaitOptions, options, "Rollback"), caller)

        return await _reply(work())

    @dbus_method()
    async def FinishRollback(self, id: DBusStr) -> DBusStr:
        async def work() -> str:
            caller = await self._service.authorize(Action.ROLLBACK)
            return await self._service.manager.finish_rollback(id, caller=caller)

        return await _reply(work())

    @dbus_method()
    async def Retry(self, id: DBusStr, options: DBusDict) -> DBusObjectPath:
        async def work() -> str:
            action = await self._service.action_for(id)
            caller = await self._service.authorize(action)
            return await self._service.retry(id, parse(WaitOptions, options, "Retry"), caller)

        return await _reply(work())

    @dbus_method()
    async def Cancel(self, id: DBusStr) -> None:
        await _reply(self._service.cancel(id))

    @dbus_method()
    async def Cleanup(self, older_than: DBusDouble) -> DBusUInt32:
        async def work() -> int:
            caller = await self._service.authorize(Action.MANAGE)
            if not older_than >= 0:
                raise ValueError(f"older_than must be 0 or more seconds, not {older_than}")
            return await self._service.manager.cleanup_finished(older_than, caller=caller)

        return await _reply(work())

    # ------------------------------------------------------------------ signals, properties

    @dbus_signal()
    def TransactionAdded(
        self, id: str, path: str, type: str
    ) -> Annotated[tuple[str, str, str], DBusSignature("sos")]:
        return (id, path, type)

    @dbus_signal()
    def TransactionChanged(
        self, id: str, path: str, state: str
    ) -> Annotated[tuple[str, str, str], DBusSignature("sos")]:
        return (id, path, state)

    @dbus_signal()
    def TransactionFinished(
        self, id: str, path: str, state: str, error: str
    ) -> Annotated[tuple[str, str, str, str], DBusSignature("soss")]:
        return (id, path, state, error)

    @dbus_property(access=PropertyAccess.READ)
    def Version(self) -> DBusStr:
        return self._service.version

    @dbus_property(access=PropertyAccess.READ)
    def ActiveTransactions(self) -> PathList:
        return self._service.active_paths()
