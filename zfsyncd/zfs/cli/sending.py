"""`Sending`: CliBackend's zfs send | zfs receive (the two processes' pipes joined, the
progress read from `zfs send -vP` on stderr: zfsyncd/zfs/sendrecv.py), its estimate
(`zfs send -nvP`) and `zfs receive -A`."""

from __future__ import annotations

import builtins
import re
from typing import Self

from zfsyncd.zfs import names
from zfsyncd.zfs.backend import ProgressCallback
from zfsyncd.zfs.capabilities import Feature
from zfsyncd.zfs.cli.command import ZfsCommand, property_args
from zfsyncd.zfs.errors import ZfsCommandError
from zfsyncd.zfs.models import RecvSpec, SendSpec, TransferProgress, TransferResult
from zfsyncd.zfs.sendrecv import pipe

# `zfs send -nvP` ends with "size\t<bytes>"; `zfs send -vP` writes the same on stderr before
# the stream's first byte (libzfs: the size of its dry run, or lzc_send_space's)
_SIZE_LINE = re.compile(r"^size\t(\d+)$", re.MULTILINE)
# the other lines of -vP: what each snapshot adds ("full"/"incremental"), then one line a
# second while the stream runs ("HH:MM:SS<TAB>bytes<TAB>snapshot")
_REPORT_LINE = re.compile(r"^(?:(?:full|incremental)\t.*|\d\d:\d\d:\d\d\t\d+\t.*)$")


class Sending(ZfsCommand):
    async def send_estimate(self, spec: SendSpec) -> int:
        await self._require(Feature.SEND_SIZE_ESTIMATE)
        out = await self._run(*self._send_args(spec, estimate=True))
        # -nvP prints the estimate on stdout (older releases on stderr)
        match = _SIZE_LINE.search(out.stdout) or _SIZE_LINE.search(out.stderr)
        if match is None:
            raise ZfsCommandError(out.argv, 0, f"no size in zfs send -nvP output: {out.stdout!r}")
        return int(match[1])

    def _send_args(
        self, spec: SendSpec, *, estimate: bool = False, verbose: bool = False
    ) -> builtins.list[str]:
        """`zfs send`'s argv: with `estimate`, the dry run (-nvP); with `verbose`, the
        stream with its size and progress reported on stderr (-vP)."""
        args = ["send", *(["-nvP"] if estimate else ["-vP"] if verbose else [])]
        if spec.resume_token is not None:
            return [*args, "-t", spec.resume_token]
        if spec.raw:
            args.append("-w")
        else:
            args += [
                flag
                for flag, on in (
                    ("-c", spec.compressed),
                    ("-L", spec.large_blocks),
                    ("-e", spec.embedded),
                )
                if on
            ]
        if spec.replicate:
            args.append("-R")
        if spec.properties:
            args.append("-p")
        if spec.base is not None:
            args += ["-I" if spec.intermediates else "-i", spec.base]
        if spec.snapshot is None:  # SendSpec's validator makes this unreachable
            raise ValueError("a send needs a snapshot or a resume token")
        return [*args, spec.snapshot]

    @staticmethod
    def _recv_args(recv: RecvSpec) -> builtins.list[str]:
        args = ["receive"]
        if recv.force:
            args.append("-F")
        if recv.resumable:
            args.append("-s")
        if not recv.mount:
            args.append("-u")
        args += property_args(recv.properties)
        for prop in recv.exclude_properties:
            args += ["-x", prop]
        return [*args, recv.target]

    async def send_recv(
        self,
        spec: SendSpec,
        target: Self,
        recv: RecvSpec,
        *,
        progress: ProgressCallback | None = None,
    ) -> TransferResult:
        if spec.raw:
            await self._require(Feature.RAW_SEND)
        if spec.resume_token is not None or recv.resumable:
            await self._require(Feature.RESUMABLE_RECEIVE)
            await target._require(Feature.RESUMABLE_RECEIVE)
        await self._require(Feature.SEND_SIZE_ESTIMATE)  # -P
        # the size comes from the send itself (-vP), before its first byte: no -nvP first
        estimate: builtins.list[int] = []

        def on_send_line(line: str) -> bool:
            size = _SIZE_LINE.fullmatch(line)
            if size is not None and not estimate:
                estimate.append(int(size[1]))
            return size is not None or _REPORT_LINE.fullmatch(line) is not None

        def on_bytes(count: int) -> None:
            if progress is not None:
                total = estimate[0] if estimate else None
                progress(TransferProgress(bytes_done=count, bytes_total=total))

        outcome = await pipe(
            self.runner,
            [self.zfs, *self._send_args(spec, verbose=True)],
            target.runner,
            [target.zfs, *self._recv_args(recv)],
            on_bytes=on_bytes,
            on_send_line=on_send_line,
        )
        return TransferResult(
            bytes_done=outcome.bytes_done,
            bytes_estimated=estimate[0] if estimate else None,
            seconds=outcome.seconds,
        )

    async def recv_abort(self, dataset: str) -> None:
        names.check_dataset(dataset)
        await self._require(Feature.RESUMABLE_RECEIVE)
        await self._zfs("receive", "-A", dataset)
