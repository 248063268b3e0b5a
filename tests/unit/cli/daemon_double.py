"""A scripted double of zfsyncd's D-Bus API, for the tests of the CLIENT (zfsyncctl) only.

It is not the daemon and proves nothing about it: it implements just enough of
dbus/org.zfsync.Daemon1.xml (the Manager's methods, the Transaction signals) with
dbus_fast.service.ServiceInterface for zfsyncctl to be driven through its real D-Bus code
paths on a private bus. The end-to-end tests against the real daemon live in tests/system.

It runs in its own thread with its own event loop, so that both sync tests (click's
CliRunner, which runs asyncio.run itself) and async tests can talk to it. A test scripts it:
- `fail[method] = (error_name, text)`: that method replies with the error (once);
- `script`: the coroutine a new transaction runs (default: one step, progress, COMPLETED);
  it usually starts with `await tx.watched.wait()`: the client has subscribed and read the
  state (the first GetTransaction of it), so what follows reaches the client as signals;
- `add_transaction(...)`: a stored transaction in any state;
- `calls`: (member, body, flags) of every method call it received."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from dbus_fast import DBusError, Message, MessageType, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusSignature
from dbus_fast.service import ServiceInterface, dbus_method, dbus_signal

import zfsyncd.ops  # noqa: F401 - registers the kinds whose declarations the options follow
from tests.unit.bus.replica_plan import PLANNED, with_planned
from zfsyncd.api.names import (
    BUS_NAME,
    MANAGER_IFACE,
    MANAGER_PATH,
    TRANSACTION_IFACE,
    ErrorName,
    transaction_path,
)
from zfsyncd.api.records import (
    CleanupRow,
    DaemonStatus,
    MigrationCheck,
    MigrationRow,
    PruneRow,
    Record,
    ReplicaRow,
    SnapshotRow,
    StepInfo,
    TransactionSummary,
    WitnessConflict,
    WitnessStatus,
)
from zfsyncd.api.signatures import declared_signature, option_signatures
from zfsyncd.bus.connection import connect as connect_bus
from zfsyncd.bus.kind_methods import option_keys
from zfsyncd.bus.options import ListSnapshotsOptions, WaitOptions
from zfsyncd.ops.migration.status import MigrationQuery, ValidateOptions
from zfsyncd.ops.prune import PruneRequest
from zfsyncd.ops.replication.status import ReplicaQuery
from zfsyncd.tx.kinds import TX_KINDS, TxKind
from zfsyncd.tx.queries import TransactionQuery

T = TypeVar("T")

S = Annotated[str, DBusSignature("s")]
O = Annotated[str, DBusSignature("o")]  # noqa: E741
U = Annotated[int, DBusSignature("u")]
D = Annotated[float, DBusSignature("d")]
T64 = Annotated[int, DBusSignature("t")]
AS = Annotated[list[str], DBusSignature("as")]
ASV = Annotated[dict[str, Variant], DBusSignature("a{sv}")]
AASV = Annotated[list[dict[str, Variant]], DBusSignature("aa{sv}")]
Nothing = Annotated[None, DBusSignature("")]


def record_keys(model: type[Record]) -> dict[str, str]:
    """The D-Bus signature of each key of a record, as zfsyncd.api.records declares it."""
    return {name: declared_signature(model, name) for name in model.model_fields}


TX_KEYS = record_keys(TransactionSummary)
STEP_KEYS = record_keys(StepInfo)
SNAPSHOT_KEYS = record_keys(SnapshotRow)
REPLICA_KEYS = record_keys(ReplicaRow)
CLEANUP_KEYS = record_keys(CleanupRow)
PRUNE_KEYS = record_keys(PruneRow)
WITNESS_STATUS_KEYS = record_keys(WitnessStatus)
WITNESS_CONFLICT_KEYS = record_keys(WitnessConflict)
#: Replica* method -> the transaction type it starts (REPL-PLAN.md)
REPLICA_TYPES = {k.method.name: k.name for k in PLANNED}
_STATUS_VALUES: dict[str, Any] = {
    "version": "0.1.0-double", "backend": "memory", "started": 1_700_000_000.0,
    "pools": ["tank", "backup"], "active": 1, "queued": 0, "max_parallel": 4,
    "pending_cleanups": 0, "transactions": 12,
}  # fmt: skip
STATUS = {k: Variant(record_keys(DaemonStatus)[k], v) for k, v in _STATUS_VALUES.items()}


def all_option_keys(kinds: Mapping[str, TxKind]) -> dict[str, Mapping[str, tuple[str, ...]]]:
    """Method -> option key -> the signatures the daemon accepts for it: the methods that
    start a transaction from their kinds' declarations, the others from their option models."""
    return {
        **{
            kind.method.name: option_keys(kind, kind.method)
            for kind in kinds.values()
            if kind.method is not None
        },
        "ListSnapshots": option_signatures(ListSnapshotsOptions),
        "ListReplicas": option_signatures(ReplicaQuery),
        "ListMigrations": option_signatures(MigrationQuery),
        "ValidateMigration": option_signatures(ValidateOptions),
        "ListTransactions": option_signatures(TransactionQuery),
        "Rollback": option_signatures(WaitOptions),
        "Retry": option_signatures(WaitOptions),
        "PrunePreview": option_signatures(PruneRequest, skip=("datasets",)),
    }


