"""The daemon's Authority: the caller of the method call being handled, asked of polkit.

A refusal is audited (who tried what, with the call's arguments, kept short) before it is
raised; successful reads are not (a desktop polls them). Refusals are folded: a caller
refused the same thing over and over writes one row, then one "repeated N times" row a
minute, however fast it retries (store/audit.py).
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
            await self._audit.append_folded(
                (uid, msg.member, action, exc.type),
                msg.member or "call",
                f"refused: {exc.text}",
                uid=uid,
                caller=sender,
                detail={"polkit_action": action, "body": _printable(msg.body)},
            )
            raise
        return Caller(uid=uid, name=sender)


#: what of a refused call's arguments the audit log keeps: the first few, each cut short
AUDIT_ARGS, AUDIT_ARG_CHARS = 8, 200


def _printable(body: Sequence[object]) -> list[str]:
    """A call's arguments for the audit log (Variants and all, as text, kept short: a call
    naming 10,000 datasets must not write megabytes per refusal)."""
    shown = [repr(arg)[:AUDIT_ARG_CHARS] for arg in body[:AUDIT_ARGS]]
    if len(body) > AUDIT_ARGS:
        shown.append(f"... and {len(body) - AUDIT_ARGS} more arguments")
    return shown
