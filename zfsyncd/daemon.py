"""The zfsyncd daemon: configuration, store, recovery, the bus, and a clean stop.

    zfsyncd [--config /etc/zfsync/zfsyncd.toml] [--check-config]

Start order matters: recovery runs before the bus name is taken, so no caller can see (or
start) work on datasets a crashed run left half-changed. The name is taken last, once every
object is exported (systemd's Type=dbus counts the daemon ready when the name appears).
The follow-ups recovery found waiting (a sync's expiry) start after that, so that their
objects show their progress.
On SIGTERM or SIGINT queued transactions are cancelled and running ones stopped: the running
step finishes or is undone, and everything done before it is undone, so a stop never leaves
a transaction half-done. SIGHUP (or the Manager's Reload) rereads the configuration and
applies its jobs without touching running transactions. Exit status: 0 after a clean stop,
78 (EX_CONFIG) for a bad configuration, 1 when the bus connection was lost or something
failed at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import click
from dbus_fast.aio import MessageBus

import zfsyncd.ops  # noqa: F401 - registers the transaction kinds
from zfsyncd import logs
from zfsyncd.bus.connection import connect
from zfsyncd.bus.job_service import JobService
from zfsyncd.bus.service import BusService
from zfsyncd.commands.runner import CommandRunner
from zfsyncd.config import BackendKind, ConfigError, DaemonConfig, load
from zfsyncd.jobs.run import JobRun
from zfsyncd.jobs.scheduler import Scheduler, SystemClock
from zfsyncd.metrics.figures import JobStates
from zfsyncd.metrics.service import MetricsService
from zfsyncd.store import Database, TransactionRecord
from zfsyncd.store.jobs import JobStateStore
from zfsyncd.tx.hosts import LOCAL, Host, probe_local
from zfsyncd.tx.manager import Caller, TransactionManager
from zfsyncd.tx.progress import ProgressSink
from zfsyncd.witness.client import Intervals, WitnessClient
from zfsyncd.witness.http import WitnessHttp, read_key
from zfsyncd.witness.instructions import host_labels
from zfsyncd.zfs.backend import ZfsBackend
from zfsyncd.zfs.cli import CliBackend
from zfsyncd.zfs.latency import LatencyBackend
from zfsyncd.zfs.memory import MemoryBackend

log = logging.getLogger("zfsyncd")
EX_CONFIG = 78


def _model(config: DaemonConfig, pools: list[str]) -> ZfsBackend:
    model = MemoryBackend(pools=pools)
    if config.memory_delay or config.memory_gate is not None:
        return cast(ZfsBackend, LatencyBackend(model, config.memory_delay, config.memory_gate))
    return model


def _host(name: str, config: DaemonConfig, runner: CommandRunner, zfs_command: str) -> Host:
    if config.backend is BackendKind.MEMORY:
        # each host its own model: the local one with the configured pools, others empty
        return Host(name, _model(config, config.memory_pools if name == LOCAL else []), runner)
    # one runner for the host's zfs commands and its others: the same transport
    return Host(name, CliBackend(runner, zfs=zfs_command), runner)


def build_hosts(config: DaemonConfig) -> dict[str, Host]:
    """The local host and each [hosts.NAME]. Nothing is started: ssh runs at a host's
    first command."""
    hosts = {LOCAL: _host(LOCAL, config, CommandRunner(), config.zfs_command)}
    for name, host in config.hosts.items():
        runner = CommandRunner(transport=host.transport())
        hosts[name] = _host(name, config, runner, host.zfs_command)
    return hosts


def build_witness(config: DaemonConfig, manager: TransactionManager) -> WitnessClient | None:
    """The witness client of `[witness]` (None without one). The key file is read now: a
    daemon that cannot read it does not start (the message names the file, never the key)."""
    w = config.witness
    if w is None:
        return None
    key = read_key(w.key_file)
    http = WitnessHttp(w.url, key, w.system_id, timeout=w.timeout)
    return WitnessClient(
        manager,
        http,
        labels=host_labels({name: h.address for name, h in config.hosts.items()}),
        pools=w.pools,
        intervals=Intervals(report=w.report_interval, heartbeat=w.heartbeat_interval),
        queue_limit=w.queue_limit,
    )


class _Sinks:
    """The manager is built before the bus service that gives it progress sinks."""

    service: BusService | None = None

    def __call__(self, record: TransactionRecord) -> ProgressSink:
        return self.service.sink_for(record) if self.service else ProgressSink()


class AlreadyRunningError(Exception):
    pass


@contextlib.contextmanager
def only_instance(database: Path) -> Iterator[None]:
    """One daemon per database: a second one must not run recovery, which would undo the
    transactions the first is running. An flock on a file beside the database, held for the
    daemon's life (the kernel drops it when the process dies, however it dies)."""
    path = database.with_name(database.name + ".lock")
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AlreadyRunningError(
                f"another zfsyncd is using {database} (it holds {path})"
            ) from None
        yield