#: the replica methods as planned, while their kinds are not all registered yet
OPTION_KEYS = all_option_keys(with_planned(TX_KINDS))


def variants(values: dict[str, Any], keys: dict[str, str]) -> dict[str, Variant]:
    return {k: Variant(keys[k], v) for k, v in values.items()}


def check_options(method: str, options: dict[str, Variant]) -> None:
    """As the XML says: an unknown key or a wrong type is InvalidArgument naming it."""
    allowed = OPTION_KEYS[method]
    for key, value in options.items():
        if key not in allowed:
            raise DBusError(ErrorName.INVALID_ARGUMENT, f"{method}: unknown option {key!r}")
        if value.signature not in allowed[key]:
            raise DBusError(
                ErrorName.INVALID_ARGUMENT,
                f"{method}: option {key!r} must be {' or '.join(allowed[key])}, "
                f"not {value.signature}",
            )


@dataclass
class Tx:
    """One transaction of the double."""

    id: str
    data: dict[str, Any]
    steps: list[dict[str, Any]] = field(default_factory=list)
    #: set by the first GetTransaction of it: the client has subscribed and read its state
    watched: asyncio.Event = field(default_factory=asyncio.Event)
    iface: TransactionObject | None = None

    def as_dbus(self, with_steps: bool = True) -> dict[str, Variant]:
        out = variants(self.data, TX_KEYS)
        if with_steps:
            out["steps"] = Variant("aa{sv}", [variants(s, STEP_KEYS) for s in self.steps])
        return out


class TransactionObject(ServiceInterface):
    def __init__(self, double: DaemonDouble, tx: Tx) -> None:
        super().__init__(TRANSACTION_IFACE)
        self.double = double
        self.tx = tx

    @dbus_method(name="Cancel")
    async def cancel(self) -> Nothing:
        await self.double.cancel_tx(self.tx.id)

    @dbus_signal(name="Progress")
    def progress(
        self, percent: float, done: int, total: int, rate: float, eta: float
    ) -> Annotated[list[Any], DBusSignature("dttdd")]:
        return [percent, done, total, rate, eta]

    @dbus_signal(name="StreamProgress")
    def stream_progress(
        self, rows: list[list[Any]]
    ) -> Annotated[list[list[Any]], DBusSignature("a(sttdd)")]:
        return rows

    @dbus_signal(name="StepStarted")
    def step_started(
        self, index: int, description: str
    ) -> Annotated[list[Any], DBusSignature("us")]:
        return [index, description]

    @dbus_signal(name="StepFinished")
    def step_finished(self, index: int, state: str) -> Annotated[list[Any], DBusSignature("us")]:
        return [index, state]

    @dbus_signal(name="Message")
    def message(self, text: str) -> S:
        return text

    @dbus_signal(name="Finished")
    def finished(self, state: str, error: str) -> Annotated[list[Any], DBusSignature("ss")]:
        return [state, error]


