"""One fault-injection scenario per transaction type: the registry test_fault_harness.py runs.

Every kind in `zfsyncd.tx.kinds.TX_KINDS` (after `import zfsyncd.ops`), the test-only
"compound" kind (scenario.py) and "rollback" (the rollback of a completed transaction: of
the compound one, and of a replica sync, ROLLBACK_OF_SYNC) must have a `FaultCase` here:
test_fault_harness.py fails when one has none, so a new transaction type cannot be added
without joining the harness.

A case builds its world on two fresh roots (`src` in the source pool, `dst` in the target
pool) with the backend unbroken, returns the request's parameters, and says how the
transaction under test is started (`submit` of its kind, unless `start` says otherwise).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.engine import replica_admin_cases as admin
from tests.engine.conftest import Engine
from tests.engine.scenario import prepare_world
from zfsyncd.store import TransactionRecord, TxState
from zfsyncd.zfs.models import RecvSpec, SendSpec

Params = dict[str, Any]
#: the case of the rollback of a completed replica-sync (a "rollback" transaction)
ROLLBACK_OF_SYNC = "rollback:replica-sync"
#: the case of a witness-receive that replaces an orphaned copy (no base)
WITNESS_REPLACE = "witness-receive:replace"
#: properties whose value is the time a transaction set them (zfsync:sent: when a snapshot
#: was sent): two runs of one case differ there by the clock, not by what they did
TIME_PROPERTIES = frozenset({"zfsync:sent"})


async def _submit(engine: Engine, kind: str, params: Params) -> TransactionRecord:
    return await engine.manager.submit(kind, params)


@dataclass(frozen=True)
class FaultCase:
    #: builds the world under the fresh roots (src, dst); returns the request's parameters
    setup: Callable[[Engine, str, str], Awaitable[Params]]
    #: starts the transaction under test (default: `manager.submit(kind, params)`)
    start: Callable[[Engine, str, Params], Awaitable[TransactionRecord]] = _submit
    #: whether its steps write data (then the files' contents are compared too)
    writes_data: bool = False
    #: whether the lab breaks it too (one call per mode on real pools). Each such run costs
    #: tens of seconds under the lab's software emulation, so the lab takes a representative
    #: set: every step kind is broken there in some type's run. A type left to the model
    #: names the types whose lab runs break its steps (`lab_through`).
    lab_through: tuple[str, ...] = ()
    #: modes whose lab run is left to the model because another lab test already breaks
    #: the same calls of the same type on real pools (more of them): mode -> that test
    lab_elsewhere: Mapping[str, str] = field(default_factory=dict)


async def _snapshot_world(engine: Engine, src: str, dst: str) -> Params:
    """Two pools (one step each), a child (recursive), held: snapshot, snapshot, hold, hold."""
    zfs = engine.world.zfs
    await zfs.create(f"{src}/a", properties={"zfsync:role": "data", "atime": "off"})
    await zfs.create(f"{src}/a/c")
    await zfs.create(f"{dst}/b")
    await engine.world.write(f"{src}/a", 64 << 10)
    return {"datasets": [f"{src}/a", f"{dst}/b"], "recursive": True, "hold": True}


async def _destroy_world(engine: Engine, src: str, dst: str) -> Params:
    """Three snapshots on two pools, each moved to the trash by rename, destroyed at the end;
    a snapshot between them and a bookmark stay."""
    zfs = engine.world.zfs
    await zfs.create(f"{src}/a", properties={"compression": "off"})
    await zfs.create(f"{dst}/b")
    for n in range(3):
        await engine.world.write(f"{src}/a", 64 << 10)
        await zfs.snapshot([f"{src}/a@zfsync_{n}"], properties={"zfsync:a": str(n)})
    await zfs.snapshot([f"{dst}/b@zfsync_9"])
    await zfs.bookmark(f"{src}/a@zfsync_1", f"{src}/a#keep")
    return {"snapshots": [f"{src}/a@zfsync_0", f"{src}/a@zfsync_2", f"{dst}/b@zfsync_9"]}


async def _prune_world(engine: Engine, src: str, dst: str) -> Params:
    """Snapshots on two pools pruned to the newest two (one step each: a hold, then at the
    end a release and one batched destroy per dataset); a held one, one not zfsyncd's and a
    bookmark stay."""
    zfs = engine.world.zfs
    await zfs.create(f"{src}/a", properties={"compression": "off"})
    await zfs.create(f"{dst}/b")
    for n in range(5):
        await engine.world.write(f"{src}/a", 16 << 10)
        await zfs.snapshot([f"{src}/a@zfsync_{n}"])
    await zfs.snapshot([f"{src}/a@mine"])
    await zfs.hold("theirs", [f"{src}/a@zfsync_1"])
    for n in range(3):
        await zfs.snapshot([f"{dst}/b@zfsync_{n}"])
    await zfs.bookmark(f"{src}/a@zfsync_0", f"{src}/a#keep")
    return {"datasets": [f"{src}/a", f"{dst}/b"], "policy": "last = 2"}


async def _rollback_dataset_world(engine: Engine, src: str, dst: str) -> Params:
    """A filesystem with local properties, rolled back past newer data and a newer snapshot."""
    zfs = engine.world.zfs
    fs = f"{src}/fs"
    await zfs.create(fs, properties={"zfsync:role": "data", "compression": "off"})
    await engine.world.write(fs, 64 << 10)
    await zfs.snapshot([f"{fs}@s1"])
    await engine.world.write(fs, 64 << 10)
    await zfs.snapshot([f"{fs}@s2"], properties={"zfsync:b": "newer"})
    await engine.world.write(fs, 64 << 10)
    return {"snapshot": f"{fs}@s1"}


def _source_tree(tag: str) -> str:
    """A directory to fill a dataset from: files, a subdirectory, a hard link, a file an
    exclude leaves out. Under the system's temporary directory: a step's rsync reads it,
    and in the lab the guest's /tmp is its own."""
    root = Path(tempfile.mkdtemp(prefix=f"zfsync-fill-{tag}-"))
    (root / "sub").mkdir()
    (root / "a.txt").write_bytes(b"a" * 4096)
    (root / "sub" / "b.txt").write_bytes(b"b" * 512)
    (root / "cache.tmp").write_bytes(b"left out by --exclude")
    os.link(root / "a.txt", root / "sub" / "a-link.txt")
    return str(root)


