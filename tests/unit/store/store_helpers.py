"""Helpers shared by the store tests (a module of its own: conftest is not importable)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

START = 1_795_000_000.0  # 2026-11-18, an arbitrary fixed moment


class FakeClock:
    """The store's clock, moved by hand so ages and orderings are exact."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


def query(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Read the file with plain sqlite3, as another process would: no store code involved."""
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql, params).fetchall()
