"""The Manager on the bus: /org/zfsync/Daemon1, org.zfsync.Daemon1.Manager.

The methods that manage transactions are written here; the ones that start a transaction
of some type are generated from the types' declarations (kind_methods.py). Each method
declares its polkit action (@authorized), checks its options and hands over to the service
(service.py), which speaks to the engine. Errors come back as org.zfsync.Error.* with the
engine's own words.
"""

# no `from __future__ import annotations`: dbus-fast reads the annotations at class
# creation, and a postponed `-> None` would reach it as the string "None"
from typing import TYPE_CHECKING, Annotated

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
from dbus_fast.service import dbus_method, dbus_property, dbus_signal

from zfsyncd.api.names import MANAGER_IFACE, Action
from zfsyncd.api.signatures import option_signatures
from zfsyncd.bus.authorized import (
    Authority,
    AuthorizedInterface,
    action_of_type,
    authorized,
    authorized_caller,
    cancel_action,
)
from zfsyncd.bus.options import ListSnapshotsOptions, WaitOptions, checked, parse
from zfsyncd.ops.migration.status import MigrationQuery, ValidateOptions
from zfsyncd.ops.replication.status import ReplicaQuery
from zfsyncd.tx.manager import Caller
from zfsyncd.tx.queries import TransactionQuery

if TYPE_CHECKING:
    from zfsyncd.bus.service import BusService

StrList = Annotated[list[str], DBusSignature("as")]
DictList = Annotated[list[dict[str, Variant]], DBusSignature("aa{sv}")]
PathList = Annotated[list[str], DBusSignature("ao")]


async def _retry_action(iface: "ManagerObject", _reader: Caller, id: str, _options: object) -> str:
    record = await iface._service.record(id)
    return action_of_type(record.type)


async def _cancel_action(iface: "ManagerObject", reader: Caller, id: str) -> str:
    record = await iface._service.record(id)
    return cancel_action(record.type, record.uid, reader)


class ManagerObject(AuthorizedInterface):
    def __init__(self, service: "BusService", authority: Authority) -> None:
        self._service = service
        super().__init__(MANAGER_IFACE, authority)

    # ------------------------------------------------------------------ reading

    @dbus_method()
    @authorized(Action.READ)
    async def GetStatus(self) -> DBusDict:  # D-Bus member names are CamelCase
        return await self._service.status()

    @dbus_method()
    @authorized(Action.READ)
    async def ListTransactions(self, filter: DBusDict) -> DictList:
        wanted = checked(option_signatures(TransactionQuery), filter, "ListTransactions")
        return await self._service.list_transactions(TransactionQuery.parse(wanted))

    @dbus_method()
    @authorized(Action.READ)
    async def GetTransaction(self, id: DBusStr) -> DBusDict:
        return await self._service.transaction_details(id)

    @dbus_method()
    @authorized(Action.READ)
    async def ListSnapshots(self, datasets: StrList, options: DBusDict) -> DictList:
        opts = parse(ListSnapshotsOptions, options, "ListSnapshots")
        return await self._service.list_snapshots(datasets, opts)

    @dbus_method()
    @authorized(Action.READ)
    async def ListReplicas(self, options: DBusDict) -> DictList:
        return await self._service.list_replicas(parse(ReplicaQuery, options, "ListReplicas"))

    @dbus_method()
    @authorized(Action.READ)
    async def ListMigrations(self, options: DBusDict) -> DictList:
        query = parse(MigrationQuery, options, "ListMigrations")
        return await self._service.list_migrations(query)

    # a read, but not an open one: it reads the contents of the files of a dataset and of
    # its source (any user could otherwise learn the names of files they may not list, and
    # keep the disks busy hashing); admin, as the migration itself
    @dbus_method()
    @authorized(Action.MANAGE)
    async def ValidateMigration(self, dataset: DBusStr, options: DBusDict) -> DictList:
        opts = parse(ValidateOptions, options, "ValidateMigration")
        return await self._service.validate_migration(dataset, opts)

    @dbus_method()
    @authorized(Action.READ)
    async def PrunePreview(self, datasets: StrList, options: DBusDict) -> DictList:
        # the dry run of Prune: a read (what would go and why each stays), open to all
        return await self._service.prune_preview(datasets, options)

    # ------------------------------------------------------------------ changing

    @dbus_method()
    @authorized(Action.ROLLBACK)
    async def Rollback(self, id: DBusStr, options: DBusDict) -> DBusObjectPath:
        opts = parse(WaitOptions, options, "Rollback")
        return await self._service.rollback(id, opts, authorized_caller())

    @dbus_method()
    @authorized(Action.ROLLBACK)
    async def FinishRollback(self, id: DBusStr) -> DBusStr:
        return await self._service.finish_rollback(id, authorized_caller())

    @dbus_method()
    @authorized(_retry_action)
    async def Retry(self, id: DBusStr, options: DBusDict) -> DBusObjectPath:
        opts = parse(WaitOptions, options, "Retry")
        return await self._service.retry(id, opts, authorized_caller())

    @dbus_method()
    @authorized(_cancel_action)
    async def Cancel(self, id: DBusStr) -> None:
        await self._service.cancel(id, authorized_caller())

    @dbus_method()
    @authorized(Action.MANAGE)
    async def Cleanup(self, older_than: DBusDouble) -> DBusUInt32:
        return await self._service.cleanup(older_than, authorized_caller())

    @dbus_method()
    @authorized(Action.READ)
    async def ListCleanups(self) -> DictList:
        return await self._service.list_cleanups()

    @dbus_method()
    @authorized(Action.MANAGE)
    async def RunCleanups(self) -> DBusUInt32:
        return await self._service.run_cleanups()

    # ------------------------------------------------------------------ jobs (zfsyncd/jobs)

    @dbus_method()
    @authorized(Action.READ)
    async def ListJobs(self) -> DictList:
        return await self._service.list_jobs()

    @dbus_method()
    @authorized(Action.READ)
    async def GetJob(self, name: DBusStr) -> DBusDict:
        return await self._service.job(name)

    @dbus_method()
    @authorized(Action.MANAGE)
    async def RunJob(self, name: DBusStr) -> None:
        await self._service.change_job("run", name, authorized_caller())

    @dbus_method()
    @authorized(Action.MANAGE)
    async def PauseJob(self, name: DBusStr) -> None:
        await self._service.change_job("pause", name, authorized_caller())

    @dbus_method()
    @authorized(Action.MANAGE)
    async def ResumeJob(self, name: DBusStr) -> None:
        await self._service.change_job("resume", name, authorized_caller())

    @dbus_method()
    @authorized(Action.MANAGE)
    async def Reload(self) -> StrList:
        return await self._service.reload(authorized_caller())

    # ------------------------------------------------------------------ witness (zfsyncd/witness)

    @dbus_method()
    @authorized(Action.READ)
    async def WitnessStatus(self) -> DBusDict:
        return await self._service.witness_status()

    @dbus_method()
    @authorized(Action.READ)
    async def WitnessConflicts(self) -> DictList:
        return await self._service.witness_conflicts()

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
