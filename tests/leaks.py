"""Open SQLite connections a test left behind.

An aiosqlite connection runs a worker thread that is not a daemon thread, and the
interpreter waits for every such thread at exit: one connection left open (a fixture that
opened the Database and then failed in its setup, before its `yield`) hangs the whole run
after its summary, its threads in a futex wait. `no_leaked_connections` (autouse in
tests/unit and tests/engine) fails the test that left one, and stops its thread so that the
run still ends."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import aiosqlite
import pytest

#: how long a connection closed at the end of a test may take to let its thread end
_GRACE = 5.0


def connection_threads() -> set[threading.Thread]:
    """The worker threads of the aiosqlite connections open now (Python names a thread after
    its target: "Thread-N (_connection_worker_thread)")."""
    return {t for t in threading.enumerate() if "_connection_worker_thread" in t.name}


def left_open(before: set[threading.Thread], grace: float = _GRACE) -> list[threading.Thread]:
    """The connection threads started since `before` that are still running (one that was
    closed a moment ago is given `grace` seconds to end)."""
    left = []
    for thread in connection_threads() - before:
        thread.join(grace)
        if thread.is_alive():
            left.append(thread)
    return left


def stop(threads: list[threading.Thread]) -> None:
    """Stop the connections these threads serve (closing their sqlite3 connection)."""
    doomed = set(threads)
    for obj in gc.get_objects():
        if isinstance(obj, aiosqlite.Connection) and obj._thread in doomed:
            obj.stop()
    for thread in threads:
        thread.join(_GRACE)


@pytest.fixture(autouse=True)
def no_leaked_connections() -> Iterator[None]:
    before = connection_threads()
    yield
    left = left_open(before)
    if left:
        stop(left)
        pytest.fail(
            f"the test left {len(left)} SQLite connection(s) open (a fixture that fails "
            "after opening the Database must close it: try/finally); an open one hangs the "
            "run at exit"
        )
