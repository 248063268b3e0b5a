"""The daemon's configuration: /etc/zfsync/zfsyncd.toml, then ZFSYNC_* environment overrides.

Validated by pydantic (pydantic-settings reads the TOML file and the environment); an
unknown key or a bad value stops the daemon with one message naming every problem, before
it touches the bus, the database or ZFS. A missing file at the default path means the
defaults; a file named with --config must exist.

    # /etc/zfsync/zfsyncd.toml
    database = "/var/lib/zfsync/zfsyncd.db"
    max_parallel = 4
    log_level = "info"
"""

from __future__ import annotations

import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from zfsyncd.invalid import problems
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


class ConfigError(Exception):
    """The configuration cannot be used; the message says where and why."""


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

    @field_validator("memory_pools")
    @classmethod
    def _pool_names(cls, value: list[str]) -> list[str]:
        for pool in value:
            names.check_pool(pool)
        return value

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


def load(path: Path | None = None, **overrides: Any) -> DaemonConfig:
    """The configuration from `path` (default: /etc/zfsync/zfsyncd.toml if it exists), with
    ZFSYNC_* environment variables over it and `overrides` over both."""
    explicit = path is not None
    path = path or DEFAULT_PATH
    if not path.exists():
        if explicit:
            raise ConfigError(f"configuration file {path} does not exist")
        toml_file = None
    else:
        try:
            with path.open("rb") as handle:
                tomllib.load(handle)  # a syntax error named with its line, before pydantic
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from None
        toml_file = path
    DaemonConfig._toml_file = toml_file
    try:
        return DaemonConfig(**overrides)
    except ValidationError as exc:
        where = f"{toml_file} and {ENV_PREFIX}* variables" if toml_file else f"{ENV_PREFIX}*"
        raise ConfigError(f"invalid configuration ({where}): {problems(exc, 'config')}") from None
    finally:
        DaemonConfig._toml_file = None
