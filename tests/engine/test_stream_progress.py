"""send-receive-many reports each stream as it goes (its dataset, bytes, estimate), says
when each ends, and still reports the step's total: what the per-stream bars of a replica
sync are drawn from. On the model, with several datasets sent side by side."""

from __future__ import annotations

import pytest

from tests.engine.replicas import KIB, MODEL_ONLY, filesystem
from zfsyncd.tx.hosts import local_hosts
from zfsyncd.tx.progress import ProgressTracker
from zfsyncd.tx.steps.base import StepContext
from zfsyncd.tx.steps.transfers import SendReceiveMany, SendReceiveManyArgs, Stream
from zfsyncd.zfs.memory import MemoryBackend
from zfsyncd.zfs.models import RecvSpec, SendSpec, TransferProgress

pytestmark = MODEL_ONLY

SIZES = {"src/a": 600 * KIB, "src/b": 300 * KIB, "src/c": 64 * KIB}


@pytest.mark.parametrize("parallel", [1, 3])
async def test_each_stream_is_reported_from_its_start_to_its_end(parallel: int) -> None:
    zfs = MemoryBackend(pools=("src", "dst"))
    for name, size in SIZES.items():
        await filesystem(zfs, name, size)
    await zfs.snapshot([f"{name}@s1" for name in SIZES])
    step = SendReceiveMany(
        SendReceiveManyArgs(
            streams=tuple(
                Stream(
                    send=SendSpec(snapshot=f"{name}@s1"),
                    recv=RecvSpec(target=name.replace("src/", "dst/")),
                )
                for name in SIZES
            ),
            parallel=parallel,
        )
    )
    seen: list[tuple[str, str, int, int | None]] = []
    totals: list[TransferProgress] = []
    running: set[str] = set()
    most_at_once = 0
    tracker = ProgressTracker([None])
    tracker.step_started(0, step.describe())

    def stream(name: str, progress: TransferProgress) -> None:
        nonlocal most_at_once
        seen.append(("stream", name, progress.bytes_done, progress.bytes_total))
        running.add(name)
        most_at_once = max(most_at_once, len(running))
        tracker.stream(name, progress)
        # what the bus would list now: exactly the streams that run
        assert {s.name for s in tracker.streams()} == running

    def ended(name: str) -> None:
        seen.append(("ended", name, 0, None))
        running.discard(name)
        tracker.stream_ended(name)

    ctx = StepContext(
        "t1", local_hosts(zfs), progress=totals.append, stream=stream, stream_ended=ended
    )
    await step.do(ctx, await step.capture(ctx))

    assert most_at_once == parallel
    assert tracker.streams() == ()
    for name in SIZES:
        mine = [e for e in seen if e[1] == name]
        assert mine[0] == ("stream", name, 0, None)  # shown before its first byte
        assert mine[-1] == ("ended", name, 0, None)
        reports = [e for e in mine if e[0] == "stream"]
        done = [e[2] for e in reports]
        assert done == sorted(done)
        estimate = await zfs.send_estimate(SendSpec(snapshot=f"{name}@s1"))
        assert reports[-1][2:] == (estimate, estimate)
    last = {e[1]: e[2] for e in seen if e[0] == "stream"}
    assert totals[-1].bytes_done == sum(last.values())  # the total is all of them
    assert totals[-1].bytes_total == sum(last.values())


async def test_a_stream_with_nothing_to_send_is_not_shown() -> None:
    """Already received (a retry of the step): no bar that would never move."""
    zfs = MemoryBackend(pools=("src", "dst"))
    await filesystem(zfs, "src/a")
    await zfs.snapshot(["src/a@s1"])
    one = Stream(send=SendSpec(snapshot="src/a@s1"), recv=RecvSpec(target="dst/a"))
    step = SendReceiveMany(SendReceiveManyArgs(streams=(one,)))
    names: list[str] = []
    ctx = StepContext("t1", local_hosts(zfs), stream=lambda n, _p: names.append(n))
    await step.do(ctx, await step.capture(ctx))
    assert set(names) == {"src/a"}
    names.clear()
    await step.do(ctx, await step.capture(ctx))
    assert names == []
