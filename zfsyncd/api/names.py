"""The fixed names of zfsyncd's D-Bus API (DESIGN.md), shared by the daemon and zfsyncctl.

dbus/org.zfsync.Daemon1.xml documents every method, option and error; a system test
compares it with what the live daemon introspects."""

from __future__ import annotations

BUS_NAME = "org.zfsync.Daemon1"
MANAGER_PATH = "/org/zfsync/Daemon1"
MANAGER_IFACE = "org.zfsync.Daemon1.Manager"
TRANSACTION_PATH_PREFIX = "/org/zfsync/Daemon1/Transaction/"
TRANSACTION_IFACE = "org.zfsync.Daemon1.Transaction"

#: a uid that was not recorded (work the daemon did on its own): (uid_t)-1
NO_UID = 0xFFFFFFFF


def transaction_path(tx_id: str) -> str:
    """Transaction ids hold only [0-9A-Za-z_], so they are valid object path elements."""
    return f"{TRANSACTION_PATH_PREFIX}{tx_id}"


def transaction_id(path: str) -> str:
    if not path.startswith(TRANSACTION_PATH_PREFIX):
        raise ValueError(f"{path} is not a zfsyncd transaction object")
    return path[len(TRANSACTION_PATH_PREFIX) :]


class Action:
    """polkit actions (polkit/org.zfsync.policy)."""

    READ = "org.zfsync.read"
    SNAPSHOT = "org.zfsync.snapshot"
    REPLICATE = "org.zfsync.replicate"
    ROLLBACK = "org.zfsync.rollback"
    CANCEL_OTHER_USER = "org.zfsync.cancel-other-user"
    MANAGE = "org.zfsync.manage"


class ErrorName:
    """D-Bus error names the daemon replies with; zfsyncctl maps each to an exit code."""

    NOT_AUTHORIZED = "org.zfsync.Error.NotAuthorized"
    INVALID_ARGUMENT = "org.zfsync.Error.InvalidArgument"
    NOT_FOUND = "org.zfsync.Error.NotFound"
    BUSY = "org.zfsync.Error.Busy"
    REFUSED = "org.zfsync.Error.Refused"
    FAILED = "org.zfsync.Error.Failed"
