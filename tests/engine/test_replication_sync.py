"""replica-init and replica-sync end to end on the model: two pools of one host, and a
second host; intermediates, 20 datasets 4 at a time, nothing to do, and the zfs commands
each costs (constant in the number of datasets)."""

from __future__ import annotations

import pytest

from zfsyncd.ops.replication import props
from zfsyncd.store import TxState
from zfsyncd.tx.errors import MissingObjectError, PlanError
from zfsyncd.zfs.errors import ConnectionLostError
from zfsyncd.zfs.models import ObjectType, PropertySource

from .replicas import KIB, MODEL_ONLY, Replicas, filesystem, guids, replicas

pytestmark = MODEL_ONLY

__all__ = ["replicas"]


async def _holds(zfs: object, snapshot: str) -> list[str]:
    return [h.tag for h in await zfs.holds(snapshot)]  # type: ignore[attr-defined]


async def test_init_between_two_pools_of_one_host(replicas: Replicas) -> None:
    r, zfs = replicas, replicas.local
    await filesystem(zfs, "src/a")
    done = await r.done("replica-init", {"source": "src/a", "destination": "dst/a", "savecount": 3})
    short = f"zfsync_{done.id}"
    assert (
        await guids(zfs, "dst/a")
        == await guids(zfs, "src/a")
        == {short: (await zfs.get(f"src/a@{short}")).guid}
    )
    src_props = await zfs.local_properties("src/a")
    assert {k: src_props[k] for k in (props.ROLE, props.PEER, props.SAVECOUNT)} == {
        props.ROLE: "source",
        props.PEER: "local:dst/a",
        props.SAVECOUNT: "3",
    }
    # the destination's properties came with the receive (-o): read-only from the start
    dst = await zfs.get_properties("dst/a", [props.ROLE, props.PEER, "readonly"])
    assert dst[props.ROLE].value == "destination"
    assert dst[props.PEER].value == "local:src/a"
    assert dst["readonly"].value == "on"
    assert dst["readonly"].source is not PropertySource.DEFAULT
    assert await _holds(zfs, f"src/a@{short}") == [props.BASE_HOLD]
    assert await _holds(zfs, f"dst/a@{short}") == [props.BASE_HOLD]
    assert await zfs.exists(f"src/a#{short}")
    sent = await zfs.get(f"src/a@{short}", user_properties=[props.SENT])
    assert sent.user_properties[props.SENT].isdigit()


async def test_sync_to_another_host_with_intermediate_snapshots(replicas: Replicas) -> None:
    r, zfs, bak = replicas, replicas.local, replicas.backup
    await filesystem(zfs, "src/a")
    first = await r.done("replica-init", {"source": "src/a", "destination": "backup:bak/a"})
    for n in (1, 2):  # snapshots someone else took: they go along (-I)
        zfs.write("src/a", 16 * KIB)
        await zfs.snapshot([f"src/a@hourly{n}"])
    zfs.write("src/a", 16 * KIB)
    second = await r.done("replica-sync", {"sources": ["src/a"]})
    new = f"zfsync_{second.id}"
    assert list(await guids(bak, "bak/a")) == [f"zfsync_{first.id}", "hourly1", "hourly2", new]
    assert await guids(bak, "bak/a") == await guids(zfs, "src/a")
    sends = r.recorders["local"].sends
    assert [(s.base, s.intermediates) for s in sends[-1:]] == [(f"src/a@zfsync_{first.id}", True)]
    # the base hold moved to the new snapshot on both sides
    assert await _holds(zfs, f"src/a@zfsync_{first.id}") == []
    assert await _holds(bak, f"bak/a@zfsync_{first.id}") == []
    assert await _holds(zfs, f"src/a@{new}") == [props.BASE_HOLD]
    assert await _holds(bak, f"bak/a@{new}") == [props.BASE_HOLD]
    assert await zfs.exists(f"src/a#{new}")
    # every snapshot sent carries the sent marker, those made before the sync too
    for short in ("hourly1", "hourly2", new):
        marked = await zfs.get(f"src/a@{short}", user_properties=[props.SENT])
        assert marked.user_properties[props.SENT].isdigit(), short


