"""The ZfsBackend contract for send and receive: estimates, full and incremental streams,
-R with properties, raw encrypted streams, resumable receives cut by cancellation, and
the errors of each side. Checked against OpenZFS 2.3 in the lab."""

from __future__ import annotations

import asyncio

import pytest

from zfsyncd.zfs import errors as e
from zfsyncd.zfs.backend import DestroyMode
from zfsyncd.zfs.models import (
    ObjectType,
    PropertySource,
    PropertyValue,
    RecvSpec,
    SendSpec,
    TransferProgress,
    TransferResult,
)

from .expect import fails_with
from .world import BIG_WRITE, CUT_AFTER, World

ROLE = "zfsync:role"
KIB, MIB = 1 << 10, 1 << 20


async def source(world: World, nbytes: int = 256 * KIB) -> str:
    """src/a with `nbytes` written and snapshot @1."""
    a = f"{world.src}/a"
    await world.zfs.create(a)
    await world.write(a, nbytes)
    await world.zfs.snapshot([f"{a}@1"])
    return a


async def send(world: World, spec: SendSpec, recv: RecvSpec) -> TransferResult:
    return await world.zfs.send_recv(spec, world.zfs, recv)


async def guids(world: World, root: str) -> dict[str, int]:
    """Snapshot guids by name relative to `root` (so source and target compare)."""
    return {
        o.name[len(root) :]: o.guid for o in await world.zfs.list(root, types=[ObjectType.SNAPSHOT])
    }


