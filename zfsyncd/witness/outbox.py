"""What waits for the witness while it cannot be reached.

The inventory is not queued: a report is the whole inventory read at the moment it is
sent, so a flag says one is owed and the newest reading supersedes every older one. The
outcomes of instructions are queued, oldest first, up to a bound (the oldest are dropped
past it: the witness hands an instruction again at its next check anyway, and each
outcome is also in the transaction's own record). Held in memory: a restarted daemon owes
a report at once (it sends one at start), and an outcome lost with it is handed out again
by the witness as an instruction, which finds the work done (already received) or does it.
"""

from __future__ import annotations

import uuid
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    group_id: uuid.UUID
    dataset: str
    ok: bool
    error: str | None
    tx_id: str | None


class Outbox:
    def __init__(self, limit: int) -> None:
        self.report_owed = True  # at start: the witness knows nothing of this run yet
        self.outcomes: deque[Outcome] = deque(maxlen=limit)
        #: outcomes dropped because the queue was full
        self.dropped = 0

    def add(self, outcome: Outcome) -> None:
        if len(self.outcomes) == self.outcomes.maxlen:
            self.dropped += 1
        self.outcomes.append(outcome)

    def owe_report(self) -> None:
        self.report_owed = True

    @property
    def empty(self) -> bool:
        return not self.report_owed and not self.outcomes
