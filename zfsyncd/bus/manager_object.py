"""The Manager on the bus: /org/zfsync/Daemon1, org.zfsync.Daemon1.Manager.

Each method asks polkit first (the action in dbus/org.zfsync.Daemon1.xml), checks its
options, and hands over to the service (service.py), which speaks to the engine. Errors come
back as org.zfsync.Error.* with the engine's own words.
"""

# no `from __future__ import annotations`: dbus-fast reads the annotations at class
# creation, and a postponed `-> None` would reach it as the string "None"
from typing import TYPE_CHECKING, Annotated, Any

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

from zfsyncd.api.names import MANAGER_IFACE, Action
from zfsyncd.bus.errors import bus_errors
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

StrList = Annotated[list[str], DBusSignature("as")]
DictList = Annotated[list[dict[str, Variant]], DBusSignature("aa{sv}")]
PathList = Annotated[list[str], DBusSignature("ao")]


class ManagerObject(ServiceInterface):
    def __init__(self, service: "BusService") -> None:
        super().__init__(MANAGER_IFACE)
        self._service = service

    # ------------------------------------------------------------------ reading

    @dbus_method()
    @bus_errors
    async def GetStatus(self) -> DBusDict:  # D-Bus member names are CamelCase
        await self._service.authorize(Action.READ)
        return await self._service.status()

    @dbus_method()
    @bus_errors
    async def ListTransactions(self, filter: DBusDict) -> DictList:
        await self._service.authorize(Action.READ)
        wanted = parse(TransactionFilter, filter, "ListTransactions")
        return await self._service.list_transactions(wanted)

    @dbus_method()
    @bus_errors
    async def GetTransaction(self, id: DBusStr) -> DBusDict:
        await self._service.authorize(Action.READ)
        return await self._service.transaction_details(id)

    @dbus_method()
    @bus_errors
    async def ListSnapshots(self, datasets: StrList, options: DBusDict) -> DictList:
        await self._service.authorize(Action.READ)
        opts = parse(ListSnapshotsOptions, options, "ListSnapshots")
        return await self._service.list_snapshots(datasets, opts)

    # ------------------------------------------------------------------ changing

    @dbus_method()
    @bus_errors
    async def Snapshot(self, datasets: StrList, options: DBusDict) -> DBusObjectPath:
        caller = await self._service.authorize(Action.SNAPSHOT)
        opts = parse(SnapshotOptions, options, "Snapshot")
        params: dict[str, Any] = {
            "datasets": datasets,
            "recursive": opts.recursive,
            "hold": opts.hold,
            "properties": opts.properties,
        }
        return await self._service.start_transaction("snapshot", params, opts, caller)

    @dbus_method()
    @bus_errors
    async def DestroySnapshots(self, snapshots: StrList, options: DBusDict) -> DBusObjectPath:
        caller = await self._service.authorize(Action.SNAPSHOT)
        opts = parse(DestroySnapshotsOptions, options, "DestroySnapshots")
        params = {"snapshots": snapshots, "any_name": opts.any_name}
        return await self._service.start_transaction("destroy-snapshots", params, opts, caller)

    @dbus_method()
    @bus_errors
    async def Rollback(self, id: DBusStr, options: DBusDict) -> DBusObjectPath:
        caller = await self._service.authorize(Action.ROLLBACK)
        return await self._service.rollback(id, parse(WaitOptions, options, "Rollback"), caller)

    @dbus_method()
    @bus_errors
    async def FinishRollback(self, id: DBusStr) -> DBusStr:
        caller = await self._service.authorize(Action.ROLLBACK)
        return await self._service.manager.finish_rollback(id, caller=caller)

    @dbus_method()
    @bus_errors
    async def Retry(self, id: DBusStr, options: DBusDict) -> DBusObjectPath:
        caller = await self._service.authorize(await self._service.action_for(id))
        return await self._service.retry(id, parse(WaitOptions, options, "Retry"), caller)

    @dbus_method()
    @bus_errors
    async def Cancel(self, id: DBusStr) -> None:
        await self._service.cancel(id)

    @dbus_method()
    @bus_errors
    async def Cleanup(self, older_than: DBusDouble) -> DBusUInt32:
        caller = await self._service.authorize(Action.MANAGE)
        if not older_than >= 0:
            raise ValueError(f"older_than must be 0 or more seconds, not {older_than}")
        return await self._service.manager.cleanup_finished(older_than, caller=caller)

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
