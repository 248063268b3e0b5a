"""Each tool's command lines, for the two things every case asks of it: replicate one dataset
or the children of a parent, either sending the snapshots the bench took or taking its own
(each tool's default way of working). Pure: bench/peers/lab.py runs them.

Every peer runs locally without ssh or sudo (as root, no host names in its arguments) and
calls `zfs` and `zpool` found on PATH, also inside the `sh -c` pipelines it builds, so the
counting wrapper first on PATH sees all of their commands.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

BARE, ZFSYNCD = "bare", "zfsyncd"
SYNCOID, AUTOBACKUP, BZFS = "syncoid", "zfs-autobackup", "bzfs"
PEERS = (SYNCOID, AUTOBACKUP, BZFS)
TOOLS = (BARE, ZFSYNCD, *PEERS)
#: zfs-autobackup's backup name: its property `autobackup:bench` selects the sources, and
#: its snapshots are `bench-%Y%m%d%H%M%S`, the format the bench names its own in, so that
#: `--no-snapshot` sends the bench's snapshots as it would send its own
BACKUP_NAME = "bench"
SNAPSHOT_FORMAT = f"{BACKUP_NAME}-%Y%m%d%H%M%S"
#: bzfs takes no snapshot unless told to; its documented ad-hoc plan is its simplest own way
BZFS_OWN_PLAN = "{'bench':{'':{'adhoc':1}}}"
#: how each tool names its version
VERSION_ARGV = {
    SYNCOID: ["syncoid", "--version"],
    AUTOBACKUP: ["zfs-autobackup", "--version"],
    BZFS: ["bzfs", "--version"],
}


@dataclass(frozen=True)
class Job:
    """What one run of a tool replicates.

    source: the dataset (children=False) or the parent whose children are replicated (its
    own data is not); target: the parent on the destination pool under which each copy
    lands with its last name component (zbsrc/many/d001 -> TARGET/d001); own_snapshots:
    the tool takes the snapshot it sends (its default), or sends the one the bench took.
    """

    source: str
    target: str
    children: bool
    own_snapshots: bool

    def copy_of(self, dataset: str) -> str:
        return f"{self.target}/{dataset.rsplit('/', 1)[1]}"


def peer_argv(tool: str, job: Job, logdir: str) -> list[str]:
    """The command line that makes `tool` replicate `job` (a peer: bare and zfsyncd are
    driven by the lab in-process)."""
    if tool == SYNCOID:
        tree = ["--recursive", "--skip-parent"] if job.children else []
        snaps = [] if job.own_snapshots else ["--no-sync-snap"]
        dest = job.target if job.children else job.copy_of(job.source)
        return ["syncoid", *tree, *snaps, job.source, dest]
    if tool == AUTOBACKUP:
        # --strip-path drops the source's pool and parents: zbsrc/many/d001 -> TARGET/d001;
        # --exclude-received: the copies carry the selecting property too (it is sent with
        # -p), and must not be taken for sources on the next run (both pools are local)
        strip = job.source.count("/") + (1 if job.children else 0)
        snaps = [] if job.own_snapshots else ["--no-snapshot"]
        return ["zfs-autobackup", "--no-progress", "--exclude-received", *snaps,
                "--strip-path", str(strip), BACKUP_NAME, job.target]  # fmt: skip
    if tool == BZFS:
        tree = ["--recursive", "--skip-parent"] if job.children else []
        snaps = (
            ["--create-src-snapshots", "--create-src-snapshots-plan", BZFS_OWN_PLAN]
            if job.own_snapshots
            else []
        )
        dest = job.target if job.children else job.copy_of(job.source)
        # the log dir's name must contain "bzfs-logs" (bzfs refuses others)
        return ["bzfs", *tree, *snaps, "--log-dir", f"{logdir}/bzfs-logs", job.source, dest]
    raise ValueError(f"not a peer: {tool}")


def select_argv(tool: str, datasets: list[str]) -> list[str] | None:
    """The zfs command that marks the sources for `tool` before its first run (None: it needs
    none). zfs-autobackup replicates the datasets whose `autobackup:NAME` is true."""
    if tool == AUTOBACKUP:
        return ["zfs", "set", f"autobackup:{BACKUP_NAME}=true", *datasets]
    return None


def snapshot_name(at: float) -> str:
    """The name of a snapshot the bench takes at time `at` (local time, as zfs-autobackup
    reads it); one a second at most, so the caller waits for the next second."""
    return time.strftime(SNAPSHOT_FORMAT, time.localtime(at))


_VERSION = re.compile(r"\bv?(\d+(?:\.\d+)+)")


def parse_version(output: str) -> str:
    """The version number in what `TOOL --version` printed: the first dotted number."""
    found = _VERSION.search(output)
    if found is None:
        raise ValueError(f"no version in {output!r}")
    return found.group(1)


def verb(argv: list[str]) -> str:
    """The verb of a logged command: `zfs send ...` -> send, `zpool sync` -> zpool sync."""
    if not argv:
        return "?"
    if argv[0] == "zpool":
        return " ".join(argv[:2])
    words = [word for word in argv if not word.startswith("-")]
    return words[0] if words else argv[0]
