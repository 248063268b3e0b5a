"""One rsync of a directory tree into another, with its progress: argv only, never a shell.

What is copied is everything a filesystem's contents are made of, numbered as they are:
`-a` (permissions, times, owners, symlinks, devices), `-H` hard links, `-A` ACLs, `-X`
extended attributes, `--numeric-ids` (a uid is kept as a number: the names of the machine
that made the tree are not this one's); `--delete` makes the target equal to the source.
Progress comes from `--info=progress2` on stdout: one line for the whole transfer, rewritten
with carriage returns, e.g. `  1,234,567  45%  12.34MB/s  0:00:01 (xfr#3, to-chk=0/5)`.
With `itemize`, rsync also says on stdout what it did to each item and, for a file whose
contents it sent, their checksum (`--out-format=%i %C %n`, e.g. `>f.st...... 3f2a...e1
dir/name`; 32 spaces where there is none), and the result names the files whose contents
it wrote, with those checksums. That output is read in batches, every `_Output.READ_EVERY`
seconds, not line by line (`_Output` says why).

The checksum is rsync's whole-file xxh128 (XXH3, 128 bits; `--checksum-choice=xxh128`,
what rsync 3.2.3 and later choose by themselves): the sender's of the data it read, which
the receiver checks against the data it wrote before it renames the file into place (a
mismatch is sent again, then fails the run). rsync makes it in every transfer, so knowing
it costs nothing; ops/migration/manifest.py keeps it as a file's content hash.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from zfsyncd.commands.errors import Classifier, CommandFailedError
from zfsyncd.commands.runner import CommandRunner, spawn, terminate

RSYNC = "rsync"
#: a progress2 line: bytes so far, then later "xfr#N" (files transferred so far)
_PROGRESS = re.compile(r"^\s*([\d,]+)\s+\d+%")
_FILES = re.compile(r"xfr#(\d+)")
#: the whole-file checksum rsync makes of what it sends (the module's docstring)
CHECKSUM = "xxh128"
#: an itemized line (`%i %C %n`): the change (update type, file type, 9 or more attribute
#: letters), a space, the checksum (32 hex digits, or 32 spaces), a space, the name; rsync
#: writes a byte it cannot print as `\#ooo` (octal)
_ITEM = re.compile(rb"^([<>ch.*][fdLDS][^ ]{9,}) ([0-9a-f]{32}| {32}) (.+)$")
_OCTAL = re.compile(rb"\\#([0-7]{3})")


class RsyncError(CommandFailedError):
    """rsync failed: the message names the source, the target and what rsync said."""

    kind = "rsync-failed"

    def __init__(self, argv: Sequence[str], returncode: int, stderr: str) -> None:
        super().__init__(argv, returncode, stderr)
        source, target = (argv[-2], argv[-1]) if len(argv) >= 2 else ("?", "?")
        said = self.stderr or "no message"
        self.args = (f"rsync of {source} into {target} failed (exit {returncode}): {said}",)


RSYNC_ERRORS = Classifier(failed=RsyncError)


@dataclass(frozen=True)
class RsyncJob:
    """What to copy: the contents of `source` into `target` (both directories)."""

    source: Path
    target: Path
    #: rsync exclude patterns, each passed as one `--exclude=PAT` argument
    excludes: tuple[str, ...] = ()
    #: remove from the target what the source does not have
    delete: bool = True
    #: have rsync itemize its changes, for RsyncResult.written
    itemize: bool = False

    def __post_init__(self) -> None:
        # absolute paths only: a relative one would depend on the daemon's working
        # directory, and one starting with '-' could read as an option
        for path in (self.source, self.target):
            if not path.is_absolute():
                raise ValueError(f"rsync needs absolute paths, not {str(path)!r}")
        for pattern in self.excludes:
            if not pattern or "\n" in pattern or "\0" in pattern:
                raise ValueError(f"not an exclude pattern: {pattern!r}")


@dataclass(frozen=True)
class RsyncResult:
    #: bytes rsync transferred (progress2's count: the sizes of the files it sent)
    bytes: int
    #: files it transferred (unchanged files are not counted)
    files: int
    #: with `itemize`: the files (relative paths, decoded as os.fsdecode does) whose
    #: contents rsync wrote: received (`>f`), created or hard-linked (`cf`, `hf`)
    written: frozenset[str] = frozenset()
    #: with `itemize`: the CHECKSUM (hex) of each file whose contents rsync sent, by path
    #: (a hard link it made to one has none of its own)
    checksums: Mapping[str, str] = field(default_factory=dict)


class Item(NamedTuple):
    """One itemized line: rsync's change letters, the checksum ("" when none), the path."""

    change: str
    checksum: str
    path: str