async def test_sync_of_twenty_datasets_four_at_a_time(replicas: Replicas) -> None:
    r, zfs, bak = replicas, replicas.local, replicas.backup
    sources = [f"src/d{i:02}" for i in range(20)]
    for name in sources:
        await filesystem(zfs, name)
        await r.done("replica-init", {"source": name, "destination": f"backup:bak/{name[4:]}"})
        zfs.write(name, 1024 * KIB)  # several chunks each: the streams overlap
    r.forget_calls()
    done = await r.done("replica-sync", {"parallel": 4})
    assert r.recorders["local"].most_at_once == 4
    short = f"zfsync_{done.id}"
    for name in sources:
        assert short in await guids(bak, f"bak/{name[4:]}")
    kinds = [s.kind for s in done.steps]
    assert kinds == [
        "create-snapshots", "bookmarks", "send-receive-many", "move-hold", "move-hold",
    ]  # fmt: skip


async def _sync_calls(r: Replicas, count: int, *, write: bool) -> dict[str, list[str]]:
    """The backend calls of one sync of `count` new pairs (each `send_recv` is a send and a
    receive on the real host; `settle` a `zpool sync`)."""
    for i in range(count):
        name = f"src/n{count}_{i}"
        await filesystem(r.local, name)
        await r.done("replica-init", {"source": name, "destination": f"backup:bak/n{count}_{i}"})
    if write:
        for i in range(count):
            r.local.write(f"src/n{count}_{i}", 4 * KIB)
    r.forget_calls()
    sources = [f"src/n{count}_{i}" for i in range(count)]
    record = await r.done("replica-sync", {"sources": sources})
    assert record.state is TxState.COMPLETED
    return r.calls()


async def test_nothing_to_do_costs_the_same_for_one_dataset_as_for_twenty(
    replicas: Replicas,
) -> None:
    one = await _sync_calls(replicas, 1, write=False)
    twenty = await _sync_calls(replicas, 20, write=False)
    assert (
        one
        == twenty
        == {
            "local": ["settle_every_pool", "list_many"],
            "backup": ["settle", "list_many"],
        }
    )


#: what a sync (and the expiry that follows it) costs on each host beyond the per-dataset
#: transfer (send_recv), whatever the number of datasets, call by call:
CALLS = {
    "local": [
        # the plan: the pools' pending writes out (`written` decides: one `zpool sync` of
        # every pool here), the sources' listing (its `userrefs` tells what is held; the
        # destinations read meanwhile)
        "settle_every_pool", "list_many",
        # the new snapshots, answering their guids (a channel program), and their bookmarks
        # from those guids, no reading first (one program a pool)
        "snapshot_guids", "bookmark_many",
        # the send step's reading of the sources' snapshots before the streams (with the
        # destinations', at once): what each stream carries, so nothing is read after them
        "list_many",
        # the base hold moved onto the new snapshot: one reading with the tags (a program
        # a pool), then `zfs hold` and `zfs release` at once
        "list_reached", "hold", "release",
        # the expiry that follows: its listing of the sources, which tells which snapshots
        # are held (userrefs) too, and beside it the datasets of their pools (no
        # snapshots) for the clones, which may be anywhere in a pool
        "list_many", "list_many",
    ],
    "backup": [
        # the plan: settled (a write to the destination is divergence), listing
        "settle", "list_many",
        # the send step's reading of the targets before (what undo takes back against)
        "list_many",
        # the base hold moved, as on the source
        "list_reached", "hold", "release",
        # the expiry: the destinations and their pools' datasets, as on the source
        "list_many", "list_many",
    ],
}  # fmt: skip
CONSTANT = {host: len(calls) for host, calls in CALLS.items()}
assert CONSTANT == {"local": 10, "backup": 8}  # was 12 and 11, then 11 and 9


