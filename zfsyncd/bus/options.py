"""The a{sv} options of the Manager's methods, checked key by key.

Each key has the D-Bus signature(s) it may arrive as, derived from its field's type
(zfsyncd.api.signatures; dbus/org.zfsync.Daemon1.xml documents them); an unknown key or a
value of another type is refused with InvalidArgument naming it, before anything else
happens. Numbers may arrive as any integer type where a count is meant, and as an integer
or a double where seconds are meant (clients differ in what they send).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from dbus_fast import Variant
from pydantic import BaseModel, ConfigDict, Field

from zfsyncd.api.limits import MAX_SNAPSHOT_PAGE
from zfsyncd.api.names import ErrorName
from zfsyncd.api.signatures import option_signatures
from zfsyncd.bus.errors import BusCallError

Signatures = Mapping[str, tuple[str, ...]]


class TxOptions(BaseModel):
    """What every method that starts a transaction takes, beside its request's own keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # the engine checks their bounds (zfsyncd/tx/bounds.py): the bus only converts
    priority: int = 0
    timeout: float | None = None
    tags: list[str] = Field(default_factory=list)
    wait_for_locks: bool = True

    def engine_options(self) -> dict[str, Any]:
        return {"priority": self.priority, "timeout": self.timeout, "tags": self.tags}


class WaitOptions(BaseModel):
    """Rollback and Retry: the new transaction may wait for its datasets, or not."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    wait_for_locks: bool = True


class ListSnapshotsOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    recursive: bool = True
    any_name: bool = False
    #: a page: at most this many (0: the most a page may hold); checked by the read side
    limit: int = MAX_SNAPSHOT_PAGE
    #: the cursor of the last row of the previous page
    after: str | None = None


M = TypeVar("M", bound=BaseModel)


def checked(signatures: Signatures, options: Mapping[str, Variant], what: str) -> dict[str, Any]:
    """The values of `options`, or InvalidArgument naming the first key that is wrong."""
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
    return values


def parse(model: type[M], options: Mapping[str, Variant], what: str) -> M:
    """`options` as `model` (its fields are the keys), checked key by key first."""
    return model.model_validate(checked(option_signatures(model), options, what))
