"""`TransactionStore.list` agrees with a plain Python model of its filters."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from store_helpers import START, FakeClock

from zfsyncd.store import Database, TransactionStore, TxState


@dataclass(frozen=True)
class Spec:
    state: TxState
    type: str
    uid: int | None
    offset: int  # seconds after START


@dataclass(frozen=True)
class Filter:
    state: TxState | frozenset[TxState] | None
    type: str | None
    since: float | None
    until: float | None
    uid: int | None
    limit: int | None

    def admits(self, spec: Spec) -> bool:
        created = START + spec.offset
        states = {self.state} if isinstance(self.state, TxState) else self.state
        return (
            (states is None or spec.state in states)
            and (self.type is None or spec.type == self.type)
            and (self.since is None or created >= self.since)
            and (self.until is None or created < self.until)
            and (self.uid is None or spec.uid == self.uid)
        )


TYPES = ["snapshot", "replicate", "destroy"]
times = st.none() | st.integers(0, 40).map(lambda s: START + s)
specs = st.builds(
    Spec,
    state=st.sampled_from(TxState),
    type=st.sampled_from(TYPES),
    uid=st.sampled_from([None, 0, 1000]),
    offset=st.integers(0, 40),
)
filters = st.builds(
    Filter,
    state=st.none() | st.sampled_from(TxState) | st.frozensets(st.sampled_from(TxState)),
    type=st.none() | st.sampled_from(TYPES),
    since=times,
    until=times,
    uid=st.none() | st.sampled_from([0, 1000]),
    limit=st.none() | st.integers(0, 8),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(transactions=st.lists(specs, max_size=12), queries=st.lists(filters, min_size=1, max_size=6))
async def test_list_matches_the_model(
    tmp_path: Path, transactions: list[Spec], queries: list[Filter]
) -> None:
    clock = FakeClock()
    async with Database.open(tmp_path / f"{uuid.uuid4().hex}.db", clock=clock) as db:
        store = TransactionStore(db)
        created: list[tuple[str, Spec]] = []
        for spec in transactions:  # created in this order, so ids sort in this order
            clock.now = START + spec.offset
            record = await store.create_transaction(spec.type, uid=spec.uid)
            if spec.state is not TxState.CREATED:
                await store.set_state(record.id, spec.state, expected=TxState.CREATED)
            created.append((record.id, spec))
        for query in queries:
            found = await store.list(
                state=query.state,
                type=query.type,
                since=query.since,
                until=query.until,
                uid=query.uid,
                limit=query.limit,
            )
            expected = [tx_id for tx_id, spec in reversed(created) if query.admits(spec)]
            if query.limit is not None:
                expected = expected[: query.limit]
            assert [r.id for r in found] == expected