async def test_a_sync_costs_a_constant_beyond_each_transfer(replicas: Replicas) -> None:
    """1, 10 and 50 datasets: the same calls but for one transfer (a send and a receive)
    per dataset. The transfer step reads each side once before and nothing after (what it
    received is known from that reading); the bookmark step reads nothing (the snapshot
    step before it answered the guids) and makes every bookmark of a pool in one call."""
    found = {n: await _sync_calls(replicas, n, write=True) for n in (1, 10, 50)}
    for n, calls in found.items():
        local, backup = calls["local"], calls["backup"]
        assert local.count("send_recv") == n
        assert local.count("bookmark_many") == 1
        assert "bookmark" not in local
        assert backup.count("send_recv") == backup.count("bookmark_many") == 0
        rest = {host: [c for c in got if c != "send_recv"] for host, got in calls.items()}
        assert rest == {
            host: [c for c in got if c != "send_recv"] for host, got in found[1].items()
        }
        assert {host: len(got) for host, got in rest.items()} == CONSTANT, rest
        assert {host: sorted(got) for host, got in rest.items()} == {
            host: sorted(calls) for host, calls in CALLS.items()
        }
        assert rest["local"].count("settle_every_pool") == rest["backup"].count("settle") == 1


async def test_a_named_sync_to_this_host_reads_no_holds(replicas: Replicas) -> None:
    """Named sources with their destinations on this host (another pool): every pool
    settled at once (one `zpool sync`), the sources' listing, then the destinations' (no
    `zpool sync` of their own), and no `zfs holds`: the base held on each side is seen as
    held by its `userrefs` (no hold step before the stream), and the move of the base hold
    reads the tags where it acts."""
    r, zfs = replicas, replicas.local
    await filesystem(zfs, "src/h")
    await r.done("replica-init", {"source": "src/h", "destination": "dst/h"})
    zfs.write("src/h", 4 * KIB)
    planned = await r.prepared_calls("replica-sync", {"sources": ["src/h"]})
    assert planned["local"] == ["settle_every_pool", "list_many", "list_many"]
    # the whole sync and its expiry (the lab's one incremental between two pools: a
    # send_recv is a send and a receive there, and list_reached a program a pool)
    assert sorted(r.calls()["local"]) == sorted(
        [
            *planned["local"],
            "snapshot_guids", "bookmark_many",
            # both sides before the stream: one listing, the two pools being on one host
            "list_many", "send_recv",
            "list_reached", "hold", "release",
            # the expiry: each side, and the datasets of both pools for their clones
            "list_many", "list_many", "list_many",
        ]
    )  # fmt: skip
    done = (await r.manager.list(type="replica-sync"))[0]
    assert "hold" not in [s.kind for s in done.steps]
    first, new = list(await guids(zfs, "dst/h"))
    assert new == f"zfsync_{done.id}"
    assert (
        await _holds(zfs, f"dst/h@{new}") == await _holds(zfs, f"src/h@{new}") == [props.BASE_HOLD]
    )
    assert await _holds(zfs, f"dst/h@{first}") == await _holds(zfs, f"src/h@{first}") == []


async def test_sync_all_skips_paused_and_names_them(replicas: Replicas) -> None:
    r, zfs = replicas, replicas.local
    for name in ("src/p", "src/q"):
        await filesystem(zfs, name)
        await r.done("replica-init", {"source": name, "destination": f"dst/{name[4:]}"})
        zfs.write(name, 4 * KIB)
    await zfs.set_properties("src/p", {props.PAUSED: "on"})
    done = await r.done("replica-sync", {})
    short = f"zfsync_{done.id}"
    assert short in await guids(zfs, "dst/q")
    assert done.description == "replica sync all: src/q -> local:dst/q; left out: src/p (paused)"
    assert short not in await guids(zfs, "dst/p")
    # named, a paused source is synced: pausing is for `sync all`
    named = await r.done("replica-sync", {"sources": ["src/p"]})
    assert f"zfsync_{named.id}" in await guids(zfs, "dst/p")


async def test_init_refusals_change_nothing(replicas: Replicas) -> None:
    r, zfs = replicas, replicas.local
    await filesystem(zfs, "src/a")
    await filesystem(zfs, "dst/full")  # data, no snapshot
    await zfs.create("dst/x")
    await zfs.snapshot(["dst/x@other"])
    before = await r.everything()
    cases = [
        ({"source": "src/nope", "destination": "dst/a"}, MissingObjectError, "does not exist"),
        ({"source": "src/a", "destination": "dst/full"}, PlanError, "not empty"),
        ({"source": "src/a", "destination": "dst/x"}, PlanError, "none shared"),
        ({"source": "src/a", "destination": "elsewhere:bak/a"}, PlanError, "not configured"),
        ({"source": "src/a", "destination": "dst/no/parent"}, MissingObjectError, "parent"),
        ({"source": "src/a", "destination": "src/a/below"}, PlanError, "overlap"),
    ]
    for params, error, words in cases:
        record = await r.manager.create("replica-init", params)
        with pytest.raises(error, match=words):
            await r.manager.prepare(record.id)
    assert await r.everything() == before
    await r.done("replica-init", {"source": "src/a", "destination": "dst/a"})
    before = await r.everything()
    again = await r.manager.create("replica-init", {"source": "src/a", "destination": "dst/b"})
    with pytest.raises(PlanError, match="already part of a replica"):
        await r.manager.prepare(again.id)
    assert await r.everything() == before


