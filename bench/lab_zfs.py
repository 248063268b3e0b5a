"""What the benches on real pools share (run in the lab): the counting wrapper in front of
zfs and zpool, the two file-backed pools, an empty ARC before each measured side, data
written to a dataset, the bare `zfs send | zfs receive` and zfsyncd's engine in-process.

bench/replication.py (zfsyncd against the bare pipe) and bench/peers/ (zfsyncd against
syncoid, zfs-autobackup and bzfs) both build on it, so every tool they measure is counted
by the same wrapper and started from the same pools.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import statistics
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import zfsyncd.ops  # noqa: F401 - registers the transaction kinds
from tests.real.realzfs import write_random
from zfsyncd.store import Database, TxState
from zfsyncd.tx.hosts import local_hosts, probe_local
from zfsyncd.tx.manager import TransactionManager
from zfsyncd.zfs.cli import CliBackend

SRC_POOL, DST_POOL = "zbsrc", "zbdst"
#: the flags zfsyncd's SendSpec and RecvSpec default to: the baseline uses the same, so
#: a ratio measures the tool, not a difference of flags
SEND_FLAGS = ("-c", "-L", "-e")
RECV_FLAGS = ("-s", "-u")
#: ARC cap in the guest: both pools' images live in its RAM (/var/tmp is a tmpfs there),
#: and an ARC of half the memory beside them would push the guest into swapless OOM
ARC_MAX = 768 << 20

# The counting wrapper where the guest has no C compiler (else bench/zfs_counter.c: the same
# lines, without a shell's start in every command). Logs the command, then becomes the real
# zfs (exec: same process, same pipes, nothing in the stream's way) for a send or receive;
# any other command it runs and times (bash's $EPOCHREALTIME, no process started), so a
# bench can say where the time beside the stream goes. One line per command; >> appends
# whole lines even from parallel sends. The same in front of zpool (zfsyncd runs `zpool
# sync` before it reads `written`), logged with "zpool" first so that its verb reads
# "zpool". With ZFSYNC_BENCH_TIME_STREAM=1 in the environment a send or receive is timed too
# (bash waits for it instead of exec: the stream still goes from process to process, bash
# only waits; a signal to the wrapper would no longer reach zfs, so only a bench that stops
# no stream sets it), for a timeline of the whole run.
WRAPPER = """#!/bin/bash
printf -v argv '%q ' {prefix}"$@"
printf '%s\\n' "$argv" >> {log}
case "$1" in
  send|receive|recv) [ "${{ZFSYNC_BENCH_TIME_STREAM:-}}" = 1 ] || exec {real} "$@" ;;
