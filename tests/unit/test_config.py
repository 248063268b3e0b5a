"""The daemon's configuration: TOML, ZFSYNC_* overrides, and errors that say what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from zfsyncd import config
from zfsyncd.config import BackendKind, ConfigError, load


@pytest.fixture(autouse=True)
def _no_default_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(config, "DEFAULT_PATH", tmp_path / "absent.toml")
    for var in ("ZFSYNC_MAX_PARALLEL", "ZFSYNC_BACKEND", "ZFSYNC_MEMORY_POOLS"):
        monkeypatch.delenv(var, raising=False)


def test_defaults_without_a_file() -> None:
    cfg = load()
    assert cfg.database == Path("/var/lib/zfsync/zfsyncd.db")
    assert cfg.backend is BackendKind.CLI
    assert cfg.max_parallel == 4


def test_file_then_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "zfsyncd.toml"
    path.write_text('backend = "memory"\nmemory_pools = ["tank"]\nmax_parallel = 2\n')
    cfg = load(path)
    assert (cfg.backend, cfg.memory_pools, cfg.max_parallel) == (BackendKind.MEMORY, ["tank"], 2)
    monkeypatch.setenv("ZFSYNC_MAX_PARALLEL", "8")
    monkeypatch.setenv("ZFSYNC_TEST_BACKEND", "real")  # not ours to read: ignored
    assert load(path).max_parallel == 8


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("max_paralel = 2\n", "max_paralel: Extra inputs are not permitted"),
        ('max_parallel = "many"\n', "max_parallel: Input should be a valid integer"),
        ("max_parallel = 0\n", "max_parallel: Input should be greater than or equal to 1"),
        ('memory_pools = ["bad name!"]\n', "memory_pools"),
        ('backend = "zfs"\n', "backend: Input should be 'cli' or 'memory'"),
        ("max_parallel = = 2\n", "not valid TOML"),
    ],
)
def test_bad_configuration_is_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "zfsyncd.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load(path)


def test_a_named_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load(tmp_path / "nope.toml")


def test_a_bad_environment_value_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZFSYNC_MAX_PARALLEL", "lots")
    with pytest.raises(ConfigError, match=r"ZFSYNC_\*.*max_parallel"):
        load()
