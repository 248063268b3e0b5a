"""Transactions, steps and the journal, through `TransactionStore`."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from store_helpers import START, FakeClock

from zfsyncd.store import (
    ACTIVE_STATES,
    JournalEvent,
    JournalPhase,
    RecordNotFoundError,
    StaleStateError,
    StepSpec,
    StepState,
    TransactionRecord,
    TransactionStore,
    TxState,
)
from zfsyncd.store.ids import id_microseconds, is_transaction_id

DO, UNDO, TX = JournalPhase.DO, JournalPhase.UNDO, JournalPhase.TX
INTENT, RESULT = JournalEvent.INTENT, JournalEvent.RESULT


async def test_a_created_transaction_reads_back_whole(store: TransactionStore) -> None:
    created = await store.create_transaction(
        "replicate",
        description="send p/a to backup",
        uid=1000,
        priority=5,
        timeout=3600.0,
        tags=["nightly", "offsite"],
        metadata={"source": "cli", "nested": {"n": [1, 2]}},
        params={"dataset": "p/a", "target": "b/a", "recursive": True},
        datasets=["p/a", "b/a", "p/a"],
        steps=[
            StepSpec("snapshot", {"name": "p/a@zfsync_1"}, "snapshot p/a"),
            StepSpec("send", {"from": None, "to": "p/a@zfsync_1"}, "send it", bytes_total=4096),
        ],
    )
    assert is_transaction_id(created.id)
    assert created.state is TxState.CREATED
    assert created.created_at == created.updated_at == START
    assert created.finished_at is None
    assert created.attempts == 0
    assert created.tags == ["nightly", "offsite"]
    assert created.metadata == {"source": "cli", "nested": {"n": [1, 2]}}
    assert created.params == {"dataset": "p/a", "target": "b/a", "recursive": True}
    assert created.datasets == ["b/a", "p/a"]
    assert [(s.idx, s.kind, s.state, s.bytes_total) for s in created.steps] == [
        (0, "snapshot", StepState.PENDING, None),
        (1, "send", StepState.PENDING, 4096),
    ]
    assert created.steps[1].args == {"from": None, "to": "p/a@zfsync_1"}
    assert await store.get(created.id) == created
    assert await store.get("20000101T000000_000000Z_00000000") is None


async def test_a_value_json_cannot_hold_fails_before_writing(store: TransactionStore) -> None:
    with pytest.raises(ValueError, match="JSON"):
        await store.create_transaction("snapshot", metadata={"x": float("nan")})
    with pytest.raises(TypeError):
        await store.create_transaction("snapshot", steps=[StepSpec("s", {"x": object()})])
    assert await store.list() == []


async def test_ids_increase_even_when_the_clock_does_not(
    store: TransactionStore, clock: FakeClock
) -> None:
    ids = [(await store.create_transaction("snapshot")).id for _ in range(5)]
    clock.advance(-3600)  # stepped back by NTP
    ids += [(await store.create_transaction("snapshot")).id for _ in range(5)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 10
    micros = [id_microseconds(i) for i in ids]
    assert micros == list(range(micros[0], micros[0] + 10))
    assert micros[0] == round(START * 1_000_000)


async def test_list_is_newest_first_and_filters(store: TransactionStore, clock: FakeClock) -> None:
    a = await store.create_transaction("snapshot", uid=1000)
    clock.advance(10)
    b = await store.create_transaction("replicate", uid=0)
    clock.advance(10)
    c = await store.create_transaction("snapshot", uid=0)
    await store.set_state(c.id, TxState.CANCELLED, expected=TxState.CREATED)

    def ids(records: list[TransactionRecord]) -> list[str]:
        return [r.id for r in records]

    assert ids(await store.list()) == [c.id, b.id, a.id]
    assert ids(await store.list(limit=2)) == [c.id, b.id]
    assert ids(await store.list(limit=None)) == [c.id, b.id, a.id]
    assert ids(await store.list(type="snapshot")) == [c.id, a.id]
    assert ids(await store.list(uid=0)) == [c.id, b.id]
    assert ids(await store.list(state=TxState.CANCELLED)) == [c.id]
    assert ids(await store.list(state={TxState.CREATED, TxState.FAILED})) == [b.id, a.id]
    assert ids(await store.list(since=START + 10)) == [c.id, b.id]
    assert ids(await store.list(until=START + 10)) == [a.id]
    assert ids(await store.list(since=START + 5, until=START + 15, type="replicate")) == [b.id]
    assert ids(await store.list(state=set())) == []


async def test_list_active_is_oldest_first(store: TransactionStore) -> None:
    records = [await store.create_transaction("snapshot") for _ in range(5)]
    await store.set_state(records[1].id, TxState.PREPARED, expected=TxState.CREATED)
    await store.set_state(records[2].id, TxState.EXECUTING, expected=TxState.CREATED)
    await store.set_state(records[3].id, TxState.COMPLETED, expected=TxState.CREATED)
    active = await store.list_active()
    assert [r.id for r in active] == [records[i].id for i in (0, 1, 2, 4)]
    assert {r.state for r in active} <= ACTIVE_STATES


async def moved(
    store: TransactionStore, tx_id: str, *args: Any, **kwargs: Any
) -> TransactionRecord:
    """set_state, then the record as it is after it."""
    await store.set_state(tx_id, *args, **kwargs)
    record = await store.get(tx_id)
    assert record is not None
    return record


async def test_set_state_checks_the_stored_state(store: TransactionStore, clock: FakeClock) -> None:
    tx = await store.create_transaction("snapshot")
    clock.advance(1)
    prepared = await moved(store, tx.id, TxState.PREPARED, expected=TxState.CREATED)
    assert prepared.state is TxState.PREPARED
    assert prepared.updated_at == START + 1
    assert prepared.finished_at is None

    with pytest.raises(StaleStateError) as info:
        await store.set_state(tx.id, TxState.EXECUTING, expected=TxState.CREATED)
    assert info.value.actual == "PREPARED"
    assert info.value.expected == {TxState.CREATED}
    assert tx.id in str(info.value)
    assert (await store.get(tx.id)).state is TxState.PREPARED  # type: ignore[union-attr]

    with pytest.raises(RecordNotFoundError):
        await store.set_state("nope", TxState.FAILED, expected=TxState.CREATED)


async def test_terminal_states_stamp_finished_and_keep_errors(
    store: TransactionStore, clock: FakeClock
) -> None:
    tx = await store.create_transaction("snapshot")
    executing = await moved(
        store, tx.id, TxState.EXECUTING, expected={TxState.CREATED, TxState.PREPARED}
    )
    assert executing.attempts == 1
    clock.advance(5)
    failed = await moved(
        store,
        tx.id,
        TxState.FAILED,
        expected=TxState.EXECUTING,
        error="cannot destroy: dataset is busy",
        error_kind="busy",
        rollback_outcome="complete",
    )
    assert failed.finished_at == START + 5
    assert (failed.error, failed.error_kind, failed.rollback_outcome) == (
        "cannot destroy: dataset is busy",
        "busy",
        "complete",
    )
    clock.advance(5)
    again = await moved(
        store,
        tx.id,
        TxState.FAILED,
        expected=TxState.FAILED,
        rollback_outcome="partial: p/a@x held",
    )
    assert again.error == "cannot destroy: dataset is busy"  # None keeps the stored value
    assert again.rollback_outcome == "partial: p/a@x held"
    assert again.finished_at == START + 10


async def test_a_resumed_transaction_counts_its_attempts(store: TransactionStore) -> None:
    tx = await store.create_transaction("snapshot")
    await store.set_state(tx.id, TxState.EXECUTING, expected=TxState.CREATED)
    resumed = await moved(store, tx.id, TxState.EXECUTING, expected=TxState.EXECUTING)
    assert resumed.attempts == 2
    not_finished = await moved(
        store, tx.id, TxState.CANCELLED, expected=TxState.EXECUTING, finished=False
    )
    assert not_finished.finished_at is None


async def test_metadata_merges(store: TransactionStore, clock: FakeClock) -> None:
    tx = await store.create_transaction("snapshot", metadata={"a": 1, "n": {"x": 1}, "gone": 0})
    clock.advance(1)
    merged = await store.update_metadata(tx.id, {"b": 2, "n": {"y": 2}, "gone": None})
    assert merged == {"a": 1, "b": 2, "n": {"x": 1, "y": 2}}
    record = await store.get(tx.id)
    assert record is not None
    assert record.metadata == merged
    assert record.updated_at == START + 1
    with pytest.raises(RecordNotFoundError):
        await store.update_metadata("nope", {"a": 1})


async def test_steps_and_datasets_are_replaced_only_while_planning(
    store: TransactionStore,
) -> None:
    tx = await store.create_transaction("snapshot", steps=[StepSpec("a")], datasets=["p/a"])
    await store.set_state(tx.id, TxState.PREPARED, expected=TxState.CREATED)
    replaced = await store.replace_steps(tx.id, [StepSpec("b", {"k": 1}), StepSpec("c")])
    assert [(s.idx, s.kind) for s in replaced.steps] == [(0, "b"), (1, "c")]
    replaced = await store.replace_datasets(tx.id, ["p/a/y", "p/a/x", "p/a"])
    assert replaced.datasets == ["p/a", "p/a/x", "p/a/y"]

    await store.set_state(tx.id, TxState.EXECUTING, expected=TxState.PREPARED)
    with pytest.raises(StaleStateError, match="EXECUTING"):
        await store.replace_steps(tx.id, [])
    with pytest.raises(StaleStateError):
        await store.replace_datasets(tx.id, [])
    assert len((await store.get(tx.id)).steps) == 2  # type: ignore[union-attr]
    with pytest.raises(RecordNotFoundError):
        await store.replace_steps("nope", [])


async def test_step_and_undo_marks(store: TransactionStore, clock: FakeClock) -> None:
    tx = await store.create_transaction("snapshot", steps=[StepSpec("a"), StepSpec("b")])
    clock.advance(1)
    running = await store.mark_step(tx.id, 0, StepState.RUNNING, bytes_total=100)
    assert (running.state, running.started_at, running.finished_at) == (
        StepState.RUNNING,
        START + 1,
        None,
    )
    clock.advance(1)
    done = await store.mark_step(tx.id, 0, StepState.COMPLETED, undo_data={"snap": "p/a@x"})
    assert (done.started_at, done.finished_at) == (START + 1, START + 2)
    assert done.undo_data == {"snap": "p/a@x"}
    assert done.bytes_total == 100  # kept: not given this time

    failed = await store.mark_step(tx.id, 1, StepState.FAILED, error="no space")
    assert failed.error == "no space"
    assert failed.undo_data is None
    retried = await store.mark_step(tx.id, 1, StepState.RUNNING)
    assert retried.error is None

    undoing = await store.mark_undo(tx.id, 0, StepState.RUNNING)
    assert undoing.undo_state is StepState.RUNNING
    undone = await store.mark_undo(tx.id, 0, StepState.FAILED, error="snapshot is held")
    assert (undone.undo_state, undone.undo_error) == (StepState.FAILED, "snapshot is held")
    assert undone.state is StepState.COMPLETED  # the do side is kept as it was

    record = await store.get(tx.id)
    assert record is not None
    assert record.updated_at == START + 2
    assert record.steps[0] == undone
    with pytest.raises(RecordNotFoundError):
        await store.mark_step(tx.id, 2, StepState.RUNNING)
    with pytest.raises(RecordNotFoundError):
        await store.mark_undo("nope", 0, StepState.RUNNING)


async def test_the_journal_keeps_the_order_written(
    store: TransactionStore, clock: FakeClock
) -> None:
    tx = await store.create_transaction("snapshot", steps=[StepSpec("a"), StepSpec("b")])
    other = await store.create_transaction("snapshot", steps=[StepSpec("a")])
    written = [
        await store.journal(tx.id, None, TX, INTENT, detail={"what": "execute"}),
        await store.journal(tx.id, 0, DO, INTENT),
        await store.journal(other.id, 0, DO, INTENT),
        await store.journal(tx.id, 0, DO, RESULT, outcome="completed", detail={"guid": 7}),
        await store.journal(tx.id, 1, DO, INTENT),
        await store.journal(tx.id, 1, DO, RESULT, outcome="failed", detail={"error": "x"}),
        await store.journal(tx.id, 0, UNDO, INTENT),
        await store.journal(tx.id, 0, UNDO, RESULT, outcome="completed"),
    ]
    clock.advance(1)
    entries = await store.journal_for(tx.id)
    assert entries == [e for e in written if e.tx_id == tx.id]
    assert [e.seq for e in entries] == sorted(e.seq for e in entries)
    assert [(e.step_idx, e.phase, e.event) for e in entries[:3]] == [
        (None, TX, INTENT),
        (0, DO, INTENT),
        (0, DO, RESULT),
    ]
    assert entries[2].detail == {"guid": 7}
    assert [e.tx_id for e in await store.journal_for(other.id)] == [other.id]


async def test_the_journal_refuses_entries_that_mean_nothing(store: TransactionStore) -> None:
    tx = await store.create_transaction("snapshot", steps=[StepSpec("a")])
    with pytest.raises(sqlite3.IntegrityError):  # a result without an outcome
        await store.journal(tx.id, 0, DO, RESULT)
    with pytest.raises(sqlite3.IntegrityError):  # a step phase without a step
        await store.journal(tx.id, None, DO, INTENT)
    with pytest.raises(sqlite3.IntegrityError):  # a transaction phase naming a step
        await store.journal(tx.id, 0, TX, INTENT)
    with pytest.raises(sqlite3.IntegrityError):  # no such transaction
        await store.journal("nope", None, TX, INTENT)
    assert await store.journal_for(tx.id) == []


async def test_links_must_point_at_a_transaction(store: TransactionStore) -> None:
    done = await store.create_transaction("snapshot")
    rollback = await store.create_transaction("rollback", rolls_back=done.id)
    retry = await store.create_transaction("snapshot", retry_of=done.id)
    assert (rollback.rolls_back, retry.retry_of) == (done.id, done.id)
    with pytest.raises(RecordNotFoundError, match="nope"):
        await store.create_transaction("rollback", rolls_back="nope")
    assert len(await store.list()) == 3


async def test_transactions_touching(store: TransactionStore) -> None:
    first = await store.create_transaction("snapshot", datasets=["p/a"])
    second = await store.create_transaction("snapshot", datasets=["p/a/child", "p/b"])
    third = await store.create_transaction("snapshot", datasets=["p/ab"])
    fourth = await store.create_transaction("destroy", datasets=["p"])
    await store.set_state(second.id, TxState.COMPLETED, expected=TxState.CREATED)

    async def touching(names: list[str], **kwargs: object) -> list[str]:
        found = await store.transactions_touching(names, **kwargs)  # type: ignore[arg-type]
        return [r.id for r in found]

    assert await touching(["p/a"]) == [first.id]
    assert await touching(["p/a", "p/b"]) == [second.id, first.id]
    assert await touching(["p/a"], hierarchical=True) == [fourth.id, second.id, first.id]
    assert await touching(["p/a"], hierarchical=True, after=first.id) == [fourth.id, second.id]
    assert await touching(["p/a"], hierarchical=True, states={TxState.COMPLETED}) == [second.id]
    assert await touching(["p/ab"], hierarchical=True) == [fourth.id, third.id]
    assert await touching(["q"], hierarchical=True) == []
    assert await touching([]) == []
    assert await touching(["p/b"], since=START + 1) == []


async def test_count_follows_creation_and_cleanup(store: TransactionStore) -> None:
    before = await store.count()
    await store.create_transaction("snapshot", params={}, datasets=["tank"])
    await store.create_transaction("snapshot", params={}, datasets=["tank"])
    assert await store.count() == before + 2
