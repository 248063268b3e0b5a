"""Many tasks writing at once: each transaction lands whole or not at all."""

from __future__ import annotations

import asyncio

from store_helpers import query

from zfsyncd.store import (
    AuditLog,
    Database,
    JournalEvent,
    JournalPhase,
    StepSpec,
    TransactionStore,
    TxState,
)


async def test_concurrent_creates_do_not_interleave(store: TransactionStore, db: Database) -> None:
    async def create(i: int) -> str:
        record = await store.create_transaction(
            "snapshot",
            metadata={"i": i},
            datasets=[f"p/{i}", f"q/{i}"],
            steps=[StepSpec(f"step{j}", {"i": i, "j": j}) for j in range(5)],
        )
        return record.id

    ids = await asyncio.gather(*(create(i) for i in range(60)))
    assert len(set(ids)) == 60
    for record in await store.list(limit=None):
        i = record.metadata["i"]
        assert record.datasets == [f"p/{i}", f"q/{i}"]
        assert [(s.idx, s.args) for s in record.steps] == [(j, {"i": i, "j": j}) for j in range(5)]
    assert query(db.path, "SELECT count(*) FROM steps") == [(300,)]


async def test_composed_transactions_commit_whole_or_not_at_all(db: Database) -> None:
    store, audit = TransactionStore(db), AuditLog(db)

    async def work(i: int) -> str | None:
        try:
            async with db.transaction():
                tx = await store.create_transaction("snapshot", steps=[StepSpec("a")])
                await asyncio.sleep(0)  # give every other task a chance to barge in
                await store.journal(tx.id, 0, JournalPhase.DO, JournalEvent.INTENT)
                await store.set_state(tx.id, TxState.EXECUTING, expected=TxState.CREATED)
                await asyncio.sleep(0)
                await audit.append("execute", "started", tx_id=tx.id)
                if i % 3 == 0:
                    raise RuntimeError(f"task {i} fails half-way")
                return tx.id
        except RuntimeError:
            return None

    results = await asyncio.gather(*(work(i) for i in range(30)))
    committed = {r for r in results if r is not None}
    assert len(committed) == 20
    assert {r.id for r in await store.list(limit=None)} == committed
    assert all(r.state is TxState.EXECUTING for r in await store.list(limit=None))
    assert {e.tx_id for e in await audit.list(limit=None)} == committed
    assert {row[0] for row in query(db.path, "SELECT tx_id FROM journal")} == committed


async def test_reads_never_see_another_task_s_half_done_write(db: Database) -> None:
    store = TransactionStore(db)
    inside, release = asyncio.Event(), asyncio.Event()

    async def writer() -> None:
        async with db.transaction():
            await store.create_transaction("snapshot")
            inside.set()
            await release.wait()

    task = asyncio.create_task(writer())
    await inside.wait()
    reader = asyncio.create_task(store.list())
    await asyncio.sleep(0.01)
    assert not reader.done()  # waits for the writer instead of reading its uncommitted row
    release.set()
    await task
    assert len(await reader) == 1


async def test_cancelling_a_write_at_any_point_leaves_it_whole_or_absent(
    store: TransactionStore, db: Database
) -> None:
    """Cancel a create just as its 1st, 2nd, 3rd... SQL statement starts (BEGIN, the
    inserts, COMMIT): each leaves a whole record or none, and the connection is never left
    inside a transaction. (A create is one call to SQLite's thread: once handed over it
    runs whole, and its caller may see CancelledError though it committed, as documented
    on Database.write.)"""
    loop = asyncio.get_running_loop()
    statements = 0
    cancel_at = 0
    victim: asyncio.Task[None] | None = None

    def trace(_statement: str) -> None:  # runs on the connection's thread
        nonlocal statements
        statements += 1
        if statements == cancel_at and victim is not None:
            loop.call_soon_threadsafe(victim.cancel)

    async def create() -> None:
        await store.create_transaction(
            "snapshot", datasets=["p/a", "p/b"], steps=[StepSpec("a"), StepSpec("b")]
        )

    async with db.reading() as conn:
        await conn.set_trace_callback(trace)
    outcomes = []
    try:
        for n in range(1, 25):
            statements, cancel_at = 0, n
            victim = asyncio.create_task(create())
            [outcome] = await asyncio.gather(victim, return_exceptions=True)
            victim = None
            outcomes.append(isinstance(outcome, asyncio.CancelledError))
    finally:
        async with db.reading() as conn:
            await conn.set_trace_callback(None)  # type: ignore[arg-type]
    assert True in outcomes
    assert False in outcomes  # some ran to the end before their statement came up

    await create()  # still usable
    records = await store.list(limit=None)
    # the ones that ran to the end, the last one, and any cancelled once handed over
    assert outcomes.count(False) + 1 <= len(records) <= len(outcomes) + 1
    for record in records:
        assert record.datasets == ["p/a", "p/b"]
        assert [s.kind for s in record.steps] == ["a", "b"]
    assert query(db.path, "SELECT count(*) FROM steps") == [(2 * len(records),)]
