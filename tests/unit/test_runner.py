"""The command runner and the transport, with real (non-zfs) processes."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest

from zfsyncd.zfs import errors
from zfsyncd.zfs.runner import CommandRunner, Transport

# `sh -c <one string>` is exactly what sshd does with the command ssh sends it
SHELL_REMOTE = Transport(prefix=("sh", "-c"), remote_shell=True, label="sh")


async def test_output_and_status_are_captured() -> None:
    result = await CommandRunner().run(["sh", "-c", "echo out; echo err >&2"])
    assert result.stdout == "out\n"
    assert result.stderr == "err\n"
    assert result.returncode == 0


async def test_failure_is_classified_with_its_argv() -> None:
    argv = ["sh", "-c", "echo \"cannot open 'p/x': dataset does not exist\" >&2; exit 1"]
    with pytest.raises(errors.NotFoundError) as info:
        await CommandRunner().run(argv)
    assert info.value.argv == argv
    assert info.value.returncode == 1


async def test_check_false_returns_the_failure() -> None:
    result = await CommandRunner().run(["sh", "-c", "exit 3"], check=False)
    assert result.returncode == 3


async def test_stdin_is_passed() -> None:
    assert (await CommandRunner().run(["cat"], stdin=b"abc")).stdout == "abc"


async def test_commands_run_in_the_c_locale() -> None:
    out = (await CommandRunner().run(["sh", "-c", "echo $LC_ALL"])).stdout
    assert out == "C\n"


async def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    # the child of the shell must die too (an ssh's children, a zfs send under ssh)
    script = f"sleep 60 & echo $! > {shlex.quote(str(pidfile))}; wait"
    with pytest.raises(errors.CommandTimeoutError, match=r"no answer after 0\.5 s"):
        await CommandRunner().run(["sh", "-c", script], timeout=0.5)
    child = int(pidfile.read_text())
    assert not _alive(child)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); it is dead for our purposes
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


async def test_missing_program_is_a_typed_error() -> None:
    with pytest.raises(errors.CommandNotFoundError, match="cannot run 'no-such-zfs'"):
        await CommandRunner().run(["no-such-zfs", "list"])


async def test_observers_see_the_full_argv() -> None:
    seen: list[list[str]] = []
    runner = CommandRunner(transport=SHELL_REMOTE, observers=[lambda a: seen.append(list(a))])
    await runner.run(["true"])
    assert seen == [["sh", "-c", "true"]]


async def test_remote_shell_receives_exactly_the_argv() -> None:
    tricky = ["a b", "c;d", "$(echo no)", "it's", "`id`", "*", ""]
    out = await CommandRunner(transport=SHELL_REMOTE).run(["printf", "[%s]\\n", *tricky])
    assert out.stdout.splitlines() == [f"[{t}]" for t in tricky]


def test_ssh_transport() -> None:
    ssh = Transport.ssh("peer.example", user="zfsync", port=2222)
    assert ssh.wrap(["zfs", "list", "p/a b"]) == [
        "ssh", "-o", "BatchMode=yes", "-p", "2222", "--", "zfsync@peer.example",
        "zfs list 'p/a b'",
    ]  # fmt: skip
    assert ssh.label == "zfsync@peer.example"
    for bad_host in ("-oProxyCommand=x", "a b", ""):
        with pytest.raises(ValueError, match="invalid ssh host"):
            Transport.ssh(bad_host)
    with pytest.raises(ValueError, match="invalid ssh user"):
        Transport.ssh("h", user="-l")


def test_local_transport_passes_argv_unchanged() -> None:
    assert Transport().wrap(["zfs", "list"]) == ["zfs", "list"]
    prefixed = Transport(prefix=("nice", "-n", "5"))
    assert prefixed.wrap(["zfs", "send", "p@s"]) == ["nice", "-n", "5", "zfs", "send", "p@s"]
