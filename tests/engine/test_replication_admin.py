"""The replica admin kinds (expire, pause, resume, clear, failover, takeover, sync-to,
reconfigure) on the model: a pair in two pools of this host, and a pair whose destination
is on a second host ("b", a model of its own with a pool of the same name as ours, so only
the host tells them apart). Each failure path is compared before and after; every zfs
command is counted where the number must not grow with the number of snapshots.

Pairs are made directly with the backend (replica_pairs.py), not by `replica init`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from tests.contract.world import TARGET_POOL, State, World, backend_kind
from tests.engine.conftest import FAST
from tests.engine.replica_pairs import DATA, Pair, Writer, make_pair, model_writer, plain_copy, send
from tests.engine.test_plan_reads import Counting
from tests.faults import FaultyBackend
from zfsyncd.store import Database, TransactionRecord, TxState
from zfsyncd.tx.errors import PlanError, RollbackRefusedError
from zfsyncd.tx.hosts import LOCAL, Host
from zfsyncd.tx.manager import TransactionManager
from zfsyncd.zfs.backend import CHANGING_CALLS, DestroyMode, ZfsBackend
from zfsyncd.zfs.memory import MemoryBackend

PEER_HOST = "b"
REAL = backend_kind() == "real"
# Written to run on real pools too (the local host is the world's), but model-only: a run
# of these in the lab takes tens of minutes under emulation, over the CI budget. The lab
# runs the same operations grouped into one test over shared pairs:
# tests/real/test_replication_admin_real.py (and through the daemon over ssh:
# tests/real/test_replica_daemon_ssh_real.py)
pytestmark = pytest.mark.skipif(
    REAL,
    reason="model-only; on the lab's real pools: tests/real/test_replication_admin_real.py",
)


class Counted(Counting):
    """Counting, as a send's target too (the model sends only into a model)."""

    async def send_recv(self, spec: Any, target: Any, recv: Any, **options: Any) -> Any:
        self.calls.append("send_recv")
        while isinstance(target, (Counting, FaultyBackend)):
            target = target.inner
        return await self.inner.send_recv(spec, target, recv, **options)


@dataclass
class Two:
    """An engine over two hosts: this one (the world's pools) and "b"."""

    world: World
    manager: TransactionManager
    local: FaultyBackend
    remote: FaultyBackend
    counting: Counting
    #: host b's model (what `remote` wraps)
    model: MemoryBackend

    async def write(self, host: str, dataset: str) -> None:
        """New data in `dataset` on `host`."""
        if host == LOCAL:
            await self.world.write(dataset, DATA)
        else:
            await model_writer(self.model)(dataset)

    def writer(self, host: str) -> Writer:
        async def write(dataset: str) -> None:
            await self.write(host, dataset)

        return write

    def zfs(self, host: str) -> ZfsBackend:
        """The host's backend, unwrapped (to make and look at things)."""
        return self.world.zfs if host == LOCAL else self.model

    async def pair(self, host: str, name: str = "fs", **options: Any) -> Pair:
        dst = f"{self.world.dst}/{name}" if host == LOCAL else f"{TARGET_POOL}/{name}"
        return await make_pair(
            self.world.zfs, f"{self.world.src}/{name}", self.zfs(host), dst,
            write=self.writer(LOCAL), host=host, **options,
        )  # fmt: skip

    async def reverse_pair(self, name: str = "rv", **options: Any) -> Pair:
        """A pair whose source is on host b and destination here (takeover runs here)."""
        return await make_pair(
            self.zfs(PEER_HOST), f"{TARGET_POOL}/{name}", self.world.zfs,
            f"{self.world.dst}/{name}", write=self.writer(PEER_HOST), host=LOCAL,
            src_host=PEER_HOST, **options,
        )  # fmt: skip

    def fail_next(self, host: str, skip: int = 0) -> None:
        """Make the changing call on `host` after `skip` more fail."""
        zfs = self.local if host == LOCAL else self.remote
        zfs.fail(len(zfs.calls) + skip)

    async def state(self, pair: Pair) -> State:
        found: State = {}
        for host, zfs, root in (
            (pair.src_host, pair.src_zfs, pair.src),
            (pair.host, pair.dst_zfs, pair.dst),
        ):
            seen = await World(zfs, root, root).state(root)
            found.update({f"{host}:{name}": entry for name, entry in seen.items()})
        return found

    async def run(self, kind: str, params: dict[str, Any]) -> TransactionRecord:
        record = await self.manager.submit(kind, params)
        return await self.manager.wait(record.id)

    async def rollback(self, tx_id: str) -> TransactionRecord:
        record = await self.manager.rollback(tx_id)
        await self.manager.start(record.id)
        return await self.manager.wait(record.id)

    async def refused(self, kind: str, params: dict[str, Any], why: str) -> list[str]:
        """Refused at plan time with `why`, nothing changed; the zfs calls the plan ran."""
        self.counting.calls.clear()
        with pytest.raises(PlanError, match=why):
            await self.manager.submit(kind, params)
        return list(self.counting.calls)


