"""The daemon's configuration: /etc/zfsync/zfsyncd.toml, then ZFSYNC_* environment overrides.

Validated by pydantic (pydantic-settings reads the TOML file and the environment); an
unknown key or a bad value stops the daemon with one message naming every problem, before
it touches the bus, the database or ZFS. A missing file at the default path means the
defaults; a file named with --config must exist.

    # /etc/zfsync/zfsyncd.toml
    database = "/var/lib/zfsync/zfsyncd.db"
    max_parallel = 4
    log_level = "info"

    metrics_port = 9469             # a Prometheus endpoint on 127.0.0.1 (off unless set)
    metrics_textfile = "/var/lib/prometheus/node-exporter/zfsyncd.prom"  # (off unless set)

    [hosts.backup]                  # another machine, reached by ssh; "local" is implicit
    address = "backup.example.org"
    user = "zfsync"
    ssh_options = ["-i", "/etc/zfsync/id_ed25519"]

    [witness]                       # the multi-host witness (off unless set)
    url = "https://witness.example.org:8470"
    key_file = "/etc/zfsync/witness.key"
    system_id = "6f1c0d9e-..."
"""

from __future__ import annotations

import ipaddress
import tomllib
import uuid
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from zfsyncd.commands.runner import Transport
from zfsyncd.invalid import problem_lines, problems
from zfsyncd.jobs.config import JobConfig, JobName, unknown_hosts
from zfsyncd.tx.hosts import LOCAL, HostName
from zfsyncd.zfs import names

DEFAULT_PATH = Path("/etc/zfsync/zfsyncd.toml")
ENV_PREFIX = "ZFSYNC_"


class BackendKind(StrEnum):
    CLI = "cli"  # the real zfs command
    #: the in-memory model (held to the same contract as the real one): for the system
    #: tests and demos on machines without ZFS; it forgets everything when the daemon stops
    MEMORY = "memory"


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class ConfigError(ValueError):
    """The configuration cannot be used; the message says where and why (a ValueError: a
    reload through the bus refuses it as InvalidArgument)."""


