"""Engine errors as D-Bus errors: a name a client can branch on, a message a person reads.

A method handler lets the engine's exceptions through `as_bus_error`; anything unexpected
becomes org.zfsync.Error.Failed with its one-line description (the traceback goes to the
log, never to the caller).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from dbus_fast import DBusError
from pydantic import ValidationError

from zfsyncd.api.names import ErrorName
from zfsyncd.invalid import problems
from zfsyncd.jobs.scheduler import JobBusyError
from zfsyncd.tx.errors import (
    DatasetBusyError,
    InvalidTransitionError,
    MissingObjectError,
    PlanError,
    RollbackRefusedError,
    TransactionNotFoundError,
    TxError,
    describe_error,
)
from zfsyncd.zfs.errors import InvalidNameError, NotFoundError, ZfsError

log = logging.getLogger(__name__)


class BusCallError(DBusError):
    """A D-Bus error reply with one of zfsyncd's names."""

    def __init__(self, name: str, text: str) -> None:
        super().__init__(name, text)


def _name_for(exc: BaseException) -> str:
    match exc:
        case TransactionNotFoundError() | MissingObjectError() | NotFoundError():
            return ErrorName.NOT_FOUND
        case DatasetBusyError() | JobBusyError():
            return ErrorName.BUSY
        case PlanError() | InvalidNameError() | ValidationError() | ValueError():
            return ErrorName.INVALID_ARGUMENT
        case RollbackRefusedError() | InvalidTransitionError() | TxError():
            return ErrorName.REFUSED
        case ZfsError():
            return ErrorName.FAILED
    return ErrorName.FAILED


F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


def bus_errors(method: F) -> F:
    """For a D-Bus method handler (@authorized applies it): whatever it raises goes back to
    the caller as `as_bus_error` words it. functools.wraps keeps the signature and annotations
    dbus-fast reads."""

    @functools.wraps(method)
    async def replying(*args: Any, **kwargs: Any) -> Any:
        try:
            return await method(*args, **kwargs)
        except Exception as exc:
            raise as_bus_error(exc) from exc

    return cast(F, replying)


def as_bus_error(exc: BaseException) -> DBusError:
    if isinstance(exc, DBusError):
        return exc
    if isinstance(exc, ValidationError):
        text = problems(exc, "request")
        return BusCallError(ErrorName.INVALID_ARGUMENT, f"invalid request: {text}")
    name = _name_for(exc)
    if name == ErrorName.FAILED and not isinstance(exc, ZfsError):
        log.error("unexpected error in a bus call", exc_info=exc)
    return BusCallError(name, describe_error(exc))