async def _dataset_init_world(engine: Engine, src: str, dst: str) -> Params:
    """A new dataset made under the source root from a directory: create (temporary name,
    private mountpoint), rsync, snapshot, rename into place, mountpoint inherited."""
    return {"dataset": f"{src}/made", "source": _source_tree("init")}


async def _dataset_update_world(engine: Engine, src: str, dst: str) -> Params:
    """A filesystem with local properties, data and a snapshot, whose contents are replaced
    from a directory with an exclude: baseline snapshot, clone, rsync, the swap (promote,
    unmount, renames, mountpoint), the old one destroyed at finalize."""
    zfs = engine.world.zfs
    fs = f"{src}/fs"
    await zfs.create(fs, properties={"zfsync:role": "data", "compression": "off"})
    await engine.world.write(fs, 64 << 10)
    await zfs.snapshot([f"{fs}@s1"], properties={"zfsync:a": "kept"})
    await engine.world.write(fs, 64 << 10)
    return {"dataset": fs, "source": _source_tree("update"), "excludes": ["*.tmp"]}


async def _replica_init_world(engine: Engine, src: str, dst: str) -> Params:
    """A source with data and a child, to an empty destination that init moves aside
    (renamed to the trash, destroyed once the init completed): -R, properties on both
    sides, snapshot, holds, the full send, bookmarks."""
    zfs = engine.world.zfs
    await zfs.create(f"{src}/a", properties={"compression": "off"})
    await zfs.create(f"{src}/a/c")
    await engine.world.write(f"{src}/a", 64 << 10)
    await zfs.create(f"{dst}/a")
    return {"source": f"{src}/a", "destination": f"{dst}/a", "recursive": True, "savecount": 2}


async def _replica_sync_world(engine: Engine, src: str, dst: str) -> Params:
    """Two pairs made by replica-init, new data in both, and an intermediate snapshot in
    one: snapshot, hold, two streams, holds moved, bookmarks, the sent marker. The expiry
    that follows a sync is a transaction of its own (its case: replica-expire); the
    savecount here leaves it nothing to destroy, so it makes no changing call."""
    zfs = engine.world.zfs
    for name in ("a", "b"):
        await zfs.create(f"{src}/{name}", properties={"compression": "off"})
        await engine.world.write(f"{src}/{name}", 64 << 10)
        record = await engine.manager.submit(
            "replica-init",
            {"source": f"{src}/{name}", "destination": f"{dst}/{name}", "savecount": 5},
        )
        done = await engine.manager.wait(record.id)
        assert done.state is TxState.COMPLETED, done.error
        await engine.world.write(f"{src}/{name}", 64 << 10)
    await zfs.snapshot([f"{src}/a@hourly"])
    await engine.world.write(f"{src}/a", 64 << 10)
    return {"sources": [f"{src}/a", f"{src}/b"], "parallel": 2}


