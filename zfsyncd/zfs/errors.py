"""Typed errors for everything the zfs/ layer can fail with.

Callers (the transaction engine above all) decide what to do from the *type* of an error:
a held snapshot is retried later, a missing dataset is a user error, a full pool aborts the
transaction. So every failure of a zfs/zpool command is mapped from its stderr to one of
these classes by `classify()`; what no pattern recognises becomes `ZfsCommandError` itself,
with the command and its stderr attached, never a bare exception. The command runner asks
`ZFS_ERRORS` for them; each is also a zfsyncd.commands error (`CommandError`), so code that
runs other commands too handles every failure one way.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from zfsyncd.commands import errors as commands


class ZfsError(Exception):
    """Base of every error raised by zfsyncd.zfs."""


class InvalidNameError(ZfsError, ValueError):
    """A dataset, snapshot or bookmark name ZFS would reject, found before any command ran."""

    def __init__(self, name: str, problem: str, *, what: str = "ZFS name") -> None:
        self.name = name
        self.problem = problem
        # `what`: a property's value or a hold tag is not a name, and is not called one
        super().__init__(f"invalid {what} {name!r}: {problem}")


class UnsupportedFeatureError(ZfsError):
    """The installed OpenZFS is too old (or not OpenZFS) for a feature that was asked for."""


class ZfsCommandError(ZfsError, commands.CommandError):
    """A zfs/zpool command failed. Subclasses say why; this class itself means 'other'."""

    #: a short, stable word for logs, the audit trail and D-Bus error names
    kind = "other"
    #: set on the error a failed send|recv raised: what each side said, how far it got
    transfer: TransferDetails | None = None
    #: a transient error may succeed if retried unchanged (the engine's retry policy reads it)
    transient = False


class NotFoundError(ZfsCommandError):
    kind = "not-found"


class AlreadyExistsError(ZfsCommandError):
    kind = "already-exists"


class BusyError(ZfsCommandError):
    """The dataset is busy. Retrying later may help (a send in progress, an open file)."""

    kind = "busy"
    transient = True


class HeldError(BusyError):
    """A snapshot cannot be destroyed because it carries user holds."""

    kind = "held"
    transient = False


class MountedBusyError(BusyError):
    """A filesystem is mounted and in use, so it cannot be unmounted/renamed/destroyed."""

    kind = "mounted-busy"


class HasDependentsError(ZfsCommandError):
    """Something depends on the target: destroy needs -r/-R, rollback needs -r."""

    kind = "has-dependents"


class HasClonesError(HasDependentsError):
    kind = "has-clones"


class HasChildrenError(HasDependentsError):
    kind = "has-children"


class NewerSnapshotsExistError(HasDependentsError):
    """A rollback target is not the most recent snapshot (rollback -r would destroy newer)."""

    kind = "newer-snapshots"


class PermissionDeniedError(ZfsCommandError):
    kind = "permission-denied"


class InvalidArgumentError(ZfsCommandError):
    """ZFS itself rejected a name, property or option (after our own validation passed)."""

    kind = "invalid-argument"


class PoolFullError(ZfsCommandError):
    kind = "pool-full"


class IncrementalMismatchError(ZfsCommandError):
    """The target's latest snapshot is not the incremental source of the stream."""

    kind = "incremental-mismatch"


class DestinationModifiedError(ZfsCommandError):
    """The target changed since its latest snapshot, so an incremental cannot apply."""

    kind = "destination-modified"


class StaleResumeTokenError(ZfsCommandError):
    """A receive_resume_token no longer matches what exists (snapshot gone, stream changed)."""

    kind = "stale-resume-token"


class StreamInterruptedError(ZfsCommandError):
    """receive got a stream that ended early; with -s its partial state was kept."""

    kind = "stream-interrupted"
    transient = True


class ConnectionLostError(ZfsCommandError):
    """ssh could not reach the other host, or lost it mid-command."""

    kind = "connection-lost"
    transient = True


class PartialReceiveError(ZfsCommandError):
    """The target holds a partial resumable receive: resume it (`send -t`) or discard it
    (`recv -A`); retrying the same receive cannot succeed."""

    kind = "partial-receive"


class KeyUnavailableError(ZfsCommandError):
    """An encrypted dataset's key is not loaded (`zfs load-key`)."""

    kind = "key-unavailable"


class CommandTimeoutError(ZfsCommandError, commands.CommandTimeoutError):
    kind = "timeout"
    transient = True


class CommandNotFoundError(ZfsCommandError, commands.CommandNotFoundError):
    """The program itself (zfs, ssh, ...) could not be started."""

    kind = "command-not-found"


@dataclass(frozen=True)
class TransferDetails:
    """Both sides of a failed send|recv, attached to the error that explains the failure."""

    send_error: ZfsCommandError | None
    recv_error: ZfsCommandError | None
    bytes_done: int