esac
start=$EPOCHREALTIME
{real} "$@"
status=$?
printf '%s %s %s\\n' "$start" "$EPOCHREALTIME" "$argv" >> {times}
exit $status
"""
#: the verbs of the stream: not in beside_stream(), which is the time beside it
STREAM_VERBS = frozenset({"send", "receive", "recv"})


@dataclass(frozen=True)
class Timed:
    """One command of the timeline: epoch seconds it started and ended, its argv."""

    start: float
    end: float
    argv: list[str]


def beside_stream(timeline: Iterable[Timed]) -> dict[str, float]:
    """Seconds spent in the commands of `timeline` other than send and receive, by verb."""
    spent: dict[str, float] = {}
    for timed in timeline:
        verb = timed.argv[0] if timed.argv else "?"
        if verb not in STREAM_VERBS:
            spent[verb] = spent.get(verb, 0.0) + timed.end - timed.start
    return spent


@dataclass
class ZfsCounter:
    """The `zfs` in front of the real one: what it logged since the last clear."""

    log: Path
    bindir: Path

    @classmethod
    def install(cls, tmp: Path) -> ZfsCounter:
        """Write the wrapper and put its directory first on PATH (for this process and all
        it starts: the bare pipe, the engine's CliBackend, which runs plain `zfs`, and every
        peer, which runs `zfs` found on PATH, also inside its `sh -c` pipelines)."""
        bindir = tmp / "bin"
        bindir.mkdir()
        log = tmp / "zfs-commands.log"
        compiler = shutil.which("cc") or shutil.which("gcc")
        for command, prefix in (("zfs", ""), ("zpool", "zpool")):
            real = shutil.which(command)
            if real is None:
                raise SystemExit(f"no {command} on PATH: run this in the lab (bench/in-lab.sh)")
            wrapper = bindir / command
            times = log.with_suffix(".times")
            if compiler is not None:
                _compile(compiler, wrapper, real=real, prefix=prefix, log=log, times=times)
                continue
            text = WRAPPER.format(
                prefix=f"{prefix} " if prefix else "",
                real=shlex.quote(real),
                log=shlex.quote(str(log)),
                times=shlex.quote(str(times)),
            )
            wrapper.write_text(text)
            wrapper.chmod(0o755)
        os.environ["PATH"] = f"{bindir}:{os.environ['PATH']}"
        wrapper = bindir / "zfs"
        if shutil.which("zfs") != str(wrapper):
            raise SystemExit(f"the counting wrapper {wrapper} is not the zfs on PATH")
        return cls(log, bindir)

    def commands(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [shlex.split(line) for line in self.log.read_text().splitlines() if line]

    def timeline(self) -> list[Timed]:
        """The timed commands since the last clear, in the order they started (send and
        receive only with ZFSYNC_BENCH_TIME_STREAM=1)."""
        times = self.log.with_suffix(".times")
        timed = []
        for line in times.read_text().splitlines() if times.exists() else []:
            start, end, argv = line.split(" ", 2)
            timed.append(Timed(float(start), float(end), shlex.split(argv)))
        return sorted(timed, key=lambda t: t.start)

    def cost(self, runs: int = 10) -> str:
        """What one command costs through the wrapper: `zfs version` run directly and
        through it, in turn, `runs` times each (medians); cleared after."""
        real = shutil.which("zfs", path=os.environ["PATH"].replace(f"{self.bindir}:", "", 1))
        direct: list[float] = []
        wrapped: list[float] = []
        for _ in range(runs):
            for command, seconds in ((real or "zfs", direct), (str(self.bindir / "zfs"), wrapped)):
                start = time.perf_counter()
                subprocess.run([command, "version"], check=True, capture_output=True)
                seconds.append(time.perf_counter() - start)
        self.clear()
        plain, through = statistics.median(direct), statistics.median(wrapped)
        kind = "C" if (self.bindir / "zfs").read_bytes()[:2] != b"#!" else "bash"
        return (
            f"`zfs version` {plain * 1000:.0f} ms, through the counting wrapper ({kind})"
            f" {through * 1000:.0f} ms (medians of {runs})"
        )

    def clear(self) -> None:
        self.log.write_text("")
        self.log.with_suffix(".times").write_text("")


#: the wrapper in C (bench/zfs_counter.c), built where the guest has a compiler
COUNTER_SOURCE = Path(__file__).with_name("zfs_counter.c")


def _compile(
    compiler: str, wrapper: Path, *, real: str, prefix: str, log: Path, times: Path
) -> None:
    """Build the C wrapper with its paths compiled in (no argument or environment to read
    in each command); static, so that it starts as fast as the guest can start anything."""
    defines = {"REAL": real, "PREFIX": prefix, "LOG": str(log), "TIMES": str(times)}
    # json.dumps: a C string literal for any of these paths (ASCII, quotes escaped)
    flags = [f"-D{name}={json.dumps(value)}" for name, value in defines.items()]
    argv = [compiler, "-O2", "-static", *flags, str(COUNTER_SOURCE), "-o", str(wrapper)]
    subprocess.run(argv, check=True, capture_output=True)


def zfs(*args: str) -> str:
    """A zfs command through the counting wrapper (setup: cleared before each measure)."""
    return subprocess.run(["zfs", *args], check=True, capture_output=True, text=True).stdout


def pool_image(images: Path, pool: str) -> Path:
    """The file that is `pool`'s one vdev."""
    return images / f"{pool}.img"


def destroy_pools() -> None:
    for pool in (SRC_POOL, DST_POOL):
        subprocess.run(["zpool", "destroy", "-f", pool], capture_output=True, check=False)


def make_pools(
    images: Path, sizes: Mapping[str, int], mountpoints: Mapping[str, str] | None = None
) -> None:
    """Fresh file-backed pools (one vdev each, ashift=12) of `sizes[pool]` bytes; their root
    datasets mounted at `mountpoints[pool]` (default: not mounted). atime=off, as replicated
    datasets usually are: with atime on, a read of a file is a write (README, "Nothing
    written"), and a "nothing to do" case would send again."""
    destroy_pools()
    for pool in (SRC_POOL, DST_POOL):
        image = pool_image(images, pool)
        image.unlink(missing_ok=True)
        subprocess.run(["truncate", "-s", str(sizes[pool]), str(image)], check=True)
        mountpoint = (mountpoints or {}).get(pool, "none")
        subprocess.run(
            ["zpool", "create", "-f", "-o", "ashift=12", "-O", f"mountpoint={mountpoint}",
             "-O", "atime=off", pool, str(image)],
            check=True,
        )  # fmt: skip


