"""What the store hands back: one frozen pydantic model per table row, and the state enums.

A record is a reading of the database at one moment; to change something, call the store,
never edit a record. JSON columns come back as plain Python dicts and lists.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from zfsyncd.api.states import ACTIVE_STATES as ACTIVE_STATES
from zfsyncd.api.states import TERMINAL_STATES as TERMINAL_STATES
from zfsyncd.api.states import TxState as TxState


class StepState(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"


class JournalPhase(StrEnum):
    DO = "do"
    UNDO = "undo"
    TX = "tx"  # about the transaction as a whole (step_idx is NULL), e.g. "the undo begins"


class JournalEvent(StrEnum):
    INTENT = "intent"  # written before the action: it may have happened
    RESULT = "result"  # written after: it did (or did not, per outcome)


class StepSpec(NamedTuple):
    """A step as the engine plans it, before it is stored and numbered."""

    kind: str
    args: Mapping[str, Any] = MappingProxyType({})
    description: str | None = None
    bytes_total: int | None = None


class StepRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    tx_id: str
    idx: int
    kind: str
    args: dict[str, Any] = Field(default_factory=dict)
    description: str | None = None
    state: StepState = StepState.PENDING
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None
    undo_data: dict[str, Any] | None = None  # what `undo` needs, recorded by `do`
    undo_state: StepState | None = None  # None: no undo was ever attempted
    undo_error: str | None = None
    bytes_total: int | None = None  # an estimate, for progress


class TransactionRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    type: str
    state: TxState
    description: str | None = None
    created_at: float
    updated_at: float
    finished_at: float | None = None
    uid: int | None = None  # who asked, from the bus; None for the daemon itself
    priority: int = 0
    timeout: float | None = None  # seconds
    tags: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    error_kind: str | None = None
    rollback_outcome: str | None = None
    rolls_back: str | None = None  # the COMPLETED transaction this one undoes
    retry_of: str | None = None  # the FAILED transaction this one repeats
    attempts: int = 0  # times it entered EXECUTING: more than 1 means resumed after a crash
    params: dict[str, Any] = Field(default_factory=dict)  # the request, to rebuild it for retry
    datasets: list[str] = Field(default_factory=list)  # sorted
    steps: list[StepRecord] = Field(default_factory=list)  # by idx


class JournalEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    seq: int
    at: float
    tx_id: str
    step_idx: int | None
    phase: JournalPhase
    event: JournalEvent
    outcome: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class AuditEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    seq: int
    at: float
    uid: int | None = None
    caller: str | None = None  # bus name, or "cli" / "recovery" / "daemon"
    action: str
    tx_id: str | None = None  # kept as text: the transaction may since have been cleaned up
    outcome: str
    detail: dict[str, Any] = Field(default_factory=dict)


class CleanupItem(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    tx_id: str | None = None
    kind: str
    args: dict[str, Any] = Field(default_factory=dict)
    reason: str
    created_at: float
    attempts: int = 0
    next_attempt_at: float
    last_error: str | None = None
    done_at: float | None = None