async def cut_mid_stream(world: World, spec: SendSpec, recv: RecvSpec) -> None:
    """Start a transfer and cancel it once CUT_AFTER bytes moved: the stream stops short."""
    moving = asyncio.Event()

    def seen(progress: TransferProgress) -> None:
        if progress.bytes_done >= CUT_AFTER:
            moving.set()

    transfer = asyncio.create_task(
        world.zfs.send_recv(spec, world.slow_target(), recv, progress=seen)
    )
    waiting = asyncio.create_task(moving.wait())
    await asyncio.wait({transfer, waiting}, return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    if transfer.done():
        raise AssertionError(f"the transfer ended before it was cut: {transfer!r}")
    transfer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await transfer


# --------------------------------------------------------------------------- estimates


async def test_send_estimate(world: World) -> None:
    zfs = world.zfs
    a = await source(world)
    full1 = await zfs.send_estimate(SendSpec(snapshot=f"{a}@1"))
    assert full1 > 256 * KIB
    await world.write(a, MIB)
    await zfs.snapshot([f"{a}@2"])
    await zfs.bookmark(f"{a}@1", f"{a}#1")
    full2 = await zfs.send_estimate(SendSpec(snapshot=f"{a}@2"))
    incremental = await zfs.send_estimate(SendSpec(snapshot=f"{a}@2", base=f"{a}@1"))
    from_mark = await zfs.send_estimate(
        SendSpec(snapshot=f"{a}@2", base=f"{a}#1", intermediates=False)
    )
    assert full2 > full1 + MIB * 9 // 10  # the written data, less what metadata may save
    for small in (incremental, from_mark):
        assert MIB < small < full2
    await fails_with(zfs.send_estimate(SendSpec(snapshot=f"{a}@nope")), e.NotFoundError)
    # a base newer than the snapshot: -I says the base "does not exist" (real), -i that it
    # is "not an earlier snapshot"
    await fails_with(zfs.send_estimate(SendSpec(snapshot=f"{a}@1", base=f"{a}@2")), e.NotFoundError)
    await fails_with(
        zfs.send_estimate(SendSpec(snapshot=f"{a}@1", base=f"{a}@2", intermediates=False)),
        e.InvalidArgumentError,
    )


# --------------------------------------------------------------------------- full, -i/-I


async def test_full_stream_makes_the_target_with_the_same_snapshot_guid(world: World) -> None:
    zfs, t = world.zfs, f"{world.dst}/a"
    a = await source(world)
    estimate = await zfs.send_estimate(SendSpec(snapshot=f"{a}@1"))
    seen: list[TransferProgress] = []
    result = await zfs.send_recv(
        SendSpec(snapshot=f"{a}@1"), zfs, RecvSpec(target=t), progress=seen.append
    )
    assert (await zfs.get(f"{t}@1")).guid == (await zfs.get(f"{a}@1")).guid
    assert (await zfs.get(t)).guid != (await zfs.get(a)).guid  # a new dataset
    assert (await zfs.get(t)).receive_resume_token is None
    assert result.bytes_estimated == estimate
    # the estimate is a prediction: real streams differ by a little metadata
    assert abs(result.bytes_done - estimate) <= estimate // 10 + 64 * KIB
    done = [p.bytes_done for p in seen]
    assert done == sorted(done)
    assert done[-1] == result.bytes_done
    assert all(p.bytes_total == estimate for p in seen)


async def test_incremental_with_and_without_intermediates(world: World) -> None:
    zfs, t = world.zfs, f"{world.dst}/a"
    a = await source(world)
    await send(world, SendSpec(snapshot=f"{a}@1"), RecvSpec(target=t))
    for n in (2, 3):
        await world.write(a, 64 * KIB)
        await zfs.snapshot([f"{a}@{n}"])
    await send(world, SendSpec(snapshot=f"{a}@3", base=f"{a}@1"), RecvSpec(target=t))  # -I
    assert await guids(world, t) == await guids(world, a)
    await zfs.snapshot([f"{a}@4"])
    await zfs.snapshot([f"{a}@5"])
    await send(
        world, SendSpec(snapshot=f"{a}@5", base=f"{a}@3", intermediates=False), RecvSpec(target=t)
    )  # -i: no @4
    source_guids = await guids(world, a)
    del source_guids["@4"]
    assert await guids(world, t) == source_guids


async def test_incremental_from_a_bookmark(world: World) -> None:
    zfs, t = world.zfs, f"{world.dst}/a"
    a = await source(world)
    await send(world, SendSpec(snapshot=f"{a}@1"), RecvSpec(target=t))
    await zfs.bookmark(f"{a}@1", f"{a}#1")
    await zfs.destroy(f"{a}@1")  # the bookmark is all the source keeps of it
    await world.write(a, 64 * KIB)
    await zfs.snapshot([f"{a}@2"])
    await send(
        world, SendSpec(snapshot=f"{a}@2", base=f"{a}#1", intermediates=False), RecvSpec(target=t)
    )
    assert (await zfs.get(f"{t}@2")).guid == (await zfs.get(f"{a}@2")).guid


async def test_receive_refusals(world: World) -> None:
    zfs, t = world.zfs, f"{world.dst}/a"
    a = await source(world)
    await send(world, SendSpec(snapshot=f"{a}@1"), RecvSpec(target=t))
    await zfs.snapshot([f"{a}@2"])
    await zfs.snapshot([f"{a}@3"])
    async with world.unchanged(world.dst):
        # the target's snapshots do not include the base
        exc = await fails_with(
            send(
                world,
                SendSpec(snapshot=f"{a}@3", base=f"{a}@2", intermediates=False),
                RecvSpec(target=t),
            ),
            e.IncrementalMismatchError,
        )
        assert exc.transfer is not None
        assert exc.transfer.recv_error is exc
        await fails_with(
            send(world, SendSpec(snapshot=f"{a}@1"), RecvSpec(target=t)), e.AlreadyExistsError
        )
        await fails_with(
            send(
                world,
                SendSpec(snapshot=f"{a}@2", base=f"{a}@1"),
                RecvSpec(target=f"{world.dst}/nope"),
            ),
            e.NotFoundError,
        )
        await fails_with(
            send(world, SendSpec(snapshot=f"{a}@1"), RecvSpec(target=f"{world.dst}/no/b")),
            e.NotFoundError,
        )
        # a send-side failure: nothing to receive at all
        await fails_with(
            send(world, SendSpec(snapshot=f"{a}@nope"), RecvSpec(target=f"{world.dst}/b")),
            e.NotFoundError,
        )


async def test_incremental_onto_a_modified_target(world: World) -> None:
    zfs, t = world.zfs, f"{world.dst}/a"
    a = await source(world)
    await send(world, SendSpec(snapshot=f"{a}@1"), RecvSpec(target=t))
    await zfs.snapshot([f"{a}@2"])
    await world.write(t, 64 * KIB)
    async with world.unchanged(world.dst):
        await fails_with(
            send(world, SendSpec(snapshot=f"{a}@2", base=f"{a}@1"), RecvSpec(target=t)),
            e.DestinationModifiedError,
        )
    # -F rolls the target back to the base first
    await send(world, SendSpec(snapshot=f"{a}@2", base=f"{a}@1"), RecvSpec(target=t, force=True))
    assert await guids(world, t) == await guids(world, a)


async def test_force_destroys_target_snapshots_newer_than_the_base(world: World) -> None:
    zfs, t = world.zfs, f"{world.dst}/a"
    a = await source(world)
    await send(world, SendSpec(snapshot=f"{a}@1"), RecvSpec(target=t))
    await zfs.snapshot([f"{t}@local"])
    await zfs.snapshot([f"{a}@2"])
    # without -F a newer snapshot on an unmodified target does not stop an incremental
    await send(world, SendSpec(snapshot=f"{a}@2", base=f"{a}@1"), RecvSpec(target=t))
    assert list(await guids(world, t)) == ["@1", "@local", "@2"]
    await zfs.snapshot([f"{t}@local2"])
    await zfs.snapshot([f"{a}@3"])
    await send(world, SendSpec(snapshot=f"{a}@3", base=f"{a}@2"), RecvSpec(target=t, force=True))
    assert list(await guids(world, t)) == ["@1", "@local", "@2", "@3"]


# --------------------------------------------------------------------------------- -R -p


async def _tree(world: World) -> str:
    """src/a (role=src, compression=off), a/k, a/k/g (zfsync:b=kid); -r snapshots @1 @2."""
    zfs, a = world.zfs, f"{world.src}/a"
    await zfs.create(a, properties={ROLE: "src", "compression": "off"})
    await zfs.create(f"{a}/k")
    await zfs.create(f"{a}/k/g", properties={"zfsync:b": "kid"})
    await zfs.snapshot([f"{a}@1"], recursive=True)
    await zfs.snapshot([f"{a}@2"], recursive=True)
    return a


async def test_replicate_with_properties(world: World) -> None:
    zfs, t = world.zfs, f"{world.dst}/a"
    a = await _tree(world)
    await zfs.set_properties(f"{a}@1", {"zfsync:a": "snap"})
    await send(
        world, SendSpec(snapshot=f"{a}@2", replicate=True, properties=True), RecvSpec(target=t)
    )
    assert await guids(world, t) == await guids(world, a)
    assert [o.name[len(t) :] for o in await zfs.list(t, types=[ObjectType.FILESYSTEM])] == [
        "",
        "/k",
        "/k/g",
    ]
    received = PropertySource.RECEIVED
    assert await zfs.get_properties(t, [ROLE, "compression"]) == {
        ROLE: PropertyValue(value="src", source=received),
        "compression": PropertyValue(value="off", source=received),
    }
    assert (await zfs.get_properties(f"{t}/k", [ROLE]))[ROLE] == PropertyValue(
        value="src", source=PropertySource.INHERITED, inherited_from=t
    )
    assert (await zfs.get_properties(f"{t}/k/g", ["zfsync:b"]))["zfsync:b"] == PropertyValue(
        value="kid", source=received
    )
    assert (await zfs.get_properties(f"{t}@1", ["zfsync:a"]))["zfsync:a"] == PropertyValue(
        value="snap", source=received
    )


async def test_replicate_force_prunes_what_the_source_no_longer_has(world: World) -> None:
    zfs, t = world.zfs, f"{world.dst}/a"
    a = await _tree(world)
    await send(world, SendSpec(snapshot=f"{a}@2", replicate=True), RecvSpec(target=t))
    await zfs.destroy(f"{a}@1", mode=DestroyMode.RECURSIVE)
    await zfs.create(f"{a}/new")
    await zfs.snapshot([f"{a}@3"], recursive=True)
    await zfs.snapshot([f"{t}/k@local"])
    await zfs.create(f"{t}/extra")
    await send(
        world,
        SendSpec(snapshot=f"{a}@3", base=f"{a}@2", replicate=True),
        RecvSpec(target=t, force=True),
    )
    # -R -F: snapshots and datasets the source does not have are gone; new ones came
    assert await guids(world, t) == await guids(world, a)
    assert [o.name[len(t) :] for o in await zfs.list(t, types=[ObjectType.FILESYSTEM])] == [
        "",
        "/k",
        "/k/g",
        "/new",
    ]


async def test_receive_overrides_and_excludes_properties(world: World) -> None:
    zfs, a, t = world.zfs, f"{world.src}/a", f"{world.dst}/a"
    await zfs.create(a, properties={ROLE: "src", "zfsync:b": "no"})
    await zfs.snapshot([f"{a}@1"])
    await send(
        world,
        SendSpec(snapshot=f"{a}@1", properties=True),
        RecvSpec(target=t, properties={"zfsync:a": "set"}, exclude_properties=("zfsync:b",)),
    )
    assert await zfs.get_properties(t, [ROLE, "zfsync:a", "zfsync:b"]) == {
        ROLE: PropertyValue(value="src", source=PropertySource.RECEIVED),
        "zfsync:a": PropertyValue(value="set", source=PropertySource.LOCAL),
        "zfsync:b": PropertyValue(value=None, source=PropertySource.NONE),
    }


# -------------------------------------------------------------------------------- raw -w


async def test_raw_send_of_an_encrypted_dataset(world: World) -> None:
    zfs, enc = world.zfs, f"{world.src}/e"
    await zfs.create(
        enc, properties={"encryption": "on", "keyformat": "raw", "keylocation": world.key_location}
    )
    await world.write(enc, 64 * KIB)
    await zfs.snapshot([f"{enc}@1"])
    crypt = ["encryption", "keyformat", "keystatus", "encryptionroot"]
    none = PropertySource.NONE
    assert await zfs.get_properties(enc, crypt) == {
        "encryption": PropertyValue(value="aes-256-gcm", source=none),
        "keyformat": PropertyValue(value="raw", source=none),
        "keystatus": PropertyValue(value="available", source=none),
        "encryptionroot": PropertyValue(value=enc, source=none),
    }
    raw, plain = f"{world.dst}/e", f"{world.dst}/plain"
    await send(world, SendSpec(snapshot=f"{enc}@1", raw=True), RecvSpec(target=raw))
    assert (await zfs.get(f"{raw}@1")).guid == (await zfs.get(f"{enc}@1")).guid
    assert await zfs.get_properties(raw, [*crypt, "keylocation"]) == {
        "encryption": PropertyValue(value="aes-256-gcm", source=none),
        "keyformat": PropertyValue(value="raw", source=none),
        "keystatus": PropertyValue(value="unavailable", source=none),  # the key stays home
        "encryptionroot": PropertyValue(value=raw, source=none),
        "keylocation": PropertyValue(value="prompt", source=PropertySource.LOCAL),
    }
    await send(world, SendSpec(snapshot=f"{enc}@1"), RecvSpec(target=plain))  # decrypted
    assert (await zfs.get_properties(plain, ["encryption"]))["encryption"] == PropertyValue(
        value="off", source=PropertySource.DEFAULT
    )


# ------------------------------------------------------------- cut, resume, abort, stale


async def test_cut_resumable_full_stream_then_resume(world: World) -> None:
    zfs, t = world.zfs, f"{world.dst}/a"
    a = await source(world, BIG_WRITE)
    full = await zfs.send_estimate(SendSpec(snapshot=f"{a}@1"))
    await cut_mid_stream(world, SendSpec(snapshot=f"{a}@1"), RecvSpec(target=t, resumable=True))
    partial = await zfs.get(t)  # a full stream cut short leaves the dataset, no snapshot
    assert partial.receive_resume_token
    assert [o.name for o in await zfs.list(t)] == [t]
    rest = SendSpec(resume_token=partial.receive_resume_token)
    remaining = await zfs.send_estimate(rest)
    assert 0 < remaining < full
    result = await send(world, rest, RecvSpec(target=t, resumable=True))
    assert result.bytes_done < full
    assert (await zfs.get(f"{t}@1")).guid == (await zfs.get(f"{a}@1")).guid
    assert (await zfs.get(t)).receive_resume_token is None


async def test_cut_stream_without_resumable_leaves_nothing(world: World) -> None:
    t = f"{world.dst}/a"
    a = await source(world, BIG_WRITE)
    await cut_mid_stream(world, SendSpec(snapshot=f"{a}@1"), RecvSpec(target=t, resumable=False))
    assert not await world.zfs.exists(t)


async def test_abort_and_stale_token(world: World) -> None:
    zfs, t = world.zfs, f"{world.dst}/a"
    a = await source(world, BIG_WRITE)
    spec, recv = SendSpec(snapshot=f"{a}@1"), RecvSpec(target=t, resumable=True)
    await cut_mid_stream(world, spec, recv)
    async with world.unchanged(world.dst):
        await fails_with(zfs.recv_abort(world.dst), e.NotFoundError)  # nothing partial there
    await zfs.recv_abort(t)
    assert not await zfs.exists(t)  # aborting a cut full stream removes its dataset
    await fails_with(zfs.recv_abort(t), e.NotFoundError)
    await cut_mid_stream(world, spec, recv)
    token = (await zfs.get(t)).receive_resume_token
    assert token
    await zfs.destroy(f"{a}@1")  # what the token points at is gone
    async with world.unchanged(world.dst):
        await fails_with(send(world, SendSpec(resume_token=token), recv), e.StaleResumeTokenError)
    await zfs.recv_abort(t)


async def test_cut_incremental_keeps_the_target_as_it_was(world: World) -> None:
    zfs, t = world.zfs, f"{world.dst}/a"
    a = await source(world)
    await send(world, SendSpec(snapshot=f"{a}@1"), RecvSpec(target=t))
    await world.write(a, BIG_WRITE)
    await zfs.snapshot([f"{a}@2"])
    incremental = SendSpec(snapshot=f"{a}@2", base=f"{a}@1")
    await cut_mid_stream(world, incremental, RecvSpec(target=t, resumable=True))
    assert (await zfs.get(t)).receive_resume_token
    assert list(await guids(world, t)) == ["@1"]
    async with world.unchanged(world.dst):
        # the partial receive builds on the base (real: a hidden clone of it)
        await fails_with(zfs.destroy(f"{t}@1"), e.HasClonesError)
        # while it is there, no other receive: resume it or abort it first
        exc = await fails_with(send(world, incremental, RecvSpec(target=t)), e.ZfsCommandError)
        assert "partially-complete state" in exc.stderr
    await zfs.recv_abort(t)
    assert (await zfs.get(t)).receive_resume_token is None
    await send(world, incremental, RecvSpec(target=t))
    assert await guids(world, t) == await guids(world, a)


async def test_local_properties_tells_received_from_local_values(world: World) -> None:
    zfs, a, t = world.zfs, f"{world.src}/a", f"{world.dst}/a"
    await zfs.create(a, properties={ROLE: "src", "compression": "off"})
    await zfs.snapshot([f"{a}@1"])
    await send(
        world,
        SendSpec(snapshot=f"{a}@1", properties=True),
        RecvSpec(target=t, properties={"zfsync:a": "set"}),
    )
    assert await zfs.local_properties(t) == {"zfsync:a": "set"}
    received = PropertySource.RECEIVED
    assert await zfs.local_properties(t, source=received) == {ROLE: "src", "compression": "off"}
    # a local value hides the received one (zfs get shows the one in effect)
    await zfs.set_properties(t, {ROLE: "mine"})
    assert await zfs.local_properties(t) == {"zfsync:a": "set", ROLE: "mine"}
    assert await zfs.local_properties(t, source=received) == {"compression": "off"}
