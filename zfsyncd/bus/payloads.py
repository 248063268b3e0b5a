"""Records as the a{sv} dictionaries of the D-Bus API (dbus/org.zfsync.Daemon1.xml)."""

from __future__ import annotations

from dbus_fast import Variant

from zfsyncd.api.names import NO_UID, transaction_path
from zfsyncd.ops.snapshot_list import SnapshotRow
from zfsyncd.store import StepRecord, StepState, TransactionRecord, TxState
from zfsyncd.tx.progress import ProgressReading

Dict = dict[str, Variant]


def uid_value(uid: int | None) -> int:
    return NO_UID if uid is None else uid


def stored_progress(record: TransactionRecord) -> ProgressReading:
    """A reading from the stored steps, for a transaction no tracker follows (not live)."""
    steps = record.steps
    done = sum(1 for s in steps if s.state is StepState.COMPLETED)
    percent = (
        100.0
        if record.state is TxState.COMPLETED
        else (100.0 * done / len(steps) if steps else 0.0)
    )
    total = sum(s.bytes_total or 0 for s in steps)
    finished = sum(s.bytes_total or 0 for s in steps if s.state is StepState.COMPLETED)
    return ProgressReading(percent, finished, total, 0.0, -1.0, -1)


def summary(
    record: TransactionRecord,
    progress: ProgressReading | None = None,
    *,
    rollback_pending: bool = False,
) -> Dict:
    reading = progress or stored_progress(record)
    return {
        "id": Variant("s", record.id),
        "path": Variant("o", transaction_path(record.id)),
        "type": Variant("s", record.type),
        "state": Variant("s", record.state.value),
        "description": Variant("s", record.description or ""),
        "uid": Variant("u", uid_value(record.uid)),
        "priority": Variant("i", record.priority),
        "created": Variant("d", record.created_at),
        "updated": Variant("d", record.updated_at),
        "finished": Variant("d", record.finished_at or 0.0),
        "error": Variant("s", record.error or ""),
        "error_kind": Variant("s", record.error_kind or ""),
        "rollback_outcome": Variant("s", record.rollback_outcome or ""),
        "rolls_back": Variant("s", record.rolls_back or ""),
        "retry_of": Variant("s", record.retry_of or ""),
        "tags": Variant("as", list(record.tags)),
        "datasets": Variant("as", list(record.datasets)),
        "percent": Variant("d", reading.percent),
        "bytes_done": Variant("t", reading.bytes_done),
        "bytes_total": Variant("t", reading.bytes_total),
        "rollback_pending": Variant("b", rollback_pending),
    }


def step(record: StepRecord) -> Dict:
    return {
        "index": Variant("u", record.idx),
        "kind": Variant("s", record.kind),
        "description": Variant("s", record.description or ""),
        "state": Variant("s", record.state.value),
        "error": Variant("s", record.error or ""),
        "started": Variant("d", record.started_at or 0.0),
        "finished": Variant("d", record.finished_at or 0.0),
        "estimate": Variant("t", record.bytes_total or 0),
    }


def details(
    record: TransactionRecord,
    progress: ProgressReading | None = None,
    *,
    rollback_pending: bool = False,
) -> Dict:
    return {
        **summary(record, progress, rollback_pending=rollback_pending),
        "steps": Variant("aa{sv}", [step(s) for s in record.steps]),
    }


def steps_property(record: TransactionRecord) -> list[list[object]]:
    """The Transaction's Steps property, a(ussss): index, kind, description, state, error."""
    return [
        [s.idx, s.kind, s.description or "", s.state.value, s.error or ""] for s in record.steps
    ]


def snapshot(row: SnapshotRow) -> Dict:
    return {
        "name": Variant("s", row.name),
        "dataset": Variant("s", row.dataset),
        "snapshot": Variant("s", row.snapshot),
        "guid": Variant("t", row.guid),
        "created": Variant("d", row.created),
        "used": Variant("t", row.used),
        "referenced": Variant("t", row.referenced),
        "held": Variant("b", row.held),
        "transaction": Variant("s", row.transaction),
    }
