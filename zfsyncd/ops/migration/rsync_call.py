"""The one rsync a migration step runs (until the shared runner, zfsyncd/files/rsync.py of
the `dataset` branch, is merged: then this calls it)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from zfsyncd.commands.runner import CommandRunner

#: `--modify-window=-1`: rsync's quick check compares mtimes to the second by default, and
#: skips a file of the same size changed within the same second as the copy it has (found
#: by validation on a history written in seconds); -1 compares nanoseconds
OPTIONS = ("-aHAX", "--numeric-ids", "--delete", "--modify-window=-1")


async def copy_tree(
    runner: CommandRunner,
    source: Path,
    target: Path,
    excludes: Sequence[str],
    on_progress: Callable[[int], None],
) -> None:
    argv = ["rsync", *OPTIONS, *(f"--exclude={e}" for e in excludes)]
    argv += [str(source).rstrip("/") + "/", str(target).rstrip("/") + "/"]
    await runner.run(argv, timeout=7 * 24 * 3600.0)
