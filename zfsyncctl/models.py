"""What the daemon's methods and signals return, as pydantic models.

The records the Manager's methods return are declared once, in zfsyncd.api.records (the
daemon builds its replies from the same models); the rest are the client's own: a started
transaction and the Transaction object's signals as watch events. A reply that lacks a
required key is a daemon/client mismatch and fails loudly (exit 8); keys the daemon adds
later are kept (extra="allow") so `--json` passes them on."""

from __future__ import annotations

from zfsyncd.api.records import CleanupRow as CleanupRow
from zfsyncd.api.records import DaemonStatus as DaemonStatus
from zfsyncd.api.records import Record
from zfsyncd.api.records import ReplicaRow as ReplicaRow
from zfsyncd.api.records import SnapshotRow as SnapshotRow
from zfsyncd.api.records import StepInfo as StepInfo
from zfsyncd.api.records import TransactionDetail as TransactionDetail
from zfsyncd.api.records import TransactionSummary as TransactionSummary
from zfsyncd.api.states import TxState as TxState

#: what every reply model is: required keys checked, unknown keys kept
_Reply = Record


class StartedTransaction(_Reply):
    """What a method that starts a transaction returned (an object path)."""

    id: str
    path: str


# --- signals of org.zfsync.Daemon1.Transaction, as watch events ----------------------------


class Progress(_Reply):
    percent: float
    bytes_done: int
    bytes_total: int
    rate: float
    #: seconds, -1 when unknown
    eta: float


class StreamRow(_Reply):
    """One running stream of a step that sends several datasets at once."""

    dataset: str
    bytes_done: int
    #: the estimate, 0 while unknown
    bytes_total: int
    rate: float
    #: seconds, -1 when unknown
    eta: float


class Streams(_Reply):
    """The running streams (StreamProgress): empty when the last has ended."""

    streams: list[StreamRow]


class StepStarted(_Reply):
    index: int
    description: str


class StepFinished(_Reply):
    index: int
    state: str


class MessageEvent(_Reply):
    text: str


class Finished(_Reply):
    state: str
    error: str


WatchEvent = Progress | Streams | StepStarted | StepFinished | MessageEvent | Finished
