"""The a{sv} options of the Manager's methods, checked key by key.

Each key has the D-Bus signature(s) it may arrive as (dbus/org.zfsync.Daemon1.xml); an
unknown key or a value of another type is refused with InvalidArgument naming it, before
anything else happens. Numbers may arrive as any integer type where a count is meant, and
as an integer or a double where seconds are meant (clients differ in what they send).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

from dbus_fast import Variant
from pydantic import BaseModel, ConfigDict, Field

from zfsyncd.api.names import ErrorName
from zfsyncd.bus.errors import BusCallError

INTEGER = ("i", "u", "x", "t", "n", "q", "y")
SECONDS = ("d", *INTEGER)


class TxOptions(BaseModel):
    """What every method that starts a transaction takes."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    SIGNATURES: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "priority": INTEGER,
        "timeout": SECONDS,
        "tags": ("as",),
        "wait_for_locks": ("b",),
    }

    priority: int = Field(default=0, ge=-1000, le=1000)
    timeout: float | None = Field(default=None, gt=0)
    tags: list[str] = Field(default_factory=list)
    wait_for_locks: bool = True

    def engine_options(self) -> dict[str, Any]:
        return {"priority": self.priority, "timeout": self.timeout, "tags": self.tags}


class SnapshotOptions(TxOptions):
    SIGNATURES = {
        **TxOptions.SIGNATURES,
        "recursive": ("b",),
        "hold": ("b",),
        "properties": ("a{ss}",),
    }

    recursive: bool = False
    hold: bool = False
    properties: dict[str, str] = Field(default_factory=dict)


class DestroySnapshotsOptions(TxOptions):
    SIGNATURES = {**TxOptions.SIGNATURES, "any_name": ("b",)}

    any_name: bool = False


class WaitOptions(BaseModel):
    """Rollback and Retry: the new transaction may wait for its datasets, or not."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    SIGNATURES: ClassVar[Mapping[str, tuple[str, ...]]] = {"wait_for_locks": ("b",)}

    wait_for_locks: bool = True


class ListSnapshotsOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    SIGNATURES: ClassVar[Mapping[str, tuple[str, ...]]] = {"recursive": ("b",), "any_name": ("b",)}

    recursive: bool = True
    any_name: bool = False


class TransactionFilter(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    SIGNATURES: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "states": ("as",),
        "type": ("s",),
        "since": SECONDS,
        "limit": INTEGER,
        "active": ("b",),
        "rollback_pending": ("b",),
    }

    states: list[str] = Field(default_factory=list)
    type: str | None = None
    since: float | None = None
    limit: int = Field(default=100, ge=0)
    active: bool = False
    #: only those whose undo could not finish when they ended (it waits in the cleanup queue)
    rollback_pending: bool = False


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], options: Mapping[str, Variant], what: str) -> M:
    """`options` as `model`, or InvalidArgument naming the first key that is wrong."""
    signatures: Mapping[str, tuple[str, ...]] = getattr(model, "SIGNATURES", {})
    values: dict[str, Any] = {}
    for key, variant in options.items():
        allowed = signatures.get(key)
        if allowed is None:
            known = ", ".join(sorted(signatures)) or "none"
            raise BusCallError(
                ErrorName.INVALID_ARGUMENT, f"{what}: unknown option {key!r} (known: {known})"
            )
        if variant.signature not in allowed:
            raise BusCallError(
                ErrorName.INVALID_ARGUMENT,
                f"{what}: option {key!r} must be of D-Bus type {' or '.join(allowed)}, "
                f"not {variant.signature}",
            )
        values[key] = variant.value
    return model.model_validate(values)
