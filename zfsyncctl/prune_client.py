"""The prune methods of zfsyncd's Manager for zfsyncctl: Prune (a transaction) and
PrunePreview (its dry run, a read); dbus/org.zfsync.Daemon1.xml documents them. Imported by
`zfsyncctl prune` when it runs, not at zfsyncctl's start (pydantic, dbus-fast)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from pydantic import Field

from zfsyncd.api.records import PruneRow

from .client import ZfsyncClient, _Options, _parse, _started
from .models import StartedTransaction


class PreviewOptions(_Options):
    """options of PrunePreview."""

    SIGNATURES: ClassVar[dict[str, str]] = {
        "recursive": "b",
        "policy": "s",
        "now": "d",
        "host": "s",
    }
    recursive: bool | None = None
    policy: str | None = None
    now: float | None = None
    host: str | None = None


class PruneOptions(PreviewOptions):
    """options of Prune."""

    SIGNATURES: ClassVar[dict[str, str]] = {
        **PreviewOptions.SIGNATURES,
        "priority": "i",
        "timeout": "d",
        "tags": "as",
        "wait_for_locks": "b",
    }
    priority: int | None = None
    timeout: float | None = None
    tags: list[str] = Field(default_factory=list)
    wait_for_locks: bool | None = None


async def prune_preview(
    zc: ZfsyncClient, datasets: Sequence[str], options: PreviewOptions
) -> list[PruneRow]:
    (rows,) = await zc.call("PrunePreview", "asa{sv}", [list(datasets), options.to_dbus()])
    return [_parse(PruneRow, r, "PrunePreview") for r in rows]


async def start_prune(
    zc: ZfsyncClient, datasets: Sequence[str], options: PruneOptions
) -> StartedTransaction:
    (path,) = await zc.call("Prune", "asa{sv}", [list(datasets), options.to_dbus()])
    return _started(path, "Prune")