@pytest.fixture
async def two(world: World, tmp_path: Path) -> AsyncIterator[Two]:
    counting = Counted(world.zfs)
    local = FaultyBackend(counting)
    model = MemoryBackend(pools=(TARGET_POOL,))
    remote = FaultyBackend(model)
    hosts = {LOCAL: Host(LOCAL, local), PEER_HOST: Host(PEER_HOST, remote)}
    db = await Database.open(tmp_path / "zfsyncd.db")
    try:
        manager = TransactionManager(db, hosts, do_retry=FAST, undo_retry=FAST, max_parallel=4)
        yield Two(world, manager, local, remote, counting, model)
        await manager.shutdown()
    finally:
        await db.close()


#: the destination on this host, and on host b (the model only: b is a model)
HOSTS = [LOCAL, pytest.param(PEER_HOST, marks=pytest.mark.skipif(REAL, reason="b is a model"))]


async def local_values(zfs: ZfsBackend, name: str) -> dict[str, str]:
    return {k: v for k, v in (await zfs.local_properties(name)).items() if k.startswith("zfsync:")}


# ------------------------------------------------------------------ pause, resume


async def test_pause_then_resume_and_their_rollbacks(two: Two) -> None:
    pair = await two.pair(LOCAL)
    before = await two.state(pair)
    paused = await two.run("replica-pause", {"source": pair.src})
    assert paused.state is TxState.COMPLETED, paused.error
    assert (await local_values(two.world.zfs, pair.src))["zfsync:paused"] == "on"
    resumed = await two.run("replica-resume", {"source": pair.src})
    assert resumed.state is TxState.COMPLETED, resumed.error
    assert await two.state(pair) == before
    # rolling back the resume pauses again
    assert (await two.rollback(resumed.id)).state is TxState.COMPLETED
    assert (await local_values(two.world.zfs, pair.src))["zfsync:paused"] == "on"


async def test_pause_and_resume_read_the_source_once(two: Two) -> None:
    pair = await two.pair(LOCAL, snapshots=3)
    two.counting.calls.clear()
    assert (await two.run("replica-pause", {"source": pair.src})).state is TxState.COMPLETED
    # the plan's zfs get; the step's capture, set, and the engine's check of it
    assert two.counting.calls[0] == "get_properties"
    assert two.counting.calls.count("set_properties") == 1


async def test_pause_of_a_destination_is_refused_and_changes_nothing(two: Two) -> None:
    pair = await two.pair(LOCAL)
    before = await two.state(pair)
    await two.refused("replica-pause", {"source": pair.dst}, "is the destination of a replica")
    assert await two.state(pair) == before