def rsync_argv(job: RsyncJob) -> list[str]:
    """The command for `job`; the trailing slashes copy the source's contents, not the
    directory itself."""
    # --modify-window=-1: rsync's quick check compares mtimes to the second by default and
    # skips a file of the same size changed within the second its copy was made (the
    # migration's validation caught it on a history written in seconds); -1: nanoseconds
    argv = [RSYNC, "-aHAX", "--numeric-ids", "--modify-window=-1"]
    if job.delete:
        argv.append("--delete")
    argv += [f"--exclude={pattern}" for pattern in job.excludes]
    argv.append("--info=progress2")
    if job.itemize:
        argv += [f"--checksum-choice={CHECKSUM}", "--out-format=%i %C %n"]
    argv += [_with_slash(job.source), _with_slash(job.target)]
    return argv


def _with_slash(path: Path) -> str:
    return str(path).rstrip("/") + "/"


def parse_itemized(line: bytes) -> Item | None:
    """The Item of one itemized line; None for any other line. A name whose bytes held
    rsync's own escape (`\\#` and three octal digits) comes back with that byte: such a
    name may not decode to itself, and its users fall back (see
    ops/migration/manifest.py)."""
    found = _ITEM.match(line)
    if found is None:
        return None
    name = _OCTAL.sub(lambda m: bytes([int(m.group(1), 8) & 0xFF]), found.group(3))
    return Item(found.group(1).decode(), found.group(2).decode().strip(), os.fsdecode(name))


def content_written(change: str) -> bool:
    """Whether an itemized change wrote a file's contents (rather than its attributes)."""
    return change[1] == "f" and change[0] in "<>ch"


def parse_progress(line: str) -> tuple[int, int] | None:
    """(bytes, files) from one progress2 line; None for any other line."""
    found = _PROGRESS.match(line)
    if found is None:
        return None
    files = _FILES.search(line)
    return int(found.group(1).replace(",", "")), int(files.group(1)) if files else 0


