"""The rollback of a completed replica-sync on the model (issue 10: "Rolling back a sync
transaction destroys what it received and restores the holds, bookmarks and sent marker,
so the next sync works"), and the expiry that follows a sync as a transaction of its own.

Both hosts are compared as the fault harness compares them (`zfs list -t all`: names,
guids, createtxgs, properties, holds) with their state before the sync."""

from __future__ import annotations

from typing import Any

import pytest

from tests.faults import InjectedError
from zfsyncd.ops.replication import props
from zfsyncd.store import TransactionRecord, TxState
from zfsyncd.tx.core import Caller
from zfsyncd.tx.errors import RollbackRefusedError
from zfsyncd.tx.kinds import FOLLOWS

from .replicas import KIB, MODEL_ONLY, Replicas, filesystem, guids, replicas

pytestmark = MODEL_ONLY

__all__ = ["replicas"]
ALICE = Caller(1000, ":1.42")


async def _pair(r: Replicas, name: str, **init: Any) -> str:
    """src/NAME replicated to backup:bak/NAME; the short name of its first snapshot."""
    await filesystem(r.local, f"src/{name}")
    done = await r.done(
        "replica-init", {"source": f"src/{name}", "destination": f"backup:bak/{name}", **init}
    )
    return f"zfsync_{done.id}"


async def _roll_back(r: Replicas, tx_id: str) -> TransactionRecord:
    record = await r.manager.rollback(tx_id)
    await r.manager.start(record.id)
    done = await r.manager.wait(record.id)
    assert done.state is TxState.COMPLETED, done.error
    assert await r.manager.cleanups.pending() == []
    return done


async def _follow_ups(r: Replicas, tx_id: str) -> list[TransactionRecord]:
    return [t for t in await r.manager.list() if t.metadata.get(FOLLOWS) == tx_id]


async def test_a_rolled_back_sync_leaves_both_hosts_as_before_and_the_next_sync_works(
    r: Replicas,
) -> None:
    base = await _pair(r, "a")
    await _pair(r, "b")
    for name in ("a", "b"):
        r.local.write(f"src/{name}", 64 * KIB)
    await r.local.snapshot(["src/a@hourly"])  # goes along (-I), gets the sent marker
    r.local.write("src/a", 4 * KIB)
    before = await r.everything()
    sync = await r.done("replica-sync", {"sources": ["src/a", "src/b"], "parallel": 2})
    new = f"zfsync_{sync.id}"
    assert list(await guids(r.backup, "bak/a")) == [base, "hourly", new]
    done = await _roll_back(r, sync.id)
    assert await r.everything() == before
    assert [s.kind for s in done.steps] == [
        "set-user-property", "move-hold", "move-hold", "take-back-received",
        "destroy-bookmarks", "destroy-snapshots",
    ]  # fmt: skip
    # the destination is back at its base: nothing counts as written since (not diverged)
    assert (await r.backup.list_many(["bak/a"], written=True))[0].written == 0
    again = await r.done("replica-sync", {"sources": ["src/a", "src/b"]})
    assert list(await guids(r.backup, "bak/a")) == [base, "hourly", f"zfsync_{again.id}"]
    assert await guids(r.backup, "bak/a") == await guids(r.local, "src/a")
    assert [h.tag for h in await r.backup.holds(f"bak/a@zfsync_{again.id}")] == [props.BASE_HOLD]


async def test_a_recursive_pair_is_rolled_back_too(r: Replicas) -> None:
    await filesystem(r.local, "src/t")
    await filesystem(r.local, "src/t/c")
    await r.done(
        "replica-init", {"source": "src/t", "destination": "backup:bak/t", "recursive": True}
    )
    r.local.write("src/t/c", 8 * KIB)
    before = await r.everything()
    sync = await r.done("replica-sync", {"sources": ["src/t"]})
    await _roll_back(r, sync.id)
    assert await r.everything() == before
    await r.done("replica-sync", {"sources": ["src/t"]})


