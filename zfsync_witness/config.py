"""The witness's configuration: /etc/zfsync/witness.toml, then ZFSYNC_WITNESS_* variables.

    # /etc/zfsync/witness.toml
    database_url = "sqlite+aiosqlite:////var/lib/zfsync-witness/witness.db"   # the default
    # database_url = "postgresql+asyncpg://witness@/witness?host=/run/postgresql"
    host = "127.0.0.1"
    port = 8470
    cors_origins = []            # CORS is off unless origins are named here
    max_body_bytes = 16777216    # larger requests are refused with 413 before being read
    heartbeat_timeout = 300      # seconds after which a silent system is shown offline

The database is chosen by the URL alone: `sqlite+aiosqlite://` or `postgresql+asyncpg://`.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import ClassVar

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_PATH = Path("/etc/zfsync/witness.toml")
ENV_PREFIX = "ZFSYNC_WITNESS_"
DEFAULT_DATABASE = "sqlite+aiosqlite:////var/lib/zfsync-witness/witness.db"
#: the drivers the witness is written and tested for
DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")


class ConfigError(Exception):
    """The configuration cannot be used; the message says where and why."""


class WitnessSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    _toml_file: ClassVar[Path | None] = None

    database_url: str = DEFAULT_DATABASE
    host: str = "127.0.0.1"
    port: int = Field(default=8470, ge=1, le=65535)
    #: origins allowed by CORS; empty: no CORS headers at all (browsers refuse cross-origin)
    cors_origins: list[str] = Field(default_factory=list)
    #: a request body larger than this is refused (413) before it is read
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024, le=1024 * 1024 * 1024)
    #: snapshots in one batch report, at most
    max_batch: int = Field(default=100_000, ge=1, le=10_000_000)
    #: seconds without a heartbeat or report after which a system is shown offline
    heartbeat_timeout: float = Field(default=300.0, gt=0)
    log_level: str = Field(default="info", pattern="^(debug|info|warning|error)$")

    @field_validator("database_url")
    @classmethod
    def _driver(cls, value: str) -> str:
        if not value.startswith(tuple(d + "://" for d in DRIVERS)):
            raise ValueError(f"the URL must start with one of: {', '.join(DRIVERS)}://")
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


def load(path: Path | None = None, **overrides: object) -> WitnessSettings:
    """The settings from `path` (default: /etc/zfsync/witness.toml if it exists), with
    ZFSYNC_WITNESS_* variables over it and `overrides` over both."""
    explicit = path is not None
    path = path or DEFAULT_PATH
    toml_file: Path | None = None
    if path.exists():
        try:
            with path.open("rb") as handle:
                tomllib.load(handle)
        except (tomllib.TOMLDecodeError, OSError) as exc:
            raise ConfigError(f"{path}: {exc}") from None
        toml_file = path
    elif explicit:
        raise ConfigError(f"configuration file {path} does not exist")
    WitnessSettings._toml_file = toml_file
    try:
        return WitnessSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid configuration: {lines}") from None
    finally:
        WitnessSettings._toml_file = None
