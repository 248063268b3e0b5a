"""`ZfsCommand`, the base of `CliBackend`'s parts: running one zfs command (its failure
raised as the ZFS error its stderr names), one per ARGV_BUDGET of very many names, and
what the zfs command says it can do (`capabilities`). Also the argv words more than one
part builds: names in batches, `prop=value` assignments.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Mapping, Sequence

from zfsyncd.commands.runner import CommandResult, CommandRunner
from zfsyncd.zfs import names
from zfsyncd.zfs.capabilities import Capabilities, Feature, parse_version
from zfsyncd.zfs.errors import ZFS_ERRORS, ZfsCommandError

# what `zfs list` and `zfs holds` print for a name that is not there (libzfs zfs_open: a
# dataset or snapshot, or a bookmark), and what `zfs holds` adds when it found no snapshot
# at all; the other names are still listed
_MISSING = re.compile(
    r"cannot open '(?P<name>[^']*)': (?:dataset does not exist|no such pool or dataset)"
)
_NOTHING_LISTED = "no datasets available"
#: the most bytes of names one command takes before the next begins: far below Linux's
#: 128 KiB limit on one argument, which an ssh transport's single command string meets
ARGV_BUDGET = 64 << 10


def batches(words: Sequence[str]) -> builtins.list[builtins.list[str]]:
    """`words` in runs of at most ARGV_BUDGET bytes (one run unless there are very many)."""
    budget = ARGV_BUDGET
    runs: builtins.list[builtins.list[str]] = [[]]
    size = 0
    for word in words:
        if runs[-1] and size + len(word) + 1 > budget:
            runs.append([])
            size = 0
        runs[-1].append(word)
        size += len(word) + 1
    return runs


def assignments(properties: Mapping[str, str] | None) -> builtins.list[str]:
    """`prop=value` words, each name and value checked first."""
    words = []
    for prop, value in (properties or {}).items():
        names.check_property_name(prop)
        names.check_property_value(prop, value)
        words.append(f"{prop}={value}")
    return words


def property_args(properties: Mapping[str, str] | None) -> builtins.list[str]:
    """`-o prop=value` for each property (create, clone, snapshot, receive)."""
    return [arg for word in assignments(properties) for arg in ("-o", word)]


def _only_missing(stderr: str, named: Sequence[str]) -> bool:
    """Does `stderr` say only that some of `named` (or, with -r, their datasets) are not
    there?"""
    allowed = {*named, *(names.dataset_of(n) for n in named)}
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        match = _MISSING.fullmatch(line)
        if line != _NOTHING_LISTED and (match is None or match["name"] not in allowed):
            return False
    return bool(lines)


class ZfsCommand:
    """The zfs (and zpool) command of one host, locally or through the runner's transport
    (ssh)."""

    def __init__(
        self, runner: CommandRunner | None = None, *, zfs: str = "zfs", zpool: str | None = None
    ) -> None:
        self.runner = runner or CommandRunner()
        self.zfs = zfs
        #: beside the zfs command when that is a path, else found on PATH as zfs is
        self.zpool = zpool or (zfs.rsplit("/", 1)[0] + "/zpool" if "/" in zfs else "zpool")
        self._capabilities: Capabilities | None = None

    async def _run(self, *args: str) -> CommandResult:
        """One zfs command; its failure raised as the ZFS error its stderr names (the runner
        itself may be shared with other commands on the same host)."""
        return await self.runner.run([self.zfs, *args], errors=ZFS_ERRORS)

    async def _zfs(self, *args: str) -> str:
        return (await self._run(*args)).stdout

    async def _zfs_of_names(self, args: Sequence[str], named: Sequence[str]) -> str:
        """The output of `zfs ARGS NAME...` where a name that is not there is no failure:
        zfs reports it on stderr, exits 1 and lists the rest. Any other complaint fails as
        usual. Very many names take more than one command (see ARGV_BUDGET)."""
        out = []
        for batch in batches(named):
            result = await self.runner.run(
                [self.zfs, *args, *batch], check=False, errors=ZFS_ERRORS
            )
            if result.returncode != 0 and not _only_missing(result.stderr, batch):
                raise ZFS_ERRORS.failed(result.argv, result.returncode, result.stderr)
            out.append(result.stdout)
        return "".join(out)

    async def capabilities(self) -> Capabilities:
        if self._capabilities is None:
            try:
                text = await self._zfs("version")
            except ZfsCommandError as exc:
                if type(exc) is not ZfsCommandError:
                    raise  # a lost connection or a refusal says nothing about the version
                # zfs-fuse and OpenZFS before 0.8 have no `zfs version`: their usage text
                # gets the version error that names what is needed
                text = exc.stderr
            self._capabilities = parse_version(text)
        return self._capabilities

    async def _require(self, feature: Feature) -> None:
        (await self.capabilities()).require(feature)
