"""The records the D-Bus API returns, declared once: each field with its D-Bus signature.

The daemon builds these and sends them as a{sv} (zfsyncd/bus/payloads.py turns any of them
into a dictionary from the signatures declared here); zfsyncctl validates replies with the
same models; the client tests' double derives its keys from them. Every field without a
default is one a reply must have: a reply that lacks one is a daemon/client mismatch and
fails loudly (zfsyncctl exits 8). Keys a newer daemon adds are kept (extra="allow"), so
`zfsyncctl --json` passes them on.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict

from zfsyncd.api.names import NO_UID
from zfsyncd.api.signatures import DBus
from zfsyncd.api.states import is_terminal

Str = Annotated[str, DBus("s")]
Path = Annotated[str, DBus("o")]
Bool = Annotated[bool, DBus("b")]
Int32 = Annotated[int, DBus("i")]
UInt32 = Annotated[int, DBus("u")]
UInt64 = Annotated[int, DBus("t")]
Double = Annotated[float, DBus("d")]
StrList = Annotated[list[str], DBus("as")]


class Record(BaseModel):
    model_config: ClassVar[ConfigDict] = ConfigDict(extra="allow", frozen=True, defer_build=True)


class DaemonStatus(Record):
    """GetStatus."""

    version: Str
    backend: Str  # "cli" or "memory"
    started: Double
    pools: StrList
    active: UInt32
    queued: UInt32
    max_parallel: UInt32
    pending_cleanups: UInt32
    transactions: UInt32  # stored


class StepInfo(Record):
    """One entry of GetTransaction's steps."""

    index: UInt32
    kind: Str
    description: Str
    state: Str
    error: Str = ""
    started: Double = 0.0
    finished: Double = 0.0
    estimate: UInt64 = 0


class TransactionSummary(Record):
    """One entry of ListTransactions: GetTransaction's keys without steps."""

    id: Str
    path: Path
    type: Str
    state: Str
    description: Str
    uid: UInt32  # NO_UID when none was recorded
    priority: Int32
    created: Double
    updated: Double
    finished: Double  # 0 if not
    error: Str
    error_kind: Str
    rollback_outcome: Str
    rolls_back: Str
    retry_of: Str
    tags: StrList
    #: the first MAX_SUMMARY_DATASETS of them in a list's rows, MAX_DETAIL_DATASETS in
    #: GetTransaction; `datasets_count` is how many there are
    datasets: StrList
    percent: Double
    bytes_done: UInt64
    bytes_total: UInt64
    #: its undo could not finish when it ended and waits in the daemon's cleanup queue
    rollback_pending: Bool = False
    datasets_count: UInt32 = 0
    #: what ListTransactions takes as `after` for the page after this row (its id)
    cursor: Str = ""

    @property
    def terminal(self) -> bool:
        return is_terminal(self.state)

    @property
    def uid_text(self) -> str:
        return "-" if self.uid == NO_UID else str(self.uid)


class TransactionDetail(TransactionSummary):
    """GetTransaction."""

    steps: Annotated[list[StepInfo], DBus("aa{sv}")]


class SnapshotRow(Record):
    """One entry of ListSnapshots."""

    name: Str
    dataset: Str
    snapshot: Str  # the short name, after the @
    guid: UInt64
    created: Double
    used: UInt64
    referenced: UInt64
    held: Bool  # it has a hold, any tag
    transaction: Str  # "" if zfsyncd did not make it
    #: what ListSnapshots takes as `after` for the page after this row (opaque)
    cursor: Str = ""


class PruneRow(Record):
    """One entry of PrunePreview: a snapshot a prune would keep or destroy, and why."""

    name: Str
    dataset: Str
    snapshot: Str  # the short name, after the @
    guid: UInt64
    created: Double
    keep: Bool
    #: why, as a word (zfsyncd.retention.decide.Why): held, cloned, in-use, replica-base,
    #: newest, not-policy, keep-regex, future, rule (kept) or expired (destroyed)
    why: Str
    #: why in words: the rule, interval or period that keeps it, or what each rule said
    reason: Str


class ReplicaRow(Record):
    """One entry of ListReplicas: a replica pair the local host takes part in."""

    #: the local dataset of the pair (the source, or a destination whose source is elsewhere)
    dataset: Str
    role: Str  # "source" or "destination": the local dataset's
    #: zfsync:peer as set on the local dataset (HOST:DATASET)
    peer: Str
    #: both sides as HOST:DATASET ("local" is this host); "" when zfsync:peer is no address
    source: Str
    destination: Str
    #: the newest snapshot (or bookmark) of the source the destination has, by guid; "" none
    last_sent: Str
    last_sent_guid: UInt64
    last_sent_created: Double  # 0 when none
    #: seconds since last_sent was taken (-1 when none)
    age: Double
    #: bytes written on the source since last_sent (`written`, over the pair's datasets: a
    #: `-R` pair's children too; unsent snapshots' included)
    lag_bytes: UInt64
    #: how old the destination's copy is: 0 when nothing changed since last_sent, -1 when
    #: nothing was sent yet, else seconds since last_sent was taken
    lag_seconds: Double
    #: source snapshots newer than last_sent (not on the destination yet)
    unsent: UInt32
    #: zfsync:paused on the source: `sync all` skips it
    paused: Bool
    #: zfsync:savecount of each side (0 when unset or unread)
    source_savecount: UInt32
    destination_savecount: UInt32
    #: the destination holds a partial receive (the next sync resumes it)
    resume_token: Bool
    #: the newest FAILED replica transaction naming either side: its error, id and end
    last_error: Str
    last_error_transaction: Str
    last_error_at: Double
    #: why a side could not be read (its host unreachable or not configured, the dataset
    #: gone, zfsync:peer not an address); "" when both were
    error: Str
    #: what ListReplicas takes as `after` for the page after this row (its dataset)
    cursor: Str = ""


