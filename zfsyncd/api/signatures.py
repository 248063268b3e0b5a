"""Which D-Bus signatures a value of a Python type travels as, declared once.

An option key (an a{sv} entry) takes each signature its field's type allows; clients differ
in what they send, so numbers are lenient: a count may arrive as any integer type, seconds
as a double or any integer. A record field (records.py) and a method argument take one
signature, the first of these (the canonical one: what zfsyncctl sends).
"""

from __future__ import annotations

import functools
import types
from enum import Enum
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

INTEGER = ("i", "u", "x", "t", "n", "q", "y")
SECONDS = ("d", *INTEGER)


class DBus:
    """Annotated metadata naming a field's D-Bus signature: `Annotated[int, DBus("u")]`."""

    __slots__ = ("signature",)

    def __init__(self, signature: str) -> None:
        self.signature = signature

    def __repr__(self) -> str:
        return f"DBus({self.signature!r})"


def _bare(annotation: Any) -> Any:
    """The type under Annotated[...] and `X | None`."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) in (Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return _bare(members[0])
    return annotation


def _is_text(annotation: Any) -> bool:
    bare = _bare(annotation)
    return bare is str or (isinstance(bare, type) and issubclass(bare, str | Enum))


def signatures_of(annotation: Any, what: str = "a value") -> tuple[str, ...]:
    """Every signature a value annotated `annotation` may arrive as; TypeError if D-Bus has
    no way to carry it here."""
    bare = _bare(annotation)
    origin, args = get_origin(bare), get_args(bare)
    if bare is bool:  # before int: bool is an int to Python, not to D-Bus
        return ("b",)
    if bare is int:
        return INTEGER
    if bare is float:
        return SECONDS
    if _is_text(bare):
        return ("s",)
    if (
        origin in (list, tuple, set, frozenset)
        and args
        and all(_is_text(a) for a in args if a is not Ellipsis)
    ):
        return ("as",)
    if origin is dict and len(args) == 2 and all(_is_text(a) for a in args):
        return ("a{ss}",)
    raise TypeError(f"{what}: no D-Bus signature for {annotation!r}")


@functools.cache
def option_signatures(
    model: type[BaseModel], *, skip: tuple[str, ...] = ()
) -> dict[str, tuple[str, ...]]:
    """The option keys a model's fields make, each with the signatures it may arrive as
    (cached: a model's fields do not change; do not change what it returns)."""
    return {
        name: signatures_of(field.annotation, f"{model.__name__}.{name}")
        for name, field in model.model_fields.items()
        if name not in skip
    }


@functools.cache
def declared_signature(model: type[BaseModel], name: str) -> str:
    """The signature a record field declares (its DBus(...) metadata)."""
    for meta in model.model_fields[name].metadata:
        if isinstance(meta, DBus):
            return meta.signature
    raise TypeError(f"{model.__name__}.{name} declares no D-Bus signature")