def evict_cache(images: Path) -> None:
    """Empty the ARC of both pools (export, import) before each measured side: otherwise the
    side measured second reads what the first left in memory (seen: 26 s instead of 48 s
    for the bare pipe right after the engine's send of the same blocks)."""
    export_pools()
    import_pools(images)


def export_pools() -> None:
    for pool in (SRC_POOL, DST_POOL):
        subprocess.run(["zpool", "export", pool], check=True)


def import_pools(images: Path) -> None:
    """Import both pools from their image files, named one by one (not a scan of `images`:
    a saved copy of an image elsewhere holds the same pool, and must never be the one
    imported)."""
    for pool in (SRC_POOL, DST_POOL):
        subprocess.run(["zpool", "import", "-d", str(pool_image(images, pool)), pool], check=True)


def cap_arc() -> None:
    knob = Path("/sys/module/zfs/parameters/zfs_arc_max")
    if knob.exists():
        knob.write_text(str(ARC_MAX))


#: `mib` MiB of random (incompressible) data in a new file of a directory, on disk: the real
#: tier's own helper, so that the benches write their data as its tests do
write_data = write_random


def pipe(send: Sequence[str], receive: Sequence[str]) -> float:
    """Seconds of `SEND | RECEIVE`: two processes and one kernel pipe, no shell."""
    start = time.perf_counter()
    sender = subprocess.Popen(send, stdout=subprocess.PIPE)
    assert sender.stdout is not None
    receiver = subprocess.Popen(receive, stdin=sender.stdout)
    sender.stdout.close()  # receive holds the read end; send sees EPIPE if receive dies
    receive_rc, send_rc = receiver.wait(), sender.wait()
    took = time.perf_counter() - start
    if send_rc or receive_rc:
        raise SystemExit(f"bare pipe failed: send {send_rc}, receive {receive_rc}")
    return took


def bare_send(base: str | None, snapshot: str, target: str) -> float:
    """Seconds of the bare `zfs send [-I BASE] SNAPSHOT | zfs receive TARGET`."""
    incremental = ("-I", base) if base is not None else ()
    return pipe(
        ["zfs", "send", *SEND_FLAGS, *incremental, snapshot],
        ["zfs", "receive", *RECV_FLAGS, target],
    )


def snapshots_of(dataset: str) -> list[str]:
    out = zfs("list", "-H", "-o", "name", "-t", "snapshot", "-s", "createtxg", dataset)
    return out.split()


class Engine:
    """zfsyncd's replica transactions through the TransactionManager on CliBackend, in this
    process (plain `zfs`: the counting wrapper, first on PATH)."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        #: transaction id -> when (epoch seconds) it ended: for a kind with a follow-up
        #: (replica-sync and its expiry), what `zfsyncctl` waits for, its Finished signal,
        #: comes then, while `run` waits for the follow-up too
        self.ended: dict[str, float] = {}

    async def __aenter__(self) -> Engine:
        self.db = await Database.open(self.db_path)
        hosts = local_hosts(CliBackend())
        self.manager = TransactionManager(self.db, hosts)
        self.manager.listeners.append(self._on_state)
        await probe_local(hosts)  # as the daemon does at start: not in a measured step
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.manager.shutdown()
        await self.db.close()

    def _on_state(self, tx_id: str, state: TxState) -> None:
        if state.is_terminal:
            self.ended.setdefault(tx_id, time.time())

    async def run(self, kind: str, request: dict[str, object]) -> str:
        """Run one request and its follow-up (if its kind has one) to their end: its id."""
        return (await self.run_all(kind, [request]))[0]

    async def run_all(self, kind: str, requests: Sequence[dict[str, object]]) -> list[str]:
        """Submit every request, then wait for all (the manager runs them in parallel),
        follow-ups included: their ids (`ended` tells when each ended itself)."""
        records = [await self.manager.submit(kind, request) for request in requests]
        for record in records:
            done = await self.manager.wait(record.id)
            if done.state is not TxState.COMPLETED:
                raise SystemExit(f"{kind} {done.id} ended {done.state}: {done.error}")
        return [record.id for record in records]
