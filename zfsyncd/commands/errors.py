"""Typed errors of any command, and the classifier that picks them for a failure.

A command's own backend knows what its stderr means (zfs/ has dozens of patterns); the
runner only knows that it failed, timed out or could not be started. So the runner asks a
`Classifier`, given per runner or per call, which error to raise; the default one raises
these generic classes. Backends subclass them, so `except CommandError` catches every
command's failure and `transient` is read the same way for all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass


class CommandError(Exception):
    """A command failed. Subclasses say how; `kind` is a short stable word for logs."""

    kind = "command-failed"
    #: a transient error may succeed if retried unchanged (the engine's retry policy reads it)
    transient = False

    def __init__(self, argv: Sequence[str], returncode: int, stderr: str) -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr = stderr.strip()
        super().__init__(self.stderr or f"{argv[0] if argv else 'command'} exited {returncode}")

    @property
    def command(self) -> str:
        return " ".join(self.argv)


class CommandFailedError(CommandError):
    """The command ran and exited non-zero (or was killed by a signal)."""


class CommandTimeoutError(CommandError):
    kind = "timeout"
    transient = True


class CommandNotFoundError(CommandError):
    """The program itself could not be started (missing, or not executable)."""

    kind = "command-not-found"


#: builds the error for (argv, returncode, stderr)
ErrorFactory = Callable[[Sequence[str], int, str], CommandError]


@dataclass(frozen=True)
class Classifier:
    """Which error a runner raises for each way a command can go wrong."""

    #: a non-zero exit: usually a function of stderr
    failed: ErrorFactory = CommandFailedError
    #: no answer within the timeout (the runner killed it); returncode -1
    timeout: ErrorFactory = CommandTimeoutError
    #: the program could not be started; returncode 127
    not_found: ErrorFactory = CommandNotFoundError


GENERIC = Classifier()
