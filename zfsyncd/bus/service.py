"""zfsyncd on the bus: exports the Manager and one object per live transaction, and keeps
them current from the engine's state changes.

State changes arrive from the manager's listeners (synchronously, in order) and are handled
by one consumer task in that same order, so the signals of a transaction can never be seen
out of order. A transaction's object is exported when it is created and stays for
`finished_linger` seconds after it ends, so a watcher that arrives a moment late still
reads how it ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping, Sequence

from dbus_fast import NameFlag, RequestNameReply, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.service import ServiceInterface

import zfsyncd
from zfsyncd.api.names import (
    BUS_NAME,
    MANAGER_PATH,
    TRANSACTION_IFACE,
    ErrorName,
    transaction_path,
)
from zfsyncd.api.records import DaemonStatus, PruneRow, ReplicaRow, SnapshotRow
from zfsyncd.api.signatures import option_signatures
from zfsyncd.bus import payloads
from zfsyncd.bus.authority import PolkitAuthority
from zfsyncd.bus.authorized import require_declared
from zfsyncd.bus.caller import remember_call
from zfsyncd.bus.errors import BusCallError
from zfsyncd.bus.job_service import JobService
from zfsyncd.bus.kind_methods import build_manager
from zfsyncd.bus.options import ListSnapshotsOptions, TxOptions, WaitOptions, checked
from zfsyncd.bus.transaction_object import TransactionObject
from zfsyncd.ops import prune
from zfsyncd.ops.migration.status import (
    MigrationQuery,
    ValidateOptions,
    list_migrations,
    validate_dataset,
)
from zfsyncd.ops.prune import PruneRequest
from zfsyncd.ops.replication.status import ReplicaQuery, list_replicas
from zfsyncd.ops.snapshot_list import list_snapshots
from zfsyncd.store import TransactionRecord, TxState
from zfsyncd.tx import queries
from zfsyncd.tx.cleanup import CLEANUP_MAX_DELAY
from zfsyncd.tx.hosts import LOCAL
from zfsyncd.tx.manager import Caller, TransactionManager
from zfsyncd.tx.progress import ProgressReading, ProgressSink
from zfsyncd.tx.queries import ListedTransaction, TransactionQuery
from zfsyncd.witness.client import WitnessClient, not_configured
from zfsyncd.witness.wire import WitnessError

log = logging.getLogger(__name__)
#: the rows ListCleanups returns at most
MAX_CLEANUP_ROWS = 1000


class BusService:
    def __init__(
        self,
        bus: MessageBus,
        manager: TransactionManager,
        *,
        backend: str,
        signal_rate: float = 4.0,
        finished_linger: float = 60.0,
    ) -> None:
        self.bus = bus
        self.manager = manager
        self.backend = backend
        self.version = zfsyncd.__version__
        self.started = time.time()
        self.signal_rate = signal_rate
        self.finished_linger = finished_linger
        self.authority = PolkitAuthority(bus, manager.audit)
        self.objects: dict[str, TransactionObject] = {}
        self.manager_object = build_manager(self, self.authority)
        self._events: asyncio.Queue[tuple[str, TxState]] = asyncio.Queue()
        self._consumer: asyncio.Task[None] | None = None
        self._unexports: dict[str, asyncio.TimerHandle] = {}
        #: the jobs' methods; set by the daemon once its scheduler runs
        self.jobs: JobService | None = None
        #: the witness client (zfsyncd/witness/); None without [witness]
        self.witness: WitnessClient | None = None
        manager.listeners.append(self._on_state)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Export everything and take the bus name (last, so callers find it all there)."""
        self.bus.add_message_handler(remember_call)
        self._export_checked(MANAGER_PATH, self.manager_object)
        for record in await self.manager.list_active():
            self._export(record)
        self._consumer = asyncio.create_task(self._consume())
        reply = await self.bus.request_name(BUS_NAME, NameFlag.DO_NOT_QUEUE)
        if reply is not RequestNameReply.PRIMARY_OWNER:
            raise RuntimeError(f"{BUS_NAME} is owned by another process (another zfsyncd?)")

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await self.bus.release_name(BUS_NAME)
        await self._events.join()
        if self._consumer is not None:
            self._consumer.cancel()
            await asyncio.gather(self._consumer, return_exceptions=True)
        for handle in self._unexports.values():
            handle.cancel()

    def sink_for(self, record: TransactionRecord) -> ProgressSink:
        """The manager's sink factory: a running transaction reports to its object."""
        obj = self._export(record)
        obj.begin(record)
        return obj.sink()

    # ------------------------------------------------------------------ what the methods do

    async def record(self, tx_id: str) -> TransactionRecord:
        return await self.manager.get(tx_id)

    async def start_transaction(
        self, type: str, params: dict[str, object], opts: TxOptions, caller: Caller
    ) -> str:
        record = await self.manager.create(type, params, caller=caller, **opts.engine_options())
        return await self._run(record, opts.wait_for_locks, caller)

    async def _run(self, record: TransactionRecord, wait_for_locks: bool, caller: Caller) -> str:
        self._export(record)
        await self.manager.start(record.id, wait_for_locks=wait_for_locks, caller=caller)
        return transaction_path(record.id)

    async def rollback(self, tx_id: str, opts: WaitOptions, caller: Caller) -> str:
        record = await self.manager.rollback(tx_id, caller=caller)
        return await self._run(record, opts.wait_for_locks, caller)

    async def retry(self, tx_id: str, opts: WaitOptions, caller: Caller) -> str:
        record = await self.manager.retry(tx_id, caller=caller)
        return await self._run(record, opts.wait_for_locks, caller)

    async def cancel(self, tx_id: str, caller: Caller) -> None:
        # not waiting for the undo: it can outlast a client's call timeout (25 s is usual)
        await self.manager.cancel(tx_id, caller=caller, wait=False)

    async def finish_rollback(self, tx_id: str, caller: Caller) -> str:
        return await self.manager.finish_rollback(tx_id, caller=caller)

    async def cleanup(self, older_than: float, caller: Caller) -> int:
        return await self.manager.cleanup_finished(older_than, caller=caller)

    async def list_cleanups(self) -> list[dict[str, Variant]]:
        # bounded: rows carry at most 1,024 + 4,096 characters of text, so 1,000 stay
        # under 6 MB (the reply bound is 24 MiB); the oldest due come first
        pending = (await self.manager.cleanups.pending())[:MAX_CLEANUP_ROWS]
        return [payloads.as_dict(payloads.cleanup_row(item)) for item in pending]

    async def run_cleanups(self) -> int:
        """Try every deferred cleanup now, due or not (the growing delay is for the daemon's
        own retries, not for an administrator who asks)."""
        return await self.manager.run_cleanups(now=time.time() + CLEANUP_MAX_DELAY)

    async def list_transactions(self, query: TransactionQuery) -> list[dict[str, Variant]]:
        return [self._summary(t) for t in await queries.list_transactions(self.manager, query)]

    async def transaction_details(self, tx_id: str) -> dict[str, Variant]:
        listed = await queries.transaction(self.manager, tx_id)
        reading = self._live_reading(listed.record)
        return payloads.details(listed.record, reading, rollback_pending=listed.rollback_pending)

    def _summary(self, listed: ListedTransaction) -> dict[str, Variant]:
        reading = self._live_reading(listed.record)
        return payloads.summary(listed.record, reading, rollback_pending=listed.rollback_pending)

    async def list_snapshots(
        self, datasets: Sequence[str], opts: ListSnapshotsOptions
    ) -> list[dict[str, Variant]]:
        rows: list[SnapshotRow] = await list_snapshots(
            queries.local_zfs(self.manager),
            datasets,
            recursive=opts.recursive,
            any_name=opts.any_name,
            after=opts.after,
            limit=opts.limit,
        )
        return [payloads.as_dict(r) for r in rows]

    async def prune_preview(
        self, datasets: Sequence[str], options: Mapping[str, Variant]
    ) -> list[dict[str, Variant]]:
        signatures = option_signatures(PruneRequest, skip=("datasets",))
        values = checked(signatures, options, "PrunePreview")
        request = PruneRequest.model_validate({"datasets": list(datasets), **values})
        active = await self.manager.store.list_active()
        rows: list[PruneRow] = await prune.preview(self.manager.hosts, request, active)
        return [payloads.as_dict(r) for r in rows]

    async def list_replicas(self, query: ReplicaQuery) -> list[dict[str, Variant]]:
        rows: list[ReplicaRow] = await list_replicas(
            self.manager.hosts, self.manager.store, query, time.time()
        )
        return [payloads.as_dict(r) for r in rows]

    async def list_migrations(self, query: MigrationQuery) -> list[dict[str, Variant]]:
        zfs = self.manager.hosts[LOCAL].zfs
        return [payloads.as_dict(r) for r in await list_migrations(zfs, query)]

    async def validate_migration(
        self, dataset: str, options: ValidateOptions
    ) -> list[dict[str, Variant]]:
        zfs = self.manager.hosts[LOCAL].zfs
        return [payloads.as_dict(c) for c in await validate_dataset(zfs, dataset, options)]

    async def status(self) -> dict[str, Variant]:
        engine = await queries.engine_status(self.manager)
        status = DaemonStatus(
            version=self.version, backend=self.backend, started=self.started, **vars(engine)
        )
        return payloads.as_dict(status)

    # ------------------------------------------------------------------ jobs (job_service.py)

    async def list_jobs(self) -> list[dict[str, Variant]]:
        return self._jobs().rows()

    async def job(self, name: str) -> dict[str, Variant]:
        return self._jobs().get(name)

    async def change_job(self, change: str, name: str, caller: Caller) -> None:
        await self._jobs().change(change, name, caller)

    async def reload(self, caller: Caller) -> list[str]:
        return await self._jobs().reload(caller)

    def _jobs(self) -> JobService:
        if self.jobs is None:
            raise RuntimeError("the scheduler is not running")
        return self.jobs

    # ------------------------------------------------------------------ witness (zfsyncd/witness)

    async def witness_status(self) -> dict[str, Variant]:
        if self.witness is None:
            return payloads.as_dict(not_configured())
        return payloads.as_dict(await self.witness.status())

    async def witness_conflicts(self) -> list[dict[str, Variant]]:
        if self.witness is None:
            raise BusCallError(ErrorName.REFUSED, "this daemon has no [witness] configured")
        try:
            rows = await self.witness.conflicts()
        except WitnessError as exc:  # the witness's own words; Failed: try again later
            raise BusCallError(ErrorName.FAILED, str(exc)) from None
        return [payloads.as_dict(row) for row in rows]

    def active_paths(self) -> list[str]:
        return sorted(
            transaction_path(tx_id)
            for tx_id, obj in self.objects.items()
            if not obj.record.state.is_terminal
        )

    def _live_reading(self, record: TransactionRecord) -> ProgressReading | None:
        obj = self.objects.get(record.id)
        return obj.reading() if obj is not None and not record.state.is_terminal else None

    # ------------------------------------------------------------------ objects and signals

    def _export(self, record: TransactionRecord) -> TransactionObject:
        obj = self.objects.get(record.id)
        if obj is not None:
            return obj
        obj = TransactionObject(
            record, signal_rate=self.signal_rate, cancel=self.cancel, authority=self.authority
        )
        self.objects[record.id] = obj
        path = transaction_path(record.id)
        self._export_checked(path, obj)
        self.manager_object.TransactionAdded(record.id, path, record.type)
        self.manager_object.emit_properties_changed({"ActiveTransactions": self.active_paths()})
        return obj

    def _export_checked(self, path: str, interface: ServiceInterface) -> None:
        """Export an interface whose every method declares its polkit action."""
        require_declared(interface)
        self.bus.export(path, interface)

    def _on_state(self, tx_id: str, state: TxState) -> None:
        self._events.put_nowait((tx_id, state))

    async def _consume(self) -> None:
        while True:
            tx_id, state = await self._events.get()
            try:
                await self._state_changed(tx_id, state)
            except Exception:  # one bad event must not stop the signals of all others
                log.exception("%s: could not publish the change to %s", tx_id, state)
            finally:
                self._events.task_done()

    async def _state_changed(self, tx_id: str, state: TxState) -> None:
        record = await self.manager.get(tx_id)
        obj = self._export(record)
        obj.update(record)
        path = transaction_path(tx_id)
        self.manager_object.TransactionChanged(tx_id, path, state.value)
        if state.is_terminal:
            self.manager_object.TransactionFinished(tx_id, path, state.value, record.error or "")
            self.manager_object.emit_properties_changed({"ActiveTransactions": self.active_paths()})
            loop = asyncio.get_running_loop()
            self._unexports[tx_id] = loop.call_later(self.finished_linger, self._unexport, tx_id)

    def _unexport(self, tx_id: str) -> None:
        self._unexports.pop(tx_id, None)
        obj = self.objects.pop(tx_id, None)
        if obj is not None:
            self.bus.unexport(transaction_path(tx_id), TRANSACTION_IFACE)


__all__ = ["BusService"]
