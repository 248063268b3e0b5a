"""The send|recv pipe with stand-in processes: byte counts, failures, cancellation."""

from __future__ import annotations

import asyncio
import shlex
from pathlib import Path

import pytest

from zfsyncd.commands.runner import CommandRunner
from zfsyncd.zfs import errors
from zfsyncd.zfs.sendrecv import pipe

RUN = CommandRunner()


def _fail_with(text: str, *, drain: bool = False) -> list[str]:
    # a stand-in for a zfs command that prints `text` and fails
    drain_cmd = "cat > /dev/null; " if drain else ""
    return ["sh", "-c", f"{drain_cmd}printf '%s\\n' {shlex.quote(text)} >&2; exit 1"]


async def test_bytes_are_counted_exactly(tmp_path: Path) -> None:
    out = tmp_path / "stream"
    seen: list[int] = []
    size = 12 * 1024 * 1024 + 7
    outcome = await pipe(
        RUN,
        ["head", "-c", str(size), "/dev/urandom"],
        RUN,
        ["sh", "-c", f"cat > {shlex.quote(str(out))}"],
        on_bytes=seen.append,
    )
    assert outcome.bytes_done == size
    assert out.stat().st_size == size
    assert seen[-1] == size
    assert seen == sorted(seen)


async def test_receive_side_explains_a_mismatch() -> None:
    text = (
        "cannot receive incremental stream: most recent snapshot of b/fs does not\n"
        "match incremental source"
    )
    with pytest.raises(errors.IncrementalMismatchError) as info:
        await pipe(RUN, ["head", "-c", "100000", "/dev/zero"], RUN, _fail_with(text))
    details = info.value.transfer
    assert details is not None
    assert details.recv_error is info.value
    assert details.send_error is None  # send only died of the closed pipe


async def test_send_side_explains_a_missing_snapshot() -> None:
    with pytest.raises(errors.NotFoundError) as info:
        await pipe(
            RUN,
            _fail_with("cannot open 'a/fs@nope': dataset does not exist"),
            RUN,
            _fail_with("cannot receive: failed to read from stream", drain=True),
        )
    details = info.value.transfer
    assert details is not None
    assert isinstance(details.recv_error, errors.StreamInterruptedError)
    assert details.bytes_done == 0


async def test_a_lost_connection_is_the_cause_not_the_short_stream() -> None:
    with pytest.raises(errors.ConnectionLostError):
        await pipe(
            RUN,
            ["sh", "-c", "head -c 5000 /dev/zero; echo 'Connection to peer closed.' >&2; exit 255"],
            RUN,
            _fail_with(
                "cannot receive new filesystem stream: checksum mismatch or incomplete stream.",
                drain=True,
            ),
        )


async def test_cancel_ends_the_stream_and_lets_receive_finish(tmp_path: Path) -> None:
    out = tmp_path / "partial"
    marker = tmp_path / "recv-saw-eof"
    started = asyncio.Event()
    recv = (
        f"cat > {shlex.quote(str(out))}; touch {shlex.quote(str(marker))}; "
        "echo 'cannot receive: incomplete stream' >&2; exit 1"
    )
    task = asyncio.create_task(
        pipe(
            RUN,
            ["sh", "-c", "head -c 3000000 /dev/zero; exec sleep 600"],
            RUN,
            ["sh", "-c", recv],
            on_bytes=lambda n: started.set() if n >= 3000000 else None,
        )
    )
    await asyncio.wait_for(started.wait(), 60)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # receive was not killed: it saw the stream end and could save its partial state
    assert marker.exists()
    assert out.stat().st_size == 3000000


async def test_a_program_that_cannot_start_leaves_no_process_behind() -> None:
    with pytest.raises(errors.CommandNotFoundError):
        await pipe(RUN, ["sleep", "600"], RUN, ["no-such-zfs", "receive"])
