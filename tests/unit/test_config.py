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
        ("max_paralel = 2\n", "max_paralel: is not a known key"),
        ('max_parallel = "many"\n', "max_parallel: must be a whole number"),
        ("max_parallel = 0\n", "max_parallel: must be 1 or more"),
        ('memory_pools = ["bad name!"]\n', "memory_pools"),
        ('backend = "zfs"\n', "backend: must be one of 'cli' or 'memory'"),
        ("max_parallel = = 2\n", "not valid TOML"),
        ("metrics_port = 0\n", "metrics_port"),
        ("metrics_port = 70000\n", "metrics_port"),
        ('metrics_address = "localhost"\n', "metrics_address"),  # an address, not a name
        ('metrics_textfile = "/var/lib/node/zfsyncd.txt"\n', r"metrics_textfile.*\.prom"),
        ('metrics_textfile = "zfsyncd.prom"\n', "metrics_textfile.*absolute"),
        ("metrics_textfile_interval = 0\n", "metrics_textfile_interval"),
        ("metrics_max_age = 0\n", "metrics_max_age"),
    ],
)
def test_bad_configuration_is_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "zfsyncd.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load(path)


def test_metrics_are_off_by_default_and_on_localhost_when_on(tmp_path: Path) -> None:
    cfg = load()
    assert (cfg.metrics_port, cfg.metrics_textfile) == (None, None)
    path = tmp_path / "zfsyncd.toml"
    path.write_text('metrics_port = 9469\nmetrics_textfile = "/var/lib/node/zfsyncd.prom"\n')
    cfg = load(path)
    assert (cfg.metrics_address, cfg.metrics_port) == ("127.0.0.1", 9469)
    assert cfg.metrics_textfile == Path("/var/lib/node/zfsyncd.prom")


def test_a_named_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load(tmp_path / "nope.toml")


def test_a_bad_environment_value_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZFSYNC_MAX_PARALLEL", "lots")
    with pytest.raises(ConfigError, match=r"ZFSYNC_\*.*max_parallel"):
        load()


HOSTS = """
[hosts.backup]
address = "backup.example.org"
user = "zfsync"
port = 2222
ssh_options = ["-i", "/etc/zfsync/id_ed25519"]

[hosts."nas-2"]
address = "10.0.0.2"
ssh_command = ["/usr/bin/ssh", "-F", "/etc/zfsync/ssh_config"]
zfs_command = "/sbin/zfs"
"""


def test_hosts_are_tables_named_by_label(tmp_path: Path) -> None:
    path = tmp_path / "zfsyncd.toml"
    path.write_text(HOSTS)
    cfg = load(path)
    assert sorted(cfg.hosts) == ["backup", "nas-2"]
    backup, nas = cfg.hosts["backup"], cfg.hosts["nas-2"]
    assert (backup.ssh_command, backup.zfs_command, nas.zfs_command) == (
        ["ssh"],
        "zfs",
        "/sbin/zfs",
    )
    assert backup.transport().wrap(["zfs", "list"]) == [
        "ssh", "-o", "BatchMode=yes", "-i", "/etc/zfsync/id_ed25519", "-p", "2222",
        "--", "zfsync@backup.example.org", "zfs list",
    ]  # fmt: skip
    assert nas.transport().prefix[:3] == ("/usr/bin/ssh", "-F", "/etc/zfsync/ssh_config")
    assert load().hosts == {}  # none configured: only the implicit local one


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[hosts."Big Box"]\naddress = "x"\n', r"hosts\.Big Box.*'Big Box' is not a host name"),
        ('[hosts.local]\naddress = "x"\n', "hosts: .*'local' is this machine"),
        (
            '[hosts.b]\naddres = "x"\n',
            r"hosts\.b\.address: is required; hosts\.b\.addres: is not a known key",
        ),
        ('[hosts.b]\naddress = "-oProxyCommand=sh"\n', r"hosts\.b: .*invalid ssh host"),
        ('[hosts.b]\naddress = "x"\nuser = "a@b"\n', r"hosts\.b: .*invalid ssh user"),
        ('[hosts.b]\naddress = "x"\nport = 0\n', r"hosts\.b\.port: must be 1 or more"),
        (
            '[hosts.b]\naddress = "x"\nssh_command = []\n',
            r"hosts\.b\.ssh_command: needs at least 1 item",
        ),
        (
            '[hosts.b]\naddress = "x"\nssh_command = "ssh -v"\n',
            r"hosts\.b\.ssh_command: must be a list",
        ),
    ],
)
def test_a_bad_host_is_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "zfsyncd.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load(path)


def test_plain_keys_are_still_overridden_beside_hosts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "zfsyncd.toml"
    path.write_text(HOSTS)
    monkeypatch.setenv("ZFSYNC_MAX_PARALLEL", "8")
    cfg = load(path)
    assert (cfg.max_parallel, sorted(cfg.hosts)) == (8, ["backup", "nas-2"])


def test_the_readme_lists_every_key() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    using = readme.split("## Using it", 1)[1].split("\n## ", 1)[0]
    for key in config.DaemonConfig.model_fields:
        assert (f"`[{key}.NAME]`" if key == "hosts" else f"`{key}`") in using, key
    for key in config.HostConfig.model_fields:
        assert f"`{key}`" in using, key