async def run(config: DaemonConfig, path: Path | None = None) -> int:
    """`path`: the configuration file a reload reads again (None: the default one)."""
    config.database.parent.mkdir(parents=True, exist_ok=True)
    with only_instance(config.database):
        return await _run(config, path)


async def _run(config: DaemonConfig, path: Path | None = None) -> int:
    db = await Database.open(config.database)
    sinks = _Sinks()
    hosts = build_hosts(config)
    manager = TransactionManager(db, hosts, max_parallel=config.max_parallel, sinks=sinks)
    try:
        await probe_local(hosts)
        for record in await manager.recover(resume=False):
            log.warning("recovered %s: %s (%s)", record.id, record.state.value, record.error)
        # before the bus name: a port that cannot be bound stops the start, not a running daemon
        metrics = _metrics(manager, config, JobStateStore(db).all)
        await metrics.start()
        bus = await connect()
        service = BusService(
            bus,
            manager,
            backend=config.backend.value,
            signal_rate=config.signal_rate,
            finished_linger=config.finished_linger,
        )
        sinks.service = service
        scheduler = Scheduler(
            JobStateStore(db), JobRun(manager, time.time), SystemClock(),
            parallel=config.job_parallel,
        )  # fmt: skip
        await scheduler.configure(config.jobs)
        service.jobs = JobService(scheduler, manager, lambda: reload(scheduler, path))
        witness = build_witness(config, manager)
        service.witness = witness
        await service.start()
        # the follow-ups a crash left waiting (a sync's expiry) run now, with a bus object
        await manager.resume_follow_ups()
        log.info(
            "zfsyncd %s on the bus as %s (backend %s, database %s)",
            service.version,
            bus.unique_name,
            config.backend.value,
            config.database,
        )
        status = await _serve(bus, manager, config, service.jobs, witness)
        log.info("stopping: the jobs' runs, then queued and running transactions")
        await scheduler.stop()
        if witness is not None:
            await witness.http.close()
        try:
            await asyncio.wait_for(manager.shutdown(), config.stop_timeout)
        except TimeoutError:
            log.error("transactions still running after %.0f s; recovery will finish them "
                      "at the next start", config.stop_timeout)  # fmt: skip
            status = 1
        await metrics.stop()
        await service.stop()
        await manager.audit.flush_folded(everything=True)
        bus.disconnect()
        return status
    finally:
        await db.close()


async def reload(scheduler: Scheduler, path: Path | None) -> list[str]:
    """SIGHUP and the Manager's Reload: the configuration read again; its jobs apply from
    now on (running runs and transactions go on as they are). The other keys take effect at
    the next start. A bad file changes nothing (ConfigError names each problem)."""
    config = load(path)
    await scheduler.configure(config.jobs)
    log.info("reloaded the configuration: %d job(s): %s", len(config.jobs),
             ", ".join(sorted(config.jobs)) or "none")  # fmt: skip
    return sorted(config.jobs)


async def _hangup(jobs: JobService) -> None:
    try:
        await jobs.reload(Caller(None, "SIGHUP"))
    except ConfigError as exc:
        log.error("reload refused, the configuration in use stays: %s", exc)
    except Exception:
        log.exception("reload failed")


