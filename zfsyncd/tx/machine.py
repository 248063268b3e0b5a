"""The lifecycle of one transaction, on `transitions`' AsyncMachine, persisted at every move.

    CREATED -> PREPARED -> EXECUTING -> COMPLETED | FAILED
    (CREATED | PREPARED | EXECUTING) -> CANCELLED | FAILED

The store is written *before* the state changes in memory (a `before_state_change`
callback): if the write fails, the transition does not happen, so memory never runs ahead
of what a restart would find. Only the write happens inside the machine's callbacks; long
work runs in the engine's own tasks, because a second trigger on an AsyncMachine cancels a
running async callback.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from transitions.extensions.asyncio import AsyncEventData, AsyncMachine

from zfsyncd.store.records import TxState
from zfsyncd.tx.errors import InvalidTransitionError

#: persist(tx_id, source, dest, details) writes the new state, failing if the stored state
#: is not `source` (someone else moved it)
Persist = Callable[[str, TxState, TxState, dict[str, Any]], Awaitable[None]]

_LIVE = [TxState.CREATED, TxState.PREPARED, TxState.EXECUTING]
TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": "prepare", "source": TxState.CREATED, "dest": TxState.PREPARED},
    {"trigger": "execute", "source": TxState.PREPARED, "dest": TxState.EXECUTING},
    {"trigger": "complete", "source": TxState.EXECUTING, "dest": TxState.COMPLETED},
    {"trigger": "fail", "source": _LIVE, "dest": TxState.FAILED},
    {"trigger": "cancel", "source": _LIVE, "dest": TxState.CANCELLED},
]


class TransactionMachine:
    """Holds one transaction's state; `await tm.move("execute", **details)` moves it."""

    state: str  # set by the machine

    def __init__(self, tx_id: str, state: TxState, persist: Persist) -> None:
        self.tx_id = tx_id
        self._persist = persist
        self.machine = AsyncMachine(
            model=self,
            states=[s.value for s in TxState],
            transitions=[
                {**t, "source": _values(t["source"]), "dest": t["dest"].value} for t in TRANSITIONS
            ],
            initial=state.value,
            send_event=True,
            before_state_change=[self._write],
            auto_transitions=False,
            ignore_invalid_triggers=False,
        )

    @property
    def current(self) -> TxState:
        return TxState(self.state)

    def can(self, trigger: str) -> bool:
        return bool(self.machine.get_triggers(self.state).count(trigger))

    async def move(self, trigger: str, **details: Any) -> None:
        """Fire `trigger`; `details` (error, rollback_outcome, ...) are persisted with it."""
        if not self.can(trigger):
            raise InvalidTransitionError(self.tx_id, trigger, self.current.value)
        # the machine added one coroutine method per trigger to this object
        await getattr(self, trigger)(**details)

    async def _write(self, event: AsyncEventData) -> None:
        transition = event.transition
        if transition is None or transition.dest is None:  # only internal events lack one
            raise RuntimeError(f"transaction {self.tx_id}: state change without a transition")
        source, dest = TxState(transition.source), TxState(transition.dest)
        await self._persist(self.tx_id, source, dest, dict(event.kwargs))


def _values(source: TxState | list[TxState]) -> str | list[str]:
    return [s.value for s in source] if isinstance(source, list) else source.value
