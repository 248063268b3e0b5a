"""CliBackend's transfer learns the stream's size from the send itself: `zfs send -vP`
writes it on stderr before the first byte (OpenZFS 2.3, libzfs_sendrecv.c), so a transfer
is two commands (send, receive), not three with a `zfs send -nvP` first. A script stands
in for zfs and prints what zfs 2.3 prints: `-vP`'s lines on stderr, the stream on stdout."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

import pytest

from zfsyncd.commands.runner import CommandRunner
from zfsyncd.zfs.cli import CliBackend
from zfsyncd.zfs.errors import NotFoundError
from zfsyncd.zfs.models import RecvSpec, SendSpec, TransferProgress

STREAM_BYTES = 300_000
REPORTS = "incremental\tp/a@1\tp/a@2\t300000\nsize\t300000\n"


def _fake_zfs(tmp_path: Path, send_stderr: str, send_status: int) -> Path:
    """`version`, `send` (the reports, the stream, a progress line) and `receive` (into a
    file)."""
    received = tmp_path / "received"
    script = tmp_path / "zfs"
    script.write_text(
        "#!/bin/sh\n"
        'case "$1" in\n'
        "version) printf 'zfs-2.3.2-1\\nzfs-kmod-2.3.2-1\\n' ;;\n"
        f"send) printf '%s' {shlex.quote(send_stderr)} >&2\n"
        f"  [ {send_status} -eq 0 ] || exit {send_status}\n"
        f"  head -c {STREAM_BYTES} /dev/zero\n"
        "  printf '12:00:01\\t4096\\tp/a@2\\n' >&2 ;;\n"
        f"receive) cat > {shlex.quote(str(received))} ;;\n"
        "esac\n"
    )
    script.chmod(0o755)
    return script


def _backend(
    tmp_path: Path, send_stderr: str, status: int
) -> tuple[CliBackend, list[Sequence[str]]]:
    ran: list[Sequence[str]] = []
    zfs = _fake_zfs(tmp_path, send_stderr, status)
    return CliBackend(CommandRunner(observers=[ran.append]), zfs=str(zfs)), ran


SPEC = SendSpec(snapshot="p/a@2", base="p/a@1")
RECV = RecvSpec(target="q/a")


async def test_the_size_comes_from_the_send_itself(tmp_path: Path) -> None:
    zfs, ran = _backend(tmp_path, REPORTS, 0)
    seen: list[TransferProgress] = []
    result = await zfs.send_recv(SPEC, zfs, RECV, progress=seen.append)
    verbs = [argv[1] for argv in ran]
    assert verbs == ["version", "send", "receive"]  # no `send -nvP` before
    assert ran[1][:3] == [ran[1][0], "send", "-vP"]
    assert result.bytes_done == STREAM_BYTES
    assert result.bytes_estimated == 300_000
    assert seen[-1] == TransferProgress(bytes_done=STREAM_BYTES, bytes_total=300_000)
    # the size line comes before the stream's first byte: every report has the total
    assert all(p.bytes_total == 300_000 for p in seen)
    assert (tmp_path / "received").stat().st_size == STREAM_BYTES


async def test_the_reports_are_not_the_error(tmp_path: Path) -> None:
    """A failing send is classified by what it said, without -vP's reports."""
    text = REPORTS + "cannot open 'p/a@2': dataset does not exist\n"
    zfs, _ = _backend(tmp_path, text, 1)
    with pytest.raises(NotFoundError) as info:
        await zfs.send_recv(SPEC, zfs, RECV)
    assert info.value.stderr.strip() == "cannot open 'p/a@2': dataset does not exist"


async def test_no_size_reported_is_no_total(tmp_path: Path) -> None:
    """zfs that could not estimate says so and sends all the same: bytes, no total."""
    zfs, _ = _backend(tmp_path, "Cannot estimate send size: Invalid argument\n", 0)
    seen: list[TransferProgress] = []
    result = await zfs.send_recv(SPEC, zfs, RECV, progress=seen.append)
    assert result.bytes_estimated is None
    assert seen[-1] == TransferProgress(bytes_done=STREAM_BYTES, bytes_total=None)


async def test_no_report_before_the_size_line_is_read(tmp_path: Path) -> None:
    """The pump can move bytes before send's size line has been read (in the lab a report
    went out without its total): here the stream comes first and the line 0.6 s later,
    three progress intervals; every report still carries the total."""
    script = tmp_path / "zfs"
    script.write_text(
        "#!/bin/sh\n"
        'case "$1" in\n'
        "version) printf 'zfs-2.3.2-1\\nzfs-kmod-2.3.2-1\\n' ;;\n"
        f"send) head -c {STREAM_BYTES // 2} /dev/zero; sleep 0.6\n"
        f"  printf '%s' {shlex.quote(REPORTS)} >&2\n"
        f"  head -c {STREAM_BYTES - STREAM_BYTES // 2} /dev/zero ;;\n"
        "receive) cat > /dev/null ;;\n"
        "esac\n"
    )
    script.chmod(0o755)
    zfs = CliBackend(CommandRunner(), zfs=str(script))
    seen: list[TransferProgress] = []
    result = await zfs.send_recv(SPEC, zfs, RECV, progress=seen.append)
    assert result.bytes_done == STREAM_BYTES
    assert seen
    assert all(p.bytes_total == 300_000 for p in seen), seen
