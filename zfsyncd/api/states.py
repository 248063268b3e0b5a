"""The states of a transaction (DESIGN.md), as the store keeps them and the API reports them.

CREATED -> PREPARED -> EXECUTING -> COMPLETED | FAILED,   CANCELLED before or while it runs
"""

from __future__ import annotations

from enum import StrEnum


class TxState(StrEnum):
    CREATED = "CREATED"
    PREPARED = "PREPARED"
    EXECUTING = "EXECUTING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES


#: no transition leaves these; only transactions in them may be cleaned up
TERMINAL_STATES = frozenset({TxState.COMPLETED, TxState.FAILED, TxState.CANCELLED})
#: what a restart must look at: queued, or possibly half-done on disk
ACTIVE_STATES = frozenset({TxState.CREATED, TxState.PREPARED, TxState.EXECUTING})


def is_terminal(state: str) -> bool:
    """For a state as a client receives it (a string): has the transaction ended?"""
    return state in TERMINAL_STATES
