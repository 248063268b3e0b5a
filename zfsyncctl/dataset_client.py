"""The Dataset* methods of zfsyncd's Manager for zfsyncctl: their option dictionaries and
calls (dbus/org.zfsync.Daemon1.xml documents them; the daemon generates them from the
dataset-init, dataset-update and rollback-dataset kinds). Imported by the `dataset`
commands when they run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from pydantic import Field

from .client import ZfsyncClient, _Options, _started
from .models import StartedTransaction

_COMMON = {"priority": "i", "timeout": "d", "tags": "as", "wait_for_locks": "b"}


class DatasetOptions(_Options):
    """What every Dataset* method takes (DatasetRollback takes nothing more)."""

    SIGNATURES: ClassVar[dict[str, str]] = dict(_COMMON)
    priority: int | None = None
    timeout: float | None = None
    tags: list[str] = Field(default_factory=list)
    wait_for_locks: bool | None = None


class InitOptions(DatasetOptions):
    SIGNATURES: ClassVar[dict[str, str]] = {**_COMMON, "mountpoint": "s"}
    mountpoint: str | None = None


class UpdateOptions(DatasetOptions):
    SIGNATURES: ClassVar[dict[str, str]] = {**_COMMON, "excludes": "as"}
    excludes: list[str] = Field(default_factory=list)


#: Dataset* method -> the signature of its positional arguments
ARGUMENTS: dict[str, str] = {"DatasetInit": "ss", "DatasetUpdate": "ss", "DatasetRollback": "s"}


async def start(
    zc: ZfsyncClient, method: str, arguments: Sequence[object], options: DatasetOptions
) -> StartedTransaction:
    """Call a Dataset* method: its positional arguments, then its options."""
    signature = ARGUMENTS[method] + "a{sv}"
    (path,) = await zc.call(method, signature, [*arguments, options.to_dbus()])
    return _started(path, method)