async def test_a_failed_pause_leaves_the_source_as_it_was(two: Two) -> None:
    pair = await two.pair(LOCAL)
    before = await two.state(pair)
    two.local.fail(len(two.local.calls))  # the zfs set
    done = await two.run("replica-pause", {"source": pair.src})
    assert done.state is TxState.FAILED
    assert await two.state(pair) == before


# ------------------------------------------------------------------ failover, takeover


async def roles(pair: Pair) -> tuple[tuple[str | None, str | None], ...]:
    """(zfsync:role, readonly) of the source and of the destination, as set on each."""
    found = []
    for zfs, name in ((pair.src_zfs, pair.src), (pair.dst_zfs, pair.dst)):
        local = await zfs.local_properties(name)
        found.append((local.get("zfsync:role"), local.get("readonly")))
    return tuple(found)


@pytest.mark.parametrize("host", HOSTS)
async def test_failover_swaps_roles_and_its_rollback_swaps_them_back(two: Two, host: str) -> None:
    pair = await two.pair(host)
    before = await two.state(pair)
    done = await two.run("replica-failover", {"source": pair.src})
    assert done.state is TxState.COMPLETED, done.error
    assert await roles(pair) == (("destination", "on"), ("source", "off"))
    assert (await two.rollback(done.id)).state is TxState.COMPLETED
    assert await two.state(pair) == before


@pytest.mark.parametrize("host", HOSTS)
async def test_a_failover_that_fails_on_the_peer_leaves_both_as_they_were(
    two: Two, host: str
) -> None:
    pair = await two.pair(host)
    before = await two.state(pair)
    # the local set is the first changing call; the peer's the next one on its host
    two.fail_next(host, skip=1 if host == LOCAL else 0)
    done = await two.run("replica-failover", {"source": pair.src})
    assert done.state is TxState.FAILED
    assert await two.state(pair) == before


@pytest.mark.parametrize("host", HOSTS)
async def test_failover_then_takeover_back(two: Two, host: str) -> None:
    pair = await two.pair(host)
    assert (await two.run("replica-failover", {"source": pair.src})).state is TxState.COMPLETED
    # the old source is now the destination: taking it over swaps the pair back
    back = await two.run("replica-takeover", {"destination": pair.src})
    assert back.state is TxState.COMPLETED, back.error
    assert await roles(pair) == (("source", "off"), ("destination", "on"))


@pytest.mark.parametrize("host", HOSTS)
async def test_failover_with_unsent_data_syncs_it_first(two: Two, host: str) -> None:
    pair = await two.pair(host)
    await two.write(LOCAL, pair.src)
    done = await two.run("replica-failover", {"source": pair.src})
    assert done.state is TxState.COMPLETED, done.error
    final = f"zfsync_{done.id}"
    assert shorts(await pair.dst_zfs.list(pair.dst))[-1] == final
    assert await base_holds(pair.dst_zfs, pair.dst) == [f"{pair.dst}@{final}"]
    assert await roles(pair) == (("destination", "on"), ("source", "off"))


@pytest.mark.parametrize("host", HOSTS)
async def test_a_failover_whose_final_sync_fails_changes_nothing(two: Two, host: str) -> None:
    pair = await two.pair(host)
    await two.write(LOCAL, pair.src)
    before = await two.state(pair)
    broken = len(two.local.calls) + 3  # freeze, snapshot, its bookmark, then the send
    two.local.fail(broken)
    done = await two.run("replica-failover", {"source": pair.src})
    assert done.state is TxState.FAILED
    assert two.local.calls[broken].startswith("send_recv")
    assert await two.state(pair) == before


async def test_failover_local_only_changes_this_side_alone(two: Two) -> None:
    pair = await two.pair(LOCAL)
    await two.write(LOCAL, pair.src)
    done = await two.run("replica-failover", {"source": pair.src, "local_only": True})
    assert done.state is TxState.COMPLETED, done.error
    assert await roles(pair) == (("destination", "on"), ("destination", "on"))
    assert shorts(await pair.dst_zfs.list(pair.dst)) == ["zfsync_1", "zfsync_2"]