class ManagerObject(ServiceInterface):
    def __init__(self, double: DaemonDouble) -> None:
        super().__init__(MANAGER_IFACE)
        self.double = double

    def _maybe_fail(self, method: str) -> None:
        failure = self.double.fail.pop(method, None)
        if failure is not None:
            raise DBusError(*failure)

    @dbus_method(name="GetStatus")
    def get_status(self) -> ASV:
        self._maybe_fail("GetStatus")
        return dict(STATUS)

    @dbus_method(name="Snapshot")
    def snapshot(self, datasets: AS, options: ASV) -> O:
        self._maybe_fail("Snapshot")
        check_options("Snapshot", options)
        if not datasets:
            raise DBusError(ErrorName.INVALID_ARGUMENT, "no datasets given")
        for ds in datasets:
            if (
                ds in self.double.busy
                and not options.get("wait_for_locks", Variant("b", True)).value
            ):
                raise DBusError(ErrorName.BUSY, f"{ds} is in transaction t_other")
            if ds not in self.double.datasets:
                raise DBusError(ErrorName.NOT_FOUND, f"dataset {ds} does not exist")
        return self.double.start_tx("snapshot", f"snapshot {', '.join(datasets)}", datasets)

    @dbus_method(name="DestroySnapshots")
    def destroy_snapshots(self, snapshots: AS, options: ASV) -> O:
        self._maybe_fail("DestroySnapshots")
        check_options("DestroySnapshots", options)
        any_name = options.get("any_name", Variant("b", False)).value
        for snap in snapshots:
            if not any_name and not snap.partition("@")[2].startswith("zfsync_"):
                raise DBusError(ErrorName.REFUSED, f"{snap} was not made by zfsyncd (use any_name)")
        return self.double.start_tx(
            "destroy-snapshots", f"destroy {', '.join(snapshots)}", snapshots
        )

    @dbus_method(name="ListSnapshots")
    def list_snapshots(self, datasets: AS, options: ASV) -> AASV:
        self._maybe_fail("ListSnapshots")
        check_options("ListSnapshots", options)
        return [variants(s, SNAPSHOT_KEYS) for s in self.double.snapshots]

    @dbus_method(name="ListReplicas")
    def list_replicas(self, options: ASV) -> AASV:
        self._maybe_fail("ListReplicas")
        check_options("ListReplicas", options)
        rows = sorted(self.double.replicas, key=lambda r: r["dataset"])
        if "dataset" in options:
            wanted = options["dataset"].value
            rows = [r for r in rows if wanted in (r["dataset"], r["destination"].partition(":")[2])]
        if "after" in options:
            rows = [r for r in rows if r["dataset"] > options["after"].value]
        limit = options["limit"].value if "limit" in options else 0
        return [variants(r, REPLICA_KEYS) for r in rows[: limit or 1000]]

    @dbus_method(name="Migrate")
    def migrate(self, source: S, dataset: S, options: ASV) -> O:
        self._maybe_fail("Migrate")
        check_options("Migrate", options)
        return self.double.start_tx("migrate", f"migrate {source} into {dataset}", [dataset])

    @dbus_method(name="ListMigrations")
    def list_migrations(self, options: ASV) -> AASV:
        self._maybe_fail("ListMigrations")
        check_options("ListMigrations", options)
        rows = self.double.migrations
        if "dataset" in options:
            rows = [r for r in rows if r["dataset"] == options["dataset"].value]
        return [variants(r, record_keys(MigrationRow)) for r in rows]

    @dbus_method(name="ValidateMigration")
    def validate_migration(self, dataset: S, options: ASV) -> AASV:
        self._maybe_fail("ValidateMigration")
        check_options("ValidateMigration", options)
        if dataset not in self.double.datasets:
            raise DBusError(ErrorName.NOT_FOUND, f"{dataset} is not a migrated dataset")
        bad = dataset in self.double.corrupted
        check = {"name": "contents", "ok": not bad, "covered": "3 of 3 files",
                 "problems": ["contents differ: 'a'"] if bad else [],
                 "problem_count": int(bad)}  # fmt: skip
        return [variants(check, record_keys(MigrationCheck))]

    def _replica(
        self,
        method: str,
        names: list[str],
        options: dict[str, Variant],
        exist: int = 99,
        kind: str | None = None,
    ) -> str:
        """A Replica* call: options checked as the daemon does; the first `exist` names,
        when local datasets (not HOST:DATASET or pool/fs@snap), must exist."""
        self._maybe_fail(method)
        check_options(method, options)
        for name in names[:exist]:
            if ":" not in name and "@" not in name and name not in self.double.datasets:
                raise DBusError(ErrorName.NOT_FOUND, f"dataset {name} does not exist")
        kind = kind or REPLICA_TYPES[method]
        return self.double.start_tx(kind, f"{kind} {' '.join(names) or 'all'}", names)

    @dbus_method(name="ReplicaInit")
    def replica_init(self, source: S, destination: S, options: ASV) -> O:
        return self._replica("ReplicaInit", [source, destination], options, exist=1)

    @dbus_method(name="ReplicaSync")
    def replica_sync(self, sources: AS, options: ASV) -> O:
        return self._replica("ReplicaSync", sources, options)

    @dbus_method(name="ReplicaSyncTo")
    def replica_sync_to(self, snapshot: S, options: ASV) -> O:
        return self._replica("ReplicaSyncTo", [snapshot], options)

    @dbus_method(name="ReplicaExpire")
    def replica_expire(self, sources: AS, options: ASV) -> O:
        return self._replica("ReplicaExpire", sources, options)

    @dbus_method(name="ReplicaPause")
    def replica_pause(self, source: S, options: ASV) -> O:
        return self._replica("ReplicaPause", [source], options)

    @dbus_method(name="ReplicaResume")
    def replica_resume(self, source: S, options: ASV) -> O:
        return self._replica("ReplicaResume", [source], options)

    @dbus_method(name="ReplicaClear")
    def replica_clear(self, source: S, options: ASV) -> O:
        return self._replica("ReplicaClear", [source], options)

    @dbus_method(name="ReplicaFailover")
    def replica_failover(self, source: S, options: ASV) -> O:
        return self._replica("ReplicaFailover", [source], options)

    @dbus_method(name="ReplicaTakeover")
    def replica_takeover(self, destination: S, options: ASV) -> O:
        return self._replica("ReplicaTakeover", [destination], options)

    @dbus_method(name="ReplicaReconfigure")
    def replica_reconfigure(self, source: S, destination: S, options: ASV) -> O:
        return self._replica("ReplicaReconfigure", [source, destination], options, exist=1)

    # the Dataset* methods (issue 12): the first name must exist for update and rollback
    @dbus_method(name="DatasetInit")
    def dataset_init(self, dataset: S, source: S, options: ASV) -> O:
        self._maybe_fail("DatasetInit")
        check_options("DatasetInit", options)
        return self.double.start_tx("dataset-init", f"make {dataset} from {source}", [dataset])

    @dbus_method(name="DatasetUpdate")
    def dataset_update(self, dataset: S, source: S, options: ASV) -> O:
        return self._replica("DatasetUpdate", [dataset], options, kind="dataset-update")

    @dbus_method(name="DatasetRollback")
    def dataset_rollback(self, snapshot: S, options: ASV) -> O:
        dataset = snapshot.partition("@")[0]
        return self._replica("DatasetRollback", [dataset], options, kind="rollback-dataset")

    @dbus_method(name="Prune")
    def prune(self, datasets: AS, options: ASV) -> O:
        self._maybe_fail("Prune")
        check_options("Prune", options)
        return self.double.start_tx("prune", f"prune {' '.join(datasets)}", list(datasets))

    @dbus_method(name="PrunePreview")
    def prune_preview(self, datasets: AS, options: ASV) -> AASV:
        self._maybe_fail("PrunePreview")
        check_options("PrunePreview", options)
        return [variants(r, PRUNE_KEYS) for r in self.double.prune_rows]

    @dbus_method(name="ListTransactions")
    def list_transactions(self, tx_filter: ASV) -> AASV:
        self._maybe_fail("ListTransactions")
        check_options("ListTransactions", tx_filter)
        rows = sorted(self.double.txs.values(), key=lambda t: -t.data["created"])
        if "states" in tx_filter:
            rows = [t for t in rows if t.data["state"] in tx_filter["states"].value]
        if "rollback_pending" in tx_filter and tx_filter["rollback_pending"].value:
            rows = [t for t in rows if t.data["rollback_pending"]]
        if "after" in tx_filter:  # ids sort by creation: the page after a row is older
            rows = [t for t in rows if t.data["id"] < tx_filter["after"].value]
        if "limit" in tx_filter and tx_filter["limit"].value:
            rows = rows[: tx_filter["limit"].value]
        return [t.as_dbus(with_steps=False) for t in rows]

    @dbus_method(name="GetTransaction")
    def get_transaction(self, tx_id: S) -> ASV:
        self._maybe_fail("GetTransaction")
        tx = self.double.txs.get(tx_id)
        if tx is None:
            raise DBusError(ErrorName.NOT_FOUND, f"no transaction {tx_id}")
        reply = tx.as_dbus()
        hook = self.double.on_get_transaction.pop(tx_id, None)
        if hook is not None:
            hook(tx)
        tx.watched.set()
        return reply

    @dbus_method(name="Rollback")
    def rollback(self, tx_id: S, options: ASV) -> O:
        self._maybe_fail("Rollback")
        check_options("Rollback", options)
        tx = self.double.txs.get(tx_id)
        if tx is None:
            raise DBusError(ErrorName.NOT_FOUND, f"no transaction {tx_id}")
        if tx.data["state"] != "COMPLETED":
            raise DBusError(ErrorName.REFUSED, f"{tx_id} is {tx.data['state']}, not COMPLETED")
        return self.double.start_tx(
            "rollback", f"roll back {tx_id}", tx.data["datasets"], rolls_back=tx_id
        )

    @dbus_method(name="FinishRollback")
    def finish_rollback(self, tx_id: S) -> S:
        self._maybe_fail("FinishRollback")
        tx = self.double.txs.get(tx_id)
        if tx is None:
            raise DBusError(ErrorName.NOT_FOUND, f"no transaction {tx_id}")
        return f"nothing left to undo for {tx_id}"

    @dbus_method(name="Retry")
    def retry(self, tx_id: S, options: ASV) -> O:
        self._maybe_fail("Retry")
        check_options("Retry", options)
        tx = self.double.txs.get(tx_id)
        if tx is None:
            raise DBusError(ErrorName.NOT_FOUND, f"no transaction {tx_id}")
        return self.double.start_tx(
            tx.data["type"], tx.data["description"], tx.data["datasets"], retry_of=tx_id
        )

    @dbus_method(name="Cancel")
    async def cancel(self, tx_id: S) -> Nothing:
        self._maybe_fail("Cancel")
        await self.double.cancel_tx(tx_id)

    @dbus_method(name="Cleanup")
    def cleanup(self, older_than: D) -> U:
        self._maybe_fail("Cleanup")
        self.double.cleanup_calls.append(older_than)
        return 3

    @dbus_method(name="ListCleanups")
    def list_cleanups(self) -> AASV:
        self._maybe_fail("ListCleanups")
        return [variants(row, CLEANUP_KEYS) for row in self.double.cleanups]

    @dbus_method(name="WitnessStatus")
    def witness_status(self) -> ASV:
        self._maybe_fail("WitnessStatus")
        return variants(self.double.witness_status, WITNESS_STATUS_KEYS)

    @dbus_method(name="WitnessConflicts")
    def witness_conflicts(self) -> AASV:
        self._maybe_fail("WitnessConflicts")
        return [variants(r, WITNESS_CONFLICT_KEYS) for r in self.double.witness_conflicts]

    @dbus_method(name="RunCleanups")
    def run_cleanups(self) -> U:
        self._maybe_fail("RunCleanups")
        done = len(self.double.cleanups)
        self.double.cleanups.clear()
        return done


