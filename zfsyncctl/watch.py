"""Watching one transaction: its signals as typed events, until it has ended.

The order is what makes it safe (TransactionWatch.__aenter__):
1. subscribe (AddMatch, awaited) to NameOwnerChanged of org.zfsync.Daemon1, so that the
   daemon leaving the bus is noticed, and to the transaction's own signals;
2. only then read its state (GetTransaction). A transaction that ends between 1 and 2 shows
   as ended in the state; one that ends after 2 sends Finished, which the match of 1 catches.
A transaction that had ended before the watch began yields one Finished from its state.

Bursts: signals land in an inbox where a Progress (or a Streams) replaces one not yet
consumed, so a flood of them costs memory for one of each. A poll of GetTransaction every
`poll_interval` seconds is a safety net should a Finished ever be lost (None: rely on the
signals alone)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Self

from dbus_fast import Message, MessageType

from zfsyncd.api import limits
from zfsyncd.api.names import BUS_NAME, TRANSACTION_IFACE, transaction_path

from .errors import ClientError, DaemonUnavailableError
from .models import (
    Finished,
    MessageEvent,
    Progress,
    StepFinished,
    StepStarted,
    StreamRow,
    Streams,
    TransactionDetail,
    WatchEvent,
)

if TYPE_CHECKING:
    from .client import ZfsyncClient


#: events that only say "now it is so": a newer one replaces one not yet consumed
_LATEST_ONLY = (Progress, Streams)


@dataclass(frozen=True)
class _Lost:
    error: ClientError


def _event_from_signal(msg: Message) -> WatchEvent | None:
    body = msg.body
    try:
        match msg.member:
            case "Progress":
                return Progress(
                    percent=body[0],
                    bytes_done=body[1],
                    bytes_total=body[2],
                    rate=body[3],
                    eta=body[4],
                )
            case "StreamProgress":
                rows = body[0][: limits.MAX_PROGRESS_STREAMS]  # the API's bound, kept here too
                return Streams(
                    streams=[
                        StreamRow(
                            dataset=r[0], bytes_done=r[1], bytes_total=r[2], rate=r[3], eta=r[4]
                        )
                        for r in rows
                    ]
                )
            case "StepStarted":
                return StepStarted(index=body[0], description=body[1])
            case "StepFinished":
                return StepFinished(index=body[0], state=body[1])
            case "Message":
                return MessageEvent(text=body[0])
            case "Finished":
                return Finished(state=body[0], error=body[1])
    except (IndexError, TypeError, ValueError):
        return None  # a signal that does not match the API: nothing a client can act on
    return None


class TransactionWatch:
    """Async context manager; `initial` is the state read after subscribing, `events()`
    yields what happens next and ends after a Finished."""

    def __init__(
        self, client: ZfsyncClient, tx_id: str, *, poll_interval: float | None = 5.0
    ) -> None:
        self.client = client
        self.tx_id = tx_id
        self.path = transaction_path(tx_id)
        self.poll_interval = poll_interval
        self.initial: TransactionDetail | None = None
        self._owner: str | None = None
        self._inbox: collections.deque[WatchEvent | _Lost] = collections.deque()
        self._wakeup = asyncio.Event()
        self._rules = [
            (
                "type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',"
                f"member='NameOwnerChanged',arg0='{BUS_NAME}'"
            ),
            f"type='signal',sender='{BUS_NAME}',interface='{TRANSACTION_IFACE}',path='{self.path}'",
        ]
        self._subscribed: list[str] = []
        self._disconnect_task: asyncio.Task[None] | None = None

    # --- receiving (sync, in dbus-fast's reader) ---

    def _put(self, item: WatchEvent | _Lost) -> None:
        if isinstance(item, _LATEST_ONLY):
            # the daemon sends Progress and Streams in pairs: look past the other kind
            for back in (-1, -2):
                if len(self._inbox) < -back or not isinstance(self._inbox[back], _LATEST_ONLY):
                    break
                if type(self._inbox[back]) is type(item):
                    self._inbox[back] = item
                    self._wakeup.set()
                    return
        self._inbox.append(item)
        self._wakeup.set()

    def _on_message(self, msg: Message) -> None:
        if msg.message_type is not MessageType.SIGNAL:
            return
        if msg.member == "NameOwnerChanged" and msg.interface == "org.freedesktop.DBus":
            if msg.body and msg.body[0] == BUS_NAME and self._owner is not None:
                new_owner = msg.body[2]
                if new_owner != self._owner:
                    self._put(
                        _Lost(
                            DaemonUnavailableError(
                                f"zfsyncd left the system bus while transaction {self.tx_id} was "
                                "being watched; see `zfsyncctl transaction show "
                                f"{self.tx_id}` once it is back"
                            )
                        )
                    )
            return
        if msg.path != self.path or msg.interface != TRANSACTION_IFACE:
            return
        if self._owner is not None and msg.sender != self._owner:
            return
        event = _event_from_signal(msg)
        if event is not None:
            self._put(event)

    async def _watch_connection(self) -> None:
        await self.client.wait_disconnected()
        self._put(
            _Lost(
                DaemonUnavailableError(
                    f"lost the connection to the system bus while watching transaction {self.tx_id}"
                )
            )
        )

    @property
    def state(self) -> TransactionDetail:
        """The state read right after subscribing."""
        if self.initial is None:
            raise RuntimeError("use TransactionWatch as `async with` first")
        return self.initial

    # --- context ---

    async def __aenter__(self) -> Self:
        bus = self.client.bus
        bus.add_message_handler(self._on_message)
        self._disconnect_task = asyncio.create_task(self._watch_connection())
        try:
            for rule in self._rules:
                await self.client.add_match(rule)
                self._subscribed.append(rule)
            self._owner = await self.client.daemon_owner()
            self.initial = await self.client.get_transaction(self.tx_id)
        except BaseException:
            await self._unsubscribe()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._unsubscribe()

    async def _unsubscribe(self) -> None:
        self.client.bus.remove_message_handler(self._on_message)
        if self._disconnect_task is not None:
            self._disconnect_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._disconnect_task
        if self.client.bus.connected:
            for rule in self._subscribed:
                with contextlib.suppress(ClientError):
                    await self.client.remove_match(rule)
        self._subscribed.clear()

    # --- consuming ---

    async def _next(self) -> WatchEvent | _Lost | None:
        """The next item of the inbox; None when poll_interval passed without one."""
        while not self._inbox:
            self._wakeup.clear()
            try:
                async with asyncio.timeout(self.poll_interval):
                    await self._wakeup.wait()
            except TimeoutError:
                return None
        return self._inbox.popleft()

    async def events(self) -> AsyncIterator[WatchEvent]:
        initial = self.state
        if initial.terminal:
            yield Finished(state=initial.state, error=initial.error)
            return
        while True:
            item = await self._next()
            if item is None:
                now = await self.client.get_transaction(self.tx_id)
                if now.terminal:
                    yield Finished(state=now.state, error=now.error)
                    return
                continue
            if isinstance(item, _Lost):
                raise item.error
            yield item
            if isinstance(item, Finished):
                return
