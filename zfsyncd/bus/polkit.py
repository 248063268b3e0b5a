"""Authorization: polkit's CheckAuthorization for the calling bus name.

The subject is the caller's unique bus name (polkit asks the bus for its uid and pid), so a
caller cannot claim to be someone else. Interaction (a password prompt through the caller's
polkit agent) is allowed only when the caller's message carried the
ALLOW_INTERACTIVE_AUTHORIZATION flag. No answer from polkit is a refusal: fail closed.
"""

from __future__ import annotations

from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from zfsyncd.api.names import Action, ErrorName
from zfsyncd.bus.errors import BusCallError

POLKIT_NAME = "org.freedesktop.PolicyKit1"
AUTHORITY_PATH = "/org/freedesktop/PolicyKit1/Authority"
AUTHORITY_IFACE = "org.freedesktop.PolicyKit1.Authority"
ALLOW_USER_INTERACTION = 0x1

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
    def __init__(self, bus: MessageBus) -> None:
        self._bus = bus

    async def check(self, sender: str, uid: int, action: str, *, interactive: bool) -> None:
        """Return if polkit authorizes `sender` for `action`; raise NotAuthorized if not."""
        reply = await self._bus.call(
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
        what = WHAT.get(action, action)
        if reply is None or reply.message_type is not MessageType.METHOD_RETURN:
            detail = reply.body[0] if reply is not None and reply.body else "no reply"
            raise BusCallError(
                ErrorName.NOT_AUTHORIZED,
                f"cannot ask polkit whether uid {uid} may {what} ({detail}); refused",
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
