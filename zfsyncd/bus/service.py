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
from collections.abc import Sequence

from dbus_fast import DBusError, NameFlag, RequestNameReply, Variant
from dbus_fast.aio import MessageBus

import zfsyncd
from zfsyncd.api.names import (
    BUS_NAME,
    MANAGER_PATH,
    NO_UID,
    TRANSACTION_IFACE,
    Action,
    transaction_path,
)
from zfsyncd.bus import payloads
from zfsyncd.bus.caller import UidResolver, allows_interaction, current_call, remember_call
from zfsyncd.bus.manager_object import ManagerObject
from zfsyncd.bus.options import ListSnapshotsOptions, TransactionFilter, TxOptions, WaitOptions
from zfsyncd.bus.polkit import Polkit
from zfsyncd.bus.transaction_object import TransactionObject
from zfsyncd.ops.snapshot_list import list_snapshots
from zfsyncd.store import ACTIVE_STATES, TransactionRecord, TxState
from zfsyncd.tx.errors import PlanError
from zfsyncd.tx.manager import Caller, TransactionManager
from zfsyncd.tx.progress import ProgressReading, ProgressSink
from zfsyncd.zfs import names

log = logging.getLogger(__name__)

#: the polkit action that covers each transaction type (cancel and retry reuse it)
ACTION_OF_TYPE = {
    "snapshot": Action.SNAPSHOT,
    "destroy-snapshots": Action.SNAPSHOT,
    "rollback": Action.ROLLBACK,
    "rollback-dataset": Action.ROLLBACK,
}


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
        self.polkit = Polkit(bus)
        self.uids = UidResolver(bus)
        self.objects: dict[str, TransactionObject] = {}
        self.manager_object = ManagerObject(self)
        self._events: asyncio.Queue[tuple[str, TxState]] = asyncio.Queue()
        self._consumer: asyncio.Task[None] | None = None
        self._unexports: dict[str, asyncio.TimerHandle] = {}
        manager.listeners.append(self._on_state)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Export everything and take the bus name (last, so callers find it all there)."""
        self.bus.add_message_handler(remember_call)
        self.bus.export(MANAGER_PATH, self.manager_object)
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

    # ------------------------------------------------------------------ who may

    async def authorize(self, action: str) -> Caller:
        """Who calls, if polkit lets them do `action`. A refusal is audited (who tried what)
        before it is raised; successful reads are not (a desktop polls them)."""
        msg = current_call()
        sender = msg.sender or ""
        uid = await self.uids.uid_of(sender)
        try:
            await self.polkit.check(sender, uid, action, interactive=allows_interaction(msg))
        except DBusError as exc:
            await self.manager.audit.append(
                msg.member or "call",
                f"refused: {exc.text}",
                uid=uid,
                caller=sender,
                detail={"polkit_action": action, "body": _printable(msg.body)},
            )
            raise
        return Caller(uid=uid, name=sender)

    async def action_for(self, tx_id: str) -> str:
        record = await self.manager.get(tx_id)
        return ACTION_OF_TYPE.get(record.type, Action.MANAGE)

    # ------------------------------------------------------------------ what the methods do

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

    async def cancel(self, tx_id: str) -> None:
        record = await self.manager.get(tx_id)
        msg = current_call()
        uid = await self.uids.uid_of(msg.sender or "")
        own = record.uid is not None and record.uid == uid
        action = ACTION_OF_TYPE.get(record.type, Action.MANAGE) if own else Action.CANCEL_OTHER_USER
        caller = await self.authorize(action)
        # not waiting for the undo: it can outlast a client's call timeout (25 s is usual)
        await self.manager.cancel(tx_id, caller=caller, wait=False)

    async def list_transactions(self, wanted: TransactionFilter) -> list[dict[str, Variant]]:
        states: list[TxState] = []
        for state in wanted.states:
            try:
                states.append(TxState(state.upper()))
            except ValueError:
                known = ", ".join(s.value for s in TxState)
                raise PlanError(f"unknown state {state!r} (known: {known})") from None
        if wanted.active:
            states = [s for s in states if s in ACTIVE_STATES] if states else list(ACTIVE_STATES)
            if not states:
                return []
        pending = await self._rollbacks_pending()
        if wanted.rollback_pending:
            chosen = [await self.manager.get(tx_id) for tx_id in sorted(pending, reverse=True)]
            records = [
                r for r in chosen
                if (not states or r.state in states)
                and (wanted.type is None or r.type == wanted.type)
                and (wanted.since is None or r.created_at >= wanted.since)
            ][: wanted.limit or None]  # fmt: skip
        else:
            records = await self.manager.list(
                state=states or None,
                type=wanted.type,
                since=wanted.since,
                limit=wanted.limit or None,
            )
        return [
            payloads.summary(r, self._live_reading(r), rollback_pending=r.id in pending)
            for r in records
        ]

    async def _rollbacks_pending(self) -> set[str]:
        """Transactions whose undo waits in the cleanup queue (it failed when they ended)."""
        return {
            item.tx_id
            for item in await self.manager.cleanups.pending()
            if item.kind == "finish-rollback" and item.tx_id is not None
        }

    async def transaction_details(self, tx_id: str) -> dict[str, Variant]:
        record = await self.manager.get(tx_id)
        pending = tx_id in await self._rollbacks_pending()
        return payloads.details(record, self._live_reading(record), rollback_pending=pending)

    async def list_snapshots(
        self, datasets: Sequence[str], opts: ListSnapshotsOptions
    ) -> list[dict[str, Variant]]:
        for dataset in datasets:
            names.check_dataset(dataset)
        rows = await list_snapshots(
            self.manager.hosts["local"].zfs,
            datasets,
            recursive=opts.recursive,
            any_name=opts.any_name,
        )
        return [payloads.snapshot(r) for r in rows]

    async def status(self) -> dict[str, Variant]:
        active = await self.manager.list_active()
        pools = [p.name for p in await self.manager.hosts["local"].zfs.list(depth=0)]
        return {
            "version": Variant("s", self.version),
            "backend": Variant("s", self.backend),
            "started": Variant("d", self.started),
            "pools": Variant("as", pools),
            "active": Variant("u", sum(1 for r in active if r.state is TxState.EXECUTING)),
            "queued": Variant("u", sum(1 for r in active if r.state is not TxState.EXECUTING)),
            "max_parallel": Variant("u", self.manager.locks.max_parallel),
            "pending_cleanups": Variant("u", len(await self.manager.cleanups.pending())),
            "transactions": Variant("u", await self.manager.store.count()),
        }

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
        obj = TransactionObject(record, signal_rate=self.signal_rate, cancel=self._cancel_by_object)
        self.objects[record.id] = obj
        path = transaction_path(record.id)
        self.bus.export(path, obj)
        self.manager_object.TransactionAdded(record.id, path, record.type)
        self.manager_object.emit_properties_changed({"ActiveTransactions": self.active_paths()})
        return obj

    async def _cancel_by_object(self, tx_id: str) -> None:
        await self.cancel(tx_id)

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


def _printable(body: Sequence[object]) -> list[str]:
    """A call's arguments for the audit log (Variants and all, as text, kept short)."""
    return [repr(arg)[:200] for arg in body]


__all__ = ["ACTION_OF_TYPE", "NO_UID", "BusService"]