async def _witness_receive_world(engine: Engine, src: str, dst: str) -> Params:
    """A copy of src/a in dst/a (two snapshots, by plain send|recv) that went its own way (a
    snapshot and data of its own after the second), and a third source snapshot: the forced
    instruction of a resolved conflict rolls the copy back by the swap, then receives -I."""
    zfs = engine.world.zfs
    await zfs.create(f"{src}/a", properties={"compression": "off"})
    for n in (1, 2, 3):
        await engine.world.write(f"{src}/a", 64 << 10)
        await zfs.snapshot([f"{src}/a@s{n}"])
    await zfs.send_recv(SendSpec(snapshot=f"{src}/a@s1"), zfs, RecvSpec(target=f"{dst}/a"))
    spec = SendSpec(snapshot=f"{src}/a@s2", base=f"{src}/a@s1")
    await zfs.send_recv(spec, zfs, RecvSpec(target=f"{dst}/a"))
    await engine.world.write(f"{dst}/a", 64 << 10)
    await zfs.snapshot([f"{dst}/a@own"])
    await engine.world.write(f"{dst}/a", 64 << 10)
    return {
        "source_host": "local",
        "snapshot": f"{src}/a@s3",
        "base": "s2",
        "target": f"{dst}/a",
        "force": True,
    }


async def _witness_replace_world(engine: Engine, src: str, dst: str) -> Params:
    """An orphaned copy (dst/a made on its own: no snapshot in common with src/a) that a
    resolved conflict replaces: moved to the trash, then src/a@s2 received whole."""
    zfs = engine.world.zfs
    await zfs.create(f"{src}/a", properties={"compression": "off"})
    await zfs.create(f"{dst}/a", properties={"compression": "off"})
    for n in (1, 2):
        await engine.world.write(f"{src}/a", 64 << 10)
        await zfs.snapshot([f"{src}/a@s{n}"])
    await engine.world.write(f"{dst}/a", 64 << 10)
    await zfs.snapshot([f"{dst}/a@own"])
    return {"source_host": "local", "snapshot": f"{src}/a@s2", "target": f"{dst}/a", "force": True}


async def _start_witness_receive(engine: Engine, _case: str, params: Params) -> TransactionRecord:
    return await engine.manager.submit("witness-receive", params)


async def _rollback_sync_world(engine: Engine, src: str, dst: str) -> Params:
    """A completed replica-sync (the world above), to be rolled back: the sent marker
    cleared, the bookmarks destroyed, the holds moved back, the received snapshots taken
    back through the trash (the heads back at their bases once it completed), the
    source's snapshot destroyed through the trash."""
    params = await _replica_sync_world(engine, src, dst)
    record = await engine.manager.submit("replica-sync", params)
    done = await engine.manager.wait(record.id)
    assert done.state is TxState.COMPLETED, done.error
    return {"rolls_back": record.id}


async def _compound_world(engine: Engine, src: str, dst: str) -> Params:
    """Every reversible step kind, plus a destroyed bookmark and a snapshot through the trash."""
    await prepare_world(engine.world, src)
    return {"src": src, "dst": dst, "with_destroy": True}


async def _rollback_world(engine: Engine, src: str, dst: str) -> Params:
    """A completed compound transaction (its reversible form), to be rolled back: the
    inverse of every step kind (release, destroy through the trash, demote, ...)."""
    await prepare_world(engine.world, src)
    record = await engine.manager.submit("compound", {"src": src, "dst": dst, "reversible": True})
    done = await engine.manager.wait(record.id)
    assert done.state is TxState.COMPLETED, done.error
    return {"rolls_back": record.id}


async def _migrate_world(engine: Engine, src: str, dst: str) -> Params:
    """A plain source of three snapshots (the second deletes a file, the third recreates
    it), migrated into a new dataset under src, whose tree is a directory of this test's
    (the model keeps no files: rsync writes there)."""
    from tests.engine.migration_sources import plain_history

    mountpoint = engine.path.parent / src
    mountpoint.mkdir(parents=True, exist_ok=True)
    await engine.world.zfs.set_properties(src, {"mountpoint": str(mountpoint)})
    source = plain_history(engine.path.parent / "source", 3)
    return {"source": str(source), "dataset": f"{src}/migrated"}


async def _start_rollback(engine: Engine, kind: str, params: Params) -> TransactionRecord:
    # `manager.rollback` creates the linked transaction (whatever kind table backs it)
    record = await engine.manager.rollback(params["rolls_back"])
    return await engine.manager.start(record.id)


