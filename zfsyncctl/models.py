"""What the daemon's methods and signals return, as pydantic models.

Each model names the keys the XML documents (dbus/org.zfsync.Daemon1.xml) as required
fields: a reply that lacks one is a daemon/client mismatch and fails loudly (exit 8).
Keys the daemon adds later are kept (extra="allow") so `--json` passes them on."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from zfsyncd.api.names import NO_UID
from zfsyncd.api.states import TxState as TxState
from zfsyncd.api.states import is_terminal


class _Reply(BaseModel):
    model_config: ClassVar[ConfigDict] = ConfigDict(extra="allow", frozen=True)


class DaemonStatus(_Reply):
    """GetStatus."""

    version: str
    backend: str
    started: float
    pools: list[str]
    active: int
    queued: int
    max_parallel: int
    pending_cleanups: int
    transactions: int


class StepInfo(_Reply):
    """One entry of GetTransaction's steps."""

    index: int
    kind: str
    description: str
    state: str
    error: str = ""
    started: float = 0.0
    finished: float = 0.0
    estimate: int = 0


class TransactionSummary(_Reply):
    """One entry of ListTransactions: GetTransaction's keys without steps."""

    id: str
    path: str
    type: str
    state: str
    description: str
    uid: int
    priority: int
    created: float
    updated: float
    finished: float
    error: str
    error_kind: str
    rollback_outcome: str
    rolls_back: str
    retry_of: str
    tags: list[str]
    datasets: list[str]
    percent: float
    bytes_done: int
    bytes_total: int
    #: its undo could not finish when it ended and waits in the daemon's cleanup queue
    rollback_pending: bool = False

    @property
    def terminal(self) -> bool:
        return is_terminal(self.state)

    @property
    def uid_text(self) -> str:
        return "-" if self.uid == NO_UID else str(self.uid)


class TransactionDetail(TransactionSummary):
    """GetTransaction."""

    steps: list[StepInfo]


class SnapshotRow(_Reply):
    """One entry of ListSnapshots."""

    name: str
    dataset: str
    snapshot: str
    guid: int
    created: float
    used: int
    referenced: int
    held: bool
    transaction: str


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


WatchEvent = Progress | StepStarted | StepFinished | MessageEvent | Finished


def as_json(value: BaseModel | list[Any] | dict[str, Any]) -> Any:
    """A JSON-ready value of a model, a list of models or a dict of them."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [as_json(v) for v in value]
    return {
        k: as_json(v) if isinstance(v, BaseModel | list | dict) else v for k, v in value.items()
    }
