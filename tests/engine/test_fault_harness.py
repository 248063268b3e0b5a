"""Fault injection for every transaction type (fault_cases.py), at every changing zfs call.

Each type's transaction runs once cleanly to number its changing calls (its steps' and
its finalize's) and to record what it leaves; then, on fresh datasets, once per call and
mode with that call broken:
- `fail`: the call fails before it does anything;
- `fail-after`: the call takes effect, then reports an error;
- `crash`: the call takes effect, then the process dies; a new manager over the same
  database recovers (`manager.recover()`), as the daemon does at start.
Each run must end either undone (FAILED or CANCELLED, its rollback complete, ZFS exactly
as before) or done (COMPLETED, ZFS as the clean run left it, once the deferred cleanups
ran). ZFS is compared as `zfs list -t all` shows it: names, types, guids, createtxgs,
origins, user and local properties, holds, and, for a type whose steps write data, the
files' contents. Objects the transaction made are told apart by role, not by guid or name
(new guids, names with the transaction's id), when a run is compared with the clean run.

On the model every call is tried in every mode. In the lab (ZFSYNC_TEST_BACKEND=real) the
`lab` part runs one call per mode and type: the first, middle or last call, rotating, so
that each mode meets each position across the types; the `rest` part is the model's only.
"""

from __future__ import annotations

import importlib
import itertools
import re
from dataclasses import dataclass, replace

import pytest

import zfsyncd.ops  # noqa: F401 - registers the transaction kinds
from tests.contract.world import Entry, State, backend_kind
from tests.engine.checks import check_journal
from tests.engine.conftest import Engine
from tests.engine.fault_cases import CASES, EXTRA_KINDS, TIME_PROPERTIES, FaultCase, Params
from tests.faults import SimulatedCrash
from zfsyncd.store import TransactionRecord, TxState
from zfsyncd.tx.kinds import TX_KINDS
from zfsyncd.tx.steps.trash import TRASH_PREFIX

REAL = backend_kind() == "real"
MODES = ("fail", "fail-after", "crash")
_runs = itertools.count()
_TX_ID = re.compile(r"\d{8}T\d{6}_\d{6}Z_[0-9a-f]{8}")


def test_every_transaction_kind_has_a_fault_case() -> None:
    """A new transaction type must join the harness: add its case to fault_cases.CASES."""
    missing = (set(TX_KINDS) | EXTRA_KINDS) - set(CASES)
    assert not missing, f"no fault-injection case for {sorted(missing)} in fault_cases.py"
    unknown = set(CASES) - set(TX_KINDS) - EXTRA_KINDS
    assert not unknown, f"fault cases for kinds that do not exist: {sorted(unknown)}"


def test_a_type_left_to_the_model_names_types_the_lab_breaks() -> None:
    for kind, case in CASES.items():
        for other in case.lab_through:
            assert other in CASES, (kind, other)
            assert not CASES[other].lab_through, (kind, other)


def test_a_mode_left_to_the_model_names_a_lab_test_that_exists() -> None:
    for kind, case in CASES.items():
        for mode, where in case.lab_elsewhere.items():
            assert mode in MODES, (kind, mode)
            path, _, test = where.partition("::")
            module = path.removesuffix(".py").replace("/", ".")
            assert hasattr(importlib.import_module(module), test), (kind, where)


# ------------------------------------------------------------------ comparing states


@dataclass(frozen=True)
class Run:
    params: Params
    src: str
    dst: str
    before: State


def _names(text: str, run: Run) -> str:
    text = re.sub(re.escape(run.src) + r"(?=[/@#]|$)", "<src>", text)
    text = re.sub(re.escape(run.dst) + r"(?=[/@#]|$)", "<dst>", text)
    return _TX_ID.sub("<tx>", text)


def _pool(name: str, run: Run) -> str:
    return "src" if name.startswith(run.src) else "dst"