async def test_failover_refuses_a_diverged_destination(two: Two) -> None:
    pair = await two.pair(LOCAL)
    await two.world.zfs.snapshot([f"{pair.dst}@someone_elses"])
    before = await two.state(pair)
    await two.refused("replica-failover", {"source": pair.src}, "has diverged")
    assert await two.state(pair) == before


@pytest.mark.skipif(REAL, reason="b is a model")
async def test_takeover_from_a_source_on_another_host(two: Two) -> None:
    pair = await two.reverse_pair()
    done = await two.run("replica-takeover", {"destination": pair.dst})
    assert done.state is TxState.COMPLETED, done.error
    assert await roles(pair) == (("destination", "on"), ("source", "off"))


async def test_takeover_of_a_snapshot_rolls_back_and_moves_the_base_hold(two: Two) -> None:
    pair = await two.pair(LOCAL, snapshots=3)
    params = {"destination": pair.dst, "snapshot": "zfsync_1"}
    done = await two.run("replica-takeover", params)
    assert done.state is TxState.COMPLETED, done.error
    snaps = {o.short_name: o.userrefs for o in await two.world.zfs.list(pair.dst) if o.is_snapshot}
    assert snaps == {"zfsync_1": 1}
    assert [h.tag for h in await two.world.zfs.holds(pair.dst_snap(1))] == ["zfsync_replica"]
    assert await roles(pair) == (("destination", "on"), ("source", "off"))


async def test_a_takeover_of_a_snapshot_that_fails_in_the_swap_is_undone(two: Two) -> None:
    pair = await two.pair(LOCAL, snapshots=3)
    before = await two.state(pair)
    # demote the source (1 call), hold, release, then the swap's clone: break the promote
    two.fail_next(LOCAL, skip=4)
    done = await two.run("replica-takeover", {"destination": pair.dst, "snapshot": "zfsync_1"})
    assert done.state is TxState.FAILED
    assert any("promote" in c for c in two.local.calls[-12:])
    assert await two.state(pair) == before


# ------------------------------------------------------------------ sync-to


async def sent_marks(pair: Pair) -> dict[str, bool]:
    listed = await pair.src_zfs.list(pair.src, user_properties=("zfsync:sent",))
    return {o.short_name: "zfsync:sent" in o.user_properties for o in listed if o.is_snapshot}


async def base_holds(zfs: ZfsBackend, dataset: str) -> list[str]:
    snaps = [o.name for o in await zfs.list(dataset) if o.is_snapshot]
    return [h.snapshot for h in await zfs.holds_many(snaps) if h.tag == "zfsync_replica"]


@pytest.mark.parametrize("host", HOSTS)
async def test_sync_to_rolls_the_destination_back_and_the_pair_goes_on_from_there(
    two: Two, host: str
) -> None:
    pair = await two.pair(host, snapshots=3)
    # someone tried something on the destination (made writable first: real ZFS refuses a
    # write to a read-only one)
    await pair.dst_zfs.set_properties(pair.dst, {"readonly": "off"})
    await two.write(host, pair.dst)
    done = await two.run("replica-sync-to", {"snapshot": pair.src_snap(1)})
    assert done.state is TxState.COMPLETED, done.error
    assert [o.short_name for o in await pair.dst_zfs.list(pair.dst) if o.is_snapshot] == [
        "zfsync_1"
    ]
    assert await base_holds(pair.dst_zfs, pair.dst) == [pair.dst_snap(1)]
    assert await base_holds(pair.src_zfs, pair.src) == [pair.src_snap(1)]
    assert await sent_marks(pair) == {"zfsync_1": True, "zfsync_2": False, "zfsync_3": False}
    # the source's snapshots stay, and the next incremental from the new base applies
    await send(pair, 3)
    assert pair.dst_snap(3) in {o.name for o in await pair.dst_zfs.list(pair.dst)}
    # the swap is final once completed: no rollback of it
    with pytest.raises(RollbackRefusedError):
        await two.manager.rollback(done.id)


