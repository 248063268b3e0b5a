"""Rows as records: one mapping from a table's row to its record model, for every table.

Columns are copied by the model's field names; the JSON columns of each model are named
once here with their loader. So a column added to a table and its record is read back
without another field-by-field copy to keep in step.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

from zfsyncd.store import json_columns
from zfsyncd.store.records import (
    AuditEntry,
    CleanupItem,
    JournalEntry,
    StepRecord,
    TransactionRecord,
)

JsonLoader = Callable[[str | None], Any]

#: the columns of each record that hold JSON text, with how each is read
JSON_COLUMNS: Mapping[type[BaseModel], Mapping[str, JsonLoader]] = {
    TransactionRecord: {
        "tags": json_columns.load_list,
        "metadata": json_columns.load_object,
        "params": json_columns.load_object,
    },
    StepRecord: {"args": json_columns.load_object, "undo_data": json_columns.load_optional},
    JournalEntry: {"detail": json_columns.load_object},
    AuditEntry: {"detail": json_columns.load_object},
    CleanupItem: {"args": json_columns.load_object},
}

R = TypeVar("R", bound=BaseModel)


def record(model: type[R], row: sqlite3.Row | Mapping[str, Any], **given: Any) -> R:
    """`row` as a `model`: every column named like one of its fields, JSON decoded; `given`
    supplies (or overrides) fields that come from elsewhere (e.g. rows of another table)."""
    columns = (
        dict(zip(row.keys(), tuple(row), strict=True)) if isinstance(row, sqlite3.Row) else row
    )
    values: dict[str, Any] = {}
    for name, loader in _fields(model):
        if name in given or name not in columns:
            continue
        raw = columns[name]
        values[name] = loader(raw) if loader is not None else raw
    values.update(given)
    return model.model_validate(values)


@functools.cache
def _fields(model: type[BaseModel]) -> tuple[tuple[str, JsonLoader | None], ...]:
    """A model's fields, each with the loader of its JSON column (None: taken as it is),
    worked out once per model: a list of 100 transactions reads some 300 rows."""
    loaders = JSON_COLUMNS.get(model, {})
    return tuple((name, loaders.get(name)) for name in model.model_fields)