def _roles(state: State, run: Run) -> dict[str, Entry]:
    """`state` with what differs between two runs of the same scenario replaced by its role:
    the roots and transaction ids in names; a guid by the object that had it before (or
    'new'), a createtxg by whether it is that object's, a file by where it was before; a
    property that holds a time (TIME_PROPERTIES) by '<time>'."""
    # a replicated snapshot has its guid in both pools: the object of the same guid in the
    # same pool is the one it was, one in the other pool what it was received from
    old = {e.guid: (name, e.createtxg) for name, e in run.before.items()}
    here = {(e.guid, _pool(name, run)): (name, e.createtxg) for name, e in run.before.items()}
    files = {}
    for name, entry in run.before.items():
        for n, token in enumerate(entry.contents or ()):
            files.setdefault(token, f"{_names(name, run)}:{n}")
    shown: dict[str, Entry] = {}
    for name, entry in state.items():
        was = here.get((entry.guid, _pool(name, run)), old.get(entry.guid))
        shown[_names(name, run)] = replace(
            entry,
            guid=_names(was[0], run) if was else "new",
            createtxg=1 if was and was[1] == entry.createtxg else 0,
            origin=_names(entry.origin, run) if entry.origin else None,
            properties=tuple((k, _names(v, run)) for k, v in entry.properties),
            local=tuple(
                (k, "<time>" if k in TIME_PROPERTIES else _names(v, run)) for k, v in entry.local
            ),
            holds=tuple(_names(h, run) for h in entry.holds),
            contents=None if entry.contents is None
            else tuple(files.get(t, "new") for t in entry.contents),
        )  # fmt: skip
    return shown


# ------------------------------------------------------------------ running a case


async def _fresh(engine: Engine, case: FaultCase) -> Run:
    """New roots under the world's (one per run, so runs cannot see each other's leftovers)."""
    n = next(_runs)
    src, dst = f"{engine.world.src}/f{n}", f"{engine.world.dst}/f{n}"
    await engine.world.zfs.create(src)
    await engine.world.zfs.create(dst)
    params = await case.setup(engine, src, dst)
    run = Run(params, src, dst, {})
    return replace(run, before=await _state(engine, case, run))


async def _state(engine: Engine, case: FaultCase, run: Run) -> State:
    return await engine.world.state(run.src, run.dst, contents=case.writes_data)


#: per kind: the number of changing calls of a clean run and what it leaves (by role)
_clean: dict[str, tuple[int, dict[str, Entry]]] = {}


async def _clean_run(engine: Engine, kind: str) -> tuple[int, dict[str, Entry]]:
    if kind not in _clean:
        case = CASES[kind]
        run = await _fresh(engine, case)
        first = len(engine.zfs.calls)
        record = await case.start(engine, kind, run.params)
        done = await engine.manager.wait(record.id)
        assert done.state is TxState.COMPLETED, done.error
        total = len(engine.zfs.calls) - first
        assert total >= 1, f"a clean {kind} made no changing call"
        assert await engine.manager.cleanups.pending() == []
        _clean[kind] = total, _roles(await _state(engine, case, run), run)
    return _clean[kind]


