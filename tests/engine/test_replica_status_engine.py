"""`replica status` (zfsyncd/ops/replication/status.py) over pairs the real replica kinds
made, on two hosts: what it reports after init, after writes, after a sync and after a sync
that failed; and that reading it costs the same for one pair as for ten."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.engine.replicas import KIB, MODEL_ONLY, Replicas, filesystem
from zfsyncctl.replica_render import lag_text
from zfsyncd.api.records import ReplicaRow
from zfsyncd.ops.replication.status import ReplicaQuery, list_replicas
from zfsyncd.store import TxState

pytestmark = MODEL_ONLY


@pytest.fixture
async def replicas(tmp_path: Path) -> AsyncIterator[Replicas]:
    r = await Replicas.start(tmp_path / "zfsyncd.db")
    yield r
    await r.close()


async def _status(r: Replicas) -> dict[str, ReplicaRow]:
    rows = await list_replicas(r.manager.hosts, r.manager.store, ReplicaQuery(), time.time())
    return {row.dataset: row for row in rows}


async def test_status_follows_init_writes_and_sync(replicas: Replicas) -> None:
    await filesystem(replicas.local, "src/a")
    await filesystem(replicas.local, "src/b")
    await replicas.done("replica-init", {"source": "src/a", "destination": "local:dst/a"})
    init = await replicas.done(
        "replica-init", {"source": "src/b", "destination": "backup:bak/b", "savecount": 3}
    )
    rows = await _status(replicas)
    assert sorted(rows) == ["src/a", "src/b"]  # dst/a is src/a's pair, not a second one
    b = rows["src/b"]
    assert (b.role, b.source, b.destination) == ("source", "local:src/b", "backup:bak/b")
    assert b.last_sent == f"src/b@zfsync_{init.id}"
    assert (b.lag_bytes, b.lag_seconds, b.unsent, b.error) == (0, 0.0, 0, "")
    assert (b.source_savecount, b.destination_savecount) == (3, 3)

    replicas.local.write("src/b", 40 * KIB)
    behind = (await _status(replicas))["src/b"]
    assert behind.lag_bytes >= 40 * KIB
    assert behind.lag_seconds >= 0.0

    sync = await replicas.done("replica-sync", {"sources": ["src/b"]})
    caught_up = (await _status(replicas))["src/b"]
    assert caught_up.last_sent == f"src/b@zfsync_{sync.id}"
    assert (caught_up.lag_bytes, caught_up.lag_seconds, caught_up.unsent) == (0, 0.0, 0)


async def test_a_failed_sync_is_the_last_error(replicas: Replicas) -> None:
    await filesystem(replicas.local, "src/a")
    await replicas.done("replica-init", {"source": "src/a", "destination": "backup:bak/a"})
    replicas.local.write("src/a", 8 * KIB)
    before = (await _status(replicas))["src/a"]
    replicas.faults["local"].fail_from(len(replicas.faults["local"].calls))
    failed = await replicas.run("replica-sync", {"sources": ["src/a"]})
    replicas.faults["local"].heal()
    assert failed.state is TxState.FAILED
    after = (await _status(replicas))["src/a"]
    assert (after.last_error_transaction, after.last_error) == (failed.id, failed.error)
    # undone: the pair reads as before, but for the failure it now reports
    fields = {"last_error", "last_error_transaction", "last_error_at", "age", "lag_seconds"}
    assert after.model_dump(exclude=fields) == before.model_dump(exclude=fields)


async def test_reading_costs_the_same_for_one_pair_and_for_ten(replicas: Replicas) -> None:
    counts = []
    for n in range(10):
        await filesystem(replicas.local, f"src/d{n}")
        host = "local:dst" if n % 2 else "backup:bak"
        await replicas.done("replica-init", {"source": f"src/d{n}", "destination": f"{host}/d{n}"})
        if n in (0, 9):  # one pair (on the other host), then ten (five on each)
            replicas.forget_calls()
            await _status(replicas)
            counts.append(replicas.calls())
    assert counts[0]["local"] == counts[1]["local"] == ["list", "list_many", "holds_many"]
    assert counts[0]["backup"] == counts[1]["backup"] == ["list_many", "holds_many"]


async def test_a_recursive_pair_lags_by_what_a_child_wrote(replicas: Replicas) -> None:
    """Data written only in a child of a `-R` pair: status shows the pair behind (the
    child's bytes, the last sent snapshot's age), as zfsyncctl draws it; a sync catches up."""
    await filesystem(replicas.local, "src/t")
    await filesystem(replicas.local, "src/t/c")
    await replicas.done(
        "replica-init", {"source": "src/t", "destination": "dst/t", "recursive": True}
    )
    assert (await _status(replicas))["src/t"].lag_bytes == 0
    replicas.local.write("src/t/c", 40 * KIB)
    behind = (await _status(replicas))["src/t"]
    assert behind.lag_bytes >= 40 * KIB
    assert behind.lag_seconds >= 0.0
    assert lag_text(behind) != "-"
    await replicas.done("replica-sync", {"sources": ["src/t"]})
    caught_up = (await _status(replicas))["src/t"]
    assert (caught_up.lag_bytes, caught_up.lag_seconds, caught_up.unsent) == (0, 0.0, 0)
    assert lag_text(caught_up) == "-"


async def test_a_pair_with_both_ends_here_through_a_label_is_one_row(replicas: Replicas) -> None:
    """src/a replicated to `loop:dst/a`, where `loop` is this machine under another label
    (the lab's 127.0.0.1): the local listing shows both ends, each naming the other; status
    shows one row, the source's, with both sides' fields, found by either name; one more
    command per such host (a `zfs list` of the candidates' names) whatever their number."""
    replicas.add_loop()
    counts = []
    for n in range(3):
        await filesystem(replicas.local, f"src/l{n}")
        await replicas.done(
            "replica-init",
            {
                "source": f"src/l{n}",
                "destination": f"loop:dst/l{n}",
                "savecount": 3,
                "destination_savecount": 4,
            },
        )
        replicas.forget_calls()
        rows = await _status(replicas)
        counts.append(replicas.calls()["local"])
        assert sorted(rows) == [f"src/l{i}" for i in range(n + 1)]
    replicas.local.write("src/l0", 8 * KIB)
    row = (await _status(replicas))["src/l0"]
    assert (row.role, row.source, row.destination) == ("source", "local:src/l0", "loop:dst/l0")
    assert (row.source_savecount, row.destination_savecount, row.error) == (3, 4, "")
    assert row.last_sent.startswith("src/l0@zfsync_")
    assert row.lag_bytes >= 8 * KIB
    for name in ("src/l1", "dst/l1"):
        query = ReplicaQuery(dataset=name)
        found = await list_replicas(replicas.manager.hosts, replicas.manager.store, query, 0.0)
        assert [r.dataset for r in found] == ["src/l1"]
    # the listing, the loop check, then each label's reading of its sides
    assert counts[0] == counts[2] == ["list", "list_many", *["list_many", "holds_many"] * 2]