Script = Callable[["DaemonDouble", Tx], Coroutine[Any, Any, None]]


async def default_script(double: DaemonDouble, tx: Tx) -> None:
    """One step with progress; COMPLETED."""
    await tx.watched.wait()
    double.set_state(tx, "EXECUTING")
    double.step_started(tx, 0, f"zfs snapshot {' '.join(tx.data['datasets'])}")
    for pct in (25.0, 50.0, 75.0, 100.0):
        double.progress(tx, pct, int(pct) * 1024, 100 * 1024, 1024.0, 3.0)
        await asyncio.sleep(0.01)
    double.step_finished(tx, 0, "COMPLETED")
    double.message(tx, "snapshot tank/home@zfsync_20260101T000000 created")
    double.finish(tx, "COMPLETED", "")


class DaemonDouble:
    def __init__(self, address: str) -> None:
        self.address = address
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="daemon-double", daemon=True)
        self.bus: MessageBus | None = None
        self.manager = ManagerObject(self)
        self.txs: dict[str, Tx] = {}
        self.fail: dict[str, tuple[str, str]] = {}
        self.on_get_transaction: dict[str, Callable[[Tx], None]] = {}
        self.script: Script = default_script
        self.datasets = {"tank", "tank/home", "tank/db", "backup"}
        self.busy: set[str] = set()
        self.snapshots: list[dict[str, Any]] = []
        #: ListReplicas' rows (ReplicaRow's keys; `replica_row` makes one)
        self.replicas: list[dict[str, Any]] = []
        #: ListMigrations' rows; datasets whose ValidateMigration finds a corrupted file
        self.migrations: list[dict[str, Any]] = []
        self.corrupted: set[str] = set()
        #: PrunePreview's rows (PruneRow's keys)
        self.prune_rows: list[dict[str, Any]] = []
        self.calls: list[tuple[str, list[Any], int]] = []
        self.cleanup_calls: list[float] = []
        #: the deferred-cleanup queue's rows (CleanupRow's keys)
        self.cleanups: list[dict[str, Any]] = []
        #: WitnessStatus' reply and WitnessConflicts' rows (their records' keys)
        self.witness_status: dict[str, Any] = {}
        self.witness_conflicts: list[dict[str, Any]] = []
        self.tasks: set[asyncio.Task[None]] = set()
        self._counter = 0

    # --- lifecycle (called from the test's thread) ---

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def start(self) -> DaemonDouble:
        self.thread.start()
        self.run(self._start())
        return self

    async def _start(self) -> None:
        # the daemon's own connection: a burst of signals that fills the socket waits for
        # it to drain instead of dropping the connection (plain dbus-fast does, on EAGAIN)
        self.bus = await connect_bus(self.address)
        self.bus.add_message_handler(self._record)
        self.bus.export(MANAGER_PATH, self.manager)
        await self.bus.request_name(BUS_NAME)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 10) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        if self.thread.is_alive():
            self.run(self._stop())
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
        self.loop.close()

    async def _stop(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.vanish()

    async def vanish(self) -> None:
        """Leave the bus as a crashing daemon would: the connection just closes."""
        if self.bus is not None and self.bus.connected:
            self.bus.disconnect()
            with contextlib.suppress(Exception):
                await self.bus.wait_for_disconnect()  # type: ignore[no-untyped-call]

    def _record(self, msg: Message) -> None:
        if msg.message_type is MessageType.METHOD_CALL and msg.interface in (
            MANAGER_IFACE,
            TRANSACTION_IFACE,
        ):
            self.calls.append((msg.member or "", list(msg.body), int(msg.flags)))

    def add_replica(self, dataset: str, destination: str, **values: Any) -> dict[str, Any]:
        """A row of ListReplicas: a pair in sync unless `values` say otherwise."""
        row: dict[str, Any] = {
            "dataset": dataset, "role": "source", "peer": destination,
            "source": f"local:{dataset}", "destination": destination,
            "last_sent": f"{dataset}@zfsync_t1", "last_sent_guid": 1,
            "last_sent_created": time.time() - 3600, "age": 3600.0, "lag_bytes": 0,
            "lag_seconds": 0.0, "unsent": 0, "paused": False, "source_savecount": 5,
            "destination_savecount": 5, "resume_token": False, "last_error": "",
            "last_error_transaction": "", "last_error_at": 0.0, "error": "", "cursor": dataset,
        }  # fmt: skip
        row.update(values)
        self.replicas.append(row)
        return row

    # --- transactions (called in the double's loop) ---

    def add_transaction(self, state: str = "COMPLETED", **data: Any) -> Tx:
        """A stored transaction (call from the test's thread before the client runs)."""
        self._counter += 1
        tx_id = data.pop("id", f"tx{self._counter:04d}")
        now = time.time()
        values: dict[str, Any] = {
            "id": tx_id, "path": transaction_path(tx_id), "type": "snapshot", "state": state,
            "description": f"snapshot tank ({tx_id})", "uid": 0, "priority": 0,
            "created": now - 60 + self._counter, "updated": now, "finished": 0.0, "error": "",
            "error_kind": "", "rollback_outcome": "", "rolls_back": "", "retry_of": "",
            "tags": [], "datasets": ["tank"], "percent": 0.0, "bytes_done": 0,
            "bytes_total": 0,
            "rollback_pending": False,
        }  # fmt: skip
        if state in ("COMPLETED", "FAILED", "CANCELLED"):
            values["finished"] = now
            values["percent"] = 100.0 if state == "COMPLETED" else 40.0
        values.update(data)
        tx = Tx(tx_id, values)
        tx.steps.append({
            "index": 0, "kind": "snapshot", "description": "zfs snapshot tank@zfsync_x",
            "state": "COMPLETED" if state == "COMPLETED" else "PENDING", "error": "",
            "started": 0.0, "finished": 0.0, "estimate": 0,
        })  # fmt: skip
        self.txs[tx_id] = tx
        return tx

    def start_tx(self, tx_type: str, description: str, datasets: list[str], **extra: Any) -> str:
        tx = self.add_transaction(
            "PREPARED", type=tx_type, description=description, datasets=list(datasets), **extra
        )
        tx.iface = TransactionObject(self, tx)
        assert self.bus is not None
        self.bus.export(tx.data["path"], tx.iface)
        task = asyncio.get_running_loop().create_task(self.script(self, tx))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return str(tx.data["path"])

    async def cancel_tx(self, tx_id: str) -> None:
        tx = self.txs.get(tx_id)
        if tx is None:
            raise DBusError(ErrorName.NOT_FOUND, f"no transaction {tx_id}")
        if tx.data["state"] in ("COMPLETED", "FAILED", "CANCELLED"):
            raise DBusError(ErrorName.REFUSED, f"{tx_id} has already ended {tx.data['state']}")
        self.finish(tx, "CANCELLED", "cancelled by uid 0")

    def set_state(self, tx: Tx, state: str) -> None:
        tx.data["state"] = state
        tx.data["updated"] = time.time()

    def progress(self, tx: Tx, pct: float, done: int, total: int, rate: float, eta: float) -> None:
        tx.data.update(percent=pct, bytes_done=done, bytes_total=total)
        assert tx.iface is not None
        tx.iface.progress(pct, done, total, rate, eta)

    def streams(self, tx: Tx, rows: list[tuple[str, int, int, float, float]]) -> None:
        """The running streams: (dataset, bytes done, estimate, rate, eta) each."""
        assert tx.iface is not None
        tx.iface.stream_progress([list(r) for r in rows])

    def step_started(self, tx: Tx, index: int, description: str) -> None:
        tx.steps[0].update(state="RUNNING", description=description, started=time.time())
        assert tx.iface is not None
        tx.iface.step_started(index, description)

    def step_finished(self, tx: Tx, index: int, state: str) -> None:
        tx.steps[0].update(state=state, finished=time.time())
        assert tx.iface is not None
        tx.iface.step_finished(index, state)

    def message(self, tx: Tx, text: str) -> None:
        assert tx.iface is not None
        tx.iface.message(text)

    def finish(self, tx: Tx, state: str, error: str) -> None:
        self.set_state(tx, state)
        tx.data.update(finished=time.time(), error=error)
        if state == "COMPLETED":
            tx.data["percent"] = 100.0
        if tx.iface is not None:
            tx.iface.finished(state, error)
