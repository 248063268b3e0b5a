"""The Manager methods that start transactions, generated from the kinds' declarations.

A kind whose `method` is `BusMethod("Snapshot", positional=("datasets",))` gets
`Snapshot(datasets as, options a{sv}) -> o`: its positional arguments are those request
fields, in order; the options are its other request fields and the keys every transaction
takes (TxOptions); each one's D-Bus signature(s) follow from the field's type
(zfsyncd.api.signatures); its polkit action is the kind's. dbus-fast reads a method's
D-Bus signature from its Python signature when the class is created, so each method gets an
`inspect.Signature` built from the declaration, and the class is made with `type()`.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

from dbus_fast.annotations import DBusObjectPath, DBusSignature
from dbus_fast.service import dbus_method
from pydantic import BaseModel

from zfsyncd.api.signatures import option_signatures, signatures_of
from zfsyncd.bus.authorized import Authority, authorized, authorized_caller
from zfsyncd.bus.manager_object import ManagerObject
from zfsyncd.bus.options import Signatures, TxOptions, checked
from zfsyncd.tx.kinds import TX_KINDS, BusMethod, TxKind

if TYPE_CHECKING:
    from zfsyncd.bus.service import BusService

OPTIONS = Annotated[dict[str, Any], DBusSignature("a{sv}")]


def argument_signatures(kind: TxKind, method: BusMethod) -> dict[str, str]:
    """Each positional argument's one D-Bus signature (the first its type allows)."""
    fields = kind.request.model_fields
    missing = [name for name in method.positional if name not in fields]
    if missing:
        raise TypeError(f"{method.name}: {kind.name}'s request has no field {missing[0]!r}")
    return {
        name: signatures_of(fields[name].annotation, f"{method.name}({name})")[0]
        for name in method.positional
    }


def option_keys(kind: TxKind, method: BusMethod) -> dict[str, tuple[str, ...]]:
    """The option keys of a kind's method, each with the signatures it may arrive as."""
    own = option_signatures(kind.request, skip=method.positional)
    common = option_signatures(TxOptions)
    clash = sorted(set(own) & set(common))
    if clash:
        raise TypeError(f"{method.name}: request field {clash[0]!r} is a common option's name")
    return {**own, **common}


def request_params(request: type[BaseModel], given: Mapping[str, Any]) -> dict[str, Any]:
    """Every field of the request: what was given, else its default (stored as today: the
    parameters of a transaction name every field of its request)."""
    params: dict[str, Any] = {}
    for name, field in request.model_fields.items():
        if name in given:
            params[name] = given[name]
        elif not field.is_required():
            params[name] = field.get_default(call_default_factory=True)
    return params


def _starter(kind: TxKind, method: BusMethod) -> Any:
    arguments = argument_signatures(kind, method)
    keys: Signatures = option_keys(kind, method)
    common = set(TxOptions.model_fields)

    async def start(self: ManagerObject, *args: Any) -> str:
        *values, options = args
        given = checked(keys, options, method.name)
        opts = TxOptions.model_validate({k: v for k, v in given.items() if k in common})
        own = {k: v for k, v in given.items() if k not in common}
        given_args = dict(zip(method.positional, values, strict=True))
        params = request_params(kind.request, {**given_args, **own})
        return await self._service.start_transaction(kind.name, params, opts, authorized_caller())

    parameters = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)]
    parameters += [
        inspect.Parameter(
            name,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            annotation=Annotated[Any, DBusSignature(sig)],
        )
        for name, sig in arguments.items()
    ]
    parameters.append(
        inspect.Parameter("options", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=OPTIONS)
    )
    start.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        parameters, return_annotation=DBusObjectPath
    )
    start.__name__ = start.__qualname__ = method.name
    start.__doc__ = f"Start a {kind.name} transaction (declared in {type(kind).__module__})."
    return dbus_method(name=method.name)(authorized(kind.action)(start))


def manager_class(kinds: Mapping[str, TxKind] | None = None) -> type[ManagerObject]:
    """ManagerObject with one generated method per kind that declares one."""
    generated: dict[str, Any] = {}
    for kind in (TX_KINDS if kinds is None else kinds).values():
        if kind.method is None:
            continue
        name = kind.method.name
        if name in generated or hasattr(ManagerObject, name):
            raise TypeError(f"the Manager method {name} is declared twice ({kind.name})")
        generated[name] = _starter(kind, kind.method)
    return type("ManagerObject", (ManagerObject,), generated)


def build_manager(
    service: BusService, authority: Authority, kinds: Mapping[str, TxKind] | None = None
) -> ManagerObject:
    return manager_class(kinds)(service, authority)