@pytest.mark.parametrize("host", HOSTS)
async def test_a_sync_to_that_fails_leaves_both_sides_as_they_were(two: Two, host: str) -> None:
    pair = await two.pair(host, snapshots=3)
    before = await two.state(pair)
    # the second call here: on b, the source's release after the destination's swap; with
    # both on this host, the destination's release before it
    two.fail_next(LOCAL, skip=1)
    done = await two.run("replica-sync-to", {"snapshot": pair.src_snap(1)})
    assert done.state is TxState.FAILED
    assert await two.state(pair) == before


async def test_sync_to_a_snapshot_the_destination_never_had_is_refused(two: Two) -> None:
    pair = await two.pair(LOCAL, snapshots=2)
    await two.world.zfs.snapshot([f"{pair.src}@zfsync_late"])
    before = await two.state(pair)
    why = "has no snapshot with the guid of"
    await two.refused("replica-sync-to", {"snapshot": f"{pair.src}@zfsync_late"}, why)
    assert await two.state(pair) == before


# ------------------------------------------------------------------ expire


def shorts(objects: list[Any]) -> list[str]:
    return [o.short_name for o in objects if o.is_snapshot]


@pytest.mark.parametrize("host", HOSTS)
async def test_expire_keeps_each_sides_own_savecount(two: Two, host: str) -> None:
    pair = await two.pair(host, snapshots=6, savecount=2, dst_savecount=4)
    await two.world.zfs.hold("mine", [pair.src_snap(1)])  # someone else's hold
    done = await two.run("replica-expire", {"sources": [pair.src]})
    assert done.state is TxState.COMPLETED, done.error
    assert shorts(await pair.src_zfs.list(pair.src)) == ["zfsync_1", "zfsync_5", "zfsync_6"]
    assert shorts(await pair.dst_zfs.list(pair.dst)) == [f"zfsync_{n}" for n in (3, 4, 5, 6)]
    assert await two.manager.cleanups.pending() == []


async def test_expire_leaves_a_snapshot_someone_cloned_to_look_into(two: Two) -> None:
    pair = await two.pair(LOCAL, snapshots=4, savecount=1)
    look = f"{two.world.dst}/look"
    await two.world.zfs.clone(pair.dst_snap(1), look)
    done = await two.run("replica-expire", {"sources": [pair.src]})
    assert done.state is TxState.COMPLETED, done.error
    assert shorts(await pair.dst_zfs.list(pair.dst)) == ["zfsync_1", "zfsync_4"]
    assert (await two.world.zfs.get(look)).origin == pair.dst_snap(1)
    assert await two.manager.cleanups.pending() == []


async def test_expire_never_takes_the_newest_common_snapshot(two: Two) -> None:
    pair = await two.pair(LOCAL, snapshots=2, savecount=1)
    for n in (3, 4):  # taken, not sent
        await two.world.zfs.snapshot([pair.src_snap(n)])
    done = await two.run("replica-expire", {"sources": [pair.src]})
    assert done.state is TxState.COMPLETED, done.error
    assert shorts(await pair.src_zfs.list(pair.src)) == ["zfsync_2", "zfsync_4"]
    assert shorts(await pair.dst_zfs.list(pair.dst)) == ["zfsync_2"]


@pytest.mark.parametrize("host", HOSTS)
async def test_a_failed_expire_puts_every_snapshot_back(two: Two, host: str) -> None:
    pair = await two.pair(host, snapshots=5, savecount=1)
    before = await two.state(pair)
    two.fail_next(LOCAL, skip=2)  # the third rename on this host
    done = await two.run("replica-expire", {"sources": [pair.src]})
    assert done.state is TxState.FAILED
    assert await two.state(pair) == before