class HostConfig(BaseModel):
    """`[hosts.NAME]`: a machine whose ZFS (and other commands) zfsyncd reaches by ssh."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: the host name or IP address ssh connects to
    address: str
    user: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    #: the ssh program and any arguments of its own, as an argv list (never a shell line)
    ssh_command: list[str] = Field(default_factory=lambda: ["ssh"], min_length=1)
    #: more ssh options, e.g. ["-i", "/etc/zfsync/id_ed25519"]
    ssh_options: list[str] = Field(default_factory=list)
    #: the zfs command on that host
    zfs_command: str = "zfs"

    @model_validator(mode="after")
    def _reachable(self) -> HostConfig:
        self.transport()  # a bad address or user is named now, not at the first command
        return self

    def transport(self) -> Transport:
        """How commands reach the host (building it starts nothing)."""
        return Transport.ssh(
            self.address,
            user=self.user,
            port=self.port,
            options=self.ssh_options,
            ssh=self.ssh_command,
        )


class WitnessConfig(BaseModel):
    """`[witness]`: the multi-host witness this daemon reports to and takes instructions
    from (issue 14, zfsyncd/witness/). Absent: no witness, nothing is sent anywhere."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: the witness's base URL (its API is under /api/v1 there)
    url: str = Field(pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$", max_length=2048)
    #: the file holding this system's API key (shown once at its registration). Read at
    #: start and never logged; the daemon's configuration names only the file
    key_file: Path
    #: this system's id at the witness (`zfsync-witness system register` prints it)
    system_id: uuid.UUID
    #: seconds between full inventory reports (one is also sent after each transaction
    #: that changed snapshots); instructions are fetched after each report
    report_interval: float = Field(default=300.0, ge=1, le=86400)
    #: seconds between heartbeats
    heartbeat_interval: float = Field(default=60.0, ge=1, le=86400)
    #: seconds one request may take
    timeout: float = Field(default=30.0, gt=0, le=600)
    #: the pools reported (empty: every pool of this host)
    pools: list[Annotated[str, AfterValidator(names.check_pool)]] = Field(default_factory=list)
    #: outcomes waiting for a witness that is down, at most (the oldest go first; the
    #: inventory is never queued twice: the newest one supersedes the others)
    queue_limit: int = Field(default=1000, ge=1, le=100_000)

    @field_validator("key_file")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        if not value.is_absolute():
            raise ValueError("an absolute path")
        return value


class DaemonConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    #: set by `load` before validation: the TOML file to read (None: none)
    _toml_file: ClassVar[Path | None] = None

    database: Path = Path("/var/lib/zfsync/zfsyncd.db")
    backend: BackendKind = BackendKind.CLI
    #: the zfs command (a name found on PATH, or a path)
    zfs_command: str = "zfs"
    #: pools the memory backend starts with
    memory_pools: list[str] = Field(default_factory=list)
    #: seconds each changing call of the memory backend waits (demos and system tests watch
    #: transactions run; the model alone finishes them in microseconds)
    memory_delay: float = Field(default=0.0, ge=0, le=60)
    #: tests only: a file that holds the memory backend at a chosen changing call (see
    #: zfsyncd/zfs/latency.py); unset, nothing is held
    memory_gate: Path | None = None
    #: transactions that may run at once (datasets never overlap between running ones)
    max_parallel: int = Field(default=4, ge=1, le=64)
    log_level: LogLevel = LogLevel.INFO
    #: Progress signals (and property-change signals) per second per transaction, at most
    signal_rate: float = Field(default=4.0, gt=0, le=50)
    #: seconds a finished transaction's bus object stays exported, for watchers to read it
    finished_linger: float = Field(default=60.0, ge=0)
    #: seconds between attempts at the deferred cleanups
    cleanup_interval: float = Field(default=60.0, gt=0)
    #: seconds a stop (SIGTERM) waits for running transactions to be undone
    stop_timeout: float = Field(default=300.0, gt=0)
    #: days the audit log keeps a row (a row less than a day old is always kept)
    audit_retention_days: float = Field(default=365.0, ge=1, le=36500)
    #: rows the audit log keeps at most (the oldest go first; never those of the last day)
    audit_max_rows: int = Field(default=1_000_000, ge=1000, le=100_000_000)
    #: the Prometheus endpoint's port (http://ADDRESS:PORT/metrics); unset: no endpoint
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    #: the address it binds: this machine only unless told otherwise (the figures name
    #: every replicated dataset)
    metrics_address: str = "127.0.0.1"
    #: a node-exporter textfile (its collector reads `*.prom`), rewritten atomically every
    #: `metrics_textfile_interval` seconds; unset: none
    metrics_textfile: Path | None = None
    metrics_textfile_interval: float = Field(default=60.0, ge=1, le=86400)
    #: seconds one reading of the figures serves scrapes for: a storm of scrapes reads ZFS
    #: and the store once per this many seconds, not once each
    metrics_max_age: float = Field(default=5.0, ge=0.1, le=3600)
    #: other machines, by the name steps use for them; the local one is always there
    hosts: dict[HostName, HostConfig] = Field(default_factory=dict)
    #: job runs at once (their transactions also count against max_parallel)
    job_parallel: int = Field(default=2, ge=1, le=64)
    #: scheduled snapshots, replication and pruning (zfsyncd/jobs/config.py)
    jobs: dict[JobName, JobConfig] = Field(default_factory=dict)
    #: the multi-host witness (zfsyncd/witness/); None: none
    witness: WitnessConfig | None = None

    @field_validator("metrics_address")
    @classmethod
    def _ip_address(cls, value: str) -> str:
        return str(ipaddress.ip_address(value))  # an address, not a name to resolve

    @field_validator("metrics_textfile")
    @classmethod
    def _prom_file(cls, value: Path | None) -> Path | None:
        if value is not None and (value.suffix != ".prom" or not value.is_absolute()):
            raise ValueError("an absolute path ending in .prom (what node-exporter reads)")
        return value

    @field_validator("memory_pools")
    @classmethod
    def _pool_names(cls, value: list[str]) -> list[str]:
        for pool in value:
            names.check_pool(pool)
        return value

    @field_validator("hosts")
    @classmethod
    def _not_local(cls, value: dict[str, HostConfig]) -> dict[str, HostConfig]:
        if LOCAL in value:
            raise ValueError(f"{LOCAL!r} is this machine, always there: it is not configured")
        return value

    @model_validator(mode="after")
    def _job_hosts(self) -> DaemonConfig:
        unknown = unknown_hosts(self.jobs, set(self.hosts))
        if unknown:
            raise ValueError("; ".join(unknown))
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if cls._toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=cls._toml_file))
        return tuple(sources)


def check_file(path: Path) -> list[str]:
    """`zfsyncctl config check FILE`: every problem of the configuration `path` holds (with
    the ZFSYNC_* variables over it, as the daemon would read it), one line each; none when
    it is good. Nothing but the file is read: no daemon, no ZFS."""
    try:
        _readable(path)
        _validate(path, {})
    except ConfigError as exc:
        return [str(exc)]
    except ValidationError as exc:
        return problem_lines(exc, "config")
    return []


def _readable(path: Path) -> None:
    """A syntax error named with its line, before pydantic."""
    if not path.exists():
        raise ConfigError(f"configuration file {path} does not exist")
    try:
        with path.open("rb") as handle:
            tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from None


def _validate(toml_file: Path | None, overrides: dict[str, Any]) -> DaemonConfig:
    DaemonConfig._toml_file = toml_file
    try:
        return DaemonConfig(**overrides)
    finally:
        DaemonConfig._toml_file = None


def load(path: Path | None = None, **overrides: Any) -> DaemonConfig:
    """The configuration from `path` (default: /etc/zfsync/zfsyncd.toml if it exists), with
    ZFSYNC_* environment variables over it and `overrides` over both."""
    explicit = path is not None
    path = path or DEFAULT_PATH
    toml_file = None
    if explicit or path.exists():
        _readable(path)
        toml_file = path
    try:
        return _validate(toml_file, overrides)
    except ValidationError as exc:
        where = f"{toml_file} and {ENV_PREFIX}* variables" if toml_file else f"{ENV_PREFIX}*"
        raise ConfigError(f"invalid configuration ({where}): {problems(exc, 'config')}") from None
