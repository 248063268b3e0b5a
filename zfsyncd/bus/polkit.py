"""Authorization: polkit's CheckAuthorization for the calling bus name.

The subject is the caller's unique bus name (polkit asks the bus for its uid and pid), so a
caller cannot claim to be someone else. Interaction (a password prompt through the caller's
polkit agent) is allowed only when the caller's message carried the
ALLOW_INTERACTIVE_AUTHORIZATION flag.

No answer from polkit is not a yes: nothing is done. But it is not a "no" either: when polkit
cannot be asked (too many asks pending on the daemon's connection, polkit restarting), the
caller hears Busy (try again), not NotAuthorized. Asks go through a few `FairSlots`, one
queue per uid served in turn, so one user's flood of calls delays only that user's calls.
"""

from __future__ import annotations

from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from zfsyncd.api.names import Action, ErrorName
from zfsyncd.bus.errors import BusCallError
from zfsyncd.bus.fair import FairSlots, TooManyWaitingError

POLKIT_NAME = "org.freedesktop.PolicyKit1"
AUTHORITY_PATH = "/org/freedesktop/PolicyKit1/Authority"
AUTHORITY_IFACE = "org.freedesktop.PolicyKit1.Authority"
ALLOW_USER_INTERACTION = 0x1
#: asks awaiting polkit's answer at once: well below dbus-daemon's 128 pending replies per
#: connection, which the daemon's other calls share
POLKIT_SLOTS = 32
#: asks of one uid that may wait for a slot; beyond that the call is Busy at once
MAX_WAITING_PER_UID = 256

#: what each action lets a person do, for refusals ("uid 65534 may not <this>")
WHAT = {
    Action.READ: "read zfsyncd's transactions and snapshots",
    Action.SNAPSHOT: "take or destroy snapshots",
    Action.REPLICATE: "replicate datasets",
    Action.ROLLBACK: "roll back transactions",
    Action.CANCEL_OTHER_USER: "cancel another user's transaction",
    Action.MANAGE: "administer zfsyncd",
}


class Polkit:
    def __init__(
        self,
        bus: MessageBus,
        *,
        slots: int = POLKIT_SLOTS,
        max_waiting_per_uid: int = MAX_WAITING_PER_UID,
    ) -> None:
        self._bus = bus
        self._slots = FairSlots(slots, max_waiting=max_waiting_per_uid)

    async def check(self, sender: str, uid: int, action: str, *, interactive: bool) -> None:
        """Return if polkit authorizes `sender` for `action`; raise NotAuthorized if it
        does not, Busy if it cannot be asked now."""
        what = WHAT.get(action, action)
        try:
            async with self._slots.slot(uid):
                reply = await self._ask(sender, action, interactive=interactive)
        except TooManyWaitingError:
            raise BusCallError(
                ErrorName.BUSY,
                f"too many calls of uid {uid} are waiting for authorization; nothing was "
                "done, try again",
            ) from None
        if reply is None or reply.message_type is not MessageType.METHOD_RETURN:
            detail = reply.body[0] if reply is not None and reply.body else "no reply"
            raise BusCallError(
                ErrorName.BUSY,
                f"cannot ask polkit now whether uid {uid} may {what} ({detail}); nothing was "
                "done, try again",
            )
        authorized, challenge, _details = reply.body[0]
        if authorized:
            return
        hint = (
            " (authentication is required: run it from a terminal with a polkit agent, "
            "or as a user polkit allows)"
            if challenge
            else ""
        )
        raise BusCallError(
            ErrorName.NOT_AUTHORIZED,
            f"not authorized: uid {uid} may not {what} (polkit action {action}){hint}",
        )

    async def _ask(self, sender: str, action: str, *, interactive: bool) -> Message | None:
        return await self._bus.call(
            Message(
                destination=POLKIT_NAME,
                path=AUTHORITY_PATH,
                interface=AUTHORITY_IFACE,
                member="CheckAuthorization",
                signature="(sa{sv})sa{ss}us",
                body=[
                    ["system-bus-name", {"name": Variant("s", sender)}],
                    action,
                    {},
                    ALLOW_USER_INTERACTION if interactive else 0,
                    "",
                ],
            )
        )