async def test_expire_reads_the_same_whatever_the_number_of_pairs_and_snapshots(two: Two) -> None:
    async def reads(pairs: int, snapshots: int) -> list[str]:
        for i in range(pairs):
            await two.pair(LOCAL, f"n{pairs}_{i}", snapshots=snapshots, savecount=1)
        two.counting.calls.clear()
        done = await two.run("replica-expire", {})
        assert done.state is TxState.COMPLETED, done.error
        return [c for c in two.counting.calls if c not in CHANGING_CALLS]

    one = await reads(1, 3)
    assert await reads(4, 6) == one
    # planning: every pool of this host, one `zfs list -r` without names (no `-d 0` of
    # the pools first; the destinations here are in that reading too, and so are the
    # clones and the held snapshots); then the step's own reading
    assert one[:2] == ["list_every_pool", "list_reached"]


# ------------------------------------------------------------------ clear


@pytest.mark.parametrize("host", HOSTS)
async def test_clear_forgets_the_pair_on_both_ends_and_keeps_the_snapshots(
    two: Two, host: str
) -> None:
    pair = await two.pair(host, snapshots=3)
    done = await two.run("replica-clear", {"source": pair.src})
    assert done.state is TxState.COMPLETED, done.error
    for zfs, name in ((pair.src_zfs, pair.src), (pair.dst_zfs, pair.dst)):
        assert await local_values(zfs, name) == {}
        assert await base_holds(zfs, name) == []
        assert len(shorts(await zfs.list(name))) == 3
    assert not any((await sent_marks(pair)).values())
    # the pair is gone: a second clear has nothing to act on
    await two.refused("replica-clear", {"source": pair.src}, "is not part of a replica pair")


@pytest.mark.parametrize("host", HOSTS)
async def test_clear_with_its_snapshots_and_a_failure_in_the_middle(two: Two, host: str) -> None:
    pair = await two.pair(host, snapshots=3)
    before = await two.state(pair)
    # the second host's last change (the properties) fails: everything comes back
    params = {"source": pair.src, "destroy_snapshots": True}
    if host == LOCAL:
        two.fail_next(LOCAL, skip=3 + 3 + 1)  # release, 3 renames, set; release, 3 renames
    else:
        two.fail_next(host, skip=1 + 3)
    done = await two.run("replica-clear", params)
    assert done.state is TxState.FAILED
    assert await two.state(pair) == before
    done = await two.run("replica-clear", params)
    assert done.state is TxState.COMPLETED, done.error
    assert shorts(await pair.src_zfs.list(pair.src)) == []
    assert shorts(await pair.dst_zfs.list(pair.dst)) == []


async def test_clear_of_a_pair_whose_destination_is_gone(two: Two) -> None:
    pair = await two.pair(LOCAL)
    await two.world.zfs.release("zfsync_replica", [pair.dst_snap(2)])
    await two.world.zfs.destroy(pair.dst, mode=DestroyMode.RECURSIVE)
    done = await two.run("replica-clear", {"source": pair.src})
    assert done.state is TxState.COMPLETED, done.error
    assert "(this end only: its peer" in done.description
    assert await local_values(two.world.zfs, pair.src) == {}
    assert await base_holds(two.world.zfs, pair.src) == []


# ------------------------------------------------------------------ reconfigure