async def test_init_moves_an_empty_destination_aside(replicas: Replicas) -> None:
    r, zfs = replicas, replicas.local
    await filesystem(zfs, "src/a")
    await zfs.create("dst/a", properties={"compression": "off"})
    empty = (await zfs.get("dst/a")).guid
    done = await r.done("replica-init", {"source": "src/a", "destination": "dst/a"})
    assert (await zfs.get("dst/a")).guid != empty
    assert f"zfsync_{done.id}" in await guids(zfs, "dst/a")
    left = [o.name for o in await zfs.list("dst", types=[ObjectType.FILESYSTEM])]
    assert left == ["dst", "dst/a"]  # the empty one destroyed once the init completed


async def test_init_of_an_encrypted_source_sends_raw(replicas: Replicas) -> None:
    r, zfs = replicas, replicas.local
    await zfs.create(
        "src/e", properties={"encryption": "on", "keyformat": "passphrase", "keylocation": "prompt"}
    )
    await r.done("replica-init", {"source": "src/e", "destination": "backup:bak/e"})
    assert r.recorders["local"].sends[-1].raw
    enc = await r.backup.get_properties("bak/e", ["encryption"])
    assert enc["encryption"].value != "off"
    zfs.write("src/e", 8 * KIB)
    await r.done("replica-sync", {"sources": ["src/e"]})
    assert r.recorders["local"].sends[-1].raw  # the incrementals go raw too


async def test_init_recursive_then_sync(replicas: Replicas) -> None:
    r, zfs, bak = replicas, replicas.local, replicas.backup
    await filesystem(zfs, "src/t")
    await filesystem(zfs, "src/t/c")
    first = await r.done(
        "replica-init", {"source": "src/t", "destination": "backup:bak/t", "recursive": True}
    )
    assert f"zfsync_{first.id}" in await guids(bak, "bak/t/c")
    zfs.write("src/t/c", 8 * KIB)
    second = await r.done("replica-sync", {"sources": ["src/t"]})
    short = f"zfsync_{second.id}"
    assert short in await guids(bak, "bak/t/c")
    assert await _holds(bak, f"bak/t/c@{short}") == [props.BASE_HOLD]
    assert await _holds(zfs, f"src/t/c@zfsync_{first.id}") == []
    # the child is part of its parent's pair, not one of its own
    record = await r.manager.create("replica-sync", {"sources": ["src/t/c"]})
    with pytest.raises(PlanError, match="part of the replica of src/t"):
        await r.manager.prepare(record.id)


async def test_a_host_that_cannot_be_read_leaves_out_its_pairs_only(
    replicas: Replicas, monkeypatch: pytest.MonkeyPatch
) -> None:
    r, zfs = replicas, replicas.local
    for name, where in (("far", "backup:bak/far"), ("near", "dst/near")):
        await filesystem(zfs, f"src/{name}")
        await r.done("replica-init", {"source": f"src/{name}", "destination": where})
        zfs.write(f"src/{name}", 4 * KIB)

    async def lost(*args: object, **kwargs: object) -> None:
        raise ConnectionLostError(["ssh", "backup"], 255, "Connection to backup closed.")

    monkeypatch.setattr(r.backup, "list_many", lost)
    done = await r.done("replica-sync", {})
    assert "left out: src/far (host backup cannot be read" in (done.description or "")
    assert f"zfsync_{done.id}" in await guids(zfs, "dst/near")
    assert f"zfsync_{done.id}" not in await guids(zfs, "src/far")
    record = await r.manager.create("replica-sync", {"sources": ["src/far"]})
    with pytest.raises(PlanError, match="host backup cannot be read"):
        await r.manager.prepare(record.id)
