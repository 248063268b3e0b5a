"""Authorization by declaration: every exported D-Bus method names its polkit action.

    @dbus_method()
    @authorized(Action.READ)
    async def GetStatus(self) -> DBusDict: ...

The check runs before the body, so a body cannot read or change anything for a caller
polkit refused, and cannot forget to ask. Where the action depends on the record (Cancel:
one's own transaction or another's; Retry: the type's action), the method names an async
resolver instead: polkit is asked for org.zfsync.read first, then the resolver reads what it
needs and names the action, then polkit is asked for that. The body reads the caller polkit
authorized from `authorized_caller()` (dbus-fast takes a method's parameters from its
signature, so the caller cannot be one). An interface whose D-Bus method names no action
cannot be constructed: `require_declared` names the method (AuthorizedInterface runs it).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from typing import Any, Protocol, TypeVar, cast

from dbus_fast.service import ServiceInterface

from zfsyncd.api.names import Action
from zfsyncd.bus.errors import bus_errors
from zfsyncd.tx.kinds import TX_KINDS, TxKind
from zfsyncd.tx.manager import Caller

#: (the interface, the caller authorized to read, the method's arguments) -> the action
Resolver = Callable[..., Awaitable[str]]
F = TypeVar("F", bound=Callable[..., Awaitable[Any]])

#: where a method's declared action (or resolver) is kept on its function
ACTION_ATTRIBUTE = "__zfsync_action__"

_caller: ContextVar[Caller | None] = ContextVar("zfsyncd_authorized_caller", default=None)


class Authority(Protocol):
    async def authorize(self, action: str) -> Caller:
        """Who calls, if polkit lets them do `action`; NotAuthorized if not."""
        ...


def authorized_caller() -> Caller:
    caller = _caller.get()
    if caller is None:
        raise RuntimeError("no authorized call is being handled in this context")
    return caller


def authorized(action: str | Resolver) -> Callable[[F], F]:
    """Declare the polkit action of a D-Bus method (under @dbus_method) and check it before
    the body runs; whatever the method raises goes back as a named D-Bus error."""

    def declare(method: F) -> F:
        @functools.wraps(method)
        async def checked(self: AuthorizedInterface, *args: Any) -> Any:
            if isinstance(action, str):
                caller = await self.authority.authorize(action)
            else:
                reader = await self.authority.authorize(Action.READ)
                caller = await self.authority.authorize(await action(self, reader, *args))
            token = _caller.set(caller)
            try:
                return await method(self, *args)
            finally:
                _caller.reset(token)

        setattr(checked, ACTION_ATTRIBUTE, action)
        return cast(F, bus_errors(checked))

    return declare


def declared_action(fn: object) -> str | Resolver | None:
    return cast("str | Resolver | None", getattr(fn, ACTION_ATTRIBUTE, None))


def require_declared(interface: ServiceInterface) -> None:
    """Refuse an interface one of whose D-Bus methods names no polkit action."""
    for method in ServiceInterface._get_methods(interface):
        if declared_action(method.fn) is None:
            raise TypeError(
                f"{interface.name}.{method.name} names no polkit action: "
                "declare one with @authorized(...) under its @dbus_method()"
            )


class AuthorizedInterface(ServiceInterface):
    """A ServiceInterface whose every method is checked by `authority`."""

    def __init__(self, name: str, authority: Authority) -> None:
        super().__init__(name)
        self.authority = authority
        require_declared(self)


def action_of_type(type: str, kinds: Mapping[str, TxKind] | None = None) -> str:
    """The action that covers a transaction type (retrying it, cancelling one's own); a type
    no kind declares needs the administrator's."""
    kind = (TX_KINDS if kinds is None else kinds).get(type)
    return kind.action if kind is not None else Action.MANAGE


def cancel_action(type: str, owner: int | None, caller: Caller) -> str:
    """Cancelling one's own transaction needs its type's action; another's, more."""
    own = owner is not None and owner == caller.uid
    return action_of_type(type) if own else Action.CANCEL_OTHER_USER