@pytest.mark.parametrize("host", HOSTS)
async def test_reconfigure_to_a_plain_copy_on_another_host(two: Two, host: str) -> None:
    pair = await two.pair(LOCAL, snapshots=3)
    new = f"{TARGET_POOL}/new" if host != LOCAL else f"{two.world.dst}/new"
    await plain_copy(pair, two.zfs(host), new, upto=2)  # one snapshot behind
    old = await two.state(pair)
    done = await two.run(
        "replica-reconfigure", {"source": pair.src, "destination": f"{host}:{new}"}
    )
    assert done.state is TxState.COMPLETED, done.error
    assert (await local_values(two.world.zfs, pair.src))["zfsync:peer"] == f"{host}:{new}"
    assert await local_values(two.zfs(host), new) == {
        "zfsync:role": "destination",
        "zfsync:peer": f"local:{pair.src}",
        "zfsync:savecount": "5",
    }
    assert await base_holds(two.zfs(host), new) == [f"{new}@zfsync_2"]
    assert await base_holds(two.world.zfs, pair.src) == [pair.src_snap(2)]
    assert await sent_marks(pair) == {"zfsync_1": True, "zfsync_2": True, "zfsync_3": False}
    # the old destination is left as it was
    assert {k: v for k, v in (await two.state(pair)).items() if pair.dst in k} == {
        k: v for k, v in old.items() if pair.dst in k
    }
    # a sync to the new one goes on from their common snapshot (by guid)
    moved = replace(pair, dst=new, host=host, dst_zfs=two.zfs(host))
    await send(moved, 3)


async def test_a_reconfigure_that_fails_at_the_end_changes_nothing(two: Two) -> None:
    pair = await two.pair(LOCAL, snapshots=2)
    new = f"{two.world.dst}/new"
    await plain_copy(pair, two.world.zfs, new, upto=2)
    before = {**await two.state(pair), **await two.world.state(new)}
    two.fail_next(LOCAL, skip=2)  # its properties, its hold, then the source's hold fails
    params = {"source": pair.src, "destination": new}
    assert (await two.run("replica-reconfigure", params)).state is TxState.FAILED
    assert {**await two.state(pair), **await two.world.state(new)} == before


async def test_reconfigure_to_a_dataset_that_does_not_exist_says_init_is_needed(
    two: Two,
) -> None:
    pair = await two.pair(LOCAL)
    before = await two.state(pair)
    params = {"source": pair.src, "destination": f"{two.world.dst}/none"}
    await two.refused("replica-reconfigure", params, "does not exist: a new destination is made")
    assert await two.state(pair) == before


async def test_takeover_with_a_source_here_syncs_it_first(two: Two) -> None:
    pair = await two.pair(LOCAL)
    await two.write(LOCAL, pair.src)
    done = await two.run("replica-takeover", {"destination": pair.dst})
    assert done.state is TxState.COMPLETED, done.error
    assert shorts(await pair.dst_zfs.list(pair.dst))[-1] == f"zfsync_{done.id}"
    assert await roles(pair) == (("destination", "on"), ("source", "off"))


@pytest.mark.skipif(REAL, reason="b is a model")
async def test_takeover_from_a_source_elsewhere_with_unsent_data_is_refused(two: Two) -> None:
    pair = await two.reverse_pair()
    await two.write(PEER_HOST, pair.src)
    before = await two.state(pair)
    await two.refused("replica-takeover", {"destination": pair.dst}, "on its host first")
    assert await two.state(pair) == before


# ------------------------------------------------------------------ what planning reads


def _requests(pair: Pair) -> dict[str, dict[str, Any]]:
    return {
        "replica-pause": {"source": pair.src},
        "replica-expire": {"sources": [pair.src]},
        "replica-clear": {"source": pair.src, "destroy_snapshots": True},
        "replica-failover": {"source": pair.src},
        "replica-takeover": {"destination": pair.dst, "snapshot": "zfsync_1"},
        "replica-sync-to": {"snapshot": pair.src_snap(1)},
        "replica-reconfigure": {"source": pair.src, "destination": f"{pair.dst}_new"},
    }