CASES: dict[str, FaultCase] = {
    "snapshot": FaultCase(_snapshot_world),
    "destroy-snapshots": FaultCase(_destroy_world),
    "prune": FaultCase(_prune_world),
    # in the lab, other tests break more of its calls in these modes (the harness's one
    # call adds nothing): test_rollback_dataset.py's loop three, tests/real kills the
    # daemon after each; fail-after is the harness's alone
    "rollback-dataset": FaultCase(
        _rollback_dataset_world,
        writes_data=True,
        lab_elsewhere={
            "fail": "tests/engine/test_rollback_dataset.py::test_every_failing_call_is_rolled_back",
            "crash": "tests/real/test_rollback_real.py::"
            "test_rollback_transaction_killed_after_each_zfs_command",
        },
    ),
    "compound": FaultCase(_compound_world, writes_data=True),
    # issue 12: the dataset's contents from a directory. In the lab, init stands for both:
    # update's steps are a snapshot, a clone, the fill (init's) and rollback-dataset's swap
    "dataset-init": FaultCase(_dataset_init_world, writes_data=True),
    "dataset-update": FaultCase(
        _dataset_update_world, writes_data=True, lab_through=("dataset-init", "rollback-dataset")
    ),
    # in the lab, tests/real/test_migration_real.py migrates on real pools; its create,
    # snapshot and rename steps are broken there in the types named
    "migrate": FaultCase(_migrate_world, lab_through=("compound", "snapshot")),
    # in the lab, replica-sync and the rollback of one stand for the replica types: every
    # step kind of the others is one of theirs, or a property, hold or trash step of the
    # types above, or the rollback swap of rollback-dataset
    "replica-init": FaultCase(
        _replica_init_world, writes_data=True, lab_through=("replica-sync", "compound")
    ),
    "replica-sync": FaultCase(_replica_sync_world, writes_data=True),
    "rollback": FaultCase(_rollback_world, start=_start_rollback, writes_data=True),
    # in the lab, the rollback of a completed sync is tests/real/test_replication_real.py's
    # (rolled back, then the next sync works); its calls are the undo steps of replica-sync,
    # which replica-sync's lab runs break, under a rollback transaction, which rollback's do.
    # Its world costs a replica-init of two pairs and a sync before each run: its 4 lab
    # runs took 220 s of the lab's 50 minutes.
    ROLLBACK_OF_SYNC: FaultCase(
        _rollback_sync_world,
        start=_start_rollback,
        writes_data=True,
        lab_through=("replica-sync", "rollback"),
    ),
    # the replica admin kinds (replica_admin_cases.py)
    "replica-failover": FaultCase(
        admin.failover_world, writes_data=True, lab_through=("replica-sync", "compound")
    ),
    "replica-pause": FaultCase(admin.pause_world, lab_through=("compound",)),
    "replica-resume": FaultCase(admin.resume_world, lab_through=("compound",)),
    "replica-takeover": FaultCase(
        admin.takeover_world, writes_data=True, lab_through=("replica-sync", "rollback-dataset")
    ),
    "replica-sync-to": FaultCase(
        admin.sync_to_world, writes_data=True, lab_through=("rollback-dataset", "replica-sync")
    ),
    "replica-expire": FaultCase(admin.expire_world, lab_through=("destroy-snapshots",)),
    "replica-clear": FaultCase(admin.clear_world, lab_through=("compound", "destroy-snapshots")),
    "replica-reconfigure": FaultCase(
        admin.reconfigure_world, lab_through=("replica-sync", "compound")
    ),
    # issue 14: a witness instruction's receive; its steps are the rollback swap and a
    # send|recv, which rollback-dataset's and replica-sync's lab runs break
    "witness-receive": FaultCase(
        _witness_receive_world,
        writes_data=True,
        lab_through=("rollback-dataset", "replica-sync"),
    ),
    # its other forced way: a copy without a base replaced (trash, then a full stream); in
    # the lab the trash's rename is destroy-snapshots', a dataset's destroy the undo of a
    # full send-receive in rollback's
    WITNESS_REPLACE: FaultCase(
        _witness_replace_world,
        start=_start_witness_receive,
        writes_data=True,
        lab_through=("rollback", "destroy-snapshots", "replica-sync"),
    ),
}

#: kinds that are not in TX_KINDS today but must have a case: the test-only compound kind,
#: and the rollback of a completed transaction (created by `manager.rollback`): of the
#: compound one (every step kind's inverse) and of a replica sync
EXTRA_KINDS = frozenset({"compound", "rollback", ROLLBACK_OF_SYNC, WITNESS_REPLACE})
