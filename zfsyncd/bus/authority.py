"""The daemon's Authority: the caller of the method call being handled, asked of polkit.

A refusal is audited (who tried what, with the call's arguments) before it is raised;
successful reads are not (a desktop polls them).
"""

from __future__ import annotations

from collections.abc import Sequence

from dbus_fast import DBusError
from dbus_fast.aio import MessageBus

from zfsyncd.bus.caller import UidResolver, allows_interaction, current_call
from zfsyncd.bus.polkit import Polkit
from zfsyncd.store.audit import AuditLog
from zfsyncd.tx.manager import Caller


class PolkitAuthority:
    def __init__(self, bus: MessageBus, audit: AuditLog) -> None:
        self.polkit = Polkit(bus)
        self.uids = UidResolver(bus)
        self._audit = audit

    async def authorize(self, action: str) -> Caller:
        msg = current_call()
        sender = msg.sender or ""
        uid = await self.uids.uid_of(sender)
        try:
            await self.polkit.check(sender, uid, action, interactive=allows_interaction(msg))
        except DBusError as exc:
            await self._audit.append(
                msg.member or "call",
                f"refused: {exc.text}",
                uid=uid,
                caller=sender,
                detail={"polkit_action": action, "body": _printable(msg.body)},
            )
            raise
        return Caller(uid=uid, name=sender)


def _printable(body: Sequence[object]) -> list[str]:
    """A call's arguments for the audit log (Variants and all, as text, kept short)."""
    return [repr(arg)[:200] for arg in body]
