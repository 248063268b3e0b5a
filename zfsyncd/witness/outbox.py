"""What waits for the witness while it cannot be reached.

The inventory is not queued: a report is the whole inventory read at the moment it is
sent, so a flag says one is owed and the newest reading supersedes every older one (a
restarted daemon owes one at once).

The outcomes of instructions are queued, oldest first, in the daemon's database (table
`witness_outcomes`, migration 4): an outcome outlives a restart and is sent once the
witness answers again, before the next instructions are fetched (else the witness would
hand the instruction out again, and it would be found done). A row goes once the witness
took it; a process dying between the witness's answer and that delete sends it again at
the next start (the witness takes an outcome twice as it takes it once: the state it
sets is the same). An outcome the witness refuses as such (its sync state gone with its
group or membership: 404) is dropped with a warning rather than block those after it.

Bound: `limit` outcomes (the daemon's `[witness] queue_limit`, 1000 by default). Past it
the oldest are dropped, with a warning: the witness hands an unanswered instruction out
again at its next check anyway, and each outcome is also in its transaction's record.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from zfsyncd.store.witness_state import WitnessOutcomes

log = logging.getLogger(__name__)

#: outcomes read from the database at a time while sending
BATCH = 100


@dataclass(frozen=True)
class Outcome:
    group_id: uuid.UUID
    dataset: str
    ok: bool
    error: str | None
    tx_id: str | None


class Outbox:
    def __init__(self, queue: WitnessOutcomes, limit: int) -> None:
        self.report_owed = True  # at start: the witness knows nothing of this run yet
        self.queue = queue
        self.limit = limit
        #: outcomes dropped because the queue was full (since this process started)
        self.dropped = 0

    async def add(self, outcome: Outcome) -> None:
        o = outcome
        dropped = await self.queue.add(
            str(o.group_id), o.dataset, o.ok, o.error, o.tx_id, limit=self.limit
        )
        if dropped:
            self.dropped += dropped
            log.warning(
                "witness: outcome queue full (%d): dropped the oldest %d unsent outcome(s)",
                self.limit, dropped,
            )  # fmt: skip

    async def oldest(self) -> list[tuple[int, Outcome]]:
        """The oldest queued outcomes (up to BATCH), with the key `sent` takes."""
        return [
            (q.seq, Outcome(uuid.UUID(q.group_id), q.dataset, q.ok, q.error, q.tx_id))
            for q in await self.queue.oldest(BATCH)
        ]

    async def sent(self, key: int) -> None:
        await self.queue.remove(key)

    async def queued(self) -> int:
        return await self.queue.count()

    def owe_report(self) -> None:
        self.report_owed = True

    async def empty(self) -> bool:
        return not self.report_owed and not await self.queued()
