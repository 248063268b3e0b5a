"""Who is calling: the incoming message of the method call being handled, and its uid.

dbus-fast does not pass the message to a method handler. A bus message handler sees every
message before dispatch; it stores a method call in a ContextVar, and the task dbus-fast
then creates for the (async) handler copies the context, so each handler reads its own
message however many calls are in flight. tests/unit/bus/test_caller_context.py keeps this
honest against dbus-fast upgrades.
"""

from __future__ import annotations

from collections import OrderedDict
from contextvars import ContextVar

from dbus_fast import Message, MessageFlag, MessageType
from dbus_fast.aio import MessageBus

from zfsyncd.api.names import ErrorName
from zfsyncd.bus.errors import BusCallError

_current: ContextVar[Message | None] = ContextVar("zfsyncd_bus_call", default=None)

#: how many callers' uids are remembered (unique names are never reused on a bus)
UID_CACHE = 1024


def remember_call(msg: Message) -> bool:
    """A bus message handler: note a method call, never claim it (dispatch goes on)."""
    if msg.message_type is MessageType.METHOD_CALL:
        _current.set(msg)
    return False


def current_call() -> Message:
    msg = _current.get()
    if msg is None:
        raise RuntimeError("no method call is being handled in this context")
    return msg


def allows_interaction(msg: Message) -> bool:
    """Did the caller say it can wait for a password prompt (systemctl's flag)?"""
    return bool(msg.flags & MessageFlag.ALLOW_INTERACTIVE_AUTHORIZATION)


class UidResolver:
    """The uid behind a unique bus name, asked of the bus itself (not of the caller)."""

    def __init__(self, bus: MessageBus) -> None:
        self._bus = bus
        self._uids: OrderedDict[str, int] = OrderedDict()

    async def uid_of(self, sender: str) -> int:
        if sender in self._uids:
            self._uids.move_to_end(sender)
            return self._uids[sender]
        reply = await self._bus.call(
            Message(
                destination="org.freedesktop.DBus",
                path="/org/freedesktop/DBus",
                interface="org.freedesktop.DBus",
                member="GetConnectionUnixUser",
                signature="s",
                body=[sender],
            )
        )
        if reply is None or reply.message_type is not MessageType.METHOD_RETURN:
            detail = reply.body[0] if reply is not None and reply.body else "no reply"
            raise BusCallError(ErrorName.FAILED, f"cannot tell who {sender} is: {detail}")
        uid = int(reply.body[0])
        self._uids[sender] = uid
        if len(self._uids) > UID_CACHE:
            self._uids.popitem(last=False)
        return uid
