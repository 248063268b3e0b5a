"""ListTransactions' rows without pydantic, exactly as pydantic would make them.

`zfsyncctl transaction list` is the command people run most and wait for; importing pydantic
and building its validators costs more than the rest of the command together (issue 9,
bench/cli.py). So a row is checked against TransactionSummary's declaration here, by hand,
when it is plainly what the declaration says (every key of the type D-Bus gives it, numbers
finite, keys the daemon added of plain JSON types): then SummaryRow and its JSON are exactly
what pydantic would make of it. Any other row (a key missing or of another type, an added key
holding something else) goes through pydantic itself, so its result or its error is
pydantic's own.

SummaryRow repeats TransactionSummary's fields (zfsyncd.api.records);
tests/unit/cli/test_rows.py fails when they disagree."""

# no `from __future__ import annotations`: the check reads SummaryRow's field types
import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from zfsyncd.api.names import NO_UID
from zfsyncd.api.states import is_terminal


@dataclass(frozen=True)
class SummaryRow:
    """One row of ListTransactions: TransactionSummary's fields, in its order, with its
    types and defaults."""

    id: str
    path: str
    type: str
    state: str
    description: str
    uid: int
    priority: int
    created: float
    updated: float
    finished: float
    error: str
    error_kind: str
    rollback_outcome: str
    rolls_back: str
    retry_of: str
    tags: list[str]
    datasets: list[str]
    percent: float
    bytes_done: int
    bytes_total: int
    rollback_pending: bool = False
    datasets_count: int = 0
    cursor: str = ""
    #: keys a newer daemon added, as --json prints them (after the declared ones)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def terminal(self) -> bool:
        return is_terminal(self.state)

    @property
    def uid_text(self) -> str:
        return "-" if self.uid == NO_UID else str(self.uid)

    def to_json(self) -> dict[str, Any]:
        """What --json prints: TransactionSummary's model_dump(mode="json")."""
        fields = {f.name: getattr(self, f.name) for f in _DECLARED}
        return {**fields, **self.extra}


#: SummaryRow's fields that TransactionSummary declares (all but `extra`)
_DECLARED = tuple(f for f in dataclasses.fields(SummaryRow) if f.name != "extra")


def _is_float(value: object) -> bool:
    return type(value) is float and math.isfinite(value)


def _is_str_list(value: object) -> bool:
    return type(value) is list and all(type(v) is str for v in value)


#: a declared type -> "a value is exactly of it, as pydantic would keep it unchanged"
_EXACTLY: dict[object, Callable[[object], bool]] = {
    str: lambda v: type(v) is str,
    int: lambda v: type(v) is int,
    bool: lambda v: type(v) is bool,
    float: _is_float,
    list[str]: _is_str_list,
}
#: each declared field: its name, its check, and whether a reply must have it
_CHECKS = tuple((f.name, _EXACTLY[f.type], f.default is dataclasses.MISSING) for f in _DECLARED)


def _plain_extra(value: object) -> bool:
    """An added key whose JSON is the value itself (pydantic's JSON of anything else differs:
    bytes become text, tuples lists...)."""
    return type(value) in (str, int, bool) or _is_float(value) or _is_str_list(value)


def summary_row(raw: dict[str, Any]) -> SummaryRow:
    """A row of ListTransactions' reply (variants unpacked) as TransactionSummary validates
    it; InternalError when it is not one."""
    known: dict[str, Any] = {}
    for name, exactly, required in _CHECKS:
        if name in raw:
            if not exactly(raw[name]):
                return _validated(raw)
            known[name] = raw[name]
        elif required:
            return _validated(raw)
    extra = {k: v for k, v in raw.items() if k not in known}
    if not all(_plain_extra(v) for v in extra.values()):
        return _validated(raw)
    return SummaryRow(**known, extra=extra)


def _validated(raw: dict[str, Any]) -> SummaryRow:
    """A row that is not plainly what the declaration says: pydantic decides."""
    from .client import _parse
    from .models import TransactionSummary

    model = _parse(TransactionSummary, raw, "ListTransactions")
    dumped = model.model_dump(mode="json")
    extra = {k: dumped[k] for k in model.model_extra or {}}
    return SummaryRow(**{f.name: getattr(model, f.name) for f in _DECLARED}, extra=extra)
