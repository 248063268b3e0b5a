"""A prune of another host's datasets (PruneRequest.host) on the two-host model of
replicas.py: a replica on `backup` pruned there by its policy, its pair's newest common
snapshot (read on `local`, the other side) kept, nothing changed on this host; commands
constant in the number of snapshots; an unknown host refused; a failure at each changing
call on `backup` leaving both hosts undone or done as a clean run leaves them."""

from __future__ import annotations

from pathlib import Path

import pytest

from zfsyncd.store import TxState
from zfsyncd.tx.errors import PlanError

from .replicas import KIB, MODEL_ONLY, Replicas, filesystem, guids, replicas

__all__ = ["replicas"]  # the fixture, imported for pytest

pytestmark = MODEL_ONLY


async def _replica(r: Replicas, name: str, syncs: int, extra: int) -> tuple[str, list[str]]:
    """src/NAME replicated to backup:bak/NAME, synced `syncs` times, then `extra` snapshots
    of zfsyncd's made on the replica alone; its snapshots' short names, oldest first."""
    await filesystem(r.local, f"src/{name}")
    await r.done("replica-init", {"source": f"src/{name}", "destination": f"backup:bak/{name}"})
    for _ in range(syncs):
        r.local.write(f"src/{name}", 16 * KIB)
        await r.done("replica-sync", {"sources": [f"src/{name}"]})
    for n in range(extra):
        await r.backup.snapshot([f"bak/{name}@zfsync_extra{n}"])
    return f"bak/{name}", list(await guids(r.backup, f"bak/{name}"))


async def test_a_remote_prune_destroys_there_what_the_policy_says_and_nothing_here(
    replicas: Replicas,
) -> None:
    r = replicas
    dataset, shorts = await _replica(r, "a", syncs=3, extra=2)
    common = list(await guids(r.local, "src/a"))[-1]  # the newest the pair shares
    assert common in shorts
    assert shorts[-2:] == ["zfsync_extra0", "zfsync_extra1"]
    here = await r.state("local", "src", "dst")
    await r.done("prune", {"datasets": [dataset], "policy": "last = 1", "host": "backup"})
    # the newest (the policy's last), and the pair's newest common snapshot
    assert list(await guids(r.backup, dataset)) == [common, "zfsync_extra1"]
    assert await r.state("local", "src", "dst") == here


async def test_a_remote_prune_runs_the_same_commands_for_few_and_many_snapshots(
    replicas: Replicas,
) -> None:
    r = replicas
    runs = []
    for name, extra in (("few", 4), ("many", 40)):
        dataset, _ = await _replica(r, name, syncs=1, extra=extra)
        r.forget_calls()
        await r.done("prune", {"datasets": [dataset], "policy": "last = 2", "host": "backup"})
        assert len(await guids(r.backup, dataset)) == 3  # the 2 newest, the common one
        runs.append(r.calls())
    assert runs[0] == runs[1]
    # backup: its datasets and their holds (the pair's base is held), its pools' clones,
    # the hold's reading and the hold, then at the end one reading, the release and one
    # destroy; local: one reading (list, holds) of the pair's other side, nothing changed
    assert runs[0]["local"] == ["list_many", "holds_many"]
    assert runs[0]["backup"] == [
        "list_many",
        "holds_many",
        "list_many",
        "list_reached",
        "hold",
        "list_reached",
        "release",
        "destroy_snapshots",
    ]


async def test_an_unknown_host_is_refused_naming_it(replicas: Replicas) -> None:
    r = replicas
    dataset, shorts = await _replica(r, "a", syncs=1, extra=2)
    before = await r.everything()
    params = {"datasets": [dataset], "policy": "last = 1", "host": "nowhere"}
    with pytest.raises(PlanError, match=r"host 'nowhere' is not configured \(\[hosts.nowhere\]"):
        await r.run("prune", params)
    assert await r.everything() == before
    assert list(await guids(r.backup, dataset)) == shorts


async def _fresh(path: Path) -> Replicas:
    r = await Replicas.start(path)
    try:
        await _replica(r, "a", syncs=2, extra=2)
    except BaseException:
        await r.close()
        raise
    return r


async def _pruned(r: Replicas) -> list[str]:
    """What a clean run leaves on backup: the pair's newest common snapshot, the newest."""
    return [list(await guids(r.local, "src/a"))[-1], "zfsync_extra1"]


async def test_a_failure_at_each_changing_call_on_the_remote_host(tmp_path: Path) -> None:
    params = {"datasets": ["bak/a"], "policy": "last = 1", "host": "backup"}
    r = await _fresh(tmp_path / "clean.db")
    try:
        offset = len(r.faults["backup"].calls)
        await r.done("prune", params)
        changing = r.faults["backup"].calls[offset:]
        assert list(await guids(r.backup, "bak/a")) == await _pruned(r)
    finally:
        await r.close()
    assert [c.split(" ")[0] for c in changing] == ["hold", "release", "destroy_snapshots"]
    for index in range(len(changing)):
        where = (index, changing[index])
        r = await _fresh(tmp_path / f"fail{index}.db")
        try:
            before = await r.everything()
            local_calls = len(r.faults["local"].calls)
            r.faults["backup"].fail(len(r.faults["backup"].calls) + index)
            done = await r.run("prune", params)
            r.faults["backup"].heal()
            await r.manager.run_cleanups(now=1e12)  # a finalize the failure stopped
            assert await r.manager.cleanups.pending() == [], where
            after = await r.everything()
            assert after["local"] == before["local"], where
            assert r.faults["local"].calls[local_calls:] == [], where  # nothing changed here
            if done.state is TxState.COMPLETED:
                assert list(await guids(r.backup, "bak/a")) == await _pruned(r), where
            else:
                assert done.state is TxState.FAILED, (where, done.state)
                assert done.rollback_outcome is not None, where
                assert done.rollback_outcome.startswith(("complete", "nothing")), where
                assert after == before, where
        finally:
            await r.close()
