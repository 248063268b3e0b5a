"""The one connection to the state database, and the transactions every write goes through.

Crash recovery trusts the journal this database holds, so opening is strict: a damaged
file, or one from a newer zfsyncd, is refused with an error naming it before anything is
written.

There is a single writer. All access goes through one aiosqlite connection, serialised by
an asyncio.Lock held for a whole SQL transaction; without it, two tasks interleaving
statements on the shared connection would commit each other's half-done work. Reads take
the lock too, so a reader never sees another task's uncommitted rows.

A task already inside `transaction()` may call store methods that open their own: they
become savepoints of the outer transaction, so the engine can make "journal the result"
and "mark the step" one atomic write. An outer `transaction(all_or_nothing=True)` takes no
savepoints (each costs two more round trips to SQLite's thread): a nested block that
fails there dooms the whole transaction, which then rolls back even if the failure was
caught. The lock belongs to the task: a task that awaits another task touching the store
from inside a transaction deadlocks, so don't.

Round trips. aiosqlite runs each statement as one call on its thread: a wake-up of that
thread and then of the event loop, which cost more CPU than most statements themselves
(measured by bench.engine_cost: some 40 a snapshot transaction were most of its cost). So
the store's methods hand `write`, `write_later` and `read` a plain function of the sqlite3
connection that runs all its statements in one call on that thread. Standalone, `write`
runs BEGIN IMMEDIATE, the function and COMMIT in that one call. Inside an all-or-nothing
transaction (the engine's commits, `batch`), BEGIN waits for the first call, and the
functions given to `write_later` (writes whose result nobody waits for: an audit row, a
state change) wait for the next call, or go with the COMMIT: such a commit of several
writes is one call. A write-later that fails makes the call it went with fail, and dooms
the transaction, so the whole commit rolls back as if it had failed where it was made.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Generator,
    Mapping,
    Sequence,
)
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar, cast

import aiosqlite

from zfsyncd.store import migrations
from zfsyncd.store.errors import StoreCorruptError, StoreError, StoreVersionError

log = logging.getLogger(__name__)

Clock = Callable[[], float]
T = TypeVar("T")
#: what `write`, `write_later` and `read` run: statements on the sqlite3 connection, on
#: aiosqlite's thread (no awaiting there: it is one call)
Work = Callable[[sqlite3.Connection], T]

_CORRUPTION_CODES = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})


class Database:
    """An open state database. Create with `Database.open(path)`; close when done."""

    def __init__(self, path: Path, conn: aiosqlite.Connection, clock: Clock) -> None:
        self.path = path
        self._conn: aiosqlite.Connection | None = conn
        self._clock = clock
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[Any] | None = None
        self._writing = False
        self._depth = 0
        #: inside transaction(all_or_nothing=True): no savepoints; a failed nested block
        #: sets `_doomed`, and the transaction rolls back at its end
        self._all_or_nothing = False
        self._doomed = False
        #: inside `batch`: BEGIN is still to be sent (with the first call), and the writes
        #: handed to `write_later` that wait for the next call
        self._begin_pending = False
        self._pending: list[Work[object]] = []

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        clock: Clock = time.time,
        busy_timeout: float = 5.0,
    ) -> _Opening:
        """Open (creating and migrating if needed): ``await`` it, or use it as ``async with``.

        `clock` stamps every row; tests pass a fake one to make ages deterministic.
        `busy_timeout` only matters if another process holds the file (an admin's sqlite3
        shell, a backup): the daemon itself never contends with itself.
        """
        return _Opening(cls._open(Path(path), clock, busy_timeout))

    @classmethod
    async def _open(cls, path: Path, clock: Clock, busy_timeout: float) -> Database:
        _ensure_private_directory(path.parent)
        conn = await aiosqlite.connect(path, isolation_level=None)  # we issue BEGIN ourselves
        try:
            conn.row_factory = sqlite3.Row
            await conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            # read-only checks first: a file we refuse must be left exactly as it was
            await _check_integrity(conn, path)
            found = await migrations.schema_version(conn)
            if found > migrations.LATEST_VERSION:
                raise StoreVersionError(path, found, migrations.LATEST_VERSION)
            await _configure(conn, path)
            applied = await migrations.apply_migrations(conn)
        except BaseException:
            await conn.close()
            raise
        if applied:
            log.info("state database %s migrated to schema version(s) %s", path, applied)
        return cls(path, conn, clock)

    async def close(self) -> None:
        """Wait for the running transaction, if any, then close. Closing twice is harmless."""
        if self._conn is None:
            return
        if self._owned_by_current_task():
            raise StoreError("cannot close the database from inside one of its transactions")
        async with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                await conn.close()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def now(self) -> float:
        return self._clock()

    @property
    def closed(self) -> bool:
        return self._conn is None

    @asynccontextmanager
    async def transaction(
        self, *, all_or_nothing: bool = False
    ) -> AsyncIterator[aiosqlite.Connection]:
        """One atomic write: everything done through the yielded connection commits together
        when the block ends, or none of it does if the block raises (or the daemon dies).
        With `all_or_nothing`, nested blocks take no savepoints, and one that raises makes
        the whole transaction roll back, with StoreError at its end if the block went on
        (see the module's docstring); inside another transaction it is a nested block.

        ``BEGIN IMMEDIATE`` takes SQLite's write lock at the start rather than at the first
        write, so a transaction cannot fail half-way with SQLITE_BUSY after reading.

        A task cancelled while its COMMIT is already running sees CancelledError though the
        commit may have gone through (SQLite cannot be interrupted there); re-read the state
        if that matters. Any other cancellation rolls the whole block back.
        """
        if self._owned_by_current_task():
            if not self._writing:
                raise StoreError("cannot write inside Database.reading(); use transaction()")
            if self._all_or_nothing:
                await self._send_pending()  # the caller's statements come after them
                try:
                    yield self._connection()
                except BaseException:
                    self._doomed = True
                    raise
                return
            async with self._savepoint(self._connection()) as conn:
                yield conn
            return
        if all_or_nothing:
            async with self.batch():
                await self._send_pending()
                yield self._connection()
            return
        async with self._lock:
            conn = self._connection()  # checked under the lock: close() may have run meanwhile
            self._owner, self._writing = asyncio.current_task(), True
            try:
                # BEGIN is inside the try: cancelled while it was queued, it still runs
                await conn.execute("BEGIN IMMEDIATE")
                yield conn
                await conn.execute("COMMIT")
            except BaseException:
                await _abandon(conn, "ROLLBACK")
                raise
            finally:
                self._owner, self._writing = None, False

    @asynccontextmanager
    async def batch(self) -> AsyncIterator[None]:
        """An all-or-nothing transaction (see `transaction`) whose BEGIN goes with its first
        call to SQLite's thread and whose `write_later` writes go with the next call or the
        COMMIT (see the module's docstring): the engine's commits. Inside another
        transaction it is a nested block of that one (a savepoint, unless that one is
        all-or-nothing too)."""
        if self._owned_by_current_task():
            if self._writing and self._all_or_nothing:  # part of it, with nothing to send
                try:
                    yield
                except BaseException:
                    self._doomed = True
                    raise
                return
            async with self.transaction():
                yield
            return
        async with self._lock:
            conn = self._connection()
            self._owner, self._writing = asyncio.current_task(), True
            self._all_or_nothing, self._doomed = True, False
            self._begin_pending, self._pending = True, []
            try:
                yield
                if self._doomed:
                    raise StoreError("a write inside this transaction failed: none of it is kept")
                if not self._begin_pending or self._pending:  # else nothing was asked of SQLite
                    await self._call(_commit)
            except BaseException:
                await _abandon(conn, "ROLLBACK")
                raise
            finally:
                self._owner, self._writing = None, False
                self._all_or_nothing = self._doomed = False
                self._begin_pending, self._pending = False, []

    async def write(self, work: Work[T]) -> T:
        """Run `work` (statements that write) as one atomic write, in one call to SQLite's
        thread: standalone, between BEGIN IMMEDIATE and COMMIT (a failure rolls it all back
        in the same call); inside a transaction, as part of it (in a savepoint unless the
        transaction is all-or-nothing, as a nested `transaction` block is).

        Once handed to SQLite's thread, `work` runs whole: a task cancelled then sees
        CancelledError though the write may have committed (re-read the state if that
        matters); cancelled while it waits for the lock, nothing is written."""
        if not self._owned_by_current_task():
            async with self._lock:
                return await _on_thread(self._connection(), partial(_committed, work))
        if not self._writing:
            raise StoreError("cannot write inside Database.reading(); use transaction()")
        if self._all_or_nothing:
            return await self._call(work)
        self._depth += 1
        try:
            name = f"nested_{self._depth}"
            return await _on_thread(self._connection(), partial(_in_savepoint, name, work))
        finally:
            self._depth -= 1

    async def write_later(self, work: Work[object]) -> None:
        """A write whose result nobody waits for: inside an all-or-nothing transaction it
        goes with the transaction's next call to SQLite's thread (no call of its own; its
        failure fails that call and dooms the transaction); elsewhere it is `write`."""
        if self._owned_by_current_task() and self._writing and self._all_or_nothing:
            self._pending.append(work)
            return
        await self.write(work)

    async def read(self, work: Work[T]) -> T:
        """Run `work` (statements that read) in one call to SQLite's thread: standalone, in
        a read transaction of its own (its queries see one state); inside a transaction,
        seeing that transaction's writes."""
        if not self._owned_by_current_task():
            async with self._lock:
                return await _on_thread(self._connection(), partial(_read_only, work))
        if self._writing and self._all_or_nothing:
            return await self._call(work)
        return await _on_thread(self._connection(), work)

    async def _call(self, work: Work[T]) -> T:
        """Inside `batch`: one call to SQLite's thread that sends BEGIN if it is still to
        be sent, the pending writes, then `work`. Its failure dooms the transaction."""
        begin, pending = self._begin_pending, self._pending
        self._begin_pending, self._pending = False, []  # handed over, whatever happens next
        try:
            return await _on_thread(self._connection(), partial(_batched, begin, pending, work))
        except BaseException:
            self._doomed = True
            raise

    async def _send_pending(self) -> None:
        """Inside `batch`: BEGIN and the pending writes now, before a caller uses the
        connection directly."""
        if self._begin_pending or self._pending:
            await self._call(_nothing)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[aiosqlite.Connection]:
        """A consistent read: several queries see the same committed state."""
        if self._owned_by_current_task():  # inside a transaction: see its own writes
            if self._writing and self._all_or_nothing:
                await self._send_pending()
            yield self._connection()
            return
        async with self._lock:
            conn = self._connection()
            self._owner, self._writing = asyncio.current_task(), False
            try:
                await conn.execute("BEGIN")
                yield conn
            finally:
                try:
                    await _abandon(conn, "ROLLBACK")  # nothing was written; just end it
                finally:
                    self._owner = None

    @asynccontextmanager
    async def _savepoint(self, conn: aiosqlite.Connection) -> AsyncIterator[aiosqlite.Connection]:
        self._depth += 1
        name = f"nested_{self._depth}"
        try:
            await conn.execute(f"SAVEPOINT {name}")
            yield conn
            await conn.execute(f"RELEASE {name}")
        except BaseException:
            await _abandon(conn, f"ROLLBACK TO {name}")
            await _abandon(conn, f"RELEASE {name}")
            raise
        finally:
            self._depth -= 1

    def _owned_by_current_task(self) -> bool:
        return self._owner is not None and self._owner is asyncio.current_task()

    def _connection(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise StoreError(f"state database {self.path} is closed")
        return self._conn


class _Opening:
    """What `Database.open` returns: awaitable, and an async context manager that closes."""

    def __init__(self, opening: Coroutine[Any, Any, Database]) -> None:
        self._opening = opening
        self._db: Database | None = None

    def __await__(self) -> Generator[Any, None, Database]:
        return (yield from self._opening.__await__())

    async def __aenter__(self) -> Database:
        self._db = await self
        return self._db

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._db is not None:
            await self._db.close()


def _ensure_private_directory(directory: Path) -> None:
    """Create the state directory readable by its owner only; leave an existing one alone
    (systemd's StateDirectory= or the packager owns its mode)."""
    if directory.is_dir():
        return
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.chmod(0o700)  # mkdir's mode is filtered by the umask


async def _check_integrity(conn: aiosqlite.Connection, path: Path) -> None:
    try:
        rows = list(await conn.execute_fetchall("PRAGMA integrity_check"))
    except sqlite3.DatabaseError as error:
        if getattr(error, "sqlite_errorcode", 0) & 0xFF in _CORRUPTION_CODES:
            raise StoreCorruptError(path, str(error)) from error
        raise
    problems = [str(row[0]) for row in rows]
    if problems != ["ok"]:
        raise StoreCorruptError(path, "; ".join(problems[:5]))


async def _configure(conn: aiosqlite.Connection, path: Path) -> None:
    # WAL: readers do not block the writer, and a commit is one sequential append.
    mode = str(await _pragma(conn, "PRAGMA journal_mode = WAL"))
    if mode.lower() != "wal":
        raise StoreError(f"state database {path}: cannot use WAL (journal_mode is {mode})")
    # FULL, not WAL's usual NORMAL: NORMAL skips the fsync at each commit and can lose the
    # last commits on power loss. A journaled intent that vanishes would let crash recovery
    # believe a step never started when it may have changed ZFS, so every commit is synced.
    await conn.execute("PRAGMA synchronous = FULL")
    # Off by default in SQLite, per connection; the cascades and links depend on it.
    await conn.execute("PRAGMA foreign_keys = ON")
    if await _pragma(conn, "PRAGMA foreign_keys") != 1:
        raise StoreError(f"state database {path}: this SQLite cannot enforce foreign keys")


async def _pragma(conn: aiosqlite.Connection, statement: str) -> Any:
    """The single value a pragma statement returns (None if it returns nothing)."""
    for row in await conn.execute_fetchall(statement):
        return row[0]
    return None


async def changed_rows(
    conn: aiosqlite.Connection, statement: str, params: Sequence[Any] | Mapping[str, Any]
) -> int:
    """Run one INSERT, UPDATE or DELETE and say how many rows it changed, in one round trip to
    the connection's thread. Its cursor is left to the garbage collector: a write holds no
    statement open once it has run, and closing the cursor would cost a second round trip
    (each is a wake-up of that thread and of the event loop: the engine's main cost)."""
    cursor = await conn.execute(statement, params)
    return int(cursor.rowcount)


async def _on_thread(conn: aiosqlite.Connection, work: Work[T]) -> T:
    """Run `work` with the sqlite3 connection on aiosqlite's thread: one call there, however
    many statements `work` runs. aiosqlite has no public way to do this; its `_execute`
    (queue a function for its thread, await its result) is what every one of its methods
    uses, and the version is pinned in pyproject.toml (tests/unit/store cover this call)."""
    raw = conn._conn  # raises ValueError once closed, as aiosqlite's own methods do
    execute: Callable[..., Awaitable[Any]] = conn._execute
    return cast(T, await execute(work, raw))


def _committed(work: Work[T], raw: sqlite3.Connection) -> T:
    """On SQLite's thread: `work` between BEGIN IMMEDIATE and COMMIT, rolled back if it fails
    (or the COMMIT does)."""
    raw.execute("BEGIN IMMEDIATE")
    try:
        result = work(raw)
        raw.execute("COMMIT")
    except BaseException:
        _roll_back(raw, "ROLLBACK")
        raise
    return result


def _read_only(work: Work[T], raw: sqlite3.Connection) -> T:
    """On SQLite's thread: `work` in a read transaction (one snapshot for all its queries)."""
    raw.execute("BEGIN")
    try:
        return work(raw)
    finally:
        _roll_back(raw, "ROLLBACK")  # nothing was written; just end it


def _in_savepoint(name: str, work: Work[T], raw: sqlite3.Connection) -> T:
    """On SQLite's thread, inside the caller's transaction: `work` whole or not at all."""
    raw.execute(f"SAVEPOINT {name}")
    try:
        result = work(raw)
    except BaseException:
        _roll_back(raw, f"ROLLBACK TO {name}")
        _roll_back(raw, f"RELEASE {name}")
        raise
    raw.execute(f"RELEASE {name}")
    return result


def _batched(begin: bool, pending: list[Work[object]], work: Work[T], raw: sqlite3.Connection) -> T:
    """On SQLite's thread, inside `Database.batch`: BEGIN if still to be sent, the writes
    that waited, then `work` (rolled back by the batch if any fails)."""
    if begin:
        raw.execute("BEGIN IMMEDIATE")
    for waiting in pending:
        waiting(raw)
    return work(raw)


def _commit(raw: sqlite3.Connection) -> None:
    raw.execute("COMMIT")


def _nothing(raw: sqlite3.Connection) -> None:
    return None


def _roll_back(raw: sqlite3.Connection, statement: str) -> None:
    """On SQLite's thread: end a failed transaction or savepoint without hiding why it
    failed (as `_abandon`)."""
    try:
        raw.execute(statement)
    except sqlite3.OperationalError as error:
        if not any(text in str(error) for text in _NOTHING_TO_END):
            log.exception("state database: %s failed", statement)
    except Exception:
        log.exception("state database: %s failed", statement)


def last_rowid(cursor: sqlite3.Cursor) -> int:
    """The rowid of the row the INSERT on `cursor` made, on SQLite's thread (the cursor knows
    it: no `SELECT last_insert_rowid()` is sent)."""
    if cursor.lastrowid is None:
        raise StoreError("the state database returned no rowid for an insert")
    return cursor.lastrowid


def inserted_rowid(row: sqlite3.Row | None) -> int:
    """The rowid `execute_insert` returned (typed optional by aiosqlite, never None here)."""
    if row is None:
        raise StoreError("the state database returned no rowid for an insert")
    return int(row[0])


#: what ending a transaction that never began (or already ended) says; nothing to report
_NOTHING_TO_END = ("no transaction is active", "no such savepoint")


async def _abandon(conn: aiosqlite.Connection, statement: str) -> None:
    """End a failed or cancelled transaction (or savepoint) without hiding why it failed.

    Shielded: if the task is cancelled again meanwhile, the statement is already queued on
    the connection's thread ahead of anything the next lock holder sends, so it still runs
    first. That the transaction had not begun (BEGIN itself failed) or had already ended (a
    COMMIT that went through before a cancellation arrived) is expected and ignored; any
    other failure is logged, and the caller re-raises the original error.
    """
    try:
        await asyncio.shield(conn.execute(statement))
    except sqlite3.OperationalError as error:
        if not any(text in str(error) for text in _NOTHING_TO_END):
            log.exception("state database: %s failed", statement)
    except Exception:
        log.exception("state database: %s failed", statement)
