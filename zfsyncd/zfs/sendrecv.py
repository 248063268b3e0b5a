"""The send|recv pipeline: `zfs send` on one host into `zfs receive` on another (or the same).

This is the hot path. The stream never passes through Python buffers: send writes into one
pipe, receive reads from another, and a thread moves the bytes between the two with
`os.splice` (kernel to kernel), counting them exactly as they pass. DESIGN.md has the
measurements (splice 1.07x of a bare shell pipe; a Python read/write pump 1.46x-2x).

Cancelling the awaiting task cuts the stream the way a lost connection would: send is
stopped, receive sees the stream end early, and a resumable receive (-s) keeps its partial
state for `zfs send -t`.

Send's stderr is read line by line as it comes (`on_send_line`): `zfs send -vP` reports
the stream's size there before its first byte, and then a line a second, so that the
size is known without a `zfs send -nvP` of its own (one zfs command less per stream).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from zfsyncd.commands.runner import CommandRunner, spawn, terminate
from zfsyncd.zfs.errors import (
    ZFS_ERRORS,
    StreamInterruptedError,
    TransferDetails,
    ZfsCommandError,
    classify,
)

log = logging.getLogger(__name__)

CHUNK = 1 << 20  # bytes asked of one splice call
PIPE_SIZE = 1 << 20  # larger pipes mean fewer wake-ups of the pump and of zfs
PROGRESS_INTERVAL = 0.2  # seconds between two progress reports from the pump
# F_SETPIPE_SZ is in fcntl from Python 3.10 on Linux; the number is Linux's own.
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


@dataclass
class PipeOutcome:
    bytes_done: int
    seconds: float


class _Pump(threading.Thread):
    """Moves bytes from `src` to `dst` with splice until EOF or a broken pipe.

    It only counts; the event loop samples `count` for progress, so that a stalled stream
    still shows how far it got (a report from in here would wait for the next splice).
    """

    def __init__(self, src: int, dst: int, finished: Callable[[], None]) -> None:
        super().__init__(name="zfs-splice-pump", daemon=True)
        self.src, self.dst, self.finished = src, dst, finished
        self.count = 0
        self.error: OSError | None = None

    def run(self) -> None:
        try:
            while True:
                try:
                    moved = os.splice(self.src, self.dst, CHUNK)
                except InterruptedError:
                    continue
                if moved == 0:
                    break
                self.count += moved
        except BrokenPipeError:
            pass  # receive ended first; its exit status says why
        except OSError as exc:
            self.error = exc
        finally:
            # EOF for receive: it must see the stream end whether send finished or not
            os.close(self.dst)
            os.close(self.src)
            self.finished()


async def _until(event: asyncio.Event) -> None:
    await event.wait()


async def _sample(
    pump: _Pump,
    done: asyncio.Future[None],
    on_bytes: Callable[[int], None] | None,
    told: asyncio.Event,
) -> None:
    """Report the pump's count every PROGRESS_INTERVAL while it changes, from the moment
    send's stderr has `told` its first line (or ended)."""
    if on_bytes is None:
        return
    # send writes -vP's size line before its first byte, but the pump can move bytes before
    # that line is read: a report then would have no total (seen in the lab)
    waiting = asyncio.ensure_future(_until(told))
    try:
        await asyncio.wait([done, waiting], return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiting.cancel()
    last = -1
    while not done.done():
        await asyncio.wait([done], timeout=PROGRESS_INTERVAL)
        if pump.count != last and not done.done():
            last = pump.count
            on_bytes(last)


def _pipe() -> tuple[int, int]:
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    with contextlib.suppress(OSError):  # a smaller pipe is slower, not wrong
        fcntl.fcntl(write_end, _F_SETPIPE_SZ, PIPE_SIZE)
    return read_end, write_end


async def pipe(
    send_runner: CommandRunner,
    send_argv: Sequence[str],
    recv_runner: CommandRunner,
    recv_argv: Sequence[str],
    *,
    on_bytes: Callable[[int], None] | None = None,
    on_send_line: Callable[[str], bool] | None = None,
) -> PipeOutcome:
    """Run `send_argv | recv_argv`, each through its own runner's transport.

    `on_send_line` sees each line send writes on stderr as it arrives; those it returns
    True for are reports (`-vP`'s size and progress), left out of send's error text.
    A failure raises the classified error of the side that explains it, with both sides
    and the byte count in its `transfer` attribute.
    """
    send_full = send_runner.command(send_argv)
    recv_full = recv_runner.command(recv_argv)
    send_runner.notify(send_full)
    recv_runner.notify(recv_full)
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    send_out_r, send_out_w = _pipe()
    recv_in_r, recv_in_w = _pipe()
    send = recv = None
    try:
        send = await spawn(
            send_full,
            send_runner.env(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=send_out_w,
            errors=ZFS_ERRORS,
        )
        recv = await spawn(
            recv_full,
            recv_runner.env(),
            stdin=recv_in_r,
            stdout=asyncio.subprocess.PIPE,
            errors=ZFS_ERRORS,
        )
    except BaseException:
        for fd in (send_out_r, send_out_w, recv_in_r, recv_in_w):
            os.close(fd)
        if send is not None:
            await terminate(send)
        raise
    # the children hold their own copies; ours would keep the pipes open forever
    os.close(send_out_w)
    os.close(recv_in_r)
    pump_done: asyncio.Future[None] = loop.create_future()

    def finished() -> None:
        loop.call_soon_threadsafe(pump_done.set_result, None)

    told = asyncio.Event()  # send's first stderr line has been read, or its stderr ended
    if on_send_line is None:
        told.set()
        seen = None
    else:
        report = on_send_line

        def seen(line: str) -> bool:
            told.set()
            return report(line)

    pump = _Pump(send_out_r, recv_in_w, finished)
    pump.start()
    send_io = asyncio.ensure_future(_send_errors(send, seen))
    send_io.add_done_callback(lambda _: told.set())
    sampler = asyncio.ensure_future(_sample(pump, pump_done, on_bytes, told))
    recv_io = asyncio.ensure_future(recv.communicate())
    try:
        # asyncio.wait, not gather: a cancel must not cancel the two readers with it
        await asyncio.wait([send_io, recv_io])
        await pump_done
    except asyncio.CancelledError:
        # Stop send first: receive then sees a short stream and (with -s) saves its state.
        await terminate(send)
        try:
            await asyncio.wait_for(asyncio.shield(recv_io), 60)
        except TimeoutError:
            await terminate(recv)
        await pump_done
        raise
    finally:
        for task in (send_io, recv_io, sampler):
            if not task.done():
                task.cancel()
    send_err = send_io.result()
    _, recv_err = recv_io.result()
    if on_bytes is not None:
        on_bytes(pump.count)
    outcome = PipeOutcome(bytes_done=pump.count, seconds=time.monotonic() - started)
    send_rc = send.returncode if send.returncode is not None else -1
    recv_rc = recv.returncode if recv.returncode is not None else -1
    if send_rc == 0 and recv_rc == 0 and pump.error is None:
        return outcome
    raise _failure(
        send_full,
        send_rc,
        send_err.decode(errors="replace"),
        recv_full,
        recv_rc,
        recv_err.decode(errors="replace"),
        pump,
        outcome,
    )


async def _send_errors(
    send: asyncio.subprocess.Process, on_line: Callable[[str], bool] | None
) -> bytes:
    """Send's stderr, each line shown to `on_line` as it arrives; what it does not take as
    a report is returned (the text a failure is classified by)."""
    if on_line is None or send.stderr is None:
        _, err = await send.communicate()
        return err
    kept: list[bytes] = []
    try:
        async for line in send.stderr:
            if not on_line(line.decode(errors="replace").rstrip("\n")):
                kept.append(line)
    except ValueError:  # a line past the reader's 64 KiB limit: no report, keep it all
        kept.append(await send.stderr.read())
    await send.wait()
    return b"".join(kept)


def _failure(
    send_argv: list[str],
    send_rc: int,
    send_err: str,
    recv_argv: list[str],
    recv_rc: int,
    recv_err: str,
    pump: _Pump,
    outcome: PipeOutcome,
) -> ZfsCommandError:
    send_error: ZfsCommandError | None = None
    recv_error: ZfsCommandError | None = None
    # send killed by SIGPIPE (-13) after receive gave up is a consequence, not a cause
    if send_rc != 0 and not (send_rc == -13 and recv_rc != 0):
        send_error = classify(send_argv, send_rc, send_err)
    if recv_rc != 0:
        recv_error = classify(recv_argv, recv_rc, recv_err)
    if pump.error is not None and send_error is None and recv_error is None:
        reason = errno.errorcode.get(pump.error.errno or 0, str(pump.error))
        send_error = ZfsCommandError(send_argv, -1, f"moving the stream failed: {reason}")
    cause = _explaining(recv_error, send_error)
    cause.transfer = TransferDetails(send_error, recv_error, outcome.bytes_done)
    return cause


def _explaining(
    recv_error: ZfsCommandError | None, send_error: ZfsCommandError | None
) -> ZfsCommandError:
    """The error that says why a transfer failed.

    receive knows why a stream does not apply, so it explains first; but when send failed
    first, receive only says the stream stopped short, and send's own error (a missing
    snapshot, a stale token, a lost ssh connection) is the cause.
    """
    vague = (ZfsCommandError, StreamInterruptedError)
    for error in (recv_error, send_error):
        if error is not None and type(error) not in vague:
            return error
    return next(e for e in (recv_error, send_error) if e is not None)
