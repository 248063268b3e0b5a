"""Typed errors of the client, one class per exit code, and the map from D-Bus error names.

The daemon's own errors (zfsyncd.api.names.ErrorName) map one to one; errors of the bus
itself (org.freedesktop.DBus.Error.*) map to what they mean for a person at the terminal."""

from __future__ import annotations

from typing import ClassVar

from zfsyncd.api.names import ErrorName

from .exitcodes import ExitCode


class ClientError(Exception):
    """Anything that ends a zfsyncctl command without a result; `str()` is the message."""

    exit_code: ClassVar[ExitCode] = ExitCode.INTERNAL

    def __init__(self, message: str, *, dbus_name: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.dbus_name = dbus_name


class NotAuthorizedError(ClientError):
    exit_code = ExitCode.NOT_AUTHORIZED


class NotFoundError(ClientError):
    exit_code = ExitCode.NOT_FOUND


class InvalidRequestError(ClientError):
    exit_code = ExitCode.INVALID


class RefusedError(ClientError):
    exit_code = ExitCode.INVALID


class BusyError(ClientError):
    exit_code = ExitCode.BUSY


class DaemonUnavailableError(ClientError):
    """No bus, zfsyncd is not on it, or it left while we waited for it."""

    exit_code = ExitCode.UNREACHABLE


class InternalError(ClientError):
    exit_code = ExitCode.INTERNAL


_BUS = "org.freedesktop.DBus.Error."

#: D-Bus error name -> client error class; names not listed are InternalError
ERROR_CLASSES: dict[str, type[ClientError]] = {
    ErrorName.NOT_AUTHORIZED: NotAuthorizedError,
    ErrorName.INVALID_ARGUMENT: InvalidRequestError,
    ErrorName.NOT_FOUND: NotFoundError,
    ErrorName.BUSY: BusyError,
    ErrorName.REFUSED: RefusedError,
    ErrorName.FAILED: InternalError,
    # the bus's policy said no, or polkit needed a question we were not allowed to ask
    _BUS + "AccessDenied": NotAuthorizedError,
    _BUS + "InteractiveAuthorizationRequired": NotAuthorizedError,
    # a transaction object that is no longer exported
    _BUS + "UnknownObject": NotFoundError,
    _BUS + "InvalidArgs": InvalidRequestError,
    # nobody owns the name, activation failed, or the daemon went away before it answered
    _BUS + "ServiceUnknown": DaemonUnavailableError,
    _BUS + "NameHasNoOwner": DaemonUnavailableError,
    _BUS + "NoReply": DaemonUnavailableError,
    _BUS + "Disconnected": DaemonUnavailableError,
    _BUS + "NoServer": DaemonUnavailableError,
    _BUS + "Timeout": DaemonUnavailableError,
    _BUS + "TimedOut": DaemonUnavailableError,
}
_SPAWN = _BUS + "Spawn."


def error_from_dbus(name: str, text: str) -> ClientError:
    """The client error for a D-Bus error reply `name` with message `text`."""
    cls = ERROR_CLASSES.get(name)
    if cls is None:
        cls = DaemonUnavailableError if name.startswith(_SPAWN) else InternalError
    if cls is DaemonUnavailableError and name != _BUS + "NoReply":
        text = f"zfsyncd is not running or cannot be reached: {text}"
    elif cls is DaemonUnavailableError:
        text = f"zfsyncd did not answer: {text}"
    return cls(text or name, dbus_name=name)
