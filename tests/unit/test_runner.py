"""The command runner and the transport, with real (non-zfs) processes: the generic errors
by default, ZFS's when the ZFS classifier is given."""

from __future__ import annotations

import ast
import os
import shlex
from pathlib import Path

import pytest

from zfsyncd.commands import errors as generic
from zfsyncd.commands.runner import CommandRunner, Transport
from zfsyncd.tx.retry import is_transient
from zfsyncd.zfs import errors

# `sh -c <one string>` is exactly what sshd does with the command ssh sends it
SHELL_REMOTE = Transport(prefix=("sh", "-c"), remote_shell=True, label="sh")


async def test_output_and_status_are_captured() -> None:
    result = await CommandRunner().run(["sh", "-c", "echo out; echo err >&2"])
    assert result.stdout == "out\n"
    assert result.stderr == "err\n"
    assert result.returncode == 0


NOT_FOUND = ["sh", "-c", "echo \"cannot open 'p/x': dataset does not exist\" >&2; exit 1"]


async def test_a_failure_is_a_generic_error_with_its_argv_status_and_stderr() -> None:
    with pytest.raises(generic.CommandFailedError) as info:
        await CommandRunner().run(["sh", "-c", "echo no >&2; exit 3"])
    assert not isinstance(info.value, errors.ZfsError)  # no zfs pattern applied to sh
    assert info.value.argv == ["sh", "-c", "echo no >&2; exit 3"]
    assert (info.value.returncode, info.value.stderr, str(info.value)) == (3, "no", "no")
    assert not info.value.transient


async def test_a_zfs_failure_is_classified_by_the_zfs_classifier() -> None:
    with pytest.raises(errors.NotFoundError) as info:
        await CommandRunner().run(NOT_FOUND, errors=errors.ZFS_ERRORS)
    assert info.value.argv == NOT_FOUND
    assert info.value.returncode == 1
    assert isinstance(info.value, generic.CommandError)
    # the same, set once on the runner
    with pytest.raises(errors.NotFoundError):
        await CommandRunner(errors=errors.ZFS_ERRORS).run(NOT_FOUND)


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
    with pytest.raises(generic.CommandTimeoutError, match=r"no answer after 0\.5 s") as info:
        await CommandRunner().run(["sh", "-c", script], timeout=0.5)
    assert info.value.transient
    assert not isinstance(info.value, errors.ZfsError)
    child = int(pidfile.read_text())
    assert not _alive(child)


async def test_a_zfs_timeout_is_the_zfs_timeout_error() -> None:
    with pytest.raises(errors.CommandTimeoutError):
        await CommandRunner(timeout=0.2).run(["sleep", "5"], errors=errors.ZFS_ERRORS)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); it is dead for our purposes
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


async def test_missing_program_is_a_typed_error() -> None:
    with pytest.raises(generic.CommandNotFoundError, match="cannot run 'no-such-rsync'") as info:
        await CommandRunner().run(["no-such-rsync", "-a"])
    assert info.value.returncode == 127
    assert not isinstance(info.value, errors.ZfsError)
    with pytest.raises(errors.CommandNotFoundError, match="cannot run 'no-such-zfs'"):
        await CommandRunner().run(["no-such-zfs", "list"], errors=errors.ZFS_ERRORS)


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


def test_the_retry_policy_reads_transient_from_any_command_error() -> None:
    assert is_transient(generic.CommandTimeoutError(["rsync"], -1, "no answer"))
    assert is_transient(errors.BusyError(["zfs", "destroy"], 1, "dataset is busy"))
    assert not is_transient(generic.CommandFailedError(["rsync"], 23, "partial transfer"))
    assert not is_transient(OSError("not a command"))


def test_the_runner_is_below_zfs_in_the_layers() -> None:
    package = Path(__file__).parents[2] / "zfsyncd" / "commands"
    for module in package.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("zfsyncd"):
                assert node.module.startswith("zfsyncd.commands"), (module.name, node.module)