class _Output:
    """rsync's stdout, read in batches: a pipe whose reading end is never waited on by the
    event loop, but emptied every READ_EVERY seconds and once rsync ended. rsync writes a
    line per file (its progress, its itemized change); an event loop reading each as it
    comes woke once a line, which in the lab's emulated guest cost more than a copy's own
    difference from a bare rsync (0.1 s a copy of 40 files: bench/rsync_callers.py). So
    the wake-ups follow the clock, not the number of files. The pipe is made large
    (PIPE_SIZE, where the kernel allows) so that rsync does not wait on a full pipe
    between two reads."""

    READ_EVERY = 0.1
    PIPE_SIZE = 1 << 20

    def __init__(self, itemize: bool, on_progress: Callable[[int], None] | None) -> None:
        self._itemize = itemize
        self._on_progress = on_progress
        self.ours, self.theirs = os.pipe2(os.O_CLOEXEC)  # rsync's is dup'ed onto its stdout
        with contextlib.suppress(OSError):  # a smaller pipe only means more waits
            fcntl.fcntl(self.ours, fcntl.F_SETPIPE_SZ, self.PIPE_SIZE)
        os.set_blocking(self.ours, False)
        self._pending = b""
        self.last = (0, 0)
        self.written: set[str] = set()
        self.checksums: dict[str, str] = {}

    def drain(self) -> None:
        """Read what is there now (to the end, once every writer has closed it)."""
        while True:
            try:
                chunk = os.read(self.ours, self.PIPE_SIZE)
            except BlockingIOError:
                return
            if not chunk:
                return
            *lines, self._pending = re.split(rb"[\r\n]", self._pending + chunk)
            for line in lines:
                self._line(line)

    def _line(self, raw: bytes) -> None:
        item = parse_itemized(raw) if self._itemize else None
        if item is not None:
            if content_written(item.change):
                self.written.add(item.path)
            if item.checksum:  # a file sent again after a mismatch: the last
                self.checksums[item.path] = item.checksum
            return
        parsed = parse_progress(raw.decode(errors="replace"))
        if parsed is not None and parsed != self.last:
            self.last = parsed
            if self._on_progress is not None:
                self._on_progress(parsed[0])

    def started(self) -> None:
        """rsync has its own copy of the writing end (or never will): ours goes, so the
        pipe ends when rsync's does."""
        if self.theirs >= 0:
            os.close(self.theirs)
            self.theirs = -1

    def close(self) -> None:
        self.started()
        if self.ours >= 0:
            os.close(self.ours)
            self.ours = -1


async def run_rsync(
    job: RsyncJob,
    on_progress: Callable[[int], None] | None = None,
    *,
    runner: CommandRunner | None = None,
    timeout: float | None = None,
) -> RsyncResult:
    """Run rsync for `job`, calling `on_progress(bytes so far)` as rsync reports it (read
    every `_Output.READ_EVERY` seconds).

    `runner` gives the host (its transport) and the observers (default: this machine).
    No timeout unless given: a tree may take hours, and the engine cancels a step it
    stops (the process group is then killed). Raises RsyncError (or the runner's
    not-found/timeout errors) naming the source and rsync's message."""
    runner = runner or CommandRunner()
    full = runner.command(rsync_argv(job))
    runner.notify(full)
    output = _Output(job.itemize, on_progress)
    try:
        return await _run(full, runner, output, timeout)
    finally:
        output.close()


async def _run(
    full: list[str], runner: CommandRunner, output: _Output, timeout: float | None
) -> RsyncResult:
    try:
        proc = await spawn(
            full, runner.env(), stdin=asyncio.subprocess.DEVNULL, stdout=output.theirs,
            errors=RSYNC_ERRORS,
        )  # fmt: skip
    finally:
        output.started()
    if proc.stderr is None:  # spawn was asked for a pipe
        raise RuntimeError("rsync started without its error pipe")
    stderr_task = asyncio.ensure_future(proc.stderr.read())
    ended = asyncio.ensure_future(proc.wait())
    try:
        async with asyncio.timeout(timeout):
            while not ended.done():
                await asyncio.wait({ended}, timeout=output.READ_EVERY)
                output.drain()
            err = await stderr_task
            code = ended.result()
    except TimeoutError:
        await terminate(proc)
        stderr_task.cancel()
        raise RSYNC_ERRORS.timeout(
            full, -1, f"{shlex.join(full)}: no answer after {timeout:g} s, stopped"
        ) from None
    except BaseException:
        await terminate(proc)
        stderr_task.cancel()
        ended.cancel()
        raise
    if code != 0:
        raise RsyncError(full, code, err.decode(errors="replace"))
    last = output.last
    return RsyncResult(last[0], last[1], frozenset(output.written), output.checksums)


__all__ = [
    "CHECKSUM",
    "RSYNC_ERRORS",
    "Item",
    "RsyncError",
    "RsyncJob",
    "RsyncResult",
    "content_written",
    "parse_itemized",
    "rsync_argv",
    "run_rsync",
]
