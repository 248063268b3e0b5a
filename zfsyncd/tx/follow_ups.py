"""What follows a transaction: a transaction of a kind that declares a follow-up
(kinds.Following), which had steps and COMPLETED, is followed by that transaction:

- stored as CREATED in the same commit as the move to COMPLETED (whoever sees one
  completed sees its follow-up listed, and a crash cannot leave one without the other: the
  CREATED follow-up is the durable intent, which recovery starts);
- run once the first one's locks are released, linked to it (metadata `follows`; its
  description says so); `wait` returns once the follow-up has ended too;
- when a crash interrupted it, undone by recovery and stored again (`rerun_follow_up`), so
  what the first asked for still happens.

`FollowUps` is a part of `Lifecycle` (lifecycle.py), which starts and waits for them as
for any transaction.
"""

from __future__ import annotations

import logging

from zfsyncd.store import TransactionRecord, TxState
from zfsyncd.tx.core import SYSTEM, Caller, EngineCore
from zfsyncd.tx.kinds import FOLLOWS, RERUN, follow_up_of
from zfsyncd.tx.machine import TransactionMachine
from zfsyncd.tx.preparing import REFUSALS, Preparing

log = logging.getLogger(__name__)

#: the caller's name of a follow-up that recovery started
RESUMED = "recovery"
#: how many times recovery runs again a follow-up that crashes keep interrupting: a crash
#: the follow-up itself causes must not make every start run it (and crash) again
MAX_FOLLOW_UP_RERUNS = 3


class FollowUps(Preparing):
    """Storing, starting and waiting for follow-ups (`start` and `wait` are Lifecycle's)."""

    def __init__(self, core: EngineCore) -> None:
        super().__init__(core)
        #: set by `shutdown`: no follow-up starts while the engine stops (one that was to
        #: start stays CREATED: the next start's recovery runs it, as after a crash)
        self._stopping = False
        #: follow-ups started by recovery, by the id of the transaction they follow (whose
        #: run, the one that would have waited for them, died with the old process)
        self._resumed: dict[str, str] = {}

    async def start(
        self, tx_id: str, *, wait_for_locks: bool = True, caller: Caller = SYSTEM
    ) -> TransactionRecord:
        raise NotImplementedError  # Lifecycle's

    async def wait(self, tx_id: str) -> TransactionRecord:
        raise NotImplementedError  # Lifecycle's

    async def complete(
        self,
        record: TransactionRecord,
        machine: TransactionMachine,
        caller: Caller,
        *,
        action: str = "execute",
        outcome: str = "completed",
    ) -> TransactionRecord | None:
        """The move of `record` (every step done and finalized) to COMPLETED, with its
        audit row and the follow-up its kind declares stored as CREATED, all in one commit:
        a crash leaves either none of them (the steps done, which recovery completes, here)
        or all (the follow-up waiting, which recovery starts), so the follow-up runs
        exactly once. Returns the follow-up, if any (recovery completes with `action`
        "recover")."""
        async with self.core.one_commit():
            follow = await self._create_follow_up(record, caller)
            await machine.move("complete")
            await self.core.record(action, outcome, caller, record.id)
        return follow

    async def resume_follow_ups(self) -> list[TransactionRecord]:
        """At start, after recovery: start the follow-ups still CREATED (their first
        transaction COMPLETED before the old process died, or during recovery), on behalf
        of the uid that asked for the first. `wait` on the first waits for them too. A
        refusal of the plan ends the follow-up FAILED (its own business, as in a run)."""
        started = []
        for follow in await self.core.store.list(state=TxState.CREATED, limit=None):
            first = follow.metadata.get(FOLLOWS)
            if first is None or self._stopping:
                continue
            self._resumed[str(first)] = follow.id
            try:
                started.append(await self.start(follow.id, caller=Caller(follow.uid, RESUMED)))
            except REFUSALS as exc:
                log.warning("%s: its follow-up %s was refused: %s", first, follow.id, exc)
        return started

    async def _create_follow_up(
        self, record: TransactionRecord, caller: Caller
    ) -> TransactionRecord | None:
        """The follow-up the kind of `record` (whose steps all succeeded) declares, stored
        as CREATED (inside `complete`'s commit). One that had no steps changed nothing:
        nothing follows. A refused follow-up is logged and recorded in the audit log by
        `create`; `record` completes anyway."""
        kind = self.core.kinds.get(record.type)  # (recovery completes a kind now unknown)
        then = follow_up_of(kind, record.params)
        if then is None or not record.steps:
            return None
        try:
            return await self.create(
                then.kind, then.params, caller=caller, priority=record.priority,
                metadata={FOLLOWS: record.id},
            )  # fmt: skip
        except REFUSALS as exc:
            log.warning("%s: its follow-up %s was refused: %s", record.id, then.kind, exc)
            return None

    async def rerun_follow_up(self, record: TransactionRecord) -> TransactionRecord | None:
        """For recovery, once it has undone `record`, a follow-up that a crash interrupted
        (an expiry killed while it ran): the same request stored again as CREATED, linked
        to the same first transaction (`follows`, so `resume_follow_ups` starts it and
        `wait` on the first waits for it) and to `record` (`retry_of`). The expiry a sync
        asked for then still happens, planned afresh from what ZFS holds after the undo;
        undoing it is what puts each snapshot back where a half-done run had moved it.
        None when `record` is no follow-up, has been run again MAX_FOLLOW_UP_RERUNS
        times already, or its request is refused now (logged, as a refused follow-up is).
        Called inside recovery's commit of `record`'s move to FAILED: both or neither."""
        first = record.metadata.get(FOLLOWS)
        reruns = int(record.metadata.get(RERUN, 0))
        if first is None or reruns >= MAX_FOLLOW_UP_RERUNS:
            return None
        try:
            return await self.create(
                record.type, record.params, caller=Caller(record.uid, RESUMED),
                priority=record.priority, timeout=record.timeout, tags=record.tags,
                metadata={**record.metadata, RERUN: reruns + 1}, retry_of=record.id,
            )  # fmt: skip
        except REFUSALS as exc:
            log.warning("%s: its follow-up %s was refused: %s", first, record.type, exc)
            return None

    async def _run_follow_up(
        self, record: TransactionRecord, follow: TransactionRecord, caller: Caller
    ) -> None:
        """Plan and run the follow-up of the COMPLETED `record`, and wait for its end. Its
        refusal or failure is its own transaction's (and the audit log's) business."""
        try:
            if self._stopping:
                log.info("%s: its follow-up %s runs at the next start", record.id, follow.id)
                return
            await self.start(follow.id, caller=caller)
            await self.wait(follow.id)
        except REFUSALS as exc:
            log.warning("%s: its follow-up %s ended: %s", record.id, follow.id, exc)