# Order matters: the first match wins, so specific patterns come before general ones. The
# texts are what OpenZFS 2.3 prints (captured in the lab; tests/real checks each class
# against a real pool).
_PATTERNS: list[tuple[re.Pattern[str], type[ZfsCommandError]]] = [
    (re.compile(p, re.IGNORECASE | re.MULTILINE), cls)
    for p, cls in [
        # "cannot resume send: 'p/fs@s' used in the initial send no longer exists",
        # "cannot resume send: resume token is corrupt (invalid format)"
        (
            r"resume token is corrupt|used in the initial send no longer exists"
            r"|cannot resume send",
            StaleResumeTokenError,
        ),
        # 'destination p/fs contains partially-complete state from "zfs receive -s".'
        (r"partially-complete state", PartialReceiveError),
        # "cannot receive incremental stream: most recent snapshot of p/fs does not
        #  match incremental source"
        (
            r"does not\s+match incremental source|incremental source .* no longer exists"
            r"|local origin for clone .* does not exist",
            IncrementalMismatchError,
        ),
        (r"destination .* has been modified", DestinationModifiedError),
        (r"it's being held", HeldError),
        (r"key must be loaded|key is not loaded|encryption key not loaded", KeyUnavailableError),
        (
            r"^ssh: |connection (to .* )?(closed|reset|refused|timed out)|broken pipe"
            r"|host key verification failed|could not resolve hostname",
            ConnectionLostError,
        ),
        (r"has dependent clones|clones of previous snapshots exist", HasClonesError),
        (r"has children", HasChildrenError),
        (r"more recent snapshots(?: or bookmarks)? exist", NewerSnapshotsExistError),
        (r"out of space|no space left|quota exceeded", PoolFullError),
        (r"permission denied|operation not permitted|must be run as root", PermissionDeniedError),
        # "dataset already exists", "tag already exists on this dataset", "bookmark exists",
        # "cannot receive new filesystem stream: destination 'p/fs' exists",
        # "destination has snapshots (eg. p/fs@s) must destroy them to overwrite it",
        # promote: "conflicting snapshot 's' from parent 'p/a'"
        (
            r"already exists|bookmark exists|destination '.*' exists|destination has snapshots"
            r"|conflicting snapshot",
            AlreadyExistsError,
        ),
        (
            r"does not exist|no such pool|no such tag|could not find any snapshots"
            r"|does not have any resumable receive state",
            NotFoundError,
        ),
        # "cannot receive new filesystem stream: checksum mismatch or incomplete stream."
        # (after not-found: in a shell pipe's joined stderr, send's reason comes first)
        (r"incomplete stream|failed to read from stream|premature end", StreamInterruptedError),
        (r"pool or dataset is busy|target is busy|cannot unmount", MountedBusyError),
        (r"dataset is busy|device busy|is busy", BusyError),
        # ZFS's own refusals of a request (the names and values passed our checks)
        (
            r"invalid character|name is too long|invalid property|must be one of|missing .* name"
            r"|not a cloned filesystem|must be within same pool|invalid option|invalid argument"
            r"|bad property|empty component|trailing slash|leading slash"
            r"|parent is not a filesystem|multiple snapshots of same fs not allowed"
            r"|can not be modified for snapshots|is not an ancestor of the new bookmark"
            r"|new dataset name cannot be a descendant|snapshots must be part of same dataset"
            r"|source and target pools differ|is readonly|property is read-only"
            r"|property cannot be inherited|not an earlier snapshot from the same fs"
            r"|must be an absolute path|invalid numeric suffix|bad numeric value"
            r"|size is less than current used or reserved space|keyformat required"
            r"|operation not applicable to datasets of this type",
            InvalidArgumentError,
        ),
    ]
]


def classify(argv: Sequence[str], returncode: int, stderr: str) -> ZfsCommandError:
    """Turn a failed command's stderr into the most specific error class that fits.

    `argv` is kept on the error, so that a log line or a D-Bus error can say what ran, and
    it settles the one text OpenZFS uses for two causes ("dataset is busy").
    """
    cls: type[ZfsCommandError] = ZfsCommandError
    for pattern, candidate in _PATTERNS:
        if pattern.search(stderr):
            cls = candidate
            break
    if cls is BusyError and "rollback" in argv:
        # `zfs rollback -r` says "dataset is busy" when a newer snapshot is held: waiting
        # will not release a hold, so it must not count as transient
        cls = HeldError
    return cls(argv, returncode, stderr)


#: what the command runner raises for a zfs or zpool command
ZFS_ERRORS = commands.Classifier(
    failed=classify, timeout=CommandTimeoutError, not_found=CommandNotFoundError
)