async def test_a_sync_from_a_bookmark_base_is_rolled_back_too(r: Replicas) -> None:
    """The source kept only the bookmark of the base (-i): only the destination's base is
    held again; the next sync goes from the bookmark again."""
    base = await _pair(r, "a")
    await r.local.release(props.BASE_HOLD, [f"src/a@{base}"])
    await r.local.destroy(f"src/a@{base}")
    r.local.write("src/a", 64 * KIB)
    before = await r.everything()
    sync = await r.done("replica-sync", {"sources": ["src/a"]})
    await _roll_back(r, sync.id)
    assert await r.everything() == before
    again = await r.done("replica-sync", {"sources": ["src/a"]})
    assert r.recorders["local"].sends[-1].base == f"src/a#{base}"
    assert list(await guids(r.backup, "bak/a")) == [base, f"zfsync_{again.id}"]


async def test_a_sync_is_rolled_back_only_after_the_later_ones(r: Replicas) -> None:
    await _pair(r, "a")
    before: list[dict[str, Any]] = []
    syncs: list[TransactionRecord] = []
    for _ in range(2):
        r.local.write("src/a", 8 * KIB)
        before.append(await r.everything())
        syncs.append(await r.done("replica-sync", {"sources": ["src/a"]}))
    with pytest.raises(RollbackRefusedError, match=f"later transactions.*{syncs[1].id}"):
        await r.manager.rollback(syncs[0].id)
    await _roll_back(r, syncs[1].id)
    assert await r.everything() == before[1]
    await _roll_back(r, syncs[0].id)
    assert await r.everything() == before[0]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ("snapshot", "bak/a has snapshots the sync did not bring: bak/a@mine"),
        ("write", "bak/a was written to after its newest snapshot"),
    ],
)
async def test_a_destination_changed_since_is_refused_at_plan_time(
    r: Replicas, change: str, words: str
) -> None:
    await _pair(r, "a")
    r.local.write("src/a", 8 * KIB)
    sync = await r.done("replica-sync", {"sources": ["src/a"]})
    if change == "snapshot":
        await r.backup.snapshot(["bak/a@mine"])
    else:
        r.backup.write("bak/a", 4 * KIB)
    changed = await r.everything()
    record = await r.manager.rollback(sync.id)
    with pytest.raises(RollbackRefusedError, match=words):
        await r.manager.prepare(record.id)
    assert (await r.manager.get(record.id)).state is TxState.FAILED
    assert await r.everything() == changed


async def test_a_failed_rollback_of_a_sync_changes_nothing(r: Replicas) -> None:
    """The received snapshots go to the trash first: a later step that fails (here the
    destroy of the source's snapshot) puts them back, with the rest."""
    await _pair(r, "a")
    r.local.write("src/a", 8 * KIB)
    sync = await r.done("replica-sync", {"sources": ["src/a"]})
    synced = await r.everything()

    def breaking(index: int, label: str) -> None:
        if label.startswith("rename"):
            raise InjectedError(["rename"], 1, f"injected failure of {label}")

    r.faults["local"].on_call = breaking
    record = await r.manager.rollback(sync.id)
    await r.manager.start(record.id)
    done = await r.manager.wait(record.id)
    r.faults["local"].on_call = None
    assert done.state is TxState.FAILED
    assert (done.rollback_outcome or "").startswith("complete"), done.rollback_outcome
    assert await r.everything() == synced
    await _roll_back(r, sync.id)  # and it can be done once the fault is gone


async def _rollback_calls(r: Replicas, count: int) -> dict[str, list[str]]:
    sources = [f"src/n{count}_{i}" for i in range(count)]
    for name in sources:
        await _pair(r, name[4:])
        r.local.write(name, 4 * KIB)
    sync = await r.done("replica-sync", {"sources": sources})
    r.forget_calls()
    await _roll_back(r, sync.id)
    return r.calls()


async def test_the_rollback_of_a_sync_reads_each_host_a_constant_number_of_times(
    r: Replicas,
) -> None:
    """Its readings and its holds do not grow with the number of datasets; what grows is
    what zfs does one object a command: a snapshot's rename to the trash and its destroy,
    a bookmark's destroy, a destination's rollback to its base."""
    one = await _rollback_calls(r, 1)
    twenty = await _rollback_calls(r, 20)
    grown = {
        host: sorted(c for c in set(twenty[host]) if twenty[host].count(c) != one[host].count(c))
        for host in twenty
    }
    assert grown == {"local": ["destroy", "rename"], "backup": ["destroy", "rename", "rollback"]}
    assert twenty["backup"].count("rollback") == 20


