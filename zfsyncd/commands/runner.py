"""Running a command: argv lists only, a timeout, output captured, failures typed.

Any command: zfs and zpool (whose failures zfs/ classifies with its own patterns, passed as
a `Classifier`), rsync, btrfs, ssh. Nothing here ever starts a shell on this machine. A
remote host is reached through a command prefix (`ssh host --`); since ssh hands its
arguments to the remote user's shell as one string, `Transport` quotes every argument with
`shlex.join` first, so what arrives is exactly the argv that was built (the names in it are
validated besides).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from zfsyncd.commands.errors import GENERIC, Classifier

log = logging.getLogger(__name__)

#: commands print their messages in the C locale only when asked: error patterns need English.
COMMAND_ENV: Mapping[str, str] = {"LC_ALL": "C", "LANG": "C"}
DEFAULT_TIMEOUT = 300.0


@dataclass(frozen=True)
class Transport:
    """Where commands run: here (no prefix) or on another host through a prefix.

    `remote_shell` says the prefix hands the command to a shell on the other side (ssh
    does), so the command is passed as one shell-quoted string.
    """

    prefix: tuple[str, ...] = ()
    remote_shell: bool = False
    label: str = "local"

    def wrap(self, argv: Sequence[str]) -> list[str]:
        if not self.prefix:
            return list(argv)
        if self.remote_shell:
            return [*self.prefix, shlex.join(argv)]
        return [*self.prefix, *argv]

    @classmethod
    def ssh(
        cls,
        host: str,
        *,
        user: str | None = None,
        port: int | None = None,
        options: Sequence[str] = (),
        ssh: str | Sequence[str] = "ssh",
    ) -> Transport:
        """ssh to `host`; `ssh` is the program, or an argv list (the program and its own
        arguments, e.g. a wrapper)."""
        if not host or host.startswith("-") or any(c.isspace() for c in host):
            raise ValueError(f"invalid ssh host {host!r}")
        if user is not None and (not user or user.startswith("-") or "@" in user):
            raise ValueError(f"invalid ssh user {user!r}")
        # BatchMode: a daemon has nobody to type a password; fail instead of hanging.
        program = [ssh] if isinstance(ssh, str) else list(ssh)
        if not program or not program[0]:
            raise ValueError("no ssh command")
        prefix = [*program, "-o", "BatchMode=yes", *options]
        if port is not None:
            prefix += ["-p", str(int(port))]
        target = f"{user}@{host}" if user else host
        return cls(prefix=(*prefix, "--", target), remote_shell=True, label=target)


@dataclass
class CommandResult:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float


@dataclass
class CommandRunner:
    """Runs one command at a time per call; safe to share between concurrent tasks."""

    transport: Transport = Transport()
    timeout: float = DEFAULT_TIMEOUT
    #: the errors a failure raises, unless a call names others
    errors: Classifier = GENERIC
    #: called with the full argv before each command starts (logging, tests, the audit log)
    observers: list[Callable[[Sequence[str]], None]] = field(default_factory=list)

    def command(self, argv: Sequence[str]) -> list[str]:
        """The argv that will actually be executed for `argv` (transport prefix applied)."""
        return self.transport.wrap(argv)

    def env(self) -> dict[str, str]:
        return {**os.environ, **COMMAND_ENV}

    def notify(self, argv: Sequence[str]) -> None:
        for observer in self.observers:
            observer(argv)

    async def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float | None = None,
        check: bool = True,
        errors: Classifier | None = None,
    ) -> CommandResult:
        """Run `argv`; raise the error `errors` (default: the runner's) picks for a failure,
        when `check`; a timeout or a program that cannot start raises whatever `check` is."""
        errors = errors or self.errors
        full = self.command(argv)
        self.notify(full)
        limit = self.timeout if timeout is None else timeout
        started = time.monotonic()
        proc = await spawn(
            full,
            self.env(),
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            errors=errors,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(stdin), limit)
        except TimeoutError:
            await terminate(proc)
            raise errors.timeout(
                full, -1, f"{shlex.join(full)}: no answer after {limit:g} s, stopped"
            ) from None
        except asyncio.CancelledError:
            await terminate(proc)
            raise
        result = CommandResult(
            argv=full,
            returncode=proc.returncode if proc.returncode is not None else -1,
            stdout=out.decode(errors="replace"),
            stderr=err.decode(errors="replace"),
            seconds=time.monotonic() - started,
        )
        log.debug("%s -> %d in %.3fs", shlex.join(full), result.returncode, result.seconds)
        if check and result.returncode != 0:
            raise errors.failed(full, result.returncode, result.stderr)
        return result


async def spawn(
    argv: Sequence[str],
    env: Mapping[str, str],
    *,
    stdin: int,
    stdout: int,
    errors: Classifier = GENERIC,
) -> asyncio.subprocess.Process:
    """Start one command: no shell, stderr captured, in a process group of its own (so that
    stopping it also stops what it started, ssh's children for one)."""
    try:
        return await asyncio.create_subprocess_exec(
            *argv,
            stdin=stdin,
            stdout=stdout,
            stderr=asyncio.subprocess.PIPE,
            env=dict(env),
            start_new_session=True,
        )
    except (FileNotFoundError, PermissionError) as exc:
        raise errors.not_found(argv, 127, f"cannot run {argv[0]!r}: {exc.strerror}") from None


async def terminate(proc: asyncio.subprocess.Process, grace: float = 5.0) -> None:
    """Stop a process group: SIGTERM, then SIGKILL after `grace` seconds."""
    if proc.returncode is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            await asyncio.wait_for(proc.wait(), grace)
            return
        except TimeoutError:
            continue


__all__ = [
    "COMMAND_ENV",
    "CommandResult",
    "CommandRunner",
    "Transport",
    "spawn",
    "terminate",
]