#: one end: its `zfs get` (ends.py) and its inventory (a `zfs list`, a `zfs holds`)
END = ["get_properties", "list_many", "holds_many"]
#: one end read to decide from `written` (a final sync): its pool settled first (`zpool sync`)
SETTLED = ["get_properties", "settle", "list_many", "holds_many"]
#: the pool of a dataset rolled back by the swap (rollback_refusal.read_facts)
SWAP = ["list", "get_properties", "local_properties"]
PLAN_READS = {
    "replica-pause": ["get_properties"],
    # this side's listing, then the other side's, which tell which snapshots are held
    # (userrefs) too: no `zfs holds`; and beside the other side's, the datasets of each
    # host's pools for their clones (one host here: one reading)
    "replica-expire": ["list_many", "list_many", "list_many"],
    # with destroy_snapshots: each end's pool for its clones
    "replica-clear": [*END, *END, "list_many", "list_many"],
    "replica-failover": SETTLED + SETTLED,
    "replica-takeover": SETTLED + SETTLED + SWAP,
    "replica-sync-to": END + END + SWAP,
    # the new destination, a plain copy, has no hold: no `zfs holds` of it
    "replica-reconfigure": [*END, "get_properties", "list_many"],
}


@pytest.mark.parametrize("kind", sorted(PLAN_READS))
async def test_planning_reads_the_same_for_2_and_12_snapshots(two: Two, kind: str) -> None:
    async def reads(snapshots: int) -> list[str]:
        pair = await two.pair(LOCAL, f"{kind}{snapshots}", snapshots=snapshots, savecount=1)
        await plain_copy(pair, two.world.zfs, f"{pair.dst}_new", upto=snapshots)
        record = await two.manager.create(kind, _requests(pair)[kind])
        two.counting.calls.clear()
        await two.manager.prepare(record.id)
        calls = list(two.counting.calls)
        await two.manager.cancel(record.id)
        return calls

    # the same calls, in any order: some plans read several things at once
    assert sorted(await reads(2)) == sorted(await reads(12)) == sorted(PLAN_READS[kind])


async def test_a_peer_on_a_host_no_longer_configured(two: Two) -> None:
    """clear forgets this end alone; failover is refused, naming the host."""
    pair = await make_pair(
        two.world.zfs, f"{two.world.src}/fs", two.world.zfs, f"{two.world.dst}/fs",
        write=two.writer(LOCAL), host="gone",
    )  # fmt: skip
    before = await two.state(pair)
    await two.refused("replica-failover", {"source": pair.src}, "host 'gone' is not configured")
    assert await two.state(pair) == before
    done = await two.run("replica-clear", {"source": pair.src})
    assert done.state is TxState.COMPLETED, done.error
    assert "(this end only: host 'gone' is not configured" in done.description
    assert await local_values(two.world.zfs, pair.src) == {}
    assert await local_values(two.world.zfs, pair.dst) != {}  # not reached: left as it was


async def test_with_init_and_sync_a_pair_fails_over_syncs_back_and_is_taken_back(
    two: Two,
) -> None:
    """The whole round with replica-init and replica-sync in between, on this host: data
    written on each side while it is the source arrives on the other."""
    src, dst = f"{two.world.src}/round", f"{two.world.dst}/round"
    await two.world.zfs.create(src)
    await two.world.write(src, DATA)
    steps = [
        ("replica-init", {"source": src, "destination": dst}),
        ("replica-failover", {"source": src}),  # dst is the source now
        ("replica-sync", {"sources": [dst]}),
        ("replica-takeover", {"destination": src}),  # the final sync brings dst's data back
        ("replica-sync", {"sources": [src]}),
    ]
    writes = {2: dst, 3: dst, 4: src}
    for n, (kind, params) in enumerate(steps):
        if n in writes:
            await two.world.write(writes[n], DATA)
        done = await two.run(kind, params)
        assert done.state is TxState.COMPLETED, (kind, done.error)
    pair = Pair(src, dst, LOCAL, two.world.zfs, two.world.zfs)
    assert await roles(pair) == (("source", "off"), ("destination", "on"))
    guids = [
        [o.guid for o in await two.world.zfs.list(name) if o.is_snapshot] for name in (src, dst)
    ]
    assert guids[0][-1] == guids[1][-1]  # in step: the newest snapshot is shared
    assert await two.world.contents(src) == await two.world.contents(dst)