# ------------------------------------------------------------------ the expiry that follows


async def test_the_expiry_follows_a_sync_as_its_own_transaction(r: Replicas) -> None:
    await _pair(r, "a", savecount=2)
    made = []
    for _ in range(3):
        r.local.write("src/a", 4 * KIB)
        asked = await r.manager.submit("replica-sync", {"sources": ["src/a"]}, caller=ALICE)
        sync = await r.manager.wait(asked.id)  # the expiry has ended too
        assert sync.state is TxState.COMPLETED, sync.error
        made.append(f"zfsync_{sync.id}")
        assert "destroy-snapshots" not in [s.kind for s in sync.steps]
    [expiry] = await _follow_ups(r, sync.id)
    assert (expiry.type, expiry.state) == ("replica-expire", TxState.COMPLETED)
    assert expiry.params == {"sources": ["src/a"]}
    assert f"(after {sync.id})" in (expiry.description or "")
    assert expiry.uid == ALICE.uid  # on behalf of who asked for the sync
    assert [s.kind for s in expiry.steps] == ["destroy-snapshots", "destroy-snapshots"]
    assert list(await guids(r.local, "src/a")) == made[-2:]
    assert list(await guids(r.backup, "bak/a")) == made[-2:]
    # what it destroyed cannot come back: it is final
    with pytest.raises(RollbackRefusedError, match="cannot be brought back"):
        await r.manager.rollback(expiry.id)
    # an earlier sync: the later one stands in the way, final expiries or not
    with pytest.raises(RollbackRefusedError, match=f"later transactions.*{made[-1][7:]}"):
        await r.manager.rollback(made[-2][7:])
    # the sync it followed: the expiry stands aside (it took only older snapshots; the
    # base the rollback goes back to is there), what it destroyed stays destroyed
    await _roll_back(r, sync.id)
    assert list(await guids(r.local, "src/a")) == list(await guids(r.backup, "bak/a")) == [made[-2]]
    for zfs, name in ((r.local, "src/a"), (r.backup, "bak/a")):
        assert [h.tag for h in await zfs.holds(f"{name}@{made[-2]}")] == [props.BASE_HOLD]
    r.local.write("src/a", 4 * KIB)
    again = await r.done("replica-sync", {"sources": ["src/a"]})
    assert list(await guids(r.backup, "bak/a")) == [made[-2], f"zfsync_{again.id}"]


async def test_a_sync_whose_expiry_took_its_base_is_refused_at_plan_time(r: Replicas) -> None:
    """savecount 1: the expiry after the sync destroys the base the sync came from, which
    its rollback would have to hold again and roll the destination back to."""
    base = await _pair(r, "a", savecount=1)
    r.local.write("src/a", 4 * KIB)
    sync = await r.done("replica-sync", {"sources": ["src/a"]})
    assert base not in await guids(r.local, "src/a")
    synced = await r.everything()
    record = await r.manager.rollback(sync.id)
    with pytest.raises(RollbackRefusedError, match=f"src/a@{base} to hold again is gone"):
        await r.manager.prepare(record.id)
    assert await r.everything() == synced


async def test_an_expiry_with_nothing_to_destroy_does_not_stand_in_the_way(r: Replicas) -> None:
    await _pair(r, "a")  # savecount 5
    r.local.write("src/a", 4 * KIB)
    sync = await r.done("replica-sync", {"sources": ["src/a"]})
    [expiry] = await _follow_ups(r, sync.id)
    assert (expiry.state, expiry.steps, expiry.datasets) == (TxState.COMPLETED, [], [])
    await _roll_back(r, sync.id)


async def test_a_sync_with_nothing_to_do_has_no_follow_up(r: Replicas) -> None:
    await _pair(r, "a")
    sync = await r.done("replica-sync", {"sources": ["src/a"]})
    assert sync.steps == []
    assert await _follow_ups(r, sync.id) == []


