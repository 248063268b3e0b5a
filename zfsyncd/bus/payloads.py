"""The engine's records as the a{sv} dictionaries of the D-Bus API: as the models of
zfsyncd.api.records, which declare each key's signature, turned into a{sv} by `as_dict`."""

from __future__ import annotations

from typing import Any

from dbus_fast import Variant

from zfsyncd.api import limits
from zfsyncd.api.names import NO_UID, transaction_path
from zfsyncd.api.records import (
    CleanupRow,
    Record,
    StepInfo,
    TransactionDetail,
    TransactionSummary,
)
from zfsyncd.api.signatures import declared_signature
from zfsyncd.store import CleanupItem, StepRecord, StepState, TransactionRecord, TxState
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


def as_dict(record: Record) -> Dict:
    """Any record of the API as its a{sv}, each value with the signature its field declares
    (a list of records nests as aa{sv})."""
    model = type(record)
    return {
        name: Variant(declared_signature(model, name), _value(getattr(record, name)))
        for name in model.model_fields
    }


def _value(value: object) -> object:
    if isinstance(value, Record):
        return as_dict(value)
    if isinstance(value, list):
        return [_value(v) for v in value]
    return value


def _text(value: str | None, limit: int = limits.MAX_DESCRIPTION_CHARS) -> str:
    """A stored text as a reply carries it: cut short (what an older version stored may be
    longer than today's bounds allow)."""
    return limits.cut(value or "", limit)


def _summary_fields(
    record: TransactionRecord,
    progress: ProgressReading | None,
    rollback_pending: bool,
    detail: bool = False,
) -> dict[str, Any]:
    """A list's row, or (`detail`) GetTransaction's: more datasets and the whole error."""
    max_datasets = limits.MAX_DETAIL_DATASETS if detail else limits.MAX_SUMMARY_DATASETS
    max_error = limits.MAX_ERROR_CHARS if detail else limits.MAX_DESCRIPTION_CHARS
    reading = progress or stored_progress(record)
    tags = [limits.cut(t, limits.MAX_TAG_CHARS) for t in record.tags[: limits.MAX_TAGS]]
    return {
        "id": record.id,
        "path": transaction_path(record.id),
        "type": record.type,
        "state": record.state.value,
        "description": _text(record.description),
        "uid": uid_value(record.uid),
        "priority": record.priority,
        "created": record.created_at,
        "updated": record.updated_at,
        "finished": record.finished_at or 0.0,
        "error": _text(record.error, max_error),
        "error_kind": _text(record.error_kind, 64),
        "rollback_outcome": _text(record.rollback_outcome, max_error),
        "rolls_back": record.rolls_back or "",
        "retry_of": record.retry_of or "",
        "tags": tags,
        "datasets": list(record.datasets[:max_datasets]),
        "datasets_count": len(record.datasets),
        "percent": reading.percent,
        "bytes_done": reading.bytes_done,
        "bytes_total": reading.bytes_total,
        "rollback_pending": rollback_pending,
        "cursor": record.id,
    }


def summary(
    record: TransactionRecord,
    progress: ProgressReading | None = None,
    *,
    rollback_pending: bool = False,
) -> Dict:
    return as_dict(TransactionSummary(**_summary_fields(record, progress, rollback_pending)))


def step(record: StepRecord) -> StepInfo:
    return StepInfo(
        index=record.idx,
        kind=record.kind,
        description=_text(record.description),
        state=record.state.value,
        error=_text(record.error),
        started=record.started_at or 0.0,
        finished=record.finished_at or 0.0,
        estimate=record.bytes_total or 0,
    )


def details(
    record: TransactionRecord,
    progress: ProgressReading | None = None,
    *,
    rollback_pending: bool = False,
) -> Dict:
    fields = _summary_fields(record, progress, rollback_pending, detail=True)
    return as_dict(TransactionDetail(**fields, steps=[step(s) for s in record.steps]))


def steps_property(record: TransactionRecord) -> list[list[object]]:
    """The Transaction's Steps property, a(ussss): index, kind, description, state, error."""
    return [
        [s.idx, s.kind, _text(s.description), s.state.value, _text(s.error)]
        for s in record.steps
    ]  # fmt: skip


def cleanup_row(item: CleanupItem) -> CleanupRow:
    return CleanupRow(
        id=item.id,
        transaction=item.tx_id or "",
        kind=item.kind,
        reason=_text(item.reason),
        created=item.created_at,
        attempts=item.attempts,
        next_attempt=item.next_attempt_at,
        last_error=_text(item.last_error or "", limits.MAX_ERROR_CHARS),
    )