class CleanupRow(Record):
    """One row of ListCleanups: work left over when a transaction ended (the destroy of what
    a completed one moved to the trash; the rest of an undo), retried until it succeeds."""

    id: UInt32
    #: the transaction it is left from ("" when none)
    transaction: Str
    #: "finalize" or "finish-rollback" (zfsyncd/tx/cleanup.py CleanupKind)
    kind: Str
    #: what is left and why (the refusal that queued it)
    reason: Str
    created: Double
    attempts: UInt32
    #: when it is tried again by itself (seconds since the epoch)
    next_attempt: Double
    #: the error of the last attempt ("" before the first)
    last_error: Str


class MigrationRow(Record):
    """One row of ListMigrations: a dataset a migration made (zfsync:migrated-from)."""

    dataset: Str
    source: Str
    #: its ZFS snapshots of source snapshots
    migrated: UInt32
    #: the source number of the newest of them (0: none)
    last_number: UInt32
    last_date: Str
    #: the source's snapshots (-1: the source cannot be read now)
    source_snapshots: Int32


class MigrationCheck(Record):
    """One check of ValidateMigration (ops/migration/validation.py)."""

    name: Str
    ok: Bool
    #: what it looked at ("3 of 40 files")
    covered: Str
    #: the first 20 problems
    problems: StrList
    problem_count: UInt32


# ---------------------------------------------------------------- jobs (zfsyncd/jobs)


class JobTargetRow(Record):
    """One replication target of a job (ListJobs, GetJob)."""

    name: Str
    host: Str
    destination: Str
    last_success: Double  # 0 when never
    last_error: Str
    last_error_at: Double
    #: failures in a row; after one, the target is tried again at retry_at (backoff)
    failures: UInt32
    retry_at: Double  # 0 when not waiting for a retry


class JobRow(Record):
    """One job (ListJobs, GetJob): its configuration in short and what its runs did."""

    name: Str
    schedule: Str
    datasets: StrList
    recursive: Bool
    #: false for a job whose state is stored but which the configuration no longer has
    configured: Bool
    paused: Bool
    running: Bool
    next_run: Double  # 0 when none (paused, not configured, a schedule that has ended)
    last_run: Double  # when the last run started; 0 when never
    last_success: Double
    last_error: Str
    last_error_at: Double
    #: runs in a row that failed
    failures: UInt32
    #: the transactions of the last run (or of the running one so far), in order
    last_transactions: StrList
    targets: Annotated[list[JobTargetRow], DBus("aa{sv}")]


class WitnessStatus(Record):
    """WitnessStatus: the witness client (zfsyncd/witness/) as it stands, with what the
    witness says of this system now (one read; `reachable` false when it did not answer)."""

    #: false when the daemon has no [witness]: every other field is empty then
    configured: Bool
    url: Str
    system_id: Str
    reachable: Bool
    #: the witness refused this system's key (401): nothing will pass until it is fixed
    unauthorized: Bool
    #: the last problem talking to the witness ("" when the last attempt worked)
    error: Str
    last_report: Double  # when the witness last took the inventory; 0 when never
    last_heartbeat: Double
    last_instructions: Double  # when instructions were last fetched
    #: this system's datasets the witness says are not in step (out_of_sync, syncing,
    #: error), as of this read
    pending_instructions: UInt32
    #: instructions fetched and running or waiting to run here
    running_instructions: UInt32
    #: instructions run since the daemon started, and how many of them failed
    instructions_run: UInt32
    instructions_failed: UInt32
    #: what waits for the witness: an inventory report, outcomes
    report_owed: Bool
    queued_outcomes: UInt32
    #: attempts in a row that failed, and when the next one is (0: at the next round)
    failures: UInt32
    next_attempt: Double


class WitnessConflict(Record):
    """WitnessConflicts: one conflict of a sync group this system is in, as the witness
    reports it (the problems one line each)."""

    id: Str
    group: Str
    dataset: Str
    kind: Str  # diverged, orphaned, missing
    status: Str  # open, resolved, ignored
    strategy: Str
    winner_system_id: Str
    detected: Str
    problems: StrList