def _metrics(manager: TransactionManager, config: DaemonConfig, jobs: JobStates) -> MetricsService:
    """The endpoint and the textfile, as configured (neither unless asked for); the job
    metrics read the scheduler's stored job states."""
    return MetricsService(
        manager,
        jobs=jobs,
        address=config.metrics_address,
        port=config.metrics_port,
        textfile=config.metrics_textfile,
        textfile_interval=config.metrics_textfile_interval,
        max_age=config.metrics_max_age,
    )


async def _serve(
    bus: MessageBus,
    manager: TransactionManager,
    config: DaemonConfig,
    jobs: JobService,
    witness: WitnessClient | None = None,
) -> int:
    """Until SIGTERM/SIGINT (0) or the bus connection is lost (1); SIGHUP reloads."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    reloads: set[asyncio.Task[None]] = set()

    def hangup() -> None:
        task = asyncio.create_task(_hangup(jobs))
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, hangup)
    scheduling = asyncio.create_task(jobs.scheduler.serve())
    cleaner = asyncio.create_task(_housekeeping(manager, config))
    # the witness's rounds: cancelled at the stop like the others (a running instruction's
    # transaction is the engine's, stopped by its shutdown)
    reporting = asyncio.create_task(witness.serve()) if witness is not None else None
    stopped = asyncio.create_task(stop.wait())
    lost = asyncio.create_task(bus.wait_for_disconnect())  # type: ignore[no-untyped-call]
    try:
        await asyncio.wait([stopped, lost], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (cleaner, stopped, scheduling, *reloads):
            task.cancel()
        if reporting is not None:
            reporting.cancel()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
    if lost.done():
        exc = lost.exception()
        detail = str(exc) if exc is not None else ""
        why = f"{type(exc).__name__}: {detail}" if detail else "the bus closed it"
        log.error("lost the bus connection (%s); exiting for the service manager to start "
                  "zfsyncd again", why)  # fmt: skip
        return 1
    lost.cancel()
    return 0


async def _housekeeping(manager: TransactionManager, config: DaemonConfig) -> None:
    """For as long as the daemon runs: deferred cleanups are retried (never forgotten), and
    the audit log is kept within its bounds (folded bursts written, old rows pruned)."""
    while True:
        await asyncio.sleep(config.cleanup_interval)
        try:
            done = await manager.run_cleanups()
            if done:
                log.info("finished %d deferred cleanup(s)", done)
        except Exception:
            log.exception("the deferred cleanups could not be run")
        try:
            await manager.audit.flush_folded()
            pruned = await manager.audit.prune(
                older_than=config.audit_retention_days * 86400.0,
                keep_at_most=config.audit_max_rows,
            )
            if pruned:
                log.info("pruned %d audit row(s) past the retention", pruned)
        except Exception:
            log.exception("the audit log could not be pruned")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="configuration file (default: /etc/zfsync/zfsyncd.toml when it exists)",
)
@click.option("--check-config", is_flag=True, help="validate the configuration, print it, exit")
@click.version_option(package_name="zfsyncd")
def main(config_path: Path | None, check_config: bool) -> None:
    """zfsyncd: ZFS snapshot, replication and dataset work as persistent transactions,
    on the system bus as org.zfsync.Daemon1."""
    try:
        config = load(config_path)
    except ConfigError as exc:
        click.echo(f"zfsyncd: {exc}", err=True)
        sys.exit(EX_CONFIG)
    if check_config:
        click.echo(config.model_dump_json(indent=2))
        return
    logs.setup(config.log_level.value)
    try:
        status = asyncio.run(run(config, config_path))
    except AlreadyRunningError as exc:
        log.critical("%s", exc)
        status = 1
    except Exception as exc:
        log.critical("zfsyncd could not start or failed: %s", exc, exc_info=exc)
        status = 1
    with contextlib.suppress(Exception):
        logging.shutdown()
    sys.exit(status)