async def test_a_failed_expiry_leaves_the_sync_completed(r: Replicas) -> None:
    await _pair(r, "a", savecount=1)
    r.local.write("src/a", 4 * KIB)

    def breaking(index: int, label: str) -> None:
        if label.startswith("rename"):  # the expiry's move to the trash
            raise InjectedError(["rename"], 1, f"injected failure of {label}")

    r.faults["backup"].on_call = breaking
    sync = await r.done("replica-sync", {"sources": ["src/a"]})
    r.faults["backup"].on_call = None
    [expiry] = await _follow_ups(r, sync.id)
    assert expiry.state is TxState.FAILED
    assert (expiry.rollback_outcome or "").startswith("complete"), expiry.rollback_outcome
    assert len(await guids(r.backup, "bak/a")) == 2  # nothing expired on either side
    assert len(await guids(r.local, "src/a")) == 2


@pytest.fixture
def r(replicas: Replicas) -> Replicas:
    return replicas


async def test_bases_held_by_someone_else_or_by_no_one(r: Replicas) -> None:
    """The plan reads no tags, only whether a snapshot is held (`userrefs`): the source's
    base held by someone else alone keeps that hold and gets none of ours before the
    stream; the destination's base held by no one gets ours for the stream. After it, the
    base hold is on the new snapshots alone, the other hold where it was; the rollback of
    the sync puts every hold back as it was."""
    base = await _pair(r, "a")
    await r.local.release(props.BASE_HOLD, [f"src/a@{base}"])
    await r.local.hold("mine", [f"src/a@{base}"])
    await r.backup.release(props.BASE_HOLD, [f"bak/a@{base}"])
    r.local.write("src/a", 64 * KIB)
    before = await r.everything()
    sync = await r.done("replica-sync", {"sources": ["src/a"]})
    held = [s for s in sync.steps if s.kind == "hold"]
    assert [(s.args["host"], s.args["snapshots"]) for s in held] == [("backup", [f"bak/a@{base}"])]
    new = f"zfsync_{sync.id}"

    async def tags(zfs: Any, snapshot: str) -> list[str]:
        return sorted(h.tag for h in await zfs.holds(snapshot))

    assert await tags(r.local, f"src/a@{base}") == ["mine"]
    assert await tags(r.backup, f"bak/a@{base}") == []
    assert await tags(r.local, f"src/a@{new}") == await tags(r.backup, f"bak/a@{new}")
    assert await tags(r.backup, f"bak/a@{new}") == [props.BASE_HOLD]
    await _roll_back(r, sync.id)
    assert await r.everything() == before


async def test_the_base_hold_of_many_pairs_moves_from_their_parent(r: Replicas) -> None:
    """Each snapshot named to `zfs hold` or `zfs release` is a sync task of its own (a txg
    each): the new bases of a sync of many pairs share one name, and so do the old ones
    once a sync made them, so the hold moves with `-r` from their parent's snapshot of
    that name (which does not exist), one command and one task a host, as a reading of
    the parent's tree shows nothing else of that name there. Its rollback moves it back."""
    for i in range(4):
        await _pair(r, f"m{i}")
        r.local.write(f"src/m{i}", 8 * KIB)
    first = await r.done("replica-sync", {})
    for i in range(4):
        r.local.write(f"src/m{i}", 8 * KIB)
    before = await r.everything()
    r.forget_calls()
    second = await r.done("replica-sync", {})
    old, new = f"zfsync_{first.id}", f"zfsync_{second.id}"
    assert r.recorders["local"].holds == [
        ("hold", [f"src@{new}"], True),
        ("release", [f"src@{old}"], True),
    ]
    assert sorted(r.recorders["backup"].holds) == [
        ("hold", [f"bak@{new}"], True),
        ("release", [f"bak@{old}"], True),
    ]
    for i in range(4):
        for zfs, name in ((r.local, f"src/m{i}"), (r.backup, f"bak/m{i}")):
            assert [h.tag for h in await zfs.holds(f"{name}@{new}")] == [props.BASE_HOLD]
            assert await zfs.holds(f"{name}@{old}") == []
    await _roll_back(r, second.id)
    assert await r.everything() == before
