"""What only the model promises (tests/contract checks what it shares with real ZFS):
exact stream sizes, its test helpers, two model hosts, reproducible guids."""

from __future__ import annotations

import asyncio

import pytest

from zfsyncd.zfs import errors as e
from zfsyncd.zfs.memory import CHUNK_BYTES, MemoryBackend
from zfsyncd.zfs.models import RecvSpec, SendSpec, TransferProgress

MIB = 1 << 20


async def _model_with_data(nbytes: int = 3 * MIB) -> MemoryBackend:
    zfs = MemoryBackend(pools=("src", "dst"), seed=7)
    await zfs.create("src/a")
    zfs.write("src/a", nbytes)
    await zfs.snapshot(["src/a@1"])
    return zfs


async def test_the_estimate_is_exactly_what_moves_in_several_reports() -> None:
    zfs = await _model_with_data()
    spec = SendSpec(snapshot="src/a@1")
    estimate = await zfs.send_estimate(spec)
    seen: list[TransferProgress] = []
    result = await zfs.send_recv(spec, zfs, RecvSpec(target="dst/a"), progress=seen.append)
    assert result.bytes_done == result.bytes_estimated == estimate
    assert len(seen) >= estimate // CHUNK_BYTES
    assert [p.bytes_done for p in seen] == sorted({p.bytes_done for p in seen})
    assert seen[-1].bytes_done == estimate


async def test_incremental_size_is_the_data_written_between() -> None:
    zfs = await _model_with_data(MIB)
    zfs.write("src/a", 2 * MIB)
    await zfs.snapshot(["src/a@2"])
    full1 = await zfs.send_estimate(SendSpec(snapshot="src/a@1"))
    full2 = await zfs.send_estimate(SendSpec(snapshot="src/a@2"))
    incremental = await zfs.send_estimate(SendSpec(snapshot="src/a@2", base="src/a@1"))
    assert full2 - full1 == 2 * MIB
    assert incremental < 2 * MIB + 4096


async def test_write_grows_used_and_marks_the_dataset_modified() -> None:
    zfs = await _model_with_data(MIB)
    before = await zfs.get("src/a")
    zfs.write("src/a", MIB)
    after = await zfs.get("src/a")
    assert after.referenced == before.referenced + MIB
    assert after.used == before.used + MIB
    await zfs.send_recv(SendSpec(snapshot="src/a@1"), zfs, RecvSpec(target="dst/a"))
    await zfs.snapshot(["src/a@2"])
    zfs.write("dst/a", 1)
    with pytest.raises(e.DestinationModifiedError):
        await zfs.send_recv(
            SendSpec(snapshot="src/a@2", base="src/a@1"), zfs, RecvSpec(target="dst/a")
        )


async def test_a_write_that_does_not_fit_fills_the_pool() -> None:
    zfs = MemoryBackend(pools=("p",), pool_size=10 * MIB)
    await zfs.create("p/a")
    free = zfs.pool_free("p")
    with pytest.raises(e.PoolFullError):
        zfs.write("p/a", free + 1)
    assert zfs.pool_free("p") == 0
    with pytest.raises(e.PoolFullError):
        await zfs.create("p/b")


async def test_between_two_model_hosts_a_token_travels() -> None:
    here = await _model_with_data(4 * MIB)
    there = MemoryBackend(pools=("dst",))
    first = asyncio.Event()

    def seen(_: TransferProgress) -> None:
        first.set()

    task = asyncio.create_task(
        here.send_recv(SendSpec(snapshot="src/a@1"), there, RecvSpec(target="dst/a"), progress=seen)
    )
    await first.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    token = (await there.get("dst/a")).receive_resume_token
    assert token is not None
    await here.send_recv(SendSpec(resume_token=token), there, RecvSpec(target="dst/a"))
    assert (await there.get("dst/a@1")).guid == (await here.get("src/a@1")).guid


async def test_a_corrupt_token_is_stale() -> None:
    zfs = await _model_with_data()
    with pytest.raises(e.StaleResumeTokenError):
        await zfs.send_estimate(SendSpec(resume_token="1-deadbeef-c0-789c"))


async def test_a_seed_makes_guids_reproducible() -> None:
    one, two = await _model_with_data(), await _model_with_data()
    assert (await one.get("src/a@1")).guid == (await two.get("src/a@1")).guid


async def test_errors_carry_what_real_zfs_prints() -> None:
    zfs = await _model_with_data()
    with pytest.raises(e.AlreadyExistsError) as info:
        await zfs.create("src/a")
    assert info.value.stderr == "cannot create 'src/a': dataset already exists"
    assert info.value.argv[:2] == ["zfs", "create"]


async def test_unknown_native_properties_are_a_modelled_gap() -> None:
    """Real ZFS knows recordsize; the model knows only the properties it models and says
    so the way zfs does for an unknown one (tests/contract keeps to the modelled ones)."""
    zfs = await _model_with_data()
    with pytest.raises(e.InvalidArgumentError):
        await zfs.set_properties("src/a", {"recordsize": "1M"})
