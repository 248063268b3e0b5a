"""The prune transaction end to end on the engine: what it destroys and keeps, that its zfs
commands do not grow with the number of snapshots, the protections that need the engine's
and replication's knowledge (a running transaction's snapshots, a pair's newest common
one), the policy from `zfsync:retention`, and the dry run agreeing with the run. Failures
at every changing call and crashes after each are the fault harness's (fault_cases.py's
"prune" case, test_fault_harness.py)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.contract.world import World, backend_kind
from tests.engine.conftest import Engine
from tests.engine.replica_pairs import make_pair
from tests.engine.test_plan_reads import Counting
from tests.faults import FaultyBackend
from zfsyncd.api.records import PruneRow
from zfsyncd.ops.prune import RETENTION, PruneRequest, preview
from zfsyncd.ops.replication.props import BASE_HOLD
from zfsyncd.retention import parse_policy_text
from zfsyncd.store import TransactionRecord, TxState
from zfsyncd.tx.errors import PlanError
from zfsyncd.zfs.models import ObjectType

_roots = itertools.count()
REAL = backend_kind() == "real"
#: the engine's decisions, the same on any backend: the lab (each snapshot a second or more
#: under its software emulation) runs the tests that show what real ZFS does
MODEL_ONLY = pytest.mark.skipif(
    REAL,
    reason="model only: the engine's decision, as on real ZFS; the lab runs test_prune's "
    "command counts, protections, pair and zfsync:retention tests",
)


@pytest.fixture
async def counted(world: World, tmp_path: Path) -> AsyncIterator[tuple[Engine, Counting]]:
    zfs = Counting(world.zfs)
    engine = await Engine.start(world, tmp_path / "zfsyncd.db", FaultyBackend(zfs))
    yield engine, zfs
    await engine.close()


async def _dataset(engine: Engine, snapshots: int, pool: str | None = None) -> str:
    root = f"{pool or engine.world.src}/p{next(_roots)}"
    await engine.world.zfs.create(root)
    for n in range(snapshots):
        await engine.world.zfs.snapshot([f"{root}@zfsync_{n}"])
    return root


async def _shorts(engine: Engine, dataset: str) -> list[str]:
    found = await engine.world.zfs.list(dataset, types=[ObjectType.SNAPSHOT], depth=1)
    return [o.short_name for o in found]


async def _prune(engine: Engine, **params: object) -> TransactionRecord:
    done = await engine.manager.wait((await engine.manager.submit("prune", params)).id)
    assert done.state is TxState.COMPLETED, done.error
    return done


async def test_the_same_commands_for_10_and_100_snapshots(
    counted: tuple[Engine, Counting],
) -> None:
    engine, zfs = counted
    runs = []
    for count in (4, 8) if REAL else (10, 100):  # in the lab each snapshot costs a second
        a = await _dataset(engine, count)
        b = await _dataset(engine, count, pool=engine.world.dst)
        zfs.calls.clear()
        await _prune(engine, datasets=[a, b], policy="last = 3")
        runs.append(list(zfs.calls))
        assert await _shorts(engine, a) == [f"zfsync_{n}" for n in range(count - 3, count)]
        assert await _shorts(engine, b) == [f"zfsync_{n}" for n in range(count - 3, count)]
    assert runs[0] == runs[1]
    # planning: the datasets (no snapshot held: no `zfs holds`), the pools' clones; then per
    # pool the hold's reading (what `hold` reaches, one channel program) and the hold, and at
    # the end per pool one such reading (with the tags: what the release and the destroy
    # both need), the release and one destroy of the dataset's snapshots
    per_pool_step = ["list_reached", "hold"]
    per_pool_final = ["list_reached", "release", "destroy_snapshots"]
    assert runs[0] == [
        "list_many",
        "list_many",
        *per_pool_step,
        *per_pool_step,
        *per_pool_final,
        *per_pool_final,
    ]


async def test_it_keeps_what_it_must(engine: Engine) -> None:
    a = await _dataset(engine, 6)
    zfs = engine.world.zfs
    await zfs.snapshot([f"{a}@manual"])
    await zfs.snapshot([f"{a}@zfsync_keepme"])
    await zfs.hold("theirs", [f"{a}@zfsync_1"])
    await zfs.clone(f"{a}@zfsync_2", f"{engine.world.src}/c{next(_roots)}")
    await zfs.snapshot([f"{a}@zfsync_9"])
    await _prune(engine, datasets=[a], policy='last = 1, keep = "keepme"')
    assert await _shorts(engine, a) == [
        "zfsync_1",  # held
        "zfsync_2",  # cloned
        "manual",  # not zfsyncd's
        "zfsync_keepme",  # the keep regex
        "zfsync_9",  # the newest
    ]


async def test_the_newest_common_snapshot_of_a_pair_is_kept(engine: Engine) -> None:
    world = engine.world
    n = next(_roots)

    async def write(dataset: str) -> None:
        await world.write(dataset, 16 << 10)

    pair = await make_pair(
        world.zfs, f"{world.src}/s{n}", world.zfs, f"{world.dst}/d{n}", write=write, snapshots=3
    )
    # without the base hold (another tool's replica has none): only the decision keeps it
    await world.zfs.release(BASE_HOLD, [pair.src_snap(3)])
    await world.zfs.release(BASE_HOLD, [pair.dst_snap(3)])
    for m in (4, 5):
        await world.zfs.snapshot([pair.src_snap(m)])
    await _prune(engine, datasets=[pair.src, pair.dst], policy="last = 1")
    assert await _shorts(engine, pair.src) == ["zfsync_3", "zfsync_5"]
    assert await _shorts(engine, pair.dst) == ["zfsync_3"]


@MODEL_ONLY
async def test_a_running_transactions_snapshots_are_kept(engine: Engine) -> None:
    a = await _dataset(engine, 4)
    other = await _dataset(engine, 1)
    # a transaction that is not finished names a@zfsync_1 (a destroy waiting for its turn)
    waiting = await engine.manager.create(
        "destroy-snapshots", {"snapshots": [f"{a}@zfsync_1", f"{other}@zfsync_0"]}
    )
    rows = await preview(
        engine.manager.hosts,
        PruneRequest(datasets=(a,), policy="last = 1"),
        await engine.manager.store.list_active(),
    )
    assert {r.snapshot: r.why for r in rows} == {
        "zfsync_0": "expired",
        "zfsync_1": "in-use",
        "zfsync_2": "expired",
        "zfsync_3": "newest",
    }
    await engine.manager.cancel(waiting.id)


async def test_the_policy_comes_from_zfsync_retention(engine: Engine) -> None:
    zfs = engine.world.zfs
    parent = f"{engine.world.src}/r{next(_roots)}"
    await zfs.create(parent, properties={RETENTION: "last = 2"})
    await zfs.create(f"{parent}/child")
    for n in range(4):
        await zfs.snapshot([f"{parent}@zfsync_{n}", f"{parent}/child@zfsync_{n}"])
    none = await _dataset(engine, 4)  # no policy: not pruned when nothing is named
    done = await _prune(engine, datasets=[parent], recursive=True)
    assert await _shorts(engine, parent) == ["zfsync_2", "zfsync_3"]
    assert await _shorts(engine, f"{parent}/child") == ["zfsync_2", "zfsync_3"]  # inherited
    assert "4 of 8 snapshots on 2 datasets" in (done.description or "")
    # nothing named: every dataset that has one
    await zfs.set_properties(f"{parent}/child", {RETENTION: "last = 1"})
    await _prune(engine)
    assert await _shorts(engine, f"{parent}/child") == ["zfsync_3"]
    assert len(await _shorts(engine, none)) == 4


@MODEL_ONLY
async def test_refusals(engine: Engine) -> None:
    a = await _dataset(engine, 3)
    zfs = engine.world.zfs
    with pytest.raises(PlanError, match="has no retention policy"):
        await engine.manager.prepare((await engine.manager.create("prune", {"datasets": [a]})).id)
    await zfs.set_properties(a, {RETENTION: "daily = lots"})
    record = await engine.manager.create("prune", {"datasets": [a]})
    with pytest.raises(PlanError, match="zfsync:retention: not of the form"):
        await engine.manager.prepare(record.id)
    assert len(await _shorts(engine, a)) == 3


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"policy": "last = 1"}, "name them"),
        ({"datasets": ["p/a"], "policy": "lasts = 1"}, "policy.lasts: is not a known key"),
        ({"datasets": ["p/a", "p/a"]}, "named twice"),
    ],
)
def test_bad_requests(params: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        PruneRequest.model_validate(params)


@MODEL_ONLY
async def test_the_dry_run_says_what_the_run_does(engine: Engine) -> None:
    a = await _dataset(engine, 8)
    b = await _dataset(engine, 3)
    # the oldest two of the hour (and the newest) stay
    policy = parse_policy_text('grid = "1x1h(keep=2)"')
    request = PruneRequest.of([a, b], policy)
    rows = await preview(engine.manager.hosts, request, [])
    # the rows are built without validation: they are what validation would make
    assert all(PruneRow.model_validate(r.model_dump()) == r for r in rows)
    going = sorted(r.name for r in rows if not r.keep)
    await _prune(engine, **request.model_dump(mode="json"))
    left = [f"{a}@{s}" for s in await _shorts(engine, a)] + [
        f"{b}@{s}" for s in await _shorts(engine, b)
    ]
    assert sorted(r.name for r in rows if r.keep) == sorted(left)
    assert going == sorted(f"{a}@zfsync_{n}" for n in range(2, 7))
    assert not set(going) & set(left)


@MODEL_ONLY
async def test_nothing_to_destroy_completes_with_no_step(engine: Engine) -> None:
    a = await _dataset(engine, 2)
    before = len(engine.zfs.calls)
    done = await _prune(engine, datasets=[a], policy="last = 2")
    assert done.steps == []
    assert engine.zfs.calls[before:] == []  # no changing call
    assert "0 of 2 snapshots on 1 datasets" in (done.description or "")