def _lab_point(kind: str, mode: str, total: int) -> int:
    """First, middle or last call, rotating over modes and kinds."""
    turn = (sorted(CASES).index(kind) + MODES.index(mode)) % 3
    return (0, total // 2, total - 1)[turn]


async def _break_at(engine: Engine, kind: str, mode: str, index: int) -> Engine:
    """One run of `kind` with call `index` broken in `mode`; checks how it ended. Returns
    the engine to go on with (a new one after a crash)."""
    case = CASES[kind]
    run = await _fresh(engine, case)
    offset = len(engine.zfs.calls)
    broken = offset + index
    if mode == "fail":
        engine.zfs.fail(broken)
    elif mode == "fail-after":
        engine.zfs.fail_after(broken)
    else:
        engine.zfs.crash_after(broken)
    where = f"{kind}: {mode} at call {index}"
    record = await case.start(engine, kind, run.params)
    if mode == "crash":
        with pytest.raises(SimulatedCrash):
            await engine.manager.wait(record.id)
        assert (await engine.manager.get(record.id)).state is TxState.EXECUTING, where
        restarted = await engine.restart()
        try:
            recovered = {r.id: r for r in await restarted.manager.recover()}
            assert set(recovered) == {record.id}, where
            await restarted.manager.wait(record.id)  # and the follow-up recovery started
            done = recovered[record.id]
            if done.state is TxState.FAILED:
                assert done.error_kind == "interrupted", (where, done.error)
            await _check_end(restarted, kind, run, done, f"{where} ({engine.zfs.calls[broken]})")
        except BaseException:
            await restarted.close()  # a failure here must not leak into the next test
            raise
        return restarted
    done = await engine.manager.wait(record.id)
    engine.zfs.heal()
    await _check_end(engine, kind, run, done, f"{where} ({engine.zfs.calls[broken]})")
    return engine


async def _check_end(
    engine: Engine, kind: str, run: Run, done: TransactionRecord, where: str
) -> None:
    case = CASES[kind]
    # a deferred cleanup (an undo or a finalize that the broken call stopped) runs later,
    # with the fault gone; nothing may stay queued after that
    await engine.manager.run_cleanups(now=1e12)
    assert await engine.manager.cleanups.pending() == [], where
    after = await _state(engine, case, run)
    if done.state is TxState.COMPLETED:
        _, clean = _clean[kind]
        assert _roles(after, run) == clean, f"{where}: completed, but not as a clean run does"
    else:
        assert done.state in (TxState.FAILED, TxState.CANCELLED), (where, done.state)
        assert done.rollback_outcome is not None, where
        assert done.rollback_outcome.startswith(("complete", "nothing")), (
            where, done.rollback_outcome,
        )  # fmt: skip
        assert after == run.before, f"{where}: {done.state.value}, yet ZFS changed"
    await check_journal(engine, done.id, where)


# ------------------------------------------------------------------ the tests


def _model_only(kind: str, mode: str | None = None) -> list[pytest.MarkDecorator]:
    """In the lab, skip a type the lab breaks through others (fault_cases.FaultCase), or a
    mode another lab test breaks more of its calls in. A mark, not a skip inside the test:
    the lab's shard split (tests/lab/shard.py) weighs a test marked skipped as nothing."""
    case = CASES[kind]
    if case.lab_through:
        why = (
            f"{kind}: on the model only; the lab breaks its steps in {', '.join(case.lab_through)}"
        )
    elif mode in case.lab_elsewhere:
        why = f"{kind} {mode}: on the model only; the lab runs {case.lab_elsewhere[mode]}"
    else:
        return []
    return [pytest.mark.skipif(REAL, reason=why)]


#: (kind, mode) of each run, ids "kind-mode"
KIND_MODES = [
    pytest.param(kind, mode, marks=_model_only(kind, mode), id=f"{kind}-{mode}")
    for kind in sorted(CASES)
    for mode in MODES
]
KINDS = [pytest.param(kind, marks=_model_only(kind), id=kind) for kind in sorted(CASES)]


REST_ON_MODEL = pytest.mark.skipif(
    REAL,
    reason="the other calls run on the model only: each run on real pools under the lab's "
    "software emulation costs seconds; the lab runs the `lab` part (one call per mode)",
)


@pytest.mark.parametrize(("kind", "mode"), KIND_MODES)
@pytest.mark.parametrize("part", ["lab", pytest.param("rest", marks=REST_ON_MODEL)])
async def test_a_broken_call_leaves_zfs_undone_or_done(
    engine: Engine, kind: str, mode: str, part: str
) -> None:
    total, _ = await _clean_run(engine, kind)
    lab = _lab_point(kind, mode, total)
    points = [lab] if part == "lab" else [i for i in range(total) if i != lab]
    current = engine
    try:
        for index in points:
            current = await _break_at(current, kind, mode, index)
    finally:
        if current is not engine:  # the fixture closes its own
            await current.close()


# compound's later promote moves its destroyed bookmark's trash copy to the clone: this
# caught the finalize that looked for it only where it had been put
@pytest.mark.parametrize("kind", KINDS)
async def test_a_completed_transaction_leaves_no_trash(engine: Engine, kind: str) -> None:
    case = CASES[kind]
    run = await _fresh(engine, case)
    record = await case.start(engine, kind, run.params)
    assert (await engine.manager.wait(record.id)).state is TxState.COMPLETED
    left = [n for n in await _state(engine, case, run) if TRASH_PREFIX in n]
    assert left == []
