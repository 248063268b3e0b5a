"""ListTransactions without pydantic: its filter, and reading page after page into rows
(rows.py). `zfsyncctl transaction list` runs on this, connection.py and rows.py alone:
pydantic's import and validators would cost more than the rest of the command together
(issue 9, bench/cli.py).

TransactionFilter repeats ListTransactions' keys, as client.py's option models repeat their
methods'; tests/unit/bus/test_declarations.py fails when they disagree with the daemon's."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from dbus_fast import Variant

from zfsyncd.api.limits import MAX_TRANSACTION_PAGE

from .connection import Connection
from .rows import SummaryRow, summary_row


@dataclass(frozen=True, kw_only=True)
class TransactionFilter:
    """filter of ListTransactions; fields left None (or empty) are not sent (the daemon's
    default). A dataclass, not one of client.py's option models, so that listing imports no
    pydantic."""

    #: field name -> D-Bus signature of its value
    SIGNATURES: ClassVar[dict[str, str]] = {
        "states": "as",
        "type": "s",
        "since": "d",
        "limit": "u",
        "after": "s",
        "active": "b",
        "rollback_pending": "b",
    }
    states: Sequence[str] = ()
    type: str | None = None
    since: float | None = None
    #: one page: at most this many (daemon default 100, maximum MAX_TRANSACTION_PAGE)
    limit: int | None = None
    #: the `cursor` of the previous page's last row
    after: str | None = None
    active: bool | None = None
    rollback_pending: bool | None = None

    def __post_init__(self) -> None:
        if self.limit is not None and not 0 <= self.limit <= MAX_TRANSACTION_PAGE:
            raise ValueError(f"limit {self.limit} is not within 0..{MAX_TRANSACTION_PAGE}")

    def to_dbus(self) -> dict[str, Variant]:
        out: dict[str, Variant] = {}
        for name, sig in self.SIGNATURES.items():
            value = getattr(self, name)
            if value is None or (sig == "as" and not value):
                continue
            out[name] = Variant(sig, list(value) if sig == "as" else value)
        return out


async def list_transactions(bus: Connection, tx_filter: TransactionFilter) -> list[SummaryRow]:
    """One page (see `all_transactions` for more than a page holds)."""
    (rows,) = await bus.call("ListTransactions", "a{sv}", [tx_filter.to_dbus()])
    return [summary_row(r) for r in rows]


async def all_transactions(
    bus: Connection, tx_filter: TransactionFilter, at_most: int | None = None
) -> list[SummaryRow]:
    """Page after page until `at_most` rows (None: every one the filter selects)."""
    found: list[SummaryRow] = []
    while at_most is None or len(found) < at_most:
        want = MAX_TRANSACTION_PAGE if at_most is None else at_most - len(found)
        page = min(want, MAX_TRANSACTION_PAGE)
        after = (found[-1].cursor or found[-1].id) if found else None
        rows = await list_transactions(bus, dataclasses.replace(tx_filter, limit=page, after=after))
        found += rows
        if len(rows) < page:
            break
    return found
